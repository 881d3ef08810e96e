"""Exports never lose the user's files: no overwrite without ``--overwrite``, never the project or a
medium, unique names for media with the same stem, bounded sizes, umask, cleanup, missing media.

Each test runs the real ``samdesk export`` (in-process, or in a memory-limited child where an old
bug would allocate without bound) on a project in a scratch folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import cv2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from samdesk import cli
from samdesk.document.model import AnnotationObject, Category, MediaItem, MediaKind, MediaStatus, Project
from samdesk.document.persistence import ProjectFileError, load_project, save_project
from samdesk.io.common import Cancelled, Warnings
from samdesk.io.formats import export_formats, run_export
from samdesk.io.output import SAME_STEM, unique_stems
from tests.hostile.limits import run_cli, run_python
from tests.io_fixtures import ellipse, frame

# Every format offered, the installed plugins' too (make test installs plugins/csv-boxes): the
# promises below are samdesk's, whoever wrote the exporter.
FORMATS = export_formats()
FOLDER_FORMATS = [name for name, f in FORMATS.items() if not f.single_file]
FILE_FORMATS = [name for name, f in FORMATS.items() if f.single_file]
VIDEO_FORMATS = ("davis", "ytvos", "ytvis", "cvat-video")  # formats that write videos only


def _run(*argv: object) -> int:
    return cli.main([str(a) for a in argv])


def _digests(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (or ``folder`` itself when a file; links as their target) ->
    content hash: what must not change."""
    out = {}
    for path in [folder] if folder.is_file() else sorted(folder.rglob("*")):
        if path.is_symlink():
            out[str(path.relative_to(folder))] = "link -> " + os.readlink(path)
        elif path.is_file():
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _project(media: list[Path], video: Path | None = None) -> Project:
    """One ellipse per image (category "thing"), two frames of one on the video."""
    project = Project()
    project.categories = [Category(1, "thing", (255, 0, 0))]
    for media_id, path in enumerate(media, start=1):
        w, h = Image.open(path).size
        project.media.append(MediaItem(media_id, MediaKind.IMAGE, str(path), w, h))
        mask = ellipse(h, w, (w // 2, h // 2), (w // 5, h // 6))
        project.objects.append(AnnotationObject(media_id, media_id, 1, {0: frame(mask)}))
    if video is not None:
        media_id = len(project.media) + 1
        w, h = 960, 540
        item = MediaItem(media_id, MediaKind.VIDEO, str(video), w, h, frame_count=200, fps=30.0)
        project.media.append(item)
        track = {f: frame(ellipse(h, w, (200 + 20 * f, 250), (80, 50))) for f in range(2)}
        project.objects.append(AnnotationObject(media_id, media_id, 1, track))
    project.next_ids.update(category=2, media=len(project.media) + 1, object=len(project.objects) + 1)
    return project


def _dataset(media_dir: Path, root: Path, with_video: bool) -> Path:
    """root/images/{dog,truck}.jpg, root/videos/bedroom.mp4 and root/p.samdesk.json."""
    (root / "images").mkdir(parents=True)
    for name in ("dog.jpg", "truck.jpg"):
        shutil.copy(media_dir / name, root / "images" / name)
    video = None
    if with_video:
        (root / "videos").mkdir()
        video = shutil.copy(media_dir / "bedroom.mp4", root / "videos" / "bedroom.mp4")
    images = [root / "images/dog.jpg", root / "images/truck.jpg"]
    save_project(_project(images, video), root / "p.samdesk.json")
    return root


@pytest.fixture
def dataset(media_dir: Path, tmp_path: Path) -> Path:
    return _dataset(media_dir, tmp_path / "dataset", with_video=True)


@pytest.fixture
def photos(media_dir: Path, tmp_path: Path) -> Path:
    """The layout of the report: only images, in photos/images/."""
    return _dataset(media_dir, tmp_path / "photos", with_video=False)


# --- 1. an export never removes or overwrites a file it did not create -----------------------


@pytest.mark.parametrize("how", ["symlink", "copy"])
def test_yolo_export_into_the_dataset_folder_keeps_the_photos(photos: Path, how: str) -> None:
    dataset = photos
    before = _digests(dataset)
    argv = ["export", dataset / "p.samdesk.json", "--format", "yolo-seg", "--out", dataset, "--quiet"]
    assert _run(*argv, "--yolo-images", how) == 0
    for name in ("dog.jpg", "truck.jpg"):
        photo = dataset / "images" / name
        assert not photo.is_symlink() and photo.is_file(), f"{name} was replaced"
    after = _digests(dataset)
    assert {k: v for k, v in after.items() if k in before} == before
    assert (dataset / "labels/dog.txt").read_text().startswith("0 ")
    assert load_project(dataset / "p.samdesk.json").project.objects


@pytest.mark.parametrize("name", list(FORMATS))
def test_an_existing_output_is_refused_without_overwrite(
    name: str, dataset: Path, tmp_path: Path, capsys
) -> None:
    project = dataset / "p.samdesk.json"
    out = tmp_path / "out"
    # What the export would write first is already there, written by someone else.
    assert _run("export", project, "--format", name, "--out", out, "--quiet") == 0
    written = _digests(out)
    existing = [p for p in ([out] if out.is_file() else out.rglob("*")) if p.is_file() and not p.is_symlink()]
    for path in existing:
        path.write_bytes(b"the user's own file")
    mine = _digests(out)
    capsys.readouterr()
    assert _run("export", project, "--format", name, "--out", out, "--quiet") == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err and err.count("\n") == 1, err
    assert any(str(p) in err for p in existing), err
    assert _digests(out) == mine
    assert _run("export", project, "--format", name, "--out", out, "--quiet", "--overwrite") == 0
    assert _digests(out) == written


# --- 2. the project and its media are never an export's output -------------------------------


@pytest.mark.parametrize("name", list(FORMATS))
@pytest.mark.parametrize("overwrite", [False, True])
def test_exporting_onto_the_project_or_a_medium_is_refused(
    name: str, overwrite: bool, dataset: Path, capsys
) -> None:
    project = dataset / "p.samdesk.json"
    before = _digests(dataset)
    flags = ["--overwrite"] if overwrite else []
    for out in (project, dataset / "images/dog.jpg", dataset / "videos/bedroom.mp4"):
        assert _run("export", project, "--format", name, "--out", out, "--quiet", *flags) == 1
        err = capsys.readouterr().err
        assert str(out) in err and err.count("\n") == 1, err
        assert _digests(dataset) == before
    load_project(project)


def test_a_folder_export_whose_files_would_replace_a_medium_is_refused(
    media_dir: Path, tmp_path: Path, capsys
) -> None:
    """png-instance of masks/instances/dog.jpg into masks/ would write masks/instances/dog.png,
    which is another of the project's images (not exported: only done images are)."""
    folder = tmp_path / "masks/instances"
    folder.mkdir(parents=True)
    shutil.copy(media_dir / "dog.jpg", folder / "dog.jpg")
    victim = folder / "dog.png"
    cv2.imwrite(str(victim), cv2.imread(str(media_dir / "truck.jpg")))
    project = _project([folder / "dog.jpg", victim])
    project.media[0].status = MediaStatus.DONE
    path = tmp_path / "q.samdesk.json"
    save_project(project, path)
    before = _digests(tmp_path / "masks")
    for flags in ([], ["--overwrite"]):
        argv = ["export", path, "--format", "png-instance", "--out", tmp_path / "masks", "--only-done"]
        assert _run(*argv, "--quiet", *flags) == 1
        err = capsys.readouterr().err
        assert str(victim) in err and "is one of the project's media" in err, err
        assert _digests(tmp_path / "masks") == before
        assert not list((tmp_path / "masks").glob("legend.json"))


# --- 7. media with the same stem get unique names in every file of the export ----------------


@pytest.fixture
def same_stem(media_dir: Path, tmp_path: Path) -> Path:
    """dog.jpg (800×534) and dog.png (truck, 1800×1200) side by side; bedroom.mp4 and bedroom.mov."""
    folder = tmp_path / "media"
    folder.mkdir()
    shutil.copy(media_dir / "dog.jpg", folder / "dog.jpg")
    cv2.imwrite(str(folder / "dog.png"), cv2.imread(str(media_dir / "truck.jpg")))
    for suffix in (".mp4", ".mov"):
        shutil.copy(media_dir / "bedroom.mp4", folder / f"bedroom{suffix}")
    project = _project([folder / "dog.jpg", folder / "dog.png"], folder / "bedroom.mp4")
    second = MediaItem(4, MediaKind.VIDEO, str(folder / "bedroom.mov"), 960, 540, frame_count=200, fps=30.0)
    project.media.append(second)
    project.objects.append(AnnotationObject(4, 4, 1, {1: frame(ellipse(540, 960, (700, 300), (60, 40)))}))
    project.next_ids.update(media=5, object=5)
    path = tmp_path / "same.samdesk.json"
    save_project(project, path)
    return path


@pytest.mark.parametrize("name", ["png-instance", "png-semantic"])
def test_png_masks_of_same_stem_images_do_not_overwrite_each_other(
    name: str, same_stem: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    assert _run("export", same_stem, "--format", name, "--out", out, "--quiet") == 0
    assert "dog.jpg" in capsys.readouterr().err  # the summary says which names changed
    legend = json.loads((out / "legend.json").read_text())
    images = {m["file_name"]: m for m in legend["media"] if m["kind"] == "image"}
    folder = "instances" if name == "png-instance" else "semantic"
    for file_name, size in (("dog.jpg", (800, 534)), ("dog.png", (1800, 1200))):
        entry = images[file_name]
        assert (entry["width"], entry["height"]) == size
        assert entry["masks"][0]["file"] == f"{folder}/{file_name}.png"
        assert Image.open(out / entry["masks"][0]["file"]).size == size


def test_yolo_labels_and_images_of_same_stem_images_are_paired(
    same_stem: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    assert _run("export", same_stem, "--format", "yolo-seg", "--out", out, "--quiet") == 0
    assert "dog.jpg" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["dog_jpg.txt", "dog_png.txt"]
    assert sorted(p.name for p in (out / "images").iterdir()) == ["dog_jpg.jpg", "dog_png.png"]
    assert Image.open(out / "images/dog_jpg.jpg").size == (800, 534)
    assert Image.open(out / "images/dog_png.png").size == (1800, 1200)


def test_video_formats_keep_same_stem_videos_apart(same_stem: Path, tmp_path: Path) -> None:
    out = tmp_path / "davis"
    assert _run("export", same_stem, "--format", "davis", "--out", out, "--quiet") == 0
    assert sorted(p.name for p in (out / "Annotations/480p").iterdir()) == ["bedroom.mov", "bedroom.mp4"]
    assert sorted(json.loads((out / "meta.json").read_text())["videos"]) == ["bedroom.mov", "bedroom.mp4"]
    assert sorted(p.name for p in (out / "JPEGImages/480p").iterdir()) == ["bedroom.mov", "bedroom.mp4"]
    assert (out / "ImageSets/2017/train.txt").read_text().split() == ["bedroom.mp4", "bedroom.mov"]
    ytvis = tmp_path / "ytvis"
    assert _run("export", same_stem, "--format", "ytvis", "--out", ytvis, "--quiet") == 0
    data = json.loads((ytvis / "instances.json").read_text())
    folders = {v["file_names"][0].split("/")[0] for v in data["videos"]}
    assert folders == {"bedroom.mov", "bedroom.mp4"}
    assert sorted(p.name for p in (ytvis / "JPEGImages").iterdir()) == ["bedroom.mov", "bedroom.mp4"]


# --- 8. declared media sizes are bounded; running out of memory is a clear error -------------


def _crafted_project(media_dir: Path, folder: Path, width: int, height: int) -> Path:
    """A project whose only image (a real file) claims to be ``width``×``height``."""
    shutil.copy(media_dir / "dog.jpg", folder / "dog.jpg")
    data = {
        "format": "samdesk-project",
        "schema_version": 1,
        "categories": [{"id": 1, "name": "thing", "color": [255, 0, 0]}],
        "media": [{"id": 1, "kind": "image", "path": "dog.jpg", "width": width, "height": height}],
        "objects": [],
    }
    path = folder / "crafted.samdesk.json"
    path.write_text(json.dumps(data))
    return path


def test_a_crafted_media_size_is_refused_when_the_project_opens(media_dir: Path, tmp_path: Path) -> None:
    path = _crafted_project(media_dir, tmp_path, 100_000, 100_000)
    with pytest.raises(ProjectFileError, match="megapixel"):
        load_project(path)


@pytest.mark.parametrize("name", list(FORMATS))
def test_a_crafted_media_size_never_reaches_an_allocation_in_exports(
    name: str, media_dir: Path, tmp_path: Path
) -> None:
    """The project is built in memory (as the GUI would hold it), past the loader's check."""
    shutil.copy(media_dir / "dog.jpg", tmp_path / "dog.jpg")
    kind = "video" if name in VIDEO_FORMATS else "image"
    outcome = run_python(
        f"""
        from pathlib import Path
        from samdesk.document.model import Category, MediaItem, MediaKind, Project
        from samdesk.io.common import DatasetError
        from samdesk.io.formats import run_export
        w = h = 100_000
        project = Project(categories=[Category(1, "thing", (1, 2, 3))])
        project.media.append(MediaItem(1, MediaKind("{kind}"), str(Path({str(tmp_path)!r}) / "dog.jpg"), w, h,
                                       frame_count=1))
        try:
            run_export({name!r}, project, Path({str(tmp_path)!r}) / "out", include_unannotated=True)
        except DatasetError as exc:
            print("refused:", exc)
        """,
        memory=2 << 30,
        timeout=120,
    )
    assert not outcome.traceback and outcome.returncode == 0, outcome.describe()
    assert "refused:" in outcome.stdout and "dog.jpg" in outcome.stdout, outcome.describe()
    assert "megapixel" in outcome.stdout, outcome.describe()


def test_running_out_of_memory_in_an_export_is_a_clear_error(tmp_path: Path) -> None:
    """A legal 15000×15000 image under a 1 GiB cap: the instance PNG does not fit."""
    side = 15_000
    Image.new("L", (side, side)).save(tmp_path / "big.png")
    data = {
        "format": "samdesk-project",
        "schema_version": 1,
        "categories": [{"id": 1, "name": "thing", "color": [255, 0, 0]}],
        "media": [{"id": 1, "kind": "image", "path": "big.png", "width": side, "height": side}],
        "objects": [],
    }
    path = tmp_path / "big.samdesk.json"
    path.write_text(json.dumps(data))
    outcome = run_cli(
        "export", str(path), "--format", "png-instance", "--out", str(tmp_path / "out"), "--quiet",
        "--include-unannotated", memory=1 << 30, timeout=120,
    )
    assert outcome.returncode == 1 and not outcome.traceback and not outcome.crashed, outcome.describe()
    assert "big.png" in outcome.stderr and "memory" in outcome.stderr, outcome.describe()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", list(FORMATS))
def test_a_crafted_frame_count_is_refused_before_any_work(name: str, media_dir: Path, tmp_path: Path) -> None:
    """A video declaring 10¹² frames (a list of them alone is 8 TB) beside a normal image."""
    shutil.copy(media_dir / "dog.jpg", tmp_path / "dog.jpg")
    shutil.copy(media_dir / "bedroom.mp4", tmp_path / "bedroom.mp4")
    data = {
        "format": "samdesk-project",
        "schema_version": 1,
        "categories": [{"id": 1, "name": "thing", "color": [255, 0, 0]}],
        "media": [
            {"id": 1, "kind": "image", "path": "dog.jpg", "width": 800, "height": 534},
            {"id": 2, "kind": "video", "path": "bedroom.mp4", "width": 960, "height": 540,
             "frame_count": 10**12, "status": "done"},
        ],
        "objects": [],
    }  # fmt: skip
    path = tmp_path / "frames.samdesk.json"
    path.write_text(json.dumps(data))
    outcome = run_cli(
        "export", str(path), "--format", name, "--out", str(tmp_path / "out"), "--quiet",
        memory=1 << 30, timeout=60,
    )  # fmt: skip
    assert outcome.returncode == 1 and not outcome.traceback and not outcome.crashed, outcome.describe()
    assert "frames.samdesk.json" in outcome.stderr and "frame" in outcome.stderr, outcome.describe()
    assert not (tmp_path / "out").exists()


# --- also weak: permissions, cleanup, missing media ------------------------------------------


@pytest.mark.parametrize("name", list(FORMATS))
def test_exported_files_respect_the_umask(name: str, dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / ("out.json" if FORMATS[name].single_file else "out")
    old = os.umask(0o022)
    try:
        assert _run("export", dataset / "p.samdesk.json", "--format", name, "--out", out, "--quiet") == 0
    finally:
        os.umask(old)
    files = [out] if out.is_file() else [p for p in out.rglob("*") if p.is_file() and not p.is_symlink()]
    assert files
    for path in files:
        if path.parent.name == "images" and name == "yolo-seg":
            continue  # copies keep their source's mode
        assert path.stat().st_mode & 0o777 == 0o644, path


def _cancel_at_the_end() -> tuple[Callable[[int, int], None], Callable[[], bool]]:
    """(progress, cancel) that cancel at the last check, when every medium's files are written."""
    seen: list[tuple[int, int]] = []

    def cancel() -> bool:
        return bool(seen) and seen[-1][0] == seen[-1][1] - 1

    return lambda done, total: seen.append((done, total)), cancel


@pytest.mark.parametrize("name", list(FORMATS))
def test_a_cancelled_export_leaves_nothing_behind(name: str, dataset: Path, tmp_path: Path) -> None:
    project = load_project(dataset / "p.samdesk.json").project
    out = tmp_path / "out" / "deeper"
    progress, cancel = _cancel_at_the_end()
    with pytest.raises(Cancelled):
        run_export(name, project, out, progress=progress, cancel=cancel)
    assert sorted(tmp_path.iterdir()) == [dataset]


def test_a_failed_export_keeps_an_existing_folder_as_it_was(dataset: Path, tmp_path: Path) -> None:
    """The folder was there before: the export's own files go, the user's stay."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    project = load_project(dataset / "p.samdesk.json").project
    progress, cancel = _cancel_at_the_end()
    with pytest.raises(Cancelled):
        run_export("png-instance", project, out, progress=progress, cancel=cancel)
    assert sorted(p.name for p in out.rglob("*")) == ["notes.txt"]


@pytest.mark.parametrize("name", list(FORMATS))
def test_missing_media_are_named_left_out_and_make_the_exit_non_zero(
    name: str, dataset: Path, tmp_path: Path, capsys
) -> None:
    """dog.jpg is gone: image formats write truck.jpg and name dog.jpg; the only video is gone too,
    so video formats write nothing at all."""
    (dataset / "images/dog.jpg").unlink()
    (dataset / "videos/bedroom.mp4").unlink()
    out = tmp_path / ("out.json" if FORMATS[name].single_file else "out")
    assert _run("export", dataset / "p.samdesk.json", "--format", name, "--out", out, "--quiet") == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    videos_only = name in VIDEO_FORMATS
    if not videos_only:
        assert f"error: {dataset / 'images/dog.jpg'}: media file missing" in err, err
    if name.startswith("png") or videos_only:
        assert str(dataset / "videos/bedroom.mp4") in err, err
    if videos_only:
        assert "nothing exported" in err and not out.exists(), err
    elif out.is_dir():
        assert not [p for p in out.rglob("*") if p.is_symlink() and not p.exists()]
        assert not list(out.rglob("dog*")) and list(out.rglob("truck*"))
    else:
        assert "dog.jpg" not in out.read_text() and "truck.jpg" in out.read_text()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.builds(
            lambda folder, stem, suffix: f"{folder}{stem}{suffix}",
            st.sampled_from(["", "a/", "A/"]),
            st.sampled_from(["dog", "Dog", "dog_jpg", "dog.jpg", "x"]),
            st.sampled_from(["", ".jpg", ".JPG", ".png", ".jpg.png"]),
        ),
        max_size=8,
    )
)
def test_unique_stems_are_unique_whatever_the_names(names: list[str]) -> None:
    names = list(dict.fromkeys(names))  # a project's media have distinct paths
    warnings = Warnings()
    stems = unique_stems(names, "_", warnings)
    assert len({s.casefold() for s in stems}) == len(stems)
    plain = [str(PurePosixPath(n).with_suffix("")) for n in names]
    assert sum(s != p for s, p in zip(stems, plain, strict=True)) == warnings.counts.get(SAME_STEM, 0)
