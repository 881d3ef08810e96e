"""DAVIS / YouTube-VOS palette folders (export, import) and YouTube-VIS export, on bedroom.mp4
(tests/test_video_exports.py reads them with the DAVIS 2017 loader's rules on a small clip)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from samdesk.document import Document, masks
from samdesk.document.model import MediaKind
from samdesk.io.export_frames import VideoExportOptions
from samdesk.io.sequences import import_davis
from samdesk.io.video_masks import DavisExportOptions, davis_palette, export_davis
from samdesk.io.ytvis import export_ytvis
from tests.io_fixtures import make_project


def test_davis_palette_matches_the_dataset() -> None:
    palette = davis_palette()
    # The first colours of every DAVIS 2017 annotation PNG.
    assert palette[:5] == [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0), (0, 0, 128)]
    assert palette[255] == (224, 224, 192)
    assert len(set(palette)) == 256


def test_davis_export_writes_palette_pngs_per_annotated_frame(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir)
    options = DavisExportOptions(images_root=media_dir, resolution="Full-Resolution")
    result = export_davis(project, tmp_path, options)
    folder = tmp_path / "Annotations/Full-Resolution/bedroom"
    assert sorted(p.name for p in folder.iterdir()) == [f"{f:05d}.png" for f in range(5)]
    frames = tmp_path / "JPEGImages/Full-Resolution/bedroom"
    assert sorted(p.name for p in frames.iterdir()) == [f"{f:05d}.jpg" for f in range(5)]
    assert (tmp_path / "ImageSets/2017/train.txt").read_text() == "bedroom\n"
    with Image.open(folder / "00002.png") as image:
        assert image.mode == "P" and image.size == (960, 540)
        assert image.getpalette()[:6] == [0, 0, 0, 128, 0, 0]
        labels = np.asarray(image)
    track, second = project.objects_of(4)
    assert np.array_equal(labels == 1, masks.decode(track.frames[2].rle))
    assert np.array_equal(labels == 2, masks.decode(second.frames[2].rle))
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["videos"]["bedroom"]["objects"]["2"] == {"category": "vehicle", "frames": ["00002", "00003"]}
    assert result.warnings.counts["image skipped (DAVIS holds videos; use png-instance)"] == 3


def test_davis_only_done_writes_every_done_frame(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir)
    export_davis(project, tmp_path, DavisExportOptions(only_done=True, images_root=media_dir))
    assert sorted(p.name for p in (tmp_path / "Annotations/480p/bedroom").iterdir()) == [
        "00000.png",
        "00001.png",
        "00002.png",
    ]


def test_davis_export_import_round_trip_is_pixel_exact(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir)
    export_davis(project, tmp_path, DavisExportOptions(images_root=media_dir, resolution="Full-Resolution"))
    document = Document()
    result = import_davis(document.project, tmp_path, media_dir)
    document.execute(result.command)
    assert not result.warnings
    (video,) = document.project.media
    assert video.kind == MediaKind.VIDEO and (video.width, video.height, video.frame_count) == (960, 540, 200)
    before, after = project.objects_of(4), document.project.objects_of(video.id)
    assert len(after) == 2
    names = {c.id: c.name for c in document.project.categories}
    assert [names[o.category_id] for o in after] == ["animal", "vehicle"]
    for a, b in zip(before, after, strict=True):
        assert a.frames.keys() == b.frames.keys()
        for f in a.frames:
            assert np.array_equal(masks.decode(a.frames[f].rle), masks.decode(b.frames[f].rle))


def test_davis_import_of_plain_folders_without_meta(media_dir: Path, tmp_path: Path) -> None:
    """A YouTube-VOS-like folder: frames numbered sparsely, no meta.json, odd files counted."""
    folder = tmp_path / "bedroom"
    folder.mkdir()
    labels = np.zeros((540, 960), np.uint8)
    labels[100:200, 100:300] = 3
    for frame in (0, 5, 10):
        image = Image.fromarray(labels, mode="P")
        image.putpalette([c for rgb in davis_palette() for c in rgb])
        image.save(folder / f"{frame:05d}.png")
    image.save(folder / "cover.png")
    image.save(folder / "00999.png")
    (tmp_path / "unknown_video").mkdir()
    image.save(tmp_path / "unknown_video/00000.png")
    result = import_davis(Document().project, tmp_path, media_dir)
    assert result.objects_added == 1 and result.categories_added == 0
    obj = result.command.commands[-1].obj
    assert sorted(obj.frames) == [0, 5, 10] and obj.category_id is None
    assert set(result.warnings.counts) == {
        "PNG name is not a frame number; skipped",
        "mask for a frame past the video's end; skipped",
        "no video file or frame folder for these masks; skipped",
    }


def test_ytvis_export_has_one_entry_per_track_with_nulls(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir)
    result = export_ytvis(project, tmp_path, VideoExportOptions(images_root=media_dir))
    data = json.loads((tmp_path / "instances.json").read_text())
    (video,) = data["videos"]
    assert video["length"] == 5 and video["file_names"][3] == "bedroom/00003.jpg"  # frames 0-4 annotated
    assert (tmp_path / "JPEGImages/bedroom/00003.jpg").is_file()
    track, second = data["annotations"]
    assert [c["name"] for c in data["categories"]] == ["vehicle", "animal", "thing"]
    assert track["category_id"] == 2 and second["category_id"] == 1
    assert [s is not None for s in second["segmentations"]] == [False, False, True, True, False]
    assert second["areas"][0] is None and second["bboxes"][2] is not None
    source = project.objects_of(4)[1]
    for f in (2, 3):
        decoded = mask_utils.decode(
            {
                "size": second["segmentations"][f]["size"],
                "counts": second["segmentations"][f]["counts"].encode(),
            }
        )
        assert np.array_equal(decoded.astype(bool), masks.decode(source.frames[f].rle))
    assert result.annotations == 2 and result.frames == 5


def test_ytvis_only_done_keeps_done_frames(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir)
    export_ytvis(project, tmp_path, VideoExportOptions(only_done=True, images_root=media_dir))
    data = json.loads((tmp_path / "instances.json").read_text())
    assert data["videos"][0]["file_names"] == ["bedroom/00000.jpg", "bedroom/00001.jpg", "bedroom/00002.jpg"]
    assert all(len(a["segmentations"]) == 3 for a in data["annotations"])
