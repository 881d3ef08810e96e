"""Drawing and editing boxes and polygons as annotations (``samdesk/document/shapes.py``).

A box or polygon drawn by hand becomes the pending object like any drawn mask (Enter accepts
it with a category, Esc drops it), carrying the shape: accepted unchanged, the object keeps the
box or the vertices; edited with the brush first, it is a mask. Dragging a handle (a vertex,
a box corner) of the selected object moves it, and Ctrl+click adds a vertex on a polygon's edge
or removes the vertex clicked, each in one undoable step.
"""

from __future__ import annotations

import numpy as np

from samdesk.document import Document, FrameAnnotation, Project, SetFrame
from samdesk.document import masks as rle
from samdesk.document.shapes import edge_at, handles, kind, moved, with_vertex, without_vertex
from samdesk.session.pending import Pending


def drawn(frame: FrameAnnotation) -> Pending:
    """The pending object of a drawn shape; its mask is what the canvas shows (a box filled)."""
    height, width = (int(v) for v in frame.rle["size"])
    if kind(frame) == "box":
        x0, y0, x1, y1 = frame.prompts.box  # type: ignore[misc]
        mask = np.zeros((height, width), bool)
        mask[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))] = True
    else:
        mask = rle.decode(frame.rle)
    return Pending(edited_mask=mask, manual=True, shape=frame, shape_mask=mask)


def accepted(pending: Pending) -> FrameAnnotation | None:
    """The shape to store when ``pending`` is accepted: the drawn one, unless its mask was
    edited since (every edit makes a new mask array)."""
    if pending.shape is None or pending.target_object is not None:
        return None
    return pending.shape if pending.edited_mask is pending.shape_mask else None


def handle_at(
    project: Project, object_id: int | None, frame: int, x: float, y: float, reach: float
) -> int | None:
    """The handle of object ``object_id`` on ``frame`` within ``reach`` pixels of (x, y)
    (the nearest), or None."""
    if object_id is None or (obj := project.objects.get(object_id)) is None or obj.locked or not obj.visible:
        return None  # a locked or hidden object's handles are not there to grab
    annotation = obj.frames.get(frame)
    points = handles(annotation) if annotation is not None else []
    if not points:
        return None
    distances = [max(abs(px - x), abs(py - y)) for px, py in points]
    nearest = int(np.argmin(distances))
    return nearest if distances[nearest] <= reach else None


def move_handle(document: Document, object_id: int, frame: int, index: int, to: tuple[float, float]) -> bool:
    """Move handle ``index`` of the object's shape on ``frame`` to ``to``: one undo step.
    False (nothing changed) when the shape would have no area."""
    obj = document.project.object(object_id)
    annotation = obj.frames[frame]
    media = document.project.media_item(obj.media_id)
    try:
        after = moved(annotation, index, to, media.height, media.width)
    except ValueError:
        return False
    text = "move vertex" if kind(annotation) == "polygon" else "move box corner"
    document.execute(SetFrame(object_id, frame, after, text=text))
    return True


def box_at(project: Project, media_id: int, frame: int, x: float, y: float) -> int | None:
    """The topmost visible box annotation on ``frame`` whose box holds (x, y) (box annotations
    have no pixels for a click to find)."""
    for obj in reversed(project.objects_of(media_id)):
        annotation = obj.frames.get(frame)
        if obj.visible and annotation is not None and kind(annotation) == "box":
            x0, y0, x1, y1 = annotation.prompts.box  # type: ignore[misc]
            if x0 <= x <= x1 and y0 <= y <= y1:
                return obj.id
    return None


def add_or_remove_vertex(
    document: Document, object_id: int | None, frame: int, x: float, y: float, reach: float
) -> str:
    """Ctrl+click on the selected polygon: remove the vertex under (x, y), else add one on the
    edge there. Returns what happened, for the status bar ("" when the click hit neither)."""
    project = document.project
    obj = None if object_id is None else project.objects.get(object_id)
    annotation = None if obj is None or obj.locked else obj.frames.get(frame)
    if annotation is None or kind(annotation) != "polygon":
        return ""
    media = project.media_item(obj.media_id)  # type: ignore[union-attr]
    vertex = handle_at(project, object_id, frame, x, y, reach)
    if vertex is not None:
        try:
            after = without_vertex(annotation, vertex, media.height, media.width)
        except ValueError as exc:
            return str(exc)
        document.execute(SetFrame(obj.id, frame, after, text="remove vertex"))  # type: ignore[union-attr]
        return "Vertex removed"
    edge = edge_at(handles(annotation), x, y, reach)
    if edge is None:
        return ""
    after = with_vertex(annotation, edge[0], edge[1], media.height, media.width)
    document.execute(SetFrame(obj.id, frame, after, text="add vertex"))  # type: ignore[union-attr]
    return "Vertex added"
