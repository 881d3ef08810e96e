"""YOLO segmentation labels (Ultralytics layout): one ``.txt`` per image, one line per object.

Layout under ``out``::

    data.yaml                 path, train/val folders, class names (written by hand: no YAML dependency)
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
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np

from samdesk.document import masks
from samdesk.document.model import AnnotationObject, FrameAnnotation, MediaKind, Project, Provenance
from samdesk.io.common import (
    CancelFn,
    DatasetError,
    ExportOptions,
    ExportResult,
    ProgressFn,
    SelectedMedia,
    exportable,
    image_size,
    images_root,
    out_of_memory_names,
    read_text,
    relative_name,
    report,
    select,
)
from samdesk.io.import_plan import ImportPlan, ImportResult
from samdesk.io.output import open_output, unique_stems
from samdesk.io.polygons import DEFAULT_TOLERANCE, check_polygons
from samdesk.io.yolo_polygons import (
    DEFAULT_MIN_PART_AREA,
    Outline,
    as_read,
    fill,
    label_values,
    mask_outline,
    read_back_iou,
    resample_count,
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
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
    result = ExportResult()
    output = open_output(project, out, options, folder=True)
    categories, selected = select(project, options)
    selected = exportable(
        selected, MediaKind.IMAGE, "video skipped (YOLO labels are per image; use davis or ytvis)", result
    )
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
    for obj in item.objects:
        frame = obj.frames.get(0)
        where = f"{name} #{obj.id}"
        if frame is None:
            continue
        if obj.category_id not in classes:
            result.warnings.add("object without a category skipped", where)
            continue
        if list(frame.rle["size"]) != [height, width]:
            result.warnings.add("mask size differs from its image; skipped", where)
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
        result.annotations += 1
    for obj, outline, iou in _read_back(written, width, height, options):
        if iou < LISTED_BELOW_IOU:
            why = f"{outline.parts} parts joined by lines" if outline.parts > 1 else "thin or tiny shape"
            result.approximations.append(f"{name} #{obj.id}: IoU {iou:.3f} as Ultralytics reads it ({why})")
    return [" ".join([str(classes[obj.category_id]), *values]) for obj, _, values in written]


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


# --- import ---------------------------------------------------------------------------------


def import_yolo(
    project: Project,
    path: Path,
    images_dir: Path,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    *,
    keep_duplicates: bool = False,
) -> ImportResult:
    """Read YOLO-seg labels (``path``: the dataset folder or its data.yaml; labels under
    ``labels/``, images found under ``images_dir`` by the same relative path)."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    yaml_path = folder / "data.yaml" if path.is_dir() else path
    if not yaml_path.is_file():
        raise DatasetError(
            f"{yaml_path}: file not found (a YOLO dataset needs its data.yaml for class names)"
        )
    names = read_names(yaml_path)
    labels_dir = folder / "labels"
    if not labels_dir.is_dir():
        raise DatasetError(f"{labels_dir}: no labels folder")
    plan = ImportPlan(project, keep_duplicates=keep_duplicates)
    categories = [plan.category(name) for name in names]
    label_files = sorted(labels_dir.rglob("*.txt"))
    for done, label in enumerate(label_files):
        report(progress, cancel, done, len(label_files))
        rel = label.relative_to(labels_dir).with_suffix("")
        image = next(
            (
                images_dir / rel.with_suffix(s)
                for s in IMAGE_SUFFIXES
                if (Path(images_dir) / rel.with_suffix(s)).is_file()
            ),
            None,
        )
        if image is None:
            plan.warnings.add("image for a label file missing; skipped", str(rel))
            continue
        width, height = image_size(image)
        media = plan.media(Path(image), MediaKind.IMAGE, width, height)
        for line_no, line in enumerate(read_text(label).splitlines(), start=1):
            where = f"{label.name}:{line_no}"
            fields = line.split()
            if not fields:
                continue
            try:
                cls, values = int(fields[0]), [float(v) for v in fields[1:]]
            except ValueError:
                raise DatasetError(f"{label}: line {line_no} is not '<class> x y x y ...' numbers") from None
            if not 0 <= cls < len(names):
                plan.warnings.add("class id not in data.yaml names; line skipped", f"{where}: {cls}")
                continue
            if len(values) == 4:
                plan.warnings.add("box-only line (detection, not segmentation) skipped", where)
                continue
            if len(values) < 6 or len(values) % 2:
                plan.warnings.add(
                    "polygon with fewer than 3 points or an odd coordinate count skipped", where
                )
                continue
            pixels = [v * (width if i % 2 == 0 else height) for i, v in enumerate(values)]
            checked = check_polygons([pixels], height, width)
            if checked.refused is not None:
                plan.warnings.add(checked.refused, where)
                continue
            if min(values) < -_SLACK or max(values) > 1 + _SLACK:
                plan.warnings.add("polygon outside its image; clipped", where)
            # Read as Ultralytics reads it: what a model trains on is what the project gets.
            mask = fill([_pixel_points(checked.polygons[0])], (height, width))
            if not mask.any():
                plan.warnings.add("empty polygon skipped", where)
                continue
            frame = FrameAnnotation(masks.encode(mask), Provenance.IMPORTED)
            plan.add_object(media, categories[cls], {0: frame})
    report(progress, cancel, len(label_files), len(label_files))
    return plan.result(f"import {folder.name}")


