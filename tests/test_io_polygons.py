"""Mask -> polygon conversion: IoU per object at the default tolerance, holes, multi-part objects."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from samdesk.document import masks
from samdesk.io.coco import CocoExportOptions, export_coco
from samdesk.io.common import DatasetError
from samdesk.io.polygons import DEFAULT_TOLERANCE, mask_to_polygons, polygon_iou, polygons_to_mask
from tests.io_fixtures import IMAGES, make_project, ring, two_parts, typical_shapes


@pytest.mark.parametrize(("width", "height"), sorted(set(IMAGES.values())) + [(1920, 1080)])
def test_default_tolerance_keeps_iou_above_098_on_typical_shapes(width: int, height: int) -> None:
    for name, mask in typical_shapes(height, width).items():
        result = mask_to_polygons(mask)
        vertices = sum(len(p) for p in result.polygons) // 2
        print(f"{width}x{height} {name}: IoU {result.iou:.4f}, {vertices} vertices")
        assert not result.has_holes
        assert len(result.polygons) == 1
        assert result.iou >= 0.98, name
        # The reported IoU is the real one: rasterise in full-image coordinates and compare.
        assert polygon_iou(result.polygons, mask) == pytest.approx(result.iou)


def test_straight_edges_stay_few_vertices() -> None:
    mask = typical_shapes(1080, 1920)["quad"]
    result = mask_to_polygons(mask, DEFAULT_TOLERANCE)
    assert len(result.polygons[0]) // 2 <= 8


def test_rectangle_is_exact() -> None:
    mask = np.zeros((100, 120), bool)
    mask[10:40, 20:90] = True
    result = mask_to_polygons(mask)
    assert result.iou == 1.0
    assert np.array_equal(polygons_to_mask(result.polygons, 100, 120), mask)


def test_multi_part_object_gives_one_polygon_per_part() -> None:
    mask = two_parts(534, 800, (150, 150), (500, 380), 60)
    result = mask_to_polygons(mask)
    assert len(result.polygons) == 2 and not result.has_holes
    assert result.iou >= 0.98


def test_holes_are_detected_not_filled() -> None:
    mask = ring(1200, 1800, (900, 700), 150, 60)
    result = mask_to_polygons(mask)
    assert result.has_holes
    assert result.iou < 0.9  # the outline alone fills the hole: exactly why it must not be used


def test_thin_and_tiny_parts_survive() -> None:
    mask = np.zeros((60, 60), bool)
    mask[5, 5] = True  # one pixel
    mask[20, 10:50] = True  # a one-pixel line
    result = mask_to_polygons(mask)
    assert len(result.polygons) == 2
    assert polygons_to_mask(result.polygons, 60, 60)[mask].all()


def test_empty_mask_has_no_polygons() -> None:
    assert mask_to_polygons(np.zeros((10, 10), bool)).polygons == []


def test_coco_polygon_export_keeps_holes_as_rle_and_parts_as_polygons(
    media_dir: Path, tmp_path: Path
) -> None:
    project = make_project(media_dir, with_video=False)
    out = tmp_path / "poly.json"
    result = export_coco(project, out, CocoExportOptions(encoding="polygon", images_root=media_dir))
    data = json.loads(out.read_text())
    ring_object = next(o for o in project.objects if o.media_id == 1 and o.category_id == 5 and o.id > 15)
    ring_annotation = next(
        a for a in data["annotations"] if a["area"] == masks.area(ring_object.frames[0].rle)
    )
    assert isinstance(ring_annotation["segmentation"], dict)  # RLE, so the hole is kept
    assert result.warnings.counts["object with holes written as RLE"] == 1
    polygon_annotations = [a for a in data["annotations"] if isinstance(a["segmentation"], list)]
    assert len(polygon_annotations) == len(data["annotations"]) - 1
    assert max(len(a["segmentation"]) for a in polygon_annotations) == 2  # the two-part object
    with pytest.raises(DatasetError, match="holes"):
        export_coco(project, out, CocoExportOptions(encoding="polygon", holes="error", images_root=media_dir))
