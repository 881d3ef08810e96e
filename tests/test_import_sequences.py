"""DAVIS 2017 and YouTube-VOS as they ship: JPEG frame folders beside palette PNG masks.

Before, both imported as 0 objects with exit status 0: samdesk looked only for video files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samdesk.cli import main
from samdesk.document import Document, masks
from samdesk.document.model import MediaKind
from samdesk.document.persistence import load_project
from samdesk.io.formats import IMPORT_FORMATS
from samdesk.io.video_masks import davis_palette

W, H = 40, 24
PALETTE = [c for rgb in davis_palette() for c in rgb]


def _jpeg(path: Path, shade: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((H, W, 3), shade, np.uint8)).save(path, quality=95)


def _png(path: Path, labels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette(PALETTE)
    image.save(path)


def _labels(frame: int, *objects: int) -> np.ndarray:
    """Object k is a square that moves one pixel right per frame."""
    labels = np.zeros((H, W), np.uint8)
    for k in objects:
        labels[2 + 6 * (k - 1) : 6 + 6 * (k - 1), 2 + frame + 8 * k : 8 + frame + 8 * k] = k
    return labels


def _davis(root: Path, res: str = "480p") -> dict[str, dict[int, np.ndarray]]:
    """DAVIS 2017: two sequences of 4 frames; 'car' holds objects 1 and 2, 'dog' object 1 and is a
    symlinked folder (datasets assembled from several downloads link them)."""
    written: dict[str, dict[int, np.ndarray]] = {}
    for seq, objects in (("car", (1, 2)), ("dog", (1,))):
        where = root / "store" if seq == "dog" else root
        written[seq] = {}
        for f in range(4):
            _jpeg(where / "JPEGImages" / res / seq / f"{f:05d}.jpg", 40 * f)
            written[seq][f] = _labels(f, *objects)
            _png(where / "Annotations" / res / seq / f"{f:05d}.png", written[seq][f])
    for kind in ("JPEGImages", "Annotations"):
        (root / kind / res / "dog").symlink_to(root / "store" / kind / res / "dog", target_is_directory=True)
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "train.txt").write_text("car\ndog\n")
    return written


def _import(*args: object) -> int:
    return main(["import", *(str(a) for a in args), "--quiet"])


def _import_davis(source: Path, images: Path, project_file: Path) -> int:
    return _import(source, "--format", "davis", "--images", images, "--project", project_file)


def _check(project, written: dict[str, dict[int, np.ndarray]], frames_of: dict[str, list[int]]) -> None:
    """Every written object is one video object whose masks are the PNGs', pixel for pixel."""
    media = {Path(m.path).name: m for m in project.media}
    assert set(media) == set(written)
    for seq, by_frame in written.items():
        item = media[seq]
        assert item.kind == MediaKind.VIDEO and Path(item.path).is_dir()
        assert (item.width, item.height, item.frame_count) == (W, H, len(frames_of[seq]))
        objects = project.objects_of(item.id)
        values = sorted({int(v) for labels in by_frame.values() for v in np.unique(labels) if v})
        assert len(objects) == len(values)
        for obj, value in zip(objects, values, strict=True):
            assert sorted(obj.frames) == [frames_of[seq].index(f) for f in sorted(by_frame)]
            for f, labels in by_frame.items():
                index = frames_of[seq].index(f)
                assert np.array_equal(masks.decode(obj.frames[index].rle), labels == value)


@pytest.mark.parametrize("res", ["480p", "Full-Resolution"])
def test_davis_with_jpeg_frame_folders_imports_every_sequence(tmp_path: Path, res: str) -> None:
    written = _davis(tmp_path / "DAVIS", res)
    project_file = tmp_path / "p.samdesk.json"
    assert _import_davis(tmp_path / "DAVIS", tmp_path, project_file) == 0
    _check(load_project(project_file).project, written, {"car": [0, 1, 2, 3], "dog": [0, 1, 2, 3]})
    # The same dataset again adds nothing and is no failure.
    assert _import_davis(tmp_path / "DAVIS", tmp_path, project_file) == 0
    assert len(load_project(project_file).project.objects) == 3


