"""DAVIS, YouTube-VOS and YouTube-VIS exports as their readers read them.

The clip (tests/export_fixtures.py) has 30 frames of which 0-9 are annotated: a ball on all ten,
a box that leaves after frame 5. DAVIS is read with the DAVIS 2017 loader's rules
(tests/readers.py: sorted JPEG and PNG lists paired by position, palette indices, objects counted
on the first mask); YouTube-VIS with pycocotools' RLE decoder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from model_runtime.media import VideoReader
from samdesk.document import Document, masks
from samdesk.document.model import MediaStatus
from samdesk.io.export_frames import VideoExportOptions
from samdesk.io.sequences import import_davis
from samdesk.io.video_masks import DavisExportOptions, export_davis, export_ytvos
from samdesk.io.ytvis import export_ytvis
from tests.export_fixtures import CLIP_ANNOTATED, CLIP_FRAMES, CLIP_SIZE, clip_masks, clip_project
from tests.readers import Davis2017

FRAME_NAMES = [f"{f:05d}" for f in CLIP_ANNOTATED]


def _labels(frame: int) -> np.ndarray:
    """The clip's palette indices on ``frame``: ball 1, box 2."""
    labels = np.zeros((CLIP_SIZE[1], CLIP_SIZE[0]), np.uint8)
    for value, mask in enumerate(clip_masks(frame), start=1):
        if mask is not None:
            labels[mask] = value
    return labels


def _at_480p(labels: np.ndarray) -> np.ndarray:
    """Masks at DAVIS' 480p: 160×90 is 16:9, so 854×480 (DAVIS' own size), nearest neighbour."""
    return np.asarray(Image.fromarray(labels).resize((854, 480), Image.Resampling.NEAREST))


@pytest.fixture
def clip(tmp_path: Path):
    return clip_project(tmp_path / "media")


def test_davis_2017_loader_reads_the_480p_export(clip, tmp_path: Path) -> None:
    out = tmp_path / "davis"
    result = export_davis(clip, out, DavisExportOptions(split="val"))
    davis = Davis2017(out, subset="val", resolution="480p")
    assert list(davis.sequences) == ["clip"]
    pairs = davis.frames("clip")
    assert len(pairs) == len(CLIP_ANNOTATED)
    for frame, (image, labels) in zip(CLIP_ANNOTATED, pairs, strict=True):
        assert image.shape == (480, 854, 3) and labels.shape == (480, 854)
        assert np.array_equal(labels, _at_480p(_labels(frame))), frame
    per_object, ids = davis.all_masks("clip")
    assert ids == FRAME_NAMES
    assert per_object.shape == (2, len(CLIP_ANNOTATED), 480, 854)  # both objects on the first mask
    assert not per_object[1, 6:].any()  # the box is gone on 6-9: empty masks, not missing ones
    assert result.frames == len(CLIP_ANNOTATED) and result.annotations == 2
    assert result.summary == ["frames: the annotated ones (10 of 30; --all-frames writes every frame)"]
    jpegs = sorted(p.name for p in (out / "JPEGImages/480p/clip").iterdir())
    assert jpegs == [f"{n}.jpg" for n in FRAME_NAMES]


def test_davis_every_frame_gets_a_mask_so_frames_and_masks_pair_up(clip, tmp_path: Path) -> None:
    """Frames without objects (here a done frame, and every frame with --all-frames) still get a
    PNG, all zeros: the loader pairs the n-th JPEG with the n-th PNG."""
    clip.media[0].done_frames = {12}
    out = tmp_path / "davis"
    export_davis(clip, out, DavisExportOptions(resolution="Full-Resolution"))
    davis = Davis2017(out, subset="train", resolution="Full-Resolution")
    _per_object, ids = davis.all_masks("clip")
    assert ids == [*FRAME_NAMES, "00012"]
    assert not davis.frames("clip")[-1][1].any()
    everything = tmp_path / "all"
    result = export_davis(clip, everything, DavisExportOptions(resolution="Full-Resolution", all_frames=True))
    davis = Davis2017(everything, subset="train", resolution="Full-Resolution")
    images = davis.sequences["clip"]["images"]
    masks_ = davis.sequences["clip"]["masks"]
    assert [Path(p).stem for p in images] == [Path(p).stem for p in masks_] == [f"{f:05d}" for f in range(30)]
    assert result.summary == ["frames: all 30"]


def test_davis_full_resolution_round_trip_is_pixel_exact(clip, tmp_path: Path) -> None:
    out = tmp_path / "davis"
    export_davis(clip, out, DavisExportOptions(resolution="Full-Resolution"))
    document = Document()
    result = import_davis(document.project, out, tmp_path / "media")
    document.execute(result.command)
    assert not result.warnings
    _assert_same_tracks(clip, document.project)


