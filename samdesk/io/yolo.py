"""YOLO segmentation labels (Ultralytics layout): one ``.txt`` per image, one line per object.

Layout under ``out``::

    data.yaml                 path, train/val folders, class names
    images/<image path>       links to (or copies of) the original images
    labels/<image path>.txt   "<class> x1 y1 x2 y2 ..." with coordinates divided by width/height

Ultralytics finds an image's labels by swapping ``images`` for ``labels`` in its path, hence the
image links; an image that already is at its place (an export into the dataset's own folder) is
left alone. Images whose names differ only in the suffix keep it in both names (``dog.jpg`` ->
``images/dog_jpg.jpg`` and ``labels/dog_jpg.txt``), as reported.

A line holds one polygon, so each object becomes one outline (``samdesk/io/yolo_polygons.py``):
specks under ``min_part_area`` pixels are left out (counted), parts and holes are joined by
links as Ultralytics joins COCO parts, and points follow Ultralytics' rasterising convention.
Every object whose mask Ultralytics' reader would get back with an IoU under
:data:`LISTED_BELOW_IOU` is listed in ``ExportResult.approximations``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from samdesk.document import masks
from samdesk.document.boxes import is_box_only
from samdesk.document.model import AnnotationObject, MediaKind, Project
from samdesk.io.common import (
    CancelFn,
    ExportOptions,
    ExportResult,
    ProgressFn,
    SelectedMedia,
    images_root,
    out_of_memory_names,
    relative_name,
    report,
    still_objects,
)
from samdesk.io.output import start_export, unique_stems
from samdesk.io.polygons import DEFAULT_TOLERANCE
from samdesk.io.yolo_polygons import (
    DECIMALS,
    DEFAULT_MIN_PART_AREA,
    Outline,
    as_read,
    label_values,
    mask_outline,
    read_back_iou,
    resample_count,
)

# Normalised coordinates this far outside [0, 1] are rounding, not a broken file.
_SLACK = 1e-3
# An object whose mask comes back from Ultralytics' reader less exactly than this is listed.
LISTED_BELOW_IOU = 0.95


@dataclass
class YoloExportOptions(ExportOptions):
    """``tolerance``: outline simplification in pixels (None: automatic); ``min_part_area``:
    parts and holes smaller than this many pixels are specks (left out, filled)."""

    tolerance: float | None = DEFAULT_TOLERANCE
    images: Literal["symlink", "copy", "none"] = "symlink"
    min_part_area: int = DEFAULT_MIN_PART_AREA
    task: Literal["segment", "detect"] = "segment"  # detect: "<class> cx cy w h" box lines


def export_yolo(
    project: Project,
    out: Path,
    options: YoloExportOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExportResult:
    """Write labels, image links (or copies) and data.yaml. An image already at its place in
    ``images/`` (exporting into the dataset's own folder) is left as it is."""
    options = options or YoloExportOptions()
    skipped = "video skipped (YOLO labels are per image; use davis or ytvis)"
    start = start_export(project, out, options, folder=True, kind=MediaKind.IMAGE, other_kind=skipped)
    result, output, categories, selected = start.result, start.output, start.categories, start.selected
    root = images_root(selected, options.images_root)
    classes = {c.id: i for i, c in enumerate(categories)}
    names = [relative_name(item.media, root) for item in selected]
    # Ultralytics pairs images/X.jpg with labels/X.txt: images differing only in the suffix
    # would share a label file, so both get the suffix in their stem (dog_jpg.jpg, dog_jpg.txt).
    stems = unique_stems(names, "_", result.warnings, "labels/{}.txt")
    with output:
        for done, (item, name, stem) in enumerate(zip(selected, names, stems, strict=True)):
            report(progress, cancel, done, len(selected))
            media = item.media
            with out_of_memory_names(media):
                if options.task == "detect":
                    lines = _box_lines(item, name, classes, result)
                else:
                    lines = _label_lines(item, name, classes, options, result)
            label = output.path(f"labels/{stem}.txt")
            output.write_text(label, "".join(line + "\n" for line in lines))
            result.files.append(label)
            if options.images != "none":
                image = output.path(f"images/{stem}{PurePosixPath(name).suffix}")
                if output.place_image(Path(media.path), image, options.images):
                    result.files.append(image)
            result.media += 1
        result.frames = result.media
        report(progress, cancel, len(selected), len(selected))
        yaml = data_yaml(Path(os.path.realpath(output.out)), [c.name for c in categories])
        output.write_text(output.path("data.yaml"), yaml)
    result.files.append(output.path("data.yaml"))
    return result


def _label_lines(
    item: SelectedMedia, name: str, classes: dict[int, int], options: YoloExportOptions, result: ExportResult
) -> list[str]:
    """One "<class> x1 y1 ..." line per categorised object of the image, in drawing order."""
    media = item.media
    width, height = media.width, media.height
    written: list[tuple[AnnotationObject, Outline, list[str]]] = []  # (object, outline, numbers)
    order: list[int] = []  # ids of the objects written, in drawing order
    corners: dict[int, list[str]] = {}  # a box annotation's id -> its four corners as a polygon
    for obj, frame, where in still_objects(item, classes, result, name):
        if list(frame.rle["size"]) != [height, width]:
            result.warnings.add("mask size differs from its image; skipped", where)
            continue
        if is_box_only(frame):  # a box annotation: its rectangle (a seg dataset has no box lines)
            x0, y0, x1, y1 = frame.prompts.box  # type: ignore[misc]
            corners[obj.id] = _normalised([x0, y0, x1, y0, x1, y1, x0, y1], width, height)
            order.append(obj.id)
            result.annotations += 1
            continue
        outline = mask_outline(frame.rle, options.min_part_area, options.tolerance)
        if outline is None:
            result.warnings.add("empty mask skipped", where)
            continue
        if outline.islands_left_out:
            result.warnings.add(
                f"island under {options.min_part_area} px left out", where, outline.islands_left_out
            )
        if outline.holes_filled:
            result.warnings.add(f"hole under {options.min_part_area} px filled", where, outline.holes_filled)
        if outline.parts > 1:
            result.warnings.add("object in several parts: joined into one outline by lines", where)
        written.append((obj, outline, label_values(outline.points, width, height)))
        order.append(obj.id)
        result.annotations += 1
    for obj, outline, iou in _read_back(written, width, height, options):
        if iou < LISTED_BELOW_IOU:
            why = f"{outline.parts} parts joined by lines" if outline.parts > 1 else "thin or tiny shape"
            result.approximations.append(f"{name} #{obj.id}: IoU {iou:.3f} as Ultralytics reads it ({why})")
    values = {obj.id: numbers for obj, _, numbers in written} | corners
    category = {obj.id: obj.category_id for obj in item.objects}
    return [" ".join([str(classes[category[i]]), *values[i]]) for i in order]  # type: ignore[index]


def _box_lines(item: SelectedMedia, name: str, classes: dict[int, int], result: ExportResult) -> list[str]:
    """One "<class> cx cy w h" line per categorised object: a box annotation's box, else the
    box around its mask."""
    media = item.media
    width, height = media.width, media.height
    lines = []
    for obj, frame, where in still_objects(item, classes, result, name):
        if is_box_only(frame):
            x0, y0, x1, y1 = frame.prompts.box  # type: ignore[misc]
        elif masks.area(frame.rle) == 0:
            result.warnings.add("empty mask skipped", where)
            continue
        else:
            x, y, w, h = masks.bbox(frame.rle)
            x0, y0, x1, y1 = x, y, x + w, y + h
        center = [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0]
        lines.append(" ".join([str(classes[obj.category_id]), *_normalised(center, width, height)]))  # type: ignore[index]
        result.annotations += 1
    return lines


def _normalised(values: list[float], width: int, height: int) -> list[str]:
    """x, y, x, y, ... (or cx, cy, w, h) in pixels -> divided by the image's width and height."""
    return [f"{v / (width if i % 2 == 0 else height):.{DECIMALS}f}" for i, v in enumerate(values)]


def _read_back(
    written: list[tuple[AnnotationObject, Outline, list[str]]],
    width: int,
    height: int,
    options: YoloExportOptions,
) -> list[tuple[AnnotationObject, Outline, float]]:
    """Each written object's IoU as Ultralytics' reader gets it back. Its resampling moves points
    of a simplified outline off the pixels (a thin line may come back beside itself), so with an
    automatic tolerance an object under :data:`LISTED_BELOW_IOU` is outlined again unsimplified;
    ``written`` is updated in place. The reader resamples every outline of an image to one
    count, so all are measured again after a change."""
    refined: set[int] = set()
    while True:
        count = resample_count([len(values) // 2 for _, _, values in written])
        ious = [
            read_back_iou(obj.frames[0].rle, as_read(values, width, height, count), width, height)
            for obj, _, values in written
        ]
        again = [
            i for i, iou in enumerate(ious)
            if iou < LISTED_BELOW_IOU and options.tolerance is None and i not in refined
        ]  # fmt: skip
        if not again:
            return [(obj, outline, iou) for (obj, outline, _), iou in zip(written, ious, strict=True)]
        for i in again:
            obj = written[i][0]
            outline = mask_outline(obj.frames[0].rle, options.min_part_area, 0.0)
            assert outline is not None  # the same non-empty mask as before
            written[i] = (obj, outline, label_values(outline.points, width, height))
            refined.add(i)


def data_yaml(root: Path, names: list[str]) -> str:
    """Ultralytics dataset YAML. Names are JSON strings, which are valid YAML double-quoted scalars."""
    lines = [
        "# written by samdesk",
        f"path: {json.dumps(str(root))}",
        "train: images",
        "val: images",
        f"nc: {len(names)}",
        "names:",
    ]
    lines += [f"  {i}: {json.dumps(name)}" for i, name in enumerate(names)]
    return "\n".join(lines) + "\n"
