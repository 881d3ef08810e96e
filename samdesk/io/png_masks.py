"""Mask files per image: instance PNGs (uint16 object values) and semantic PNGs (palette, category
values), each folder with a ``legend.json`` saying what every value means.

Layout under ``out``::

    legend.json
    instances/<image path>.png            (semantic/ for semantic masks)
    instances/<video path>/<frame:05d>.png

``<image path>`` is the image's path relative to the images root with its suffix replaced, so
images with the same name in different folders do not collide; media whose names differ only in
the suffix (``dog.jpg``, ``dog.png``) keep it (``dog.jpg.png``, ``dog.png.png``), as reported.
Objects are drawn in drawing order; where two overlap the later one wins, and the lost pixels are
counted as a warning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from samdesk.document.boxes import is_box_only
from samdesk.document.model import AnnotationObject, FrameAnnotation, MediaKind, Project, Provenance
from samdesk.io.common import (
    BOX_WITHOUT_PIXELS,
    CancelFn,
    DatasetError,
    ExportOptions,
    ExportResult,
    ProgressFn,
    SelectedMedia,
    check_size,
    exportable,
    frame_masks,
    image_size,
    images_root,
    out_of_memory_names,
    read_json,
    relative_name,
    report,
    select,
    video_info,
)
from samdesk.io.import_plan import ImportPlan, ImportResult
from samdesk.io.label_png import encode_palette, encode_uint16, read_labels
from samdesk.io.output import open_output, unique_stems
from samdesk.io.runs import label_rles, paint

LEGEND = "legend.json"
FORMAT = "samdesk-masks"
MAX_INSTANCES = 65535  # uint16
MAX_CATEGORIES = 255  # palette indices


def export_png_instance(
    project: Project,
    out: Path,
    options: ExportOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExportResult:
    """Instance PNGs: each object's pixels hold its 1-based position among its medium's objects."""
    return export_png_masks(project, out, "instance", options, progress, cancel)


def export_png_semantic(
    project: Project,
    out: Path,
    options: ExportOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExportResult:
    """Semantic PNGs: each object's pixels hold its category's 1-based position in the export."""
    return export_png_masks(project, out, "semantic", options, progress, cancel)


def export_png_masks(
    project: Project,
    out: Path,
    kind: Literal["instance", "semantic"] = "instance",
    options: ExportOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExportResult:
    """Write one label PNG per exported image (per frame for videos) plus ``legend.json``."""
    options = options or ExportOptions()
    result = ExportResult()
    output = open_output(project, out, options, folder=True)
    categories, selected = select(project, options)
    if kind == "semantic" and len(categories) > MAX_CATEGORIES:
        raise DatasetError(
            f"semantic PNGs hold at most {MAX_CATEGORIES} categories, the export has {len(categories)}"
        )
    selected = exportable(selected, None, "", result)
    root = images_root(selected, options.images_root)
    values = {c.id: i for i, c in enumerate(categories, start=1)}  # semantic value of each category
    folder = "instances" if kind == "instance" else "semantic"
    palette = [(0, 0, 0)] + [c.color for c in categories]
    names = [relative_name(item.media, root) for item in selected]
    stems = unique_stems(names, ".", result.warnings, f"{folder}/{{}}.png")
    entries = []
    with output:
        for done, (item, name, stem) in enumerate(zip(selected, names, stems, strict=True)):
            report(progress, cancel, done, len(selected))
            media = item.media
            if kind == "instance" and len(item.objects) > MAX_INSTANCES:
                raise DatasetError(
                    f"{name}: {len(item.objects)} objects, an instance PNG holds at most {MAX_INSTANCES}"
                )
            by_frame = frame_masks(item)
            files = []
            painted_objects: set[int] = set()
            for frame in _frames_to_write(item, by_frame, options.only_done):
                painted = [
                    (index if kind == "instance" else values.get(obj.category_id), obj)
                    for index, obj in by_frame.get(frame, [])
                ]
                painted_objects.update(obj.id for value, obj in painted if value is not None)
                with out_of_memory_names(media):
                    data = _label_png(media.width, media.height, painted, frame, kind, palette, result, name)
                rel = f"{folder}/{stem}" + (".png" if media.kind == MediaKind.IMAGE else f"/{frame:05d}.png")
                output.write_bytes(output.path(rel), data)
                files.append({"frame": frame, "file": rel})
                result.files.append(output.path(rel))
            result.frames += len(files)
            entry: dict = {
                "file_name": name,
                "kind": media.kind.value,
                "width": media.width,
                "height": media.height,
            }
            if kind == "instance":
                entry["objects"] = [
                    {"value": i, "category_id": values.get(o.category_id), "name": o.name}
                    for i, o in enumerate(item.objects, start=1)
                ]
                result.annotations += len(item.objects)
            else:  # the objects that have a category and a mask on a written frame
                result.annotations += len(painted_objects)
            entry["masks"] = files
            entries.append(entry)
        report(progress, cancel, len(selected), len(selected))
        legend = {
            "format": FORMAT,
            "version": 1,
            "kind": kind,
            "categories": [{"id": values[c.id], "name": c.name, "color": list(c.color)} for c in categories],
            "media": entries,
        }
        output.write_json(output.path(LEGEND), legend)
    result.files.append(output.path(LEGEND))
    result.media = len(entries)
    return result


def _label_png(
    width: int,
    height: int,
    painted: list[tuple[int | None, AnnotationObject]],
    frame: int,
    kind: Literal["instance", "semantic"],
    palette: list[tuple[int, int, int]],
    result: ExportResult,
    name: str,
) -> bytes:
    """One frame's label PNG: ``painted`` is (value, object) in drawing order; a ``None`` value
    (a semantic object without category) is left out and reported."""
    # Transposed (W, H): its flat order is the RLE's column-major pixel order.
    columns = np.zeros((width, height), np.uint16 if kind == "instance" else np.uint8)
    for value, obj in painted:
        if value is None:
            result.warnings.add("object without a category left out", f"{name} #{obj.id}")
            continue
        _paint(columns, obj.frames[frame], value, result, f"{name} #{obj.id}")
    labels = np.ascontiguousarray(columns.T)
    return encode_uint16(labels) if kind == "instance" else encode_palette(labels, palette)


def _frames_to_write(item: SelectedMedia, by_frame: dict, only_done: bool) -> list[int]:
    """An image always gets its PNG (an empty one says "nothing here"); a video gets the frames
    that have masks, plus, with ``only_done``, every done frame (done and empty is a statement)."""
    if item.media.kind == MediaKind.IMAGE or only_done:
        return item.frames
    return sorted(by_frame)


def _paint(columns: np.ndarray, frame: FrameAnnotation, value: int, result: ExportResult, where: str) -> None:
    """Paint into the transposed (W, H) label array, straight from the RLE's runs."""
    if list(frame.rle["size"]) != [columns.shape[1], columns.shape[0]]:
        result.warnings.add("mask size differs from its image; left out", where)
        return
    if is_box_only(frame):
        result.warnings.add(BOX_WITHOUT_PIXELS, where)
        return
    overlap = paint(columns.reshape(-1), frame.rle, value)
    if overlap:
        result.warnings.add(
            "object overlaps an earlier one; the overlap went to the later object", f"{where}: {overlap} px"
        )


