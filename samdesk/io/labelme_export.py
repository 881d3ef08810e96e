"""Export as labelme JSON (``labelme``): one ``<image name>.json`` per image under ``out``, the file
labelme opens beside (or pointing at) its image.

* ``imagePath`` is the image relative to the JSON file; ``imageData`` is null (labelme reads the
  image from ``imagePath``).
* Each categorised object is one shape with its category as ``label`` and its name as
  ``description``: a polygon annotation as a ``polygon`` of its vertices, a box annotation as a
  ``rectangle`` of two corners, a mask as a ``mask`` shape (a 1-bit PNG of the pixels from its
  first corner to its second, both included, as labelme 5 stores masks): exact.
* The object's true flags (``occluded``, ``truncated``, any other true attribute) are the shape's
  ``flags``; the image's tags are the file's ``flags``. Text and numeric attributes (a note) have
  no place in labelme and are counted as left out.
* Videos and objects without a category are skipped, counted.

``samdesk/io/labelme.py`` reads it back: boxes and flags exactly, masks pixel-exact, polygons
as labelme draws them (outline included).
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

from PIL import Image

from samdesk.document import masks
from samdesk.document.model import AnnotationObject, FrameAnnotation, MediaKind, Project
from samdesk.document.shapes import kind
from samdesk.io.common import (
    CancelFn,
    ExportOptions,
    ExportResult,
    ProgressFn,
    images_root,
    out_of_memory_names,
    relative_name,
    report,
    still_objects,
)
from samdesk.io.output import start_export, unique_stems

LABELME_VERSION = "5.5.0"


def export_labelme(
    project: Project,
    out: Path,
    options: ExportOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExportResult:
    """Write one labelme JSON file per image of the project into the folder ``out``."""
    options = options or ExportOptions()
    skipped = "video skipped (labelme holds images)"
    start = start_export(project, out, options, folder=True, kind=MediaKind.IMAGE, other_kind=skipped)
    result, output, selected, names = start.result, start.output, start.selected, start.names
    root = images_root(selected, options.images_root)
    files = [relative_name(item.media, root) for item in selected]
    stems = unique_stems(files, "_", result.warnings, "{}.json")
    with output:
        for done, (item, stem) in enumerate(zip(selected, stems, strict=True)):
            report(progress, cancel, done, len(selected))
            media = item.media
            target = output.path(f"{stem}.json")
            shapes = []
            for obj, frame, where in still_objects(item, names, result):
                with out_of_memory_names(media):
                    shape = _shape(frame, names[obj.category_id], obj)  # type: ignore[index]
                if shape is None:
                    result.warnings.add("empty mask skipped", where)
                    continue
                if any(not isinstance(v, bool) for v in obj.attributes.values()):
                    result.warnings.add("text or number attribute left out (labelme has only flags)", where)
                shapes.append(shape)
                result.annotations += 1
            # The JSON's eventual folder, not the staging one: imagePath must hold once it is there.
            final_folder = Path(os.path.abspath(out)) / Path(stem).parent
            data = {
                "version": LABELME_VERSION,
                "flags": dict.fromkeys(media.tags, True),
                "shapes": shapes,
                "imagePath": Path(os.path.relpath(os.path.abspath(media.path), final_folder)).as_posix(),
                "imageData": None,
                "imageHeight": media.height,
                "imageWidth": media.width,
            }
            output.write_json(target, data)
            result.files.append(target)
            result.media += 1
        result.frames = result.media
        report(progress, cancel, len(selected), len(selected))
    return result


def _shape(frame: FrameAnnotation, label: str, obj: AnnotationObject) -> dict | None:
    shape: dict = {
        "label": label,
        "group_id": None,
        "description": obj.name,
        "flags": {name: True for name, value in obj.attributes.items() if value is True},
        "mask": None,
    }
    shape_kind = kind(frame)
    if shape_kind == "box":
        x0, y0, x1, y1 = frame.prompts.box  # type: ignore[misc]
        return {**shape, "points": [[x0, y0], [x1, y1]], "shape_type": "rectangle"}
    if shape_kind == "polygon":
        return {**shape, "points": [[x, y] for x, y in frame.polygon or ()], "shape_type": "polygon"}
    cropped = masks.decode_box(frame.rle)
    if cropped is None:
        return None
    crop, (left, top) = cropped
    height, width = crop.shape
    buffer = io.BytesIO()
    Image.fromarray(crop).save(buffer, format="PNG")  # bool -> a 1-bit PNG
    corners = [[left, top], [left + width - 1, top + height - 1]]
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return {**shape, "points": corners, "shape_type": "mask", "mask": encoded}
