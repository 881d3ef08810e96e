"""COCO export/import: loads in pycocotools, scores AP 1.0 against itself, round-trips byte-exactly."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from samdesk.document import Document, masks
from samdesk.document.model import MediaKind, Project
from samdesk.io.coco import CocoExportOptions, export_coco, import_coco
from samdesk.io.common import Cancelled, DatasetError
from samdesk.io.import_plan import DUPLICATE
from tests.io_fixtures import make_project, object_masks


def _self_ap(path: Path) -> float:
    """COCOeval (segm) of the file's annotations, as detections with score 1, against themselves.

    Detections must be RLE for ``loadRes``; ``annToRLE`` rasterises polygons as the evaluator does.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(path))
        detections = [
            {
                "image_id": a["image_id"],
                "category_id": a["category_id"],
                "segmentation": gt.annToRLE(a),
                "score": 1.0,
            }
            for a in gt.dataset["annotations"]
        ]
        dt = gt.loadRes(detections)
        evaluator = COCOeval(gt, dt, iouType="segm")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return float(evaluator.stats[0])


@pytest.mark.parametrize("encoding", ["rle", "polygon"])
def test_export_loads_in_pycocotools_and_scores_ap_1(media_dir: Path, tmp_path: Path, encoding: str) -> None:
    project = make_project(media_dir)
    out = tmp_path / "coco.json"
    result = export_coco(project, out, CocoExportOptions(encoding=encoding, images_root=media_dir))
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(out))
    assert [c["name"] for c in coco.dataset["categories"]] == ["vehicle", "animal", "thing"]
    assert [c["id"] for c in coco.dataset["categories"]] == [1, 2, 3]
    assert [i["file_name"] for i in coco.dataset["images"]] == ["truck.jpg", "dog.jpg", "cars.jpg"]
    # 3 images × 5 shapes + ring + two-part; the uncategorised object and the video are reported.
    assert len(coco.dataset["annotations"]) == result.annotations == 17
    assert result.warnings.counts["object without a category skipped"] == 1
    assert any(k.startswith("video skipped") for k in result.warnings.counts)
    for ann in coco.dataset["annotations"]:
        image = coco.imgs[ann["image_id"]]
        mask = coco.annToMask(ann)
        assert mask.shape == (image["height"], image["width"])
        assert mask.any()
    assert _self_ap(out) == 1.0


def test_bbox_area_score_and_ids_follow_the_masks(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir)
    out = tmp_path / "coco.json"
    export_coco(project, out, CocoExportOptions(images_root=media_dir))
    data = json.loads(out.read_text())
    # Annotations go image by image, each image's objects in drawing order.
    exported = [o for m in project.media[:3] for o in project.objects_of(m.id) if o.category_id is not None]
    assert [a["id"] for a in data["annotations"]] == list(range(1, len(exported) + 1))
    category_index = {1: 1, 2: 2, 5: 3}
    for ann, obj in zip(data["annotations"], exported, strict=True):
        rle = obj.frames[0].rle
        assert ann["segmentation"]["counts"] == rle["counts"]
        assert ann["area"] == masks.area(rle)
        assert ann["bbox"] == pytest.approx(masks.bbox(rle))
        assert ann["category_id"] == category_index[obj.category_id]
        assert ann["iscrowd"] == 0
        assert ann.get("score") == obj.frames[0].score


def test_rle_export_import_export_is_byte_identical_and_pixel_exact(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir, with_video=False)
    project.objects = [o for o in project.objects if o.category_id is not None]
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    export_coco(project, first, CocoExportOptions(images_root=media_dir))

    document = Document()
    result = import_coco(document.project, first, media_dir)
    document.execute(result.command)
    assert (result.categories_added, result.media_added, result.objects_added) == (3, 3, 17)
    assert not result.warnings
    export_coco(document.project, second, CocoExportOptions(images_root=media_dir))
    assert first.read_bytes() == second.read_bytes()

    before, after = object_masks(project), object_masks(document.project)
    assert before.keys() == after.keys()
    for key in before:
        for a, b in zip(before[key], after[key], strict=True):
            assert np.array_equal(a, b)


def test_import_is_one_undo_step_and_merges_categories_by_name(media_dir: Path, tmp_path: Path) -> None:
    source = make_project(media_dir, with_video=False)
    out = tmp_path / "coco.json"
    export_coco(source, out, CocoExportOptions(images_root=media_dir))
    document = Document()
    document.project.categories.append(type(source.categories[0])(1, "animal", (1, 2, 3)))
    document.project.next_ids["category"] = 2
    snapshot = document.project.clone()
    result = import_coco(document.project, out, media_dir)
    assert document.project == snapshot  # building the import changes nothing
    document.execute(result.command)
    assert [c.name for c in document.project.categories] == ["animal", "vehicle", "thing"]
    assert [c.id for c in document.project.categories] == [1, 2, 3]  # allocated, not taken from the file
    assert {o.category_id for o in document.project.objects} == {1, 2, 3}
    assert all(m.kind == MediaKind.IMAGE and Path(m.path).is_absolute() for m in document.project.media)
    document.undo()
    # Allocated ids stay used after undo (ids are never reused), so compare the content.
    assert (document.project.categories, document.project.media, document.project.objects) == (
        snapshot.categories,
        snapshot.media,
        snapshot.objects,
    )
    document.redo()
    assert len(document.project.objects) == result.objects_added