# --- import ---------------------------------------------------------------------------------


def import_png_instances(
    project: Project,
    path: Path,
    images_dir: Path,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    *,
    keep_duplicates: bool = False,
) -> ImportResult:
    """Read an instance-PNG folder written by :func:`export_png_masks` (``path``: the folder or
    its legend.json); ``project`` is only read."""
    return _import_png_masks(project, path, images_dir, "instance", progress, cancel, keep_duplicates)


def import_png_semantic(
    project: Project,
    path: Path,
    images_dir: Path,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    *,
    keep_duplicates: bool = False,
) -> ImportResult:
    """Read a semantic-PNG folder written by :func:`export_png_masks`: each category present on
    a medium becomes one object (a semantic mask does not tell instances apart)."""
    return _import_png_masks(project, path, images_dir, "semantic", progress, cancel, keep_duplicates)


def _import_png_masks(
    project: Project,
    path: Path,
    images_dir: Path,
    kind: Literal["instance", "semantic"],
    progress: ProgressFn | None,
    cancel: CancelFn | None,
    keep_duplicates: bool,
) -> ImportResult:
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    legend_path = folder / LEGEND if path.is_dir() else path
    legend = read_json(legend_path)
    if not (isinstance(legend, dict) and legend.get("format") == FORMAT and legend.get("kind") == kind):
        raise DatasetError(
            f"{legend_path}: not a samdesk {kind}-mask legend (format '{FORMAT}', kind '{kind}')"
        )
    if not isinstance(legend.get("categories"), list) or not isinstance(legend.get("media"), list):
        raise DatasetError(f"{legend_path}: 'categories' and 'media' must be lists")
    names = {}
    for c in legend["categories"]:
        if not (isinstance(c, dict) and isinstance(c.get("id"), int) and isinstance(c.get("name"), str)):
            raise DatasetError(f"{legend_path}: every category needs an integer id and a name, got {c!r:.80}")
        names[c["id"]] = c["name"]
    plan = ImportPlan(project, keep_duplicates=keep_duplicates)
    for name in names.values():  # the legend's category order becomes the project's
        plan.category(name)
    total = len(legend["media"])
    for done, entry in enumerate(legend["media"]):
        report(progress, cancel, done, total)
        _import_entry(plan, entry, folder, Path(images_dir), names, legend_path, kind)
    report(progress, cancel, total, total)
    return plan.result(f"import {folder.name}")