def _pixel_points(polygon: list[float]) -> np.ndarray:
    """Flat pixel coordinates -> int (N, 2), truncated as Ultralytics' ``polygon2mask`` does."""
    return np.asarray(polygon, np.float64).reshape(-1, 2).astype(np.int64)


def read_names(yaml_path: Path) -> list[str]:
    """Class names from a data.yaml: ``names: [a, b]``, a ``- a`` list, or a ``0: a`` mapping.

    A deliberately small reader for the one key we need, so samdesk needs no YAML library.
    """
    text = read_text(yaml_path)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^names:\s*(.*?)\s*$", line)
        if not match:
            continue
        inline = match.group(1)
        if inline.startswith("["):
            if not inline.endswith("]"):
                raise DatasetError(f"{yaml_path}: names list must be on one line")
            return [_scalar(v) for v in _split_flow(inline[1:-1])]
        if inline:
            raise DatasetError(f"{yaml_path}: cannot read 'names: {inline}'")
        mapping: dict[int, str] = {}
        listed: list[str] = []
        for item in lines[i + 1 :]:
            if not item.strip() or item.lstrip().startswith("#"):
                continue
            if not item.startswith((" ", "\t", "-")):
                break
            entry = item.strip()
            if entry.startswith("-"):
                listed.append(_scalar(entry[1:].strip()))
            elif m := re.match(r"^(\d+)\s*:\s*(.*)$", entry):
                mapping[int(m.group(1))] = _scalar(m.group(2))
            else:
                raise DatasetError(f"{yaml_path}: cannot read names entry '{entry}'")
        if mapping:
            if sorted(mapping) != list(range(len(mapping))):
                raise DatasetError(f"{yaml_path}: class ids must be 0..{len(mapping) - 1}")
            return [mapping[k] for k in range(len(mapping))]
        return listed
    raise DatasetError(f"{yaml_path}: no 'names:' entry")


def _split_flow(body: str) -> list[str]:
    parts, current, quote = [], "", ""
    for ch in body:
        if quote:
            current += ch
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            current += ch
        elif ch == ",":
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def _scalar(text: str) -> str:
    text = text.strip()
    if text.startswith('"'):
        try:
            return json.JSONDecoder().raw_decode(text)[0]
        except json.JSONDecodeError:
            raise DatasetError(f"cannot read the quoted name {text}") from None
    if text.startswith("'"):
        end = text.find("'", 1)
        while end != -1 and text[end + 1 : end + 2] == "'":
            end = text.find("'", end + 2)
        return text[1:end].replace("''", "'") if end != -1 else text[1:]
    return text.split(" #")[0].strip()
