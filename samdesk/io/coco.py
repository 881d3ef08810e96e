"""COCO instance segmentation JSON: export (RLE or polygons) and import (RLE in both forms, polygons).

An imported annotation with a ``bbox`` and no segmentation (a detection file) becomes a box-only
object (``samdesk/document/boxes.py``), for a model to segment.

Exported ids are deterministic: categories, images and annotations are numbered from 1 in project
order (annotations by image, then drawing order), so exporting the same project twice gives the
same bytes, and RLE export -> import -> export is byte-identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from samdesk.document import masks
from samdesk.document.attributes import value_problem
from samdesk.document.boxes import box_only_frame, is_box_only
from samdesk.document.model import AttributeValue, FrameAnnotation, MediaKind, Project, Provenance
from samdesk.document.shapes import polygon_problem
from samdesk.io.common import (
    CancelFn,
    DatasetError,
    ExportOptions,
    ExportResult,
    ProgressFn,
    Warnings,
    check_size,
    image_size,
    images_root,
    out_of_memory_names,
    read_json,
    relative_name,
    report,
    still_objects,
)
from samdesk.io.import_plan import ImportPlan, ImportResult
from samdesk.io.output import start_export
from samdesk.io.polygons import (
    DEFAULT_TOLERANCE,
    MAX_OUTSIDE,
    check_polygons,
    polygons_to_mask,
    rle_to_polygons,
)
from samdesk.io.shapes import clip_box

Encoding = Literal["rle", "polygon"]
# Below this polygon-vs-mask IoU an exported polygon is reported: it no longer says what the mask says.
POLYGON_IOU_WARNING = 0.95


@dataclass
class CocoExportOptions(ExportOptions):
    """``encoding``: "rle" (lossless) or "polygon"; ``holes``: for polygons, what to do with an object
    that has holes — "rle" writes that one as RLE, "error" stops the export."""

    encoding: Encoding = "rle"
    tolerance: float | None = DEFAULT_TOLERANCE
    holes: Literal["rle", "error"] = "rle"
    include_scores: bool = True


def export_coco(
    project: Project,
    out: Path,
    options: CocoExportOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExportResult:
    """Write ``project`` (its images; videos are reported and skipped) as one COCO JSON file."""
    options = options or CocoExportOptions()
    skipped = "video skipped (COCO holds images; use davis or ytvis)"
    start = start_export(project, out, options, folder=False, kind=MediaKind.IMAGE, other_kind=skipped)
    result, output, categories, selected = start.result, start.output, start.categories, start.selected
    root = images_root(selected, options.images_root)
    category_ids = {c.id: i for i, c in enumerate(categories, start=1)}
    images, annotations = [], []
    for done, item in enumerate(selected):
        report(progress, cancel, done, len(selected))
        media = item.media
        image_id = len(images) + 1
        images.append(
            {
                "id": image_id,
                "file_name": relative_name(media, root),
                "width": media.width,
                "height": media.height,
            }
        )
        for obj, frame, where in still_objects(item, category_ids, result):
            with out_of_memory_names(media):
                annotation = _annotation(frame, media.width, media.height, options, result.warnings, where)
            if annotation is None:
                continue
            if obj.attributes:  # the key CVAT's and datumaro's COCO use for per-object attributes
                annotation["attributes"] = dict(obj.attributes)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category_ids[obj.category_id],
                    **annotation,
                }
            )
    report(progress, cancel, len(selected), len(selected))
    data = {
        "info": {"description": "exported by samdesk", "version": "1.0"},
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": i, "name": c.name, "supercategory": ""}
            for c, i in zip(categories, category_ids.values(), strict=True)
        ],
    }
    with output:
        output.write_json(output.path(), data)
    result.files.append(output.path())
    result.media, result.frames, result.annotations = len(images), len(images), len(annotations)
    return result


def _annotation(
    frame: FrameAnnotation,
    width: int,
    height: int,
    options: CocoExportOptions,
    warnings: Warnings,
    where: str,
) -> dict | None:
    rle = frame.rle
    if list(rle["size"]) != [height, width]:
        warnings.add("mask size differs from its image; skipped", where)
        return None
    if is_box_only(frame):  # a box annotation: a detection, bbox without segmentation
        x0, y0, x1, y1 = frame.prompts.box  # type: ignore[misc]
        bbox = [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)]
        return {"segmentation": [], "area": round((x1 - x0) * (y1 - y0), 2), "bbox": bbox, "iscrowd": 0}
    area = masks.area(rle)
    if area == 0:
        warnings.add("empty mask skipped", where)
        return None
    segmentation: object = {"size": [height, width], "counts": rle["counts"]}
    if frame.polygon is not None:  # a polygon annotation: its own vertices, in either encoding
        segmentation = [[float(v) for point in frame.polygon for v in point]]
    elif options.encoding == "polygon":
        polygons = rle_to_polygons(rle, options.tolerance)
        if polygons.has_holes:
            if options.holes == "error":
                raise DatasetError(f"{where}: the object has holes, which COCO polygons cannot express")
            warnings.add("object with holes written as RLE", where)
        else:
            if polygons.iou < POLYGON_IOU_WARNING:
                warnings.add(f"polygon IoU below {POLYGON_IOU_WARNING}", f"{where}: {polygons.iou:.3f}")
            segmentation = polygons.polygons
    annotation = {
        "segmentation": segmentation,
        "area": area,
        "bbox": [round(v, 2) for v in masks.bbox(rle)],
        "iscrowd": 0,
    }
    if options.include_scores and frame.score is not None:
        annotation["score"] = float(frame.score)
    return annotation


# --- import ---------------------------------------------------------------------------------


def import_coco(
    project: Project,
    path: Path,
    images_dir: Path,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    *,
    keep_duplicates: bool = False,
) -> ImportResult:
    """Read a COCO instance file into an :class:`ImportResult` (one undoable batch); ``project``
    is only read. Images are looked up as ``images_dir / file_name``."""
    path, images_dir = Path(path), Path(images_dir)
    data = read_json(path)
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a JSON object with images, annotations and categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DatasetError(f"{path}: '{key}' is missing or not a list")
    plan = ImportPlan(project, keep_duplicates=keep_duplicates)
    categories = _categories(data["categories"], path)
    for name in categories.values():  # the file's category order becomes the project's
        plan.category(name)
    images = _images(data["images"], path)
    by_image: dict[int, list[dict]] = {image_id: [] for image_id in images}
    for index, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or not isinstance(ann.get("image_id"), int):
            raise DatasetError(f"{path}: annotation #{index} has no integer image_id")
        if ann["image_id"] not in by_image:
            plan.warnings.add("annotation on an unknown image id skipped", str(ann["image_id"]))
            continue
        by_image[ann["image_id"]].append(ann)
    total = len(images)
    for done, (image_id, (file_name, width, height)) in enumerate(images.items()):
        report(progress, cancel, done, total)
        image_path = images_dir / file_name
        if not image_path.is_file():
            plan.warnings.add("image file missing; skipped with its annotations", file_name)
            continue
        if image_size(image_path) != (width, height):
            actual = image_size(image_path)
            raise DatasetError(
                f"{path}: {file_name} is declared {width}×{height} but the file is {actual[0]}×{actual[1]}"
            )
        media = plan.media(image_path, MediaKind.IMAGE, width, height)
        for ann in by_image[image_id]:
            where = f"{file_name} annotation {ann.get('id')}"
            category_id = ann.get("category_id")
            if not isinstance(category_id, int) or category_id not in categories:
                plan.warnings.add(
                    "unknown category id; annotation skipped", f"{where}: {ann.get('category_id')}"
                )
                continue
            segmentation = ann.get("segmentation")
            if not segmentation and "bbox" in ann:  # a detection: the box for a model to segment
                frame = _box_frame(ann["bbox"], height, width, plan.warnings, where)
            else:
                mask = segmentation_mask(segmentation, height, width, plan.warnings, where)
                if mask is None:
                    continue
                if ann.get("iscrowd"):
                    plan.warnings.add("crowd region imported as an object", where)
                frame = FrameAnnotation(
                    masks.encode(mask),
                    Provenance.IMPORTED,
                    score=finite_number(ann.get("score")),
                    polygon=single_polygon(segmentation, height, width),
                )
            if frame is not None:
                attributes = read_attributes(ann.get("attributes"), plan.warnings, where)
                plan.add_object(
                    media, plan.category(categories[ann["category_id"]]), {0: frame}, attributes=attributes
                )
    report(progress, cancel, total, total)
    return plan.result(f"import {path.name}")


def _box_frame(
    bbox: object, height: int, width: int, warnings: Warnings, where: str
) -> FrameAnnotation | None:
    """A detection's ``bbox`` [x, y, w, h] -> a box-only frame (``samdesk/document/boxes.py``)."""
    values = [finite_number(v) for v in bbox] if isinstance(bbox, list) and len(bbox) == 4 else None
    if values is None or any(v is None or abs(v) > (1 + MAX_OUTSIDE) * max(height, width) for v in values):
        warnings.add("malformed bbox of an annotation without segmentation; skipped", where)
        return None
    x, y, w, h = values  # type: ignore[misc]
    box = clip_box(x, y, x + w, y + h, height, width)
    if box is None:
        warnings.add("bbox without area inside its image skipped", where)
        return None
    return box_only_frame(box, height, width)