def test_youtube_vos_frames_every_fifth_with_categories_from_meta(tmp_path: Path) -> None:
    """YouTube-VOS' train split: frames and masks every 5th frame; a PNG belongs to the JPEG of
    the same name (00005.png is the folder's second frame)."""
    root = tmp_path / "train"
    written = {"0a2f": {}}
    for f in (0, 5, 10):
        _jpeg(root / "JPEGImages" / "0a2f" / f"{f:05d}.jpg", 10 * f)
        if f < 10:  # the last frame has no mask: the valid split annotates the first frames only
            written["0a2f"][f] = _labels(f, 1, 2)
            _png(root / "Annotations" / "0a2f" / f"{f:05d}.png", written["0a2f"][f])
    objects = {
        "1": {"category": "person", "frames": ["00000", "00005"]},
        "2": {"category": "skateboard", "frames": ["00000"]},
    }
    meta = {"videos": {"0a2f": {"objects": objects}}}
    (root / "meta.json").write_text(json.dumps(meta))
    document = Document()
    result = IMPORT_FORMATS["davis"](document.project, root, tmp_path / "no videos here")
    document.execute(result.command)
    assert not result.warnings
    _check(document.project, written, {"0a2f": [0, 5, 10]})
    names = {c.id: c.name for c in document.project.categories}
    assert [names[o.category_id] for o in document.project.objects] == ["person", "skateboard"]


def test_a_video_file_named_like_the_sequence_is_preferred(tmp_path: Path, media_dir: Path) -> None:
    """A samdesk export's masks go back onto the video they came from."""
    import shutil

    labels = np.zeros((540, 960), np.uint8)
    labels[100:200, 100:300] = 1
    for f in (0, 7):
        _png(tmp_path / "ds" / "Annotations" / "bedroom" / f"{f:05d}.png", labels)
    shutil.copy(media_dir / "bedroom.mp4", tmp_path / "bedroom.mp4")
    result = IMPORT_FORMATS["davis"](Document().project, tmp_path / "ds", tmp_path)
    (add_media,) = [c for c in result.command.commands if type(c).__name__ == "AddMedia"]
    assert add_media.item.path == str((tmp_path / "bedroom.mp4").resolve())
    assert add_media.item.frame_count == 200
    assert sorted(result.command.commands[-1].obj.frames) == [0, 7]


def test_pngs_without_frames_void_pixels_and_missing_sequences_are_counted(tmp_path: Path) -> None:
    root = tmp_path / "DAVIS"
    for f in (0, 1):
        _jpeg(root / "JPEGImages" / "480p" / "car" / f"{f:05d}.jpg", 0)
    labels = _labels(0, 1)
    labels[0, :] = 255  # DAVIS' void border
    _png(root / "Annotations" / "480p" / "car" / "00000.png", labels)
    _png(root / "Annotations" / "480p" / "car" / "00009.png", _labels(0, 1))  # no 00009.jpg
    _png(root / "Annotations" / "480p" / "gone" / "00000.png", _labels(0, 1))  # no frames at all
    result = IMPORT_FORMATS["davis"](Document().project, root, tmp_path)
    assert result.objects_added == 1 and result.media_added == 1
    assert set(result.warnings.counts) == {
        "DAVIS void pixels (index 255) left unlabelled",
        "mask PNG without a frame file of that name; skipped",
        "no video file or frame folder for these masks; skipped",
    }
    obj = result.command.commands[-1].obj
    assert np.array_equal(masks.decode(obj.frames[0].rle), labels == 1)


def test_an_import_that_finds_nothing_fails_and_says_why(tmp_path: Path, capsys) -> None:
    """Masks whose frames are nowhere: before, "imported 0 objects" and exit status 0."""
    _png(tmp_path / "DAVIS" / "Annotations" / "480p" / "car" / "00000.png", _labels(0, 1))
    project_file = tmp_path / "p.samdesk.json"
    assert _import_davis(tmp_path / "DAVIS", tmp_path, project_file) == 1
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'DAVIS'}: nothing imported as davis" in err
    assert "no video file or frame folder for these masks; skipped (e.g. car)" in err
    assert not project_file.exists()