def test_youtube_vos_layout_and_round_trip(clip, tmp_path: Path) -> None:
    out = tmp_path / "ytvos"
    result = export_ytvos(clip, out, VideoExportOptions())
    jpegs = sorted(p.stem for p in (out / "JPEGImages/clip").iterdir())
    pngs = sorted(p.stem for p in (out / "Annotations/clip").iterdir())
    assert jpegs == pngs == FRAME_NAMES
    with Image.open(out / "JPEGImages/clip/00003.jpg") as image:
        assert image.size == CLIP_SIZE and image.format == "JPEG"
    with Image.open(out / "Annotations/clip/00003.png") as image:
        assert image.mode == "P" and np.array_equal(np.asarray(image), _labels(3))
    meta = json.loads((out / "meta.json").read_text())
    assert meta["videos"]["clip"]["objects"]["2"] == {"category": "car", "frames": FRAME_NAMES[:6]}
    assert result.summary == ["frames: the annotated ones (10 of 30; --all-frames writes every frame)"]
    document = Document()
    imported = import_davis(document.project, out, tmp_path / "media")
    document.execute(imported.command)
    assert not imported.warnings
    _assert_same_tracks(clip, document.project)


def test_youtube_vis_holds_the_annotated_frames_with_their_jpegs(clip, tmp_path: Path) -> None:
    out = tmp_path / "ytvis"
    result = export_ytvis(clip, out, VideoExportOptions())
    data = json.loads((out / "instances.json").read_text())
    (video,) = data["videos"]
    assert video["length"] == len(CLIP_ANNOTATED)
    assert video["file_names"] == [f"clip/{n}.jpg" for n in FRAME_NAMES]
    for name in video["file_names"]:
        with Image.open(out / "JPEGImages" / name) as image:
            assert image.size == CLIP_SIZE
    ball, box = data["annotations"]
    assert all(s is not None for s in ball["segmentations"])
    # The box is truly gone on 6-9 (annotated frames): null there, and only there.
    assert [s is None for s in box["segmentations"]] == [False] * 6 + [True] * 4
    for i, frame in enumerate(CLIP_ANNOTATED):
        rle = ball["segmentations"][i]
        decoded = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()}).astype(bool)
        assert np.array_equal(decoded, clip_masks(frame)[0])
    assert result.summary == ["frames: the annotated ones (10 of 30; --all-frames writes every frame)"]


def test_youtube_vis_only_done_and_all_frames(clip, tmp_path: Path) -> None:
    clip.media[0].done_frames = {0, 1, 2}
    data = _ytvis(clip, tmp_path / "done", VideoExportOptions(only_done=True))
    assert data["videos"][0]["file_names"] == ["clip/00000.jpg", "clip/00001.jpg", "clip/00002.jpg"]
    data = _ytvis(clip, tmp_path / "all", VideoExportOptions(all_frames=True))
    assert data["videos"][0]["length"] == CLIP_FRAMES
    clip.media[0].status = MediaStatus.DONE  # done: every frame is annotated, empty ones too
    data = _ytvis(clip, tmp_path / "video-done", VideoExportOptions())
    assert data["videos"][0]["length"] == CLIP_FRAMES


def _ytvis(project, out: Path, options: VideoExportOptions) -> dict:
    export_ytvis(project, out, options)
    return json.loads((out / "instances.json").read_text())


def _assert_same_tracks(before, after) -> None:
    names = {c.id: c.name for c in after.categories}
    (media,) = after.media
    assert (media.width, media.height, media.frame_count) == (*CLIP_SIZE, CLIP_FRAMES)
    old, new = before.objects_of(1), after.objects_of(media.id)
    assert [names[o.category_id] for o in new] == ["person", "car"]
    for a, b in zip(old, new, strict=True):
        assert a.frames.keys() == b.frames.keys()
        for f in a.frames:
            assert np.array_equal(masks.decode(a.frames[f].rle), masks.decode(b.frames[f].rle))


def test_a_folder_of_frames_exports_like_a_video_file(clip, tmp_path: Path) -> None:
    """DAVIS and YouTube-VOS ship videos as frame folders; such a video exports the same frames."""
    folder = tmp_path / "media/clip_frames"
    folder.mkdir()
    with VideoReader(clip.media[0].path) as reader:
        for index in range(CLIP_FRAMES):
            Image.fromarray(reader.read(index)).save(folder / f"{index:05d}.png")
    clip.media[0].path = str(folder)
    out = tmp_path / "ytvos"
    export_ytvos(clip, out, VideoExportOptions())
    assert sorted(p.stem for p in (out / "JPEGImages/clip_frames").iterdir()) == FRAME_NAMES
    with Image.open(out / "JPEGImages/clip_frames/00004.jpg") as image:
        written = np.asarray(image.convert("RGB")).astype(int)
    source = np.asarray(Image.open(folder / "00004.png").convert("RGB")).astype(int)
    assert np.abs(written - source).mean() < 2  # the same frame, through JPEG