def read_attributes(value: object, warnings: Warnings, where: str) -> dict[str, AttributeValue]:
    """An annotation's ``attributes`` object -> the object's attributes (``document/attributes.py``);
    entries that are not a name with a true/false, text or finite-number value are skipped,
    counted. A flag that is off is the same as no flag, and so is CVAT's ``rotation`` of 0."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        warnings.add("attributes that are not a JSON object skipped", where)
        return {}
    out: dict[str, AttributeValue] = {}
    for name, item in value.items():
        if value_problem(name, item) is not None:
            skipped = "attribute that is not true/false, text or a number skipped"
            warnings.add(skipped, f"{where}: {name!r:.40}")
        elif item is not False and item != "" and not (name == "rotation" and item == 0):
            out[name] = item  # (CVAT's COCO writes "rotation": 0.0 on every shape: it says nothing)
    return out


def single_polygon(segmentation: object, height: int, width: int) -> tuple[tuple[float, float], ...] | None:
    """The vertices of a segmentation that is one polygon (kept as a polygon annotation, whose
    pixels pycocotools draws as the import did), else None."""
    if not (isinstance(segmentation, list) and len(segmentation) == 1 and isinstance(segmentation[0], list)):
        return None
    flat = segmentation[0]
    if len(flat) % 2:
        return None
    points = [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
    if polygon_problem(points, height, width) is not None:
        return None
    return tuple((float(x), float(y)) for x, y in points)


def finite_number(value: object) -> float | None:
    """``value`` as a float when it is a usable number (finite, not a bool), else None: a score
    the file gives, or a coordinate."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        score = float(value)
    except OverflowError:  # an integer of hundreds of digits
        return None
    return score if math.isfinite(score) else None


