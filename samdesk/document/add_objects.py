"""Adding many objects in one undo step: what find-all "accept all" and segment everything do.

Each :class:`NewObject` is one mask on one frame of one media, with how it came to be; one
:class:`AddObjects` command adds them all on top of the drawing order, in order, and one undo
takes them all back. It checks every item before changing anything, runs in time linear in the
number of objects, and its events reach batch listeners in one call (``EventBus.subscribe_batch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from model_runtime.prompts import Prompts
from samdesk.document import masks
from samdesk.document.commands import Command
from samdesk.document.events import Change, DocumentEvent
from samdesk.document.masks import Rle
from samdesk.document.model import AnnotationObject, FrameAnnotation, Project, Provenance


@dataclass(frozen=True)
class NewObject:
    """One object to add: its mask (compressed RLE of the media's size) on ``frame`` of
    ``media_id``, its category, and the model's score, prompts and id (None when unknown)."""

    media_id: int
    rle: Rle
    category_id: int | None = None
    score: float | None = None
    prompts: Prompts = Prompts()
    provenance: Provenance = Provenance.MODEL
    model_id: str | None = None
    frame: int = 0

    @classmethod
    def from_mask(cls, media_id: int, mask: np.ndarray, **fields: object) -> NewObject:
        """From a bool (H, W) mask instead of its RLE."""
        return cls(media_id, masks.encode(np.asarray(mask, dtype=bool)), **fields)  # type: ignore[arg-type]


@dataclass
class AddObjects(Command):
    """Add one object per item, on top of the drawing order; ids are assigned on first do and
    kept for redo. Raises ``ValueError`` (naming the item) before any change when an item's
    media, frame, mask size or category does not fit the project."""

    items: Sequence[NewObject]
    text: str = "add objects"
    _objects: list[AnnotationObject] = field(default_factory=list, repr=False)

    @property
    def object_ids(self) -> list[int]:
        """The ids of the added objects, in the items' order (empty until first executed)."""
        return [o.id for o in self._objects]

    def do(self, project: Project) -> list[DocumentEvent]:
        if not self._objects:
            for index, item in enumerate(self.items):
                _check(project, index, item)
            self._objects = [
                AnnotationObject(project.allocate_id("object"), item.media_id, item.category_id,
                                 {item.frame: _annotation(item)})
                for item in self.items
            ]
        project.objects.extend(self._objects)
        return [
            DocumentEvent(Change.OBJECT_ADDED, object_id=o.id, media_id=o.media_id) for o in self._objects
        ]

    def undo(self, project: Project) -> list[DocumentEvent]:
        count = len(self._objects)
        tail = project.objects[len(project.objects) - count :] if count else []
        if len(tail) == count and all(a is b for a, b in zip(tail, self._objects, strict=True)):
            del project.objects[len(project.objects) - count :]
        else:
            project.objects.remove_ids(o.id for o in self._objects)
        return [
            DocumentEvent(Change.OBJECT_REMOVED, object_id=o.id, media_id=o.media_id)
            for o in reversed(self._objects)
        ]


def _annotation(item: NewObject) -> FrameAnnotation:
    rle: Rle = {"size": [int(v) for v in item.rle["size"]], "counts": item.rle["counts"]}
    return FrameAnnotation(rle, Provenance(item.provenance), item.score, item.prompts, item.model_id)


def _check(project: Project, index: int, item: NewObject) -> None:
    where = f"object {index + 1} to add"
    media = project.media.get(item.media_id)
    if media is None:
        raise ValueError(f"{where}: the project has no media {item.media_id}")
    if not 0 <= item.frame < media.frame_count:
        raise ValueError(f"{where}: frame {item.frame} is not in {media.name} ({media.frame_count} frames)")
    height, width = (int(v) for v in item.rle["size"])
    if (height, width) != (media.height, media.width):
        size = f"{media.width}×{media.height}"
        raise ValueError(f"{where}: the mask is {width}×{height} but {media.name} is {size}")
    if item.category_id is not None and project.categories.get(item.category_id) is None:
        raise ValueError(f"{where}: the project has no category {item.category_id}")
