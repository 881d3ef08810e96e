"""``samdesk export`` and ``samdesk import``: every format end to end, one-line errors, safe merges."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import pytest
from pycocotools.coco import COCO

from samdesk import cli
from samdesk.document.persistence import load_project, save_project
from samdesk.io.formats import BUILTIN_EXPORT_FORMATS
from samdesk.subcommands._progress import ProgressBar
from tests.io_fixtures import make_project


@pytest.fixture
def project_file(media_dir: Path, tmp_path: Path) -> Path:
    path = tmp_path / "p.samdesk.json"
    save_project(make_project(media_dir), path)
    return path


def _run(*argv: object) -> int:
    return cli.main([str(a) for a in argv])


@pytest.mark.parametrize("name", list(BUILTIN_EXPORT_FORMATS))
def test_every_format_exports(name: str, project_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / ("out.json" if BUILTIN_EXPORT_FORMATS[name].single_file else "out")
    assert _run("export", project_file, "--format", name, "--out", out, "--quiet") == 0
    assert out.exists()
    captured = capsys.readouterr()
    assert captured.out.startswith("exported ")
    # The fixture holds things every lossy format must report (png-instance holds it all).
    assert ("warning:" in captured.err) == (name != "png-instance")
    if name.startswith("coco"):
        with contextlib.redirect_stdout(io.StringIO()):
            assert len(COCO(str(out)).dataset["annotations"]) == 17


@pytest.mark.parametrize(
    ("name", "objects"),
    # 18 objects on images and 2 on the video; one image object has no category, so
    # png-semantic paints 19 of them, and COCO (images only) holds 17.
    [("png-instance", 20), ("png-semantic", 19), ("coco", 17)],
)
def test_the_summary_counts_the_objects_written(
    name: str, objects: int, project_file: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / ("out.json" if BUILTIN_EXPORT_FORMATS[name].single_file else "out")
    assert _run("export", project_file, "--format", name, "--out", out, "--quiet") == 0
    assert f", {objects} objects to " in capsys.readouterr().out


def test_the_summary_says_which_frames_and_lists_inexact_objects(
    project_file: Path, tmp_path: Path, capsys
) -> None:
    assert _run("export", project_file, "--format", "ytvis", "--out", tmp_path / "v", "--quiet") == 0
    out = capsys.readouterr().out
    assert "exported 1 media, 5 frames, 2 objects" in out
    assert "frames: the annotated ones (5 of 200; --all-frames writes every frame)" in out
    argv = ["export", project_file, "--format", "davis", "--out", tmp_path / "d", "--quiet", "--all-frames"]
    assert _run(*argv, "--resolution", "Full-Resolution", "--split", "val") == 0
    assert "exported 1 media, 200 frames, 2 objects" in capsys.readouterr().out
    assert len(list((tmp_path / "d/Annotations/Full-Resolution/bedroom").iterdir())) == 200
    assert (tmp_path / "d/ImageSets/2017/val.txt").read_text() == "bedroom\n"
    # dog.jpg's two parts lie far apart: the line joining them makes the YOLO outline inexact.
    assert _run("export", project_file, "--format", "yolo-seg", "--out", tmp_path / "y", "--quiet") == 0
    captured = capsys.readouterr()
    assert "samdesk export: inexact: dog.jpg #" in captured.err and "2 parts joined" in captured.err
    assert "1 objects inexact (listed above)" in captured.out


def test_export_subset_by_category_name_and_done(project_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    assert (
        _run(
            "export",
            project_file,
            "--format",
            "coco",
            "--out",
            out,
            "--only-done",
            "--categories",
            "thing",
            "--quiet",
        )
        == 0
    )
    data = json.loads(out.read_text())
    assert [c["name"] for c in data["categories"]] == ["thing"] and len(data["images"]) == 1


def test_export_errors_are_one_line(project_file: Path, tmp_path: Path, capsys) -> None:
    assert (
        _run("export", project_file, "--format", "coco", "--out", tmp_path / "x.json", "--categories", "nope")
        == 1
    )
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no category 'nope'" in err and "vehicle" in err
    assert (
        _run("export", tmp_path / "missing.samdesk.json", "--format", "coco", "--out", tmp_path / "x.json")
        == 1
    )
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing.samdesk.json" in err


def test_import_creates_then_merges(project_file: Path, media_dir: Path, tmp_path: Path, capsys) -> None:
    coco = tmp_path / "c.json"
    assert _run("export", project_file, "--format", "coco", "--out", coco, "--quiet") == 0
    target = tmp_path / "new.samdesk.json"
    assert (
        _run("import", coco, "--format", "coco", "--images", media_dir, "--project", target, "--quiet") == 0
    )
    assert "imported 17 objects on 3 new and 0 existing media, 3 new categories" in capsys.readouterr().out
    first = load_project(target).project
    assert len(first.objects) == 17 and [c.name for c in first.categories] == ["vehicle", "animal", "thing"]
    # The same file again: every annotation is already there (same image, same mask), so none is
    # added twice unless asked.
    assert (
        _run("import", coco, "--format", "coco", "--images", media_dir, "--project", target, "--quiet") == 0
    )
    captured = capsys.readouterr()
    assert "imported 0 objects on 0 new and 3 existing media" in captured.out
    assert "warning: 17 × object already in the project (same media, same mask); skipped" in captured.err
    assert load_project(target).project == first
    argv = ["import", coco, "--format", "coco", "--images", media_dir, "--project", target, "--quiet"]
    assert _run(*argv, "--allow-duplicates") == 0
    merged = load_project(target).project
    assert len(merged.media) == 3 and len(merged.objects) == 34 and len(merged.categories) == 3


@pytest.mark.parametrize("name", ["png-instance", "davis", "ytvos", "yolo-seg"])
def test_import_folder_formats(name: str, project_file: Path, media_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    # DAVIS' 480p masks are smaller than bedroom.mp4 (540 px high); full size reads back.
    size = ["--resolution", "Full-Resolution"] if name == "davis" else []
    assert _run("export", project_file, "--format", name, "--out", out, "--quiet", *size) == 0
    images = out / "images" if name == "yolo-seg" else media_dir
    target = tmp_path / "t.samdesk.json"
    assert _run("import", out, "--format", name, "--images", images, "--project", target, "--quiet") == 0
    assert load_project(target).project.objects


def test_failed_import_leaves_the_project_file_untouched(
    project_file: Path, media_dir: Path, tmp_path: Path, capsys
) -> None:
    before = project_file.read_bytes()
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [')
    assert _run("import", broken, "--format", "coco", "--images", media_dir, "--project", project_file) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "broken.json: not valid JSON" in err
    huge = tmp_path / "huge.json"
    huge.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "dog.jpg", "width": 20000, "height": 20000}],
                "annotations": [],
                "categories": [],
            }
        )
    )
    assert _run("import", huge, "--format", "coco", "--images", media_dir, "--project", project_file) == 1
    assert "20000×20000" in capsys.readouterr().err
    assert (
        _run(
            "import",
            tmp_path / "nothing",
            "--format",
            "coco",
            "--images",
            media_dir,
            "--project",
            project_file,
        )
        == 1
    )
    assert project_file.read_bytes() == before


def test_progress_bar_writes_lines_off_a_terminal() -> None:
    stream = io.StringIO()
    bar = ProgressBar("export coco", stream=stream, min_total=10)
    for done in range(101):
        bar(done, 100)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "export coco: 0/100" and lines[-1] == "export coco: 100/100" and len(lines) == 11
    quiet = io.StringIO()
    ProgressBar("x", stream=quiet, min_total=10)(1, 5)
    assert quiet.getvalue() == ""


def test_import_warns_when_the_project_is_open_and_never_overwrites_a_save_made_meanwhile(
    project_file: Path, media_dir: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    from samdesk.document.instances import Instance, ProjectLock
    from samdesk.io import formats

    coco = tmp_path / "c.json"
    assert _run("export", project_file, "--format", "coco", "--out", coco, "--quiet") == 0
    lock = ProjectLock(Instance.current())  # a samdesk window has the project open
    assert lock.claim(project_file) is None
    real = formats.IMPORT_FORMATS["coco"]

    def import_while_the_window_saves(project, *args, **kwargs):
        other = load_project(project_file).project
        other.categories[0].name = "renamed in the window"
        save_project(other, project_file)  # the window saves while the import runs
        return real(project, *args, **kwargs)

    monkeypatch.setitem(formats.IMPORT_FORMATS, "coco", import_while_the_window_saves)
    before = len(load_project(project_file).project.objects)
    argv = ["import", coco, "--format", "coco", "--images", media_dir, "--project", project_file, "--quiet"]
    assert _run(*argv, "--allow-duplicates") == 1
    err = capsys.readouterr().err
    assert f"warning: {project_file} is open in samdesk (process {os.getpid()}" in err
    assert f"error: {project_file}: changed on disk since it was opened" in err
    kept = load_project(project_file).project  # the window's save, not the import over it
    assert kept.categories[0].name == "renamed in the window" and len(kept.objects) == before
    lock.release()
