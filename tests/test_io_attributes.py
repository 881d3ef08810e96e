"""Object attributes and image tags in the datasets that hold them (issue 18): COCO's per-annotation
``attributes`` and CVAT for images XML (``occluded``, ``<attribute>``, ``<tag>``), both ways."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from samdesk.document import Document, masks
from samdesk.document.attributes import NOTE, OCCLUDED, TRUNCATED
from samdesk.document.boxes import box_only_frame, is_box_only
from samdesk.document.model import AnnotationObject, MediaKind
from samdesk.io.coco import CocoExportOptions, export_coco, import_coco
from samdesk.io.common import ExportOptions
from samdesk.io.cvat import import_cvat
from samdesk.io.cvat_export import export_cvat
from samdesk.io.formats import run_export
from tests.io_fixtures import make_project, object_masks

ATTRIBUTES = {OCCLUDED: True, TRUNCATED: True, NOTE: "behind the van", "depth": 3, "visibility": 0.25}


def annotated(media_dir: Path):
    project = make_project(media_dir, with_video=False)
    project.objects = [o for o in project.objects if o.category_id is not None]
    project.objects[0].attributes = dict(ATTRIBUTES)
    project.objects[1].attributes = {TRUNCATED: True}
    project.media[0].tags = ["night", "vehicle"]  # "vehicle" is also a category
    project.media[1].tags = ["blurry"]
    return project


def test_coco_writes_attributes_per_annotation_and_reads_them_back(media_dir: Path, tmp_path: Path) -> None:
    project = annotated(media_dir)
    out = tmp_path / "coco.json"
    export_coco(project, out, CocoExportOptions(images_root=media_dir))
    data = json.loads(out.read_text("utf-8"))
    assert data["annotations"][0]["attributes"] == ATTRIBUTES
    assert data["annotations"][1]["attributes"] == {TRUNCATED: True}
    assert all("attributes" not in a for a in data["annotations"][2:])
    document = Document()
    result = import_coco(document.project, out, media_dir)
    document.execute(result.command)
    assert not result.warnings
    assert [o.attributes for o in document.project.objects] == [o.attributes for o in project.objects]


def test_coco_import_skips_unusable_attributes_with_a_warning(media_dir: Path, tmp_path: Path) -> None:
    project = annotated(media_dir)
    out = tmp_path / "coco.json"
    export_coco(project, out, CocoExportOptions(images_root=media_dir))
    data = json.loads(out.read_text("utf-8"))
    # What CVAT's own COCO export writes (flags off, a rotation) and what no attribute can be.
    data["annotations"][0]["attributes"] = {"occluded": False, "rotation": 0.0, "list": [1], "": 1, "z": 2}
    data["annotations"][1]["attributes"] = "occluded"
    out.write_text(json.dumps(data), "utf-8")
    document = Document()
    result = import_coco(document.project, out, media_dir)
    assert result.warnings.counts == {
        "attribute that is not true/false, text or a number skipped": 2,
        "attributes that are not a JSON object skipped": 1,
    }
    document.execute(result.command)
    assert document.project.objects[0].attributes == {"z": 2}
    assert document.project.objects[1].attributes == {}


def test_cvat_export_round_trips_masks_boxes_attributes_and_tags(media_dir: Path, tmp_path: Path) -> None:
    project = annotated(media_dir)
    truck = project.media[0]
    box = (100.0, 200.5, 400.0, 350.0)
    project.objects.append(
        AnnotationObject(99, truck.id, 1, {0: box_only_frame(box, truck.height, truck.width)},
                         attributes={OCCLUDED: True})
    )
    out = tmp_path / "annotations.xml"
    result = run_export("cvat", project, out, images_root=media_dir)
    assert result.annotations == len(project.objects)
    root = ET.parse(out).getroot()
    labels = {label.findtext("name"): label for label in root.iter("label")}
    assert list(labels) == ["vehicle", "animal", "thing", "night", "blurry"]
    assert labels["night"].findtext("type") == "tag" and labels["vehicle"].findtext("type") == "any"
    declared = {a.findtext("name"): a.findtext("input_type") for a in labels["vehicle"].iter("attribute")}
    assert declared == {TRUNCATED: "checkbox", NOTE: "text", "depth": "number", "visibility": "number"}
    first = root.find("image")
    assert [t.get("label") for t in first.iter("tag")] == ["night", "vehicle"]
    shape = first.find("mask")
    assert shape.get("occluded") == "1"
    assert {a.get("name"): a.text for a in shape.iter("attribute")} == {
        TRUNCATED: "true", NOTE: "behind the van", "depth": "3", "visibility": "0.25"
    }
    assert first.find("box").get("xtl") == "100" and first.find("box").get("ytl") == "200.5"

    document = Document()
    imported = import_cvat(document.project, out, media_dir)
    document.execute(imported.command)
    assert not imported.warnings
    assert [c.name for c in document.project.categories] == ["vehicle", "animal", "thing"]
    assert [m.tags for m in document.project.media] == [["night", "vehicle"], ["blurry"], []]
    in_image_order = [o for m in project.media for o in project.objects_of(m.id)]
    assert [o.attributes for o in document.project.objects] == [o.attributes for o in in_image_order]
    back = document.project.objects_of(document.project.media[0].id)[-1].frames[0]
    assert is_box_only(back) and back.prompts.box == box
    before, after = object_masks(project), object_masks(document.project)
    for key in before:
        for a, b in zip(before[key], after[key], strict=True):
            assert np.array_equal(a, b)


def test_cvat_tags_merge_into_an_image_the_project_has(media_dir: Path, tmp_path: Path) -> None:
    project = annotated(media_dir)
    out = tmp_path / "annotations.xml"
    export_cvat(project, out, ExportOptions(images_root=media_dir))
    document = Document()
    first = import_cvat(document.project, out, media_dir)
    document.execute(first.command)
    from samdesk.document import SetTags

    document.execute(SetTags(document.project.media[0].id, ["day"]))
    again = import_cvat(document.project, out, media_dir)  # the objects are duplicates, the tags not
    document.execute(again.command)
    assert document.project.media[0].tags == ["day", "night", "vehicle"]
    document.undo()
    assert document.project.media[0].tags == ["day"]


def test_cvat_export_skips_videos_and_uncategorised_objects(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir, with_video=True)
    result = export_cvat(project, tmp_path / "a.xml", ExportOptions(images_root=media_dir))
    assert result.warnings.counts["object without a category skipped"] == 1
    assert any("video skipped" in kind for kind in result.warnings.counts)
    assert result.media == 3


def test_cvat_mask_runs_start_with_background(tmp_path: Path) -> None:
    from samdesk.io.cvat_export import _row_major_runs

    crop = np.array([[1, 1, 0], [0, 1, 1]], bool)
    assert _row_major_runs(crop) == [0, 2, 2, 2]
    assert _row_major_runs(~crop) == [2, 2, 2]


@pytest.mark.parametrize("kind", [MediaKind.IMAGE])
def test_one_pixel_masks_survive_cvat(media_dir: Path, tmp_path: Path, kind: MediaKind) -> None:
    project = annotated(media_dir)
    truck = project.media[0]
    mask = np.zeros((truck.height, truck.width), bool)
    mask[0, 0] = mask[truck.height - 1, truck.width - 1] = True
    project.objects[0].frames[0].rle = masks.encode(mask)
    out = tmp_path / "annotations.xml"
    export_cvat(project, out, ExportOptions(images_root=media_dir))
    document = Document()
    document.execute(import_cvat(document.project, out, media_dir).command)
    assert np.array_equal(masks.decode(document.project.objects[0].frames[0].rle), mask)


def test_labelme_flags_become_attributes_and_image_tags(media_dir: Path, tmp_path: Path) -> None:
    import shutil

    from samdesk.io.labelme import import_labelme

    shutil.copy(media_dir / "dog.jpg", tmp_path / "dog.jpg")
    square = [[10, 10], [60, 10], [60, 60], [10, 60]]
    shape = {"label": "dog", "points": square, "shape_type": "polygon", "group_id": None, "description": ""}
    data = {
        "version": "5.5.0", "imagePath": "dog.jpg", "imageHeight": 534, "imageWidth": 800, "imageData": None,
        "flags": {"night": True, "blurry": False},
        "shapes": [
            {**shape, "flags": {"occluded": True, "truncated": False}},
            {**shape, "points": [[100, 100], [160, 100], [130, 150]], "flags": {}},
            {**shape, "points": [[200, 200], [260, 200], [230, 250]], "flags": ["bad"]},
        ],
    }  # fmt: skip
    (tmp_path / "dog.json").write_text(json.dumps(data), "utf-8")
    document = Document()
    result = import_labelme(document.project, tmp_path / "dog.json", tmp_path)
    document.execute(result.command)
    assert result.warnings.counts == {"flags that are not a JSON object skipped": 1}
    assert [o.attributes for o in document.project.objects] == [{OCCLUDED: True}, {}, {}]
    assert document.project.media[0].tags == ["night"]
