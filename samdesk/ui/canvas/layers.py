"""Keeps the canvas overlays in step with the document and the annotation controller.

Listens to document events and repaints only the object that changed; the pending object (the
one being prompted) is drawn on top with a dashed outline and its prompt markers, and objects
proposed at once (find-all, segment everything) each in their own colour with their score.
Each instance of a category gets its own shade of the category's colour
(``samdesk.session.colors``), or the category colour itself with ``color_by_category``; a
category can be hidden whole (a view setting, not a document change).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsScene

from samdesk.document import Change, Document, DocumentEvent
from samdesk.document import masks as rle
from samdesk.document.shapes import handles
from samdesk.session import AnnotationController
from samdesk.session.colors import instance_color, uncategorised_color
from samdesk.ui.canvas.instances import InstancesItem
from samdesk.ui.canvas.overlays import MaskItem, PromptMarker, dashed_pen

# Changes that recolour or replace every object: the layer is rebuilt.
REBUILD_ON = frozenset(
    {Change.RESET, Change.CATEGORY_CHANGED, Change.CATEGORY_REMOVED, Change.CATEGORY_ADDED}
)

# Changes that may move an object's shade: an object came, went or changed category.
RECOUNT_ON = frozenset({Change.OBJECT_ADDED, Change.OBJECT_REMOVED, Change.OBJECT_CHANGED})
PENDING_COLOR = (30, 200, 255)


def _handles(annotation) -> list[tuple[float, float]]:
    """A box or polygon annotation's corners or vertices; none for a mask or no annotation."""
    return handles(annotation) if annotation is not None else []


