"""Hostile projects for ``samdesk export``: built as files, exported in-process, promises checked.

Runs inside a memory-limited child (``tests/hostile/limits.py``):
``python -c "from tests.hostile.export_cases import run_all; run_all('coco', '/tmp/x', 12)"`` runs
the named scenarios of :data:`SCENARIOS` and then ``examples`` generated ones (hypothesis) for one
export format, through ``samdesk.cli.main``. Every run must keep these promises:

* exit status 0, or 1 with one ``samdesk export: error:`` line per problem naming a file of the case;
  never an exception, and nothing but that on an error;
* every file that existed before (project, media, a file in the way) is unchanged, unless the
  case passed ``--overwrite`` for a file that is neither the project nor a medium;
* no temporary file is left anywhere; a failed export (not merely "incomplete" because media are
  missing) leaves the folder tree exactly as it was; no link the export made dangles.

A violated promise raises (the child's exit status says so); the case is printed first, so the
child's output names it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile import datasets

W, H = datasets.WIDTH, datasets.HEIGHT

# What a media entry's path holds.
FILES = (
    "png", "jpg", "video", "video.mov", "missing", "missing video", "folder", "dangling link", "the project"
)  # fmt: skip
# Declared (width, height): the real size, small, absurd, negative, at and over the pixel limit.
SIZES = ((W, H), (1, 1), (0, H), (W, -1), (100_000, 100_000), (2**31, 2), (2**63, 1), (40, 10_000_001))
FRAME_COUNTS = (1, 3, 0, 200, 10_000_001, 10**12)
# Where --out points.
OUTPUTS = (
    "fresh",
    "existing file",
    "the project",
    "a medium",
    "the media folder",
    "symlink loop",
    "inside a symlink loop",
    "dangling link",
)


@dataclass(frozen=True)
class Medium:
    file: str
    size: tuple[int, int] = (W, H)
    frame_count: int = datasets.VIDEO_FRAMES  # videos only
    masked: bool = True


@dataclass(frozen=True)
class Case:
    media: tuple[Medium, ...]
    output: str = "fresh"
    overwrite: bool = False
    flags: tuple[str, ...] = field(default=())


def counts_string(runs: list[int]) -> str:
    """Run lengths -> compressed COCO RLE ``counts`` (pycocotools' rleToString, any size)."""
    chars = []
    for i, value in enumerate(runs):
        x = value - runs[i - 2] if i > 2 else value
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            chars.append(chr((c | 0x20 if more else c) + 48))
    return "".join(chars)


def _runs(width: int, height: int) -> list[int]:
    """A square in the top-left corner of a width×height mask, as column-major runs."""
    total = width * height
    side = max(1, min(width, height) // 3)
    if total <= 0 or side > min(width, height):
        return [max(total, 0)]
    return [0] + [side, height - side] * (side - 1) + [side, total - (side - 1) * height - side]


def _media_file(folder: Path, spec: Medium, index: int, project: Path) -> tuple[str, str]:
    """Create what ``spec.file`` says; (kind, path stored in the project)."""
    media = folder / "media"
    media.mkdir(exist_ok=True)
    if spec.file in ("png", "jpg"):
        path = media / f"img.{spec.file}"
        if not path.exists():
            datasets.write_image(media, path.name)
        return "image", str(path)
    if spec.file.startswith("video"):
        path = media / ("clip.mov" if spec.file == "video.mov" else "clip.mp4")
        if not path.exists():
            datasets.write_video(media, path.name)
        return "video", str(path)
    if spec.file == "missing":
        return "image", str(media / f"gone{index}.png")
    if spec.file == "missing video":
        return "video", str(media / f"gone{index}.mp4")
    if spec.file == "folder":
        (media / "a folder.png").mkdir(exist_ok=True)
        return "image", str(media / "a folder.png")
    if spec.file == "dangling link":
        link = media / f"dangling{index}.png"
        if not os.path.lexists(link):
            link.symlink_to(media / "nowhere.png")
        return "image", str(link)
    return "image", str(project)


def build(case: Case, folder: Path, fmt_single_file: bool) -> tuple[Path, Path]:
    """Write the case's project, media and output obstacle under ``folder``; (project, out)."""
    project = folder / "p.samdesk.json"
    media, objects = [], []
    for i, spec in enumerate(case.media, start=1):
        kind, path = _media_file(folder, spec, i, project)
        width, height = spec.size
        entry = {"id": i, "kind": kind, "path": path, "width": width, "height": height}
        if kind == "video":
            entry["frame_count"] = spec.frame_count
        media.append(entry)
        if spec.masked:
            rle = {"size": [height, width], "counts": counts_string(_runs(width, height))}
            frames = [f for f in (0, 2) if f < spec.frame_count] if kind == "video" else [0]
            objects.append(
                {
                    "id": i,
                    "media_id": i,
                    "category_id": 1,
                    "frames": [{"frame": f, "rle": rle, "provenance": "manual"} for f in frames],
                }
            )
    data = {
        "format": "samdesk-project",
        "schema_version": 1,
        "categories": [{"id": 1, "name": "thing", "color": [255, 0, 0]}],
        "media": media,
        "objects": objects,
    }
    project.write_text(json.dumps(data))
    out = _output(case.output, folder, project, media, fmt_single_file)
    return project, out


def _output(kind: str, folder: Path, project: Path, media: list[dict], single_file: bool) -> Path:
    if kind == "existing file":
        out = folder / ("out.json" if single_file else "out")
        if single_file:
            out.write_text("the user's own file")
        else:
            (out / "meta.json").parent.mkdir(parents=True, exist_ok=True)
            names = ("meta.json", "legend.json", "data.yaml", "instances.json")
            for name in (*names, "ImageSets/Main/default.txt", "clip.xml", "img.json"):
                (out / name).parent.mkdir(parents=True, exist_ok=True)
                (out / name).write_text("the user's own file")
        return out
    if kind == "the project":
        return project
    if kind == "a medium":
        return Path(media[0]["path"]) if media else project
    if kind == "the media folder":
        (folder / "media").mkdir(exist_ok=True)
        return folder / "media" / ("out.json" if single_file else "")
    if kind == "symlink loop":
        loop = folder / "loop"
        loop.symlink_to(loop)
        return loop
    if kind == "inside a symlink loop":
        loop = folder / "loop"
        loop.symlink_to(loop)
        return loop / "deeper" / "out"
    if kind == "dangling link":
        link = folder / "out-link"
        link.symlink_to(folder / "nowhere")
        return link
    return folder / "fresh" / ("out.json" if single_file else "out")


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder``: files by content hash, links by target, folders as such."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            if path.is_symlink():
                out[str(path)] = "link -> " + os.readlink(path)
            elif path.is_dir():
                out[str(path)] = "folder"
            else:
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def check(fmt: str, case: Case, folder: Path) -> tuple[int, str, str]:
    """Run one case; raise AssertionError naming the broken promise. (exit status, stdout, stderr)."""
    from samdesk.cli import main
    from samdesk.io.formats import BUILTIN_EXPORT_FORMATS

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"case {fmt}: {case}", file=sys.__stdout__, flush=True)
    project, out = build(case, folder, BUILTIN_EXPORT_FORMATS[fmt].single_file)
    before = snapshot(folder)
    argv = ["export", str(project), "--format", fmt, "--out", str(out), "--quiet", *case.flags]
    if case.overwrite:
        argv.append("--overwrite")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(argv)
    after = snapshot(folder)
    err = stderr.getvalue()
    assert code in (0, 1), (code, err)
    errors = [line for line in err.splitlines() if not line.startswith("samdesk export: warning: ")]
    if code == 1:
        assert errors and all(line.startswith("samdesk export: error: ") for line in errors), err
        assert all(str(folder) in line for line in errors), f"an error names no file of the case: {err}"
    else:
        assert not errors, err
    assert "two files of this export" not in err, err
    assert not [p for p in after if p.endswith(".samdesk-tmp")], "a temporary file was left"
    may_change = {str(out)} | ({str(p) for p in Path(out).rglob("*")} if Path(out).is_dir() else set())
    for path, digest in before.items():
        if case.overwrite and path in may_change and not _protected(path, project):
            continue
        assert after.get(path) == digest, f"{path} changed: {err}"
    incomplete = "incomplete:" in stdout.getvalue()
    if code == 1 and not incomplete:
        assert after == before, f"a failed export left files: {sorted(set(after) - set(before))}"
    for path in set(after) - set(before):
        assert not after[path].startswith("link") or os.path.exists(path), f"dangling link {path}"
    return code, stdout.getvalue(), err


def _protected(path: str, project: Path) -> bool:
    media = json.loads(project.read_text())["media"]
    return path == str(project) or any(path == m["path"] for m in media)


# --- named scenarios: the hostile cases of issue 15, with the outcome each must have -----------

SCENARIOS: dict[str, tuple[Case, int, str]] = {
    # name: (case, exit status, text the output must hold)
    "crafted size": (Case((Medium("png", (100_000, 100_000)),)), 1, "megapixels"),
    "negative size": (Case((Medium("png", (W, -1)),)), 1, "size must be positive"),
    "2**63 size": (Case((Medium("png", (2**63, 1)),)), 1, "megapixels"),
    "crafted frame count": (Case((Medium("png"), Medium("video", frame_count=10**12))), 1, "frames"),
    "missing media": (
        Case((Medium("png"), Medium("missing"), Medium("video"), Medium("missing video"))),
        1,
        "media file missing",
    ),
    "every medium missing": (
        Case((Medium("missing"), Medium("dangling link"), Medium("missing video"))),
        1,
        "nothing exported",
    ),
    "out is the project": (Case((Medium("png"),), "the project", overwrite=True), 1, "the project file"),
    "out is a medium": (Case((Medium("png"),), "a medium", overwrite=True), 1, "one of the project's media"),
    "out is in the way": (Case((Medium("png"), Medium("video")), "existing file"), 1, "already exists"),
    "same stem": (Case((Medium("png"), Medium("jpg"), Medium("video"), Medium("video.mov"))), 0, ""),
    "out loops": (Case((Medium("png"), Medium("video")), "symlink loop"), 1, "loop"),
    "out inside a loop": (Case((Medium("png"), Medium("video")), "inside a symlink loop"), 1, "loop"),
    "out in the media folder": (
        Case((Medium("png"), Medium("jpg"), Medium("video")), "the media folder"), 0, ""
    ),
}  # fmt: skip


def scenarios(fmt: str, workdir: str) -> None:
    """Run every named scenario for ``fmt``; raise on the first one that breaks a promise."""
    for name, (case, status, text) in SCENARIOS.items():
        code, out, err = check(fmt, case, Path(workdir) / "case")
        if name == "same stem" and not fmt.startswith(("coco", "cvat")):  # their names keep the suffix
            text = "keep the extension"
        assert code == status, f"{name}: exit {code}, expected {status}\n{out}{err}"
        assert text in out + err, f"{name}: {text!r} not in the output\n{out}{err}"
    print(f"scenarios {fmt}: {len(SCENARIOS)} passed", flush=True)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """Up to four media of any file kind, at most one of them with a hostile size or frame count
    (most cases get past the project loader and into the exporter), any output, any flags."""
    media = draw(
        st.lists(
            st.builds(Medium, file=st.sampled_from(FILES), masked=st.booleans()), min_size=0, max_size=4
        )
    )
    if media and draw(st.integers(0, 2)) == 0:
        i = draw(st.integers(0, len(media) - 1))
        media[i] = Medium(
            media[i].file, draw(st.sampled_from(SIZES)), draw(st.sampled_from(FRAME_COUNTS)), media[i].masked
        )
    return Case(
        tuple(media),
        draw(st.sampled_from(("fresh",) * len(OUTPUTS) + OUTPUTS)),  # half of them fresh
        draw(st.booleans()),
        draw(st.sampled_from([(), ("--only-done",), ("--yolo-images", "copy"), ("--categories", "thing")])),
    )


def fuzz(fmt: str, workdir: str, examples: int) -> None:
    """Run ``examples`` generated cases of ``fmt`` under ``workdir``."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases())
    def run(case: Case) -> None:
        check(fmt, case, Path(workdir) / "case")

    run()
    print(f"fuzz {fmt}: {examples} examples passed", flush=True)


def run_all(fmt: str, workdir: str, examples: int) -> None:
    scenarios(fmt, workdir)
    fuzz(fmt, workdir, examples)
