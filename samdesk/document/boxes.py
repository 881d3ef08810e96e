"""Box-only objects: an object known by its box, waiting for a model to give it a mask.

Detection datasets (COCO without segmentation, YOLO detection lines, labelme and CVAT
rectangles) say where an object is, not which pixels it covers. Such an object is stored as an
ordinary object whose frame has an **empty mask** and **a box prompt**:
``FrameAnnotation(rle=<empty>, prompts=Prompts(box=(x0, y0, x1, y1)))``. Nothing else in the
project format changes (docs/project-format.md, "Box-only objects"): the box is the prompt the
model is given ("Segment boxes", ``samdesk/session/segment_boxes.py``), and the answer replaces
the empty mask and keeps the box as the frame's prompt, exactly as if the user had drawn it.
"""

from __future__ import annotations

from pycocotools import mask as mask_utils

from model_runtime.prompts import Box, Prompts
from samdesk.document.masks import Rle, area
from samdesk.document.model import AnnotationObject, FrameAnnotation, Project, Provenance


def empty_rle(height: int, width: int) -> Rle:
    """The RLE of an all-background (height, width) mask, without allocating the mask."""
    coco = mask_utils.frPyObjects({"size": [height, width], "counts": [height * width]}, height, width)
    return {"size": [height, width], "counts": coco["counts"].decode("ascii")}


def box_only_frame(
    box: Box, height: int, width: int, provenance: Provenance = Provenance.IMPORTED
) -> FrameAnnotation:
    """A frame that holds only ``box`` (x0, y0, x1, y1 in pixels): empty mask, box prompt."""
    return FrameAnnotation(empty_rle(height, width), provenance, prompts=Prompts(box=box))


def is_box_only(frame: FrameAnnotation) -> bool:
    """True for a frame with a box prompt and an empty mask (see the module docstring)."""
    return frame.prompts.box is not None and area(frame.rle) == 0


def box_only_frames(project: Project, media_id: int | None = None) -> list[tuple[AnnotationObject, int]]:
    """(object, frame) of every box-only frame, of one medium or all, in drawing order."""
    objects = project.objects if media_id is None else project.objects_of(media_id)
    return [(obj, f) for obj in objects for f in sorted(obj.frames) if is_box_only(obj.frames[f])]
