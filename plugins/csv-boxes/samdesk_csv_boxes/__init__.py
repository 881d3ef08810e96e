"""samdesk export format ``csv-boxes``: every object's bounding box, one CSV row each.

The layout is the TensorFlow Object Detection CSV that many detection trainers and converters
read (the Object Detection API's ``generate_tfrecord`` scripts, Roboflow's "Tensorflow Object
Detection CSV")::

    filename,width,height,class,xmin,ymin,xmax,ymax
    photos/dog.jpg,640,480,dog,12,40,310,402

``filename`` is relative to the images root (the media's common folder unless given), ``width``
and ``height`` the image's size, ``class`` the category name, and the box is in whole pixels with
``xmax``/``ymax`` the first column/row past the object (COCO's x + width). An object's box is its
mask's bounding box; a box-only object (imported from a detection dataset and not segmented yet)
gives its box prompt, rounded to whole pixels. Images only: videos are skipped with a warning, and
so are objects without a category or with an empty mask.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from samdesk.document import masks
from samdesk.document.boxes import is_box_only
from samdesk.document.model import FrameAnnotation, MediaKind, Project
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
from samdesk.io.formats import ExportFormat
from samdesk.io.output import start_export

HEADER = ("filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax")


def export_csv_boxes(
    project: Project,
    out: Path,
    options: ExportOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExportResult:
    """Write the boxes of ``project``'s images to the CSV file ``out`` (see the module docstring)."""
    options = options or ExportOptions()
    skipped = "video skipped (csv-boxes holds images)"
    start = start_export(project, out, options, folder=False, kind=MediaKind.IMAGE, other_kind=skipped)
    result, output, selected, names = start.result, start.output, start.selected, start.names
    root = images_root(selected, options.images_root)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(HEADER)
    rows = 0
    for done, item in enumerate(selected):
        report(progress, cancel, done, len(selected))
        media = item.media
        filename = relative_name(media, root)
        for obj, frame, where in still_objects(item, names, result):
            if list(frame.rle["size"]) != [media.height, media.width]:
                result.warnings.add("mask size differs from its image; skipped", where)
                continue
            box = _box(frame, media.width, media.height)
            if box is None:
                result.warnings.add("empty mask skipped", where)
                continue
            writer.writerow((filename, media.width, media.height, names[obj.category_id], *box))
            rows += 1
    report(progress, cancel, len(selected), len(selected))
    with output:
        output.write_text(output.path(), text.getvalue())
    result.files.append(output.path())
    result.media = result.frames = len(selected)
    result.annotations = rows
    return result


def _box(frame: FrameAnnotation, width: int, height: int) -> tuple[int, int, int, int] | None:
    """(xmin, ymin, xmax, ymax) in whole pixels inside the image, or None when there is no box."""
    if is_box_only(frame):
        x0, y0, x1, y1 = frame.prompts.box
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        box = (math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1))
    else:
        if masks.area(frame.rle) == 0:
            return None
        x, y, w, h = masks.bbox(frame.rle)
        box = (int(x), int(y), int(x + w), int(y + h))
    xmin, xmax = max(0, box[0]), min(width, box[2])
    ymin, ymax = max(0, box[1]), min(height, box[3])
    if xmax <= xmin or ymax <= ymin:
        return None
    return xmin, ymin, xmax, ymax


CSV_BOXES = ExportFormat(
    "csv-boxes",
    "bounding boxes as CSV (TensorFlow Object Detection layout: filename, size, class, box)",
    export_csv_boxes,
    ExportOptions,
    {},
    True,
    ".csv",
)
