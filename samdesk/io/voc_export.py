"""Export as Pascal VOC detection (``voc-detect``): one XML of boxes per image.

Layout under ``out``::

    Annotations/<stem>.xml      <annotation> with one <object> per categorised object
    ImageSets/Main/default.txt  the stems, one a line
    JPEGImages/<stem><suffix>   links to (or copies of) the images
    labelmap.txt                the categories (name:r,g,b::), as datumaro and CVAT write it

Each object is its box: a box annotation's own (``samdesk/document/shapes.py``), else the box
around its mask. Coordinates follow the VOC devkit: integer pixels, 1-based and inclusive, the
pixels the box touches: ``xmin = floor(x0) + 1``, ``xmax = ceil(x1)`` for a box from x0 to x1
(pixel edges, 0-based), as datumaro writes and reads VOC in its ``voc-one-based`` mode and as
supervision reads it (datumaro's default mode reads them zero-based, one pixel off). The
``truncated`` and ``occluded`` attributes become VOC's ``<truncated>`` and ``<occluded>``;
``<difficult>`` is 0. Videos are skipped (warned).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from samdesk.document import masks
from samdesk.document.attributes import OCCLUDED, TRUNCATED
from samdesk.document.boxes import is_box_only
from samdesk.document.model import AnnotationObject, FrameAnnotation, MediaKind, Project
from samdesk.io.common import (
    CancelFn,
    ExportOptions,
    ExportResult,
    ProgressFn,
    images_root,
    relative_name,
    report,
    still_objects,
)
from samdesk.io.output import start_export, unique_stems


@dataclass
class VocExportOptions(ExportOptions):
    images: Literal["symlink", "copy", "none"] = "symlink"


def export_voc_detection(
    project: Project,
    out: Path,
    options: VocExportOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExportResult:
    """Write the project's images as a Pascal VOC detection folder at ``out``."""
    options = options or VocExportOptions()
    skipped = "video skipped (VOC holds images; use davis or ytvis)"
    start = start_export(project, out, options, folder=True, kind=MediaKind.IMAGE, other_kind=skipped)
    result, output, categories, selected = start.result, start.output, start.categories, start.selected
    names = start.names
    root = images_root(selected, options.images_root)
    files = [relative_name(item.media, root) for item in selected]
    stems = unique_stems(files, "_", result.warnings, "Annotations/{}.xml")
    with output:
        for done, (item, name, stem) in enumerate(zip(selected, files, stems, strict=True)):
            report(progress, cancel, done, len(selected))
            media = item.media
            suffix = PurePosixPath(name).suffix
            top = ET.Element("annotation")
            ET.SubElement(top, "folder").text = "JPEGImages"
            ET.SubElement(top, "filename").text = f"{stem}{suffix}"
            size = ET.SubElement(top, "size")
            for key, value in (("width", media.width), ("height", media.height), ("depth", 3)):
                ET.SubElement(size, key).text = str(value)
            ET.SubElement(top, "segmented").text = "0"
            for obj, frame, where in still_objects(item, names, result, name):
                box = _box(frame, where, result)
                if box is not None:
                    label = names[obj.category_id]  # type: ignore[index]
                    _object(top, label, obj, box, media.width, media.height)
                    result.annotations += 1
            ET.indent(top)
            xml = ET.tostring(top, encoding="utf-8") + b"\n"
            output.write_bytes(output.path(f"Annotations/{stem}.xml"), xml)
            if options.images != "none":
                image = output.path(f"JPEGImages/{stem}{suffix}")
                output.place_image(Path(media.path), image, options.images)
            result.media += 1
        result.frames = result.media
        output.write_text(output.path("ImageSets/Main/default.txt"), "".join(f"{s}\n" for s in stems))
        # The labels, as datumaro and CVAT declare them (without it, readers assume VOC's 20).
        labelmap = ["# label:color_rgb:parts:actions", "background:0,0,0::"]
        labelmap += [f"{c.name}:{c.color[0]},{c.color[1]},{c.color[2]}::" for c in categories]
        output.write_text(output.path("labelmap.txt"), "\n".join(labelmap) + "\n")
        report(progress, cancel, len(selected), len(selected))
    result.files.append(output.path("Annotations"))
    return result


def _box(
    frame: FrameAnnotation, where: str, result: ExportResult
) -> tuple[float, float, float, float] | None:
    if is_box_only(frame):
        return frame.prompts.box
    if masks.area(frame.rle) == 0:
        result.warnings.add("empty mask skipped", where)
        return None
    x, y, w, h = masks.bbox(frame.rle)
    return (x, y, x + w, y + h)


def _object(
    parent: ET.Element,
    label: str,
    obj: AnnotationObject,
    box: tuple[float, float, float, float],
    width: int,
    height: int,
) -> None:
    element = ET.SubElement(parent, "object")
    ET.SubElement(element, "name").text = label
    ET.SubElement(element, "pose").text = "Unspecified"
    ET.SubElement(element, "truncated").text = "1" if obj.attributes.get(TRUNCATED) is True else "0"
    ET.SubElement(element, "occluded").text = "1" if obj.attributes.get(OCCLUDED) is True else "0"
    ET.SubElement(element, "difficult").text = "0"
    x0, y0, x1, y1 = box
    # The pixels the box touches, 1-based and inclusive (datumaro's "voc-one-based" rounding).
    xmin, ymin = min(max(math.floor(x0) + 1, 1), width), min(max(math.floor(y0) + 1, 1), height)
    xmax, ymax = max(min(math.ceil(x1), width), xmin), max(min(math.ceil(y1), height), ymin)
    bndbox = ET.SubElement(element, "bndbox")
    for key, value in (("xmin", xmin), ("ymin", ymin), ("xmax", xmax), ("ymax", ymax)):
        ET.SubElement(bndbox, key).text = str(value)
