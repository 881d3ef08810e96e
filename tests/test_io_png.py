"""Instance and semantic PNG export; instance PNG import round-trips masks pixel-exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samdesk.document import Document, masks
from samdesk.document.model import MediaKind
from samdesk.io.common import DatasetError, ExportOptions
from samdesk.io.png_masks import export_png_masks, import_png_instances
from tests.io_fixtures import make_project, object_masks


def test_instance_pngs_are_uint16_with_a_legend(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir)
    result = export_png_masks(project, tmp_path, "instance", ExportOptions(images_root=media_dir))
    legend = json.loads((tmp_path / "legend.json").read_text())
    assert legend["kind"] == "instance"
    assert [c["name"] for c in legend["categories"]] == ["vehicle", "animal", "thing"]
    truck = legend["media"][0]
    assert truck["file_name"] == "truck.jpg" and truck["masks"] == [
        {"frame": 0, "file": "instances/truck.png"}
    ]
    with Image.open(tmp_path / "instances/truck.png") as image:
        labels = np.asarray(image)
    assert labels.dtype == np.uint16 and labels.shape == (1200, 1800)
    truck_objects = project.objects_of(1)
    assert sorted(np.unique(labels).tolist()) == list(range(len(truck_objects) + 1))
    for value, obj in enumerate(truck_objects, start=1):
        entry = truck["objects"][value - 1]
        assert entry["value"] == value
        assert entry["category_id"] == {1: 1, 2: 2, 5: 3}[obj.category_id]
        assert np.array_equal(labels == value, masks.decode(obj.frames[0].rle))  # no overlaps here
    video = legend["media"][3]
    assert video["kind"] == "video" and [m["frame"] for m in video["masks"]] == [0, 1, 2, 3, 4]
    assert video["masks"][0]["file"] == "instances/bedroom/00000.png"
    assert result.media == 4 and result.frames == 3 + 5


def test_instance_export_import_round_trip_is_pixel_exact(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir)
    export_png_masks(project, tmp_path, "instance", ExportOptions(images_root=media_dir))
    document = Document()
    result = import_png_instances(document.project, tmp_path, media_dir)
    document.execute(result.command)
    assert not result.warnings
    assert result.objects_added == len(project.objects)
    assert [m.kind for m in document.project.media] == [MediaKind.IMAGE] * 3 + [MediaKind.VIDEO]
    assert document.project.media[3].frame_count == 200
    before, after = object_masks(project), object_masks(document.project)
    assert before.keys() == after.keys()
    for key in before:
        for a, b in zip(before[key], after[key], strict=True):
            assert np.array_equal(a, b), key
    names = {c.id: c.name for c in document.project.categories}
    assert [names.get(o.category_id) for o in document.project.objects_of(3)][
        -1
    ] is None  # uncategorised kept


def test_overlaps_are_counted(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir, with_video=False)
    duplicate = project.objects_of(2)[0]
    project.objects.append(type(duplicate)(99, 2, 1, dict(duplicate.frames)))
    result = export_png_masks(project, tmp_path, "instance", ExportOptions(images_root=media_dir))
    assert any("overlaps" in k for k in result.warnings.counts)


def test_semantic_pngs_hold_category_values_and_colours(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir, with_video=False)
    result = export_png_masks(project, tmp_path, "semantic", ExportOptions(images_root=media_dir))
    with Image.open(tmp_path / "semantic/dog.png") as image:
        assert image.mode == "P"
        labels = np.asarray(image)
        palette = image.getpalette()[:12]
    assert palette == [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]
    values = {1: 1, 2: 2, 5: 3}
    for obj in project.objects_of(2):
        mask = masks.decode(obj.frames[0].rle)
        assert (labels[mask] == values[obj.category_id]).all()
    legend = json.loads((tmp_path / "legend.json").read_text())
    assert legend["kind"] == "semantic" and legend["categories"][0] == {
        "id": 1,
        "name": "vehicle",
        "color": [255, 0, 0],
    }
    assert result.warnings.counts["object without a category left out"] == 1


def test_only_done_video_frames(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir)
    export_png_masks(project, tmp_path, "instance", ExportOptions(only_done=True, images_root=media_dir))
    legend = json.loads((tmp_path / "legend.json").read_text())
    assert [m["file_name"] for m in legend["media"]] == ["truck.jpg", "bedroom.mp4"]
    assert [m["frame"] for m in legend["media"][1]["masks"]] == [0, 1, 2]


def test_import_rejects_a_foreign_legend_and_wrong_mask_sizes(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir, with_video=False)
    export_png_masks(project, tmp_path, "instance", ExportOptions(images_root=media_dir))
    Image.fromarray(np.zeros((10, 10), np.uint16)).save(tmp_path / "instances/dog.png")
    document = Document()
    with pytest.raises(DatasetError, match="dog.png: mask is 10×10, its image is 800×534"):
        import_png_instances(document.project, tmp_path, media_dir)
    (tmp_path / "legend.json").write_text('{"format": "other"}')
    with pytest.raises(DatasetError, match="not a samdesk instance-mask legend"):
        import_png_instances(document.project, tmp_path, media_dir)
    assert document.project.media == [] and not document.history.can_undo