class AnnotationLayer:
    def __init__(self, scene: QGraphicsScene, document: Document, controller: AnnotationController) -> None:
        self.scene = scene
        self.document = document
        self.controller = controller
        self.opacity = 0.45
        self.objects_shown = True
        self.color_by_category = False  # else each instance its own shade of its category's colour
        self.hidden_categories: set[int] = set()
        self.object_items: dict[int, MaskItem] = {}
        # Object id -> its place among the objects of its category on the media on screen (by
        # id: creation order), which picks its shade; None: to be counted again.
        self._ranks: dict[int, int] | None = None
        self.pending_item = MaskItem(z=500)
        self._pending_key: tuple | None = None
        self._pending_mask: object = None
        scene.addItem(self.pending_item)
        self.markers: list[PromptMarker] = []
        self._box = QGraphicsRectItem()
        self._box.setPen(dashed_pen(QColor(255, 210, 0), 2.0))
        self._box.setZValue(999)
        self._box.setVisible(False)
        scene.addItem(self._box)
        self.instances = InstancesItem()
        scene.addItem(self.instances)
        self.painted: list[Callable[[], None]] = []  # after the pending overlay changed (benchmarks)
        self._unsubscribe = document.events.subscribe_batch(self._on_events)
        controller.pending_changed.append(self.refresh_pending)
        controller.pending_instances_changed.append(self.refresh_instances)
        controller.selection_changed.append(self.refresh_styles)
        controller.media_changed.append(self.rebuild)
        controller.frame_changed.append(self.rebuild)

    def close(self) -> None:
        self._unsubscribe()

    # --- document ----------------------------------------------------------------------------
    def rebuild(self) -> None:
        for item in self.object_items.values():
            self.scene.removeItem(item)
        self.object_items.clear()
        self._ranks = None
        media_id = self.controller.media_id
        if media_id is not None:
            for obj in self.document.project.objects_of(media_id):
                self._update_object(obj.id)
        self._restack()
        self.refresh_pending()
        self.refresh_instances()

    def _on_events(self, events: Sequence[DocumentEvent]) -> None:
        """Once per change: repaint each object it touched, then restack once (a command that
        adds a thousand objects must not restack a thousand times)."""
        if any(event.change in REBUILD_ON for event in events):
            self.rebuild()
            return
        restack = False
        ranks_before = self._ranks
        recount = any(e.change in RECOUNT_ON for e in events)
        if recount:
            self._ranks = None  # an object came, went or changed category: count again
        updated: set[int] = set()
        for event in events:
            if event.object_id is None:
                continue
            if event.change == Change.OBJECT_REMOVED:
                item = self.object_items.pop(event.object_id, None)
                if item is not None:
                    self.scene.removeItem(item)
            elif event.change in (Change.OBJECT_ADDED, Change.OBJECT_CHANGED, Change.MASK_CHANGED):
                restack |= event.change != Change.MASK_CHANGED
                self._update_object(event.object_id)
                updated.add(event.object_id)
        if recount and ranks_before is not None:
            # Objects whose shade moved (one before them in their category went or changed).
            ranks = self._object_ranks()
            for object_id in self.object_items.keys() - updated:
                if ranks.get(object_id) != ranks_before.get(object_id):
                    self._update_object(object_id)
        if restack:
            self._restack()

    def object_color(self, object_id: int) -> tuple[int, int, int]:
        """The colour the canvas draws ``object_id`` in (the timeline's lanes use it too)."""
        return self._color(object_id)

    def _color(self, object_id: int) -> tuple[int, int, int]:
        project = self.document.project
        obj = project.object(object_id)
        if obj.category_id is not None:
            try:
                base = project.category(obj.category_id).color
            except KeyError:
                return uncategorised_color(object_id)
            if self.color_by_category:
                return base
            return instance_color(base, self._object_ranks().get(object_id, 0))
        return uncategorised_color(object_id)

    def _object_ranks(self) -> dict[int, int]:
        if self._ranks is None:
            counts: dict[int | None, int] = {}
            self._ranks = {}
            media_id = self.controller.media_id
            objects = self.document.project.objects_of(media_id) if media_id is not None else []
            for obj in sorted(objects, key=lambda o: o.id):
                self._ranks[obj.id] = counts.get(obj.category_id, 0)
                counts[obj.category_id] = self._ranks[obj.id] + 1
        return self._ranks

    def _shown(self, obj) -> bool:
        return (
            obj.visible
            and self.objects_shown
            and obj.category_id not in self.hidden_categories
            and not self._is_hidden_for_pending(obj.id)
        )

    def set_color_by_category(self, by_category: bool) -> None:
        self.color_by_category = by_category
        self.rebuild()

    def set_category_shown(self, category_id: int, shown: bool) -> None:
        if shown:
            self.hidden_categories.discard(category_id)
        else:
            self.hidden_categories.add(category_id)
        self.refresh_styles()

    def _update_object(self, object_id: int) -> None:
        try:
            obj = self.document.project.object(object_id)
        except KeyError:
            return
        if obj.media_id != self.controller.media_id:
            return
        item = self.object_items.get(object_id)
        if item is None:
            item = MaskItem(z=0)  # stacked by the caller's _restack
            self.scene.addItem(item)
            self.object_items[object_id] = item
        annotation = obj.frames.get(self.controller.frame)
        # Only the mask's bounding box is expanded: most objects are a small part of the image,
        # and a full-size decode per object is most of what adding a thousand of them costs.
        box = None if annotation is None else rle.decode_box(annotation.rle)
        crop, offset = box if box is not None else (None, (0, 0))
        selected = object_id == self.controller.selected_object
        item.set_crop(crop, offset, self._color(object_id), self.opacity, selected)
        item.set_shape(_handles(annotation), self._color(object_id), selected)
        item.setVisible(self._shown(obj))

    def _is_hidden_for_pending(self, object_id: int) -> bool:
        pending = self.controller.pending
        return pending is not None and pending.target_object == object_id

    def _restack(self) -> None:
        order = {o.id: i for i, o in enumerate(self.document.project.objects)}
        for object_id, item in self.object_items.items():
            item.setZValue(order.get(object_id, 0))

    def refresh_styles(self) -> None:
        project = self.document.project
        for object_id, item in self.object_items.items():
            try:
                obj = project.object(object_id)
            except KeyError:
                continue
            selected = object_id == self.controller.selected_object
            item.set_style(self._color(object_id), self.opacity, selected)
            annotation = obj.frames.get(self.controller.frame)
            item.set_shape(_handles(annotation), self._color(object_id), selected)
            item.setVisible(self._shown(obj))

    def set_objects_shown(self, shown: bool) -> None:
        self.objects_shown = shown
        self.refresh_styles()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = opacity
        self.refresh_styles()
        self.refresh_pending()
        self.instances.set_opacity(self.opacity)

    # --- pending object ----------------------------------------------------------------------
    def refresh_pending(self) -> None:
        controller = self.controller
        pending = controller.pending
        stroke = controller.stroke_preview()
        mask = stroke if stroke is not None else (pending.mask() if pending is not None else None)
        color = PENDING_COLOR
        if controller.current_category is not None:
            with contextlib.suppress(KeyError):
                color = self.document.project.category(controller.current_category).color
        if stroke is not None and pending is None and controller.selected_object is not None:
            # Brushing an accepted object: draw the live stroke over it in its own colour.
            color = self._color(controller.selected_object)
            self.object_items.get(controller.selected_object, MaskItem(0)).setVisible(False)
        elif stroke is None:
            self.refresh_styles()
        identity = pending.mask_identity() if pending is not None else None
        key = (identity, color, self.opacity)
        if stroke is not None or key != self._pending_key or identity is None:
            # A new prompt keeps showing the previous answer until its own arrives: skip the
            # conversion when the very same mask is already on screen.
            opacity = min(1.0, self.opacity + 0.15)
            self.pending_item.set_mask(mask, color, opacity, selected=False, dashed=True)
            # The key holds ids: keep the arrays alive so an id is not reused while cached.
            self._pending_key, self._pending_mask = (
                key,
                (pending.edited_mask, pending.candidates) if pending else None,
            )
        self.pending_item.setVisible(mask is not None)
        for marker in self.markers:
            self.scene.removeItem(marker)
        self.markers.clear()
        prompts = pending.prompts if pending is not None else None
        if prompts is not None:
            for (x, y), label in zip(prompts.points, prompts.labels, strict=False):
                marker = PromptMarker(x, y, label == 1)
                self.scene.addItem(marker)
                self.markers.append(marker)
        if prompts is not None and prompts.box is not None:
            x0, y0, x1, y1 = prompts.box
            self._box.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
            self._box.setVisible(True)
        else:
            self._box.setVisible(False)
        for listener in list(self.painted):
            listener()

    # --- objects proposed at once ------------------------------------------------------------
    def refresh_instances(self) -> None:
        proposal = self.controller.pending_instances
        if proposal is None:
            self.instances.clear()
            return
        keys = proposal.shown()
        self.instances.show(
            proposal.crops(keys),
            [proposal.score(key) for key in keys],
            self.opacity,
            [proposal.color_index(key) for key in keys],
            [proposal.is_duplicate(key) for key in keys],
            keys.index(proposal.selected) if proposal.selected in keys else None,
            [proposal.outline(key) for key in keys],
            proposal.drawn,
        )