def test_importing_into_a_project_that_has_the_images_adds_objects_to_them(
    media_dir: Path, tmp_path: Path
) -> None:
    project = make_project(media_dir, with_video=False)
    out = tmp_path / "coco.json"
    export_coco(project, out, CocoExportOptions(images_root=media_dir))
    document = Document(project.clone())
    # Its own export: every object is already there, so by default none is added twice.
    result = import_coco(document.project, out, media_dir)
    assert (result.media_added, result.media_matched, result.objects_added) == (0, 3, 0)
    assert result.warnings.counts == {DUPLICATE: 17}
    result = import_coco(document.project, out, media_dir, keep_duplicates=True)
    assert (result.media_added, result.media_matched) == (0, 3)
    document.execute(result.command)
    assert len(document.project.media) == 3
    assert len(document.project.objects) == len(project.objects) + 17


def test_only_masks_the_project_already_has_are_skipped(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir, with_video=False)
    out = tmp_path / "coco.json"
    export_coco(project, out, CocoExportOptions(images_root=media_dir))
    document = Document(project.clone())
    removed = document.project.objects.pop(0)  # the project lacks one; another has a moved mask
    moved = document.project.objects[0].frames[0]
    moved.rle = masks.encode(np.roll(masks.decode(moved.rle), 3, axis=1))
    result = import_coco(document.project, out, media_dir)
    assert result.objects_added == 2 and result.warnings.counts[DUPLICATE] == 15
    assert removed.id not in {o.id for o in document.project.objects}


def test_uncompressed_rle_and_polygons_import(media_dir: Path, tmp_path: Path) -> None:
    from pycocotools import mask as mask_utils

    h, w = 534, 800
    square = np.zeros((h, w), np.uint8)
    square[100:200, 300:450] = 1
    # Uncompressed RLE: column-major run lengths starting with a background run.
    flat = square.ravel(order="F")
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    counts = np.diff(np.concatenate([[0], changes])).tolist()
    assert sum(counts) == h * w
    data = {
        "images": [{"id": 7, "file_name": "dog.jpg", "width": w, "height": h}],
        "categories": [{"id": 42, "name": "box"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 42, "segmentation": {"size": [h, w], "counts": counts}},
            {
                "id": 2,
                "image_id": 7,
                "category_id": 42,
                "segmentation": [[300, 100, 450, 100, 450, 200, 300, 200]],
            },
        ],
    }
    path = tmp_path / "in.json"
    path.write_text(json.dumps(data))
    document = Document()
    document.execute(import_coco(document.project, path, media_dir).command)
    rle_mask, poly_mask = (masks.decode(o.frames[0].rle) for o in document.project.objects)
    assert np.array_equal(rle_mask, square.astype(bool))
    expected = mask_utils.decode(
        mask_utils.merge(mask_utils.frPyObjects(data["annotations"][1]["segmentation"], h, w))
    )
    assert np.array_equal(poly_mask, expected.astype(bool))


def test_subset_only_done_and_categories(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir)
    out = tmp_path / "coco.json"
    result = export_coco(
        project, out, CocoExportOptions(only_done=True, category_ids={5}, images_root=media_dir)
    )
    data = json.loads(out.read_text())
    assert [i["file_name"] for i in data["images"]] == ["truck.jpg"]  # the only image marked done
    assert [c["name"] for c in data["categories"]] == ["thing"]
    assert {a["category_id"] for a in data["annotations"]} == {1}
    assert result.annotations == 2  # truck's star and its ring
    assert len(data["annotations"]) == len(
        [o for o in project.objects if o.media_id == 1 and o.category_id == 5]
    )

    export_coco(project, out, CocoExportOptions(media_ids={2}, images_root=media_dir, overwrite=True))
    assert [i["file_name"] for i in json.loads(out.read_text())["images"]] == ["dog.jpg"]
    with pytest.raises(DatasetError, match="unknown category"):
        export_coco(project, out, CocoExportOptions(category_ids={99}))


def test_progress_and_cancel(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir, with_video=False)
    calls: list[tuple[int, int]] = []
    export_coco(
        project,
        tmp_path / "a.json",
        CocoExportOptions(images_root=media_dir),
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls[0] == (0, 3) and calls[-1] == (3, 3)
    with pytest.raises(Cancelled):
        export_coco(
            project,
            tmp_path / "b.json",
            CocoExportOptions(images_root=media_dir),
            cancel=lambda: len(calls) > 5,
            progress=lambda d, t: calls.append((d, t)),
        )
    assert not (tmp_path / "b.json").exists()


def test_media_outside_the_images_root_is_an_error(media_dir: Path, tmp_path: Path) -> None:
    project = make_project(media_dir, with_video=False)
    with pytest.raises(DatasetError, match="not inside the images root"):
        export_coco(project, tmp_path / "a.json", CocoExportOptions(images_root=tmp_path))


def test_empty_project_exports_a_valid_file(tmp_path: Path) -> None:
    out = tmp_path / "empty.json"
    export_coco(Project(), out)
    assert json.loads(out.read_text())["images"] == []