def _import_entry(
    plan: ImportPlan,
    entry: object,
    folder: Path,
    images_dir: Path,
    names: dict[int, str],
    legend_path: Path,
    kind: Literal["instance", "semantic"],
) -> None:
    if not (
        isinstance(entry, dict)
        and isinstance(entry.get("file_name"), str)
        and isinstance(entry.get("width"), int)
        and isinstance(entry.get("height"), int)
        and (kind == "semantic" or isinstance(entry.get("objects"), list))
        and isinstance(entry.get("masks"), list)
    ):
        raise DatasetError(f"{legend_path}: a media entry lacks file_name, width, height, objects or masks")
    name, width, height = entry["file_name"], entry["width"], entry["height"]
    check_size(width, height, f"{legend_path}: {name}")
    media_path = images_dir / name
    if not media_path.is_file():
        plan.warnings.add("media file missing; skipped with its masks", name)
        return
    is_video = entry.get("kind") == MediaKind.VIDEO.value
    if is_video:
        actual_w, actual_h, count, fps = video_info(media_path)
    else:
        (actual_w, actual_h), count, fps = image_size(media_path), 1, None
    if (actual_w, actual_h) != (width, height):
        raise DatasetError(
            f"{legend_path}: {name} is declared {width}×{height} but the file is {actual_w}×{actual_h}"
        )
    objects: dict[int, tuple[str | None, str]] = {}
    if kind == "semantic":  # the pixel values are the categories' ids
        objects = {value: (name, "") for value, name in names.items() if 0 < value <= MAX_CATEGORIES}
    for o in entry.get("objects", []) if kind == "instance" else []:
        if not (isinstance(o, dict) and isinstance(o.get("value"), int) and 0 < o["value"] <= MAX_INSTANCES):
            raise DatasetError(
                f"{legend_path}: {name}: object entry {o!r:.60} needs a value in 1..{MAX_INSTANCES}"
            )
        category = o.get("category_id")
        if category is not None and (not isinstance(category, int) or category not in names):
            plan.warnings.add(
                "unknown category id; object kept without category", f"{name}: {category!r:.40}"
            )
            category = None
        object_name = o.get("name")
        objects[o["value"]] = (
            names.get(category) if category is not None else None,
            object_name if isinstance(object_name, str) else "",
        )
    frames: dict[int, dict[int, FrameAnnotation]] = {value: {} for value in objects}
    for m in entry["masks"]:
        if not (isinstance(m, dict) and isinstance(m.get("frame"), int) and isinstance(m.get("file"), str)):
            raise DatasetError(f"{legend_path}: {name}: mask entry {m!r:.60} needs frame and file")
        if not 0 <= m["frame"] < count:
            plan.warnings.add(
                "mask for a frame the media does not have; skipped", f"{name} frame {m['frame']}"
            )
            continue
        mask_path = folder / m["file"]
        if not mask_path.is_file():
            plan.warnings.add("mask file missing; skipped", m["file"])
            continue
        for value, rle in label_rles(read_labels(mask_path, height, width)).items():
            if value not in objects:
                plan.warnings.add("mask value not in the legend; ignored", f"{m['file']}: {value}")
                continue
            frames[value][m["frame"]] = FrameAnnotation(rle, Provenance.IMPORTED)
    media = plan.media(
        media_path, MediaKind.VIDEO if is_video else MediaKind.IMAGE, width, height, count, fps
    )
    for value, (category, object_name) in objects.items():
        if not frames[value]:
            plan.warnings.add("object with no pixels skipped", f"{name} value {value}")
            continue
        plan.add_object(media, plan.category(category) if category else None, frames[value], object_name)