def _categories(entries: list, path: Path) -> dict[int, str]:
    out: dict[int, str] = {}
    for entry in entries:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("id"), int)
            and isinstance(entry.get("name"), str)
        ):
            raise DatasetError(f"{path}: every category needs an integer id and a name, got {entry!r:.80}")
        if entry["id"] in out:
            raise DatasetError(f"{path}: category id {entry['id']} appears twice")
        out[entry["id"]] = entry["name"]
    return out


def _images(entries: list, path: Path) -> dict[int, tuple[str, int, int]]:
    out: dict[int, tuple[str, int, int]] = {}
    for entry in entries:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("id"), int)
            and isinstance(entry.get("file_name"), str)
            and isinstance(entry.get("width"), int)
            and isinstance(entry.get("height"), int)
        ):
            raise DatasetError(
                f"{path}: every image needs id, file_name, width and height, got {entry!r:.80}"
            )
        if entry["id"] in out:
            raise DatasetError(f"{path}: image id {entry['id']} appears twice")
        check_size(entry["width"], entry["height"], f"{path}: {entry['file_name']}")
        out[entry["id"]] = (entry["file_name"], entry["width"], entry["height"])
    return out


def segmentation_mask(
    segmentation: object, height: int, width: int, warnings: Warnings, where: str
) -> np.ndarray | None:
    """A COCO segmentation (compressed RLE, uncompressed RLE or polygons) -> bool (H, W), or
    ``None`` with a counted warning when it is unusable. YouTube-VIS and SA-1B store theirs so too."""
    if isinstance(segmentation, dict):
        size, counts = segmentation.get("size"), segmentation.get("counts")
        if size != [height, width]:
            warnings.add("RLE size differs from the image; skipped", f"{where}: {size}")
            return None
        if isinstance(counts, list):
            if not all(isinstance(c, int) and c >= 0 for c in counts) or sum(counts) != height * width:
                warnings.add("malformed uncompressed RLE; skipped", where)
                return None
        elif not masks.is_valid({"size": size, "counts": counts}):
            warnings.add("malformed compressed RLE; skipped", where)
            return None
        mask = masks.decode({"size": size, "counts": counts})
    elif isinstance(segmentation, list) and segmentation:
        checked = check_polygons(segmentation, height, width)
        if checked.refused is not None:
            warnings.add(checked.refused, where)
            return None
        if checked.clipped:
            warnings.add("polygon outside its image; clipped", where)
        mask = polygons_to_mask(checked.polygons, height, width)
    else:
        warnings.add("annotation without segmentation skipped", where)
        return None
    if not mask.any():
        warnings.add("empty mask skipped", where)
        return None
    return mask
