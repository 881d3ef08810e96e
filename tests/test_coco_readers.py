"""COCO exports as supervision reads them (pycocotools, the format's own reader, is in
tests/test_io_coco.py): RLE masks come back pixel-exact, one detection per object."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samdesk.io.coco import CocoExportOptions, export_coco
from tests.export_fixtures import noisy_images, photo_masks
from tests.readers import supervision_coco


def test_supervision_reads_rle_masks_exactly_and_polygons_one_per_object(tmp_path: Path) -> None:
    project = noisy_images(tmp_path / "photos")
    expected = {n: [m for c, m in objects if c is not None] for n, objects in photo_masks().items()}
    rle = tmp_path / "rle.json"
    export_coco(project, rle, CocoExportOptions(encoding="rle"))
    detections = supervision_coco(tmp_path / "photos", rle)
    for name, objects in expected.items():
        found = detections[name]
        assert len(found) == len(objects)
        for mask, read in zip(objects, found.mask, strict=True):
            assert np.array_equal(mask, read), name
    # Polygons follow pycocotools (outlines along pixel edges); supervision fills them as pixel
    # centres, one pixel larger right and below, so only the count is exact (docs/formats.md).
    polygons = tmp_path / "polygons.json"
    export_coco(project, polygons, CocoExportOptions(encoding="polygon"))
    detections = supervision_coco(tmp_path / "photos", polygons)
    assert {name: len(found) for name, found in detections.items()} == {"street.jpg": 7, "park.png": 2}
