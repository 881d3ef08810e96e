"""One image's labels into the document: one undoable step per image.

Each task's instances become objects of its category (or results waiting for review), in the
model's order, tasks in the request's order — the objects the GUI's accept makes from the same
instances (``AnnotationController.accept_pending_instances``). Never over the user's work: an
instance whose mask overlaps an object already on the image, or a result already waiting there,
with IoU at or above ``duplicate_iou`` is skipped and counted; nothing existing is changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pycocotools import mask as mask_utils

from samdesk.document import (
    AddCategory,
    AddObjects,
    Batch,
    Command,
    Document,
    EditMedia,
    MediaStatus,
    NewObject,
    Project,
    SetSetting,
)
from samdesk.document.masks import Rle
from samdesk.io.common import import_color
from samdesk.labelling.found import FoundInstance, ImageLabels
from samdesk.labelling.request import EVERYTHING_KEY, LabelRequest, phrase_key
from samdesk.labelling.store import LABELLING_KEY, LabellingRecord, PendingResult, TaskRun

DEFAULT_DUPLICATE_IOU = 0.8


@dataclass(frozen=True)
class ApplyOptions:
    """``review``: keep results waiting for review instead of adding objects;
    ``duplicate_iou``: mask IoU with an existing object from which an instance is a duplicate."""

    review: bool = False
    duplicate_iou: float = DEFAULT_DUPLICATE_IOU


@dataclass
class ImageOutcome:
    """Per task key: instances found, added as objects, kept for review, skipped as duplicates."""

    media_id: int
    found: dict[str, int] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)


def task_categories(
    document: Document, request: LabelRequest, everything_category: str | None = None
) -> dict[str, int | None]:
    """The category of each task: the phrase's own (created, undoably, when the project has
    none of that name); for segment everything ``everything_category`` or none."""
    names = {phrase_key(p): p for p in request.phrases}
    if request.everything:
        names = {EVERYTHING_KEY: everything_category} if everything_category else {}
    categories: dict[str, int | None] = {key: None for key in request.task_keys}
    for key, name in names.items():
        existing = document.project.category_by_name(name)
        if existing is None:
            command = AddCategory(name, import_color(len(document.project.categories)))
            document.execute(command)
            categories[key] = command.category_id
        else:
            categories[key] = existing.id
    return categories


def image_change(
    project: Project,
    labels: ImageLabels,
    threshold: float | None,
    categories: dict[str, int | None],
    options: ApplyOptions,
) -> tuple[Command, ImageOutcome]:
    """The step that records ``labels`` (one image, no error) in the project, and its counts."""
    media = project.media_item(labels.media_id)
    record = LabellingRecord.of(project)
    existing = [o.frames[0].rle for o in project.objects_of(media.id) if 0 in o.frames]
    existing += [p.rle for p in record.pending(media.id)]
    outcome = ImageOutcome(media.id)
    objects: list[NewObject] = []
    waiting: list[PendingResult] = []
    runs: dict[str, TaskRun] = {}
    for task, found in labels.found.items():
        kept = [f for f, dup in zip(found, duplicates(found, existing, options.duplicate_iou), strict=True)
                if not dup]
        category = categories.get(task)
        if options.review:
            waiting += [PendingResult(task, category, f.score, f.box, f.rle, labels.model_id) for f in kept]
        else:
            objects += [
                PendingResult(task, category, f.score, f.box, f.rle, labels.model_id).new_object(media.id)
                for f in kept
            ]
        outcome.found[task] = len(found)
        outcome.duplicates[task] = len(found) - len(kept)
        outcome.added[task] = 0 if options.review else len(kept)
        outcome.pending[task] = len(kept) if options.review else 0
        runs[task] = TaskRun(labels.model_id, threshold, options.review, len(found), outcome.added[task],
                             outcome.pending[task], outcome.duplicates[task])
    commands: list[Command] = []
    if objects:
        commands.append(AddObjects(objects))
        if media.status == MediaStatus.NEW:
            commands.append(EditMedia(media.id, status=MediaStatus.IN_PROGRESS))
    commands.append(SetSetting(LABELLING_KEY, record.with_image(media.id, runs, waiting)))
    return Batch(commands, text=f"label {media.name}"), outcome


def duplicates(found: Sequence[FoundInstance], existing: Sequence[Rle], min_iou: float) -> list[bool]:
    """For each found instance, whether its mask overlaps one of ``existing`` (same image size)
    with IoU >= ``min_iou``."""
    if not found or not existing:
        return [False] * len(found)
    ious = mask_utils.iou([_coco(f.rle) for f in found], [_coco(r) for r in existing], [0] * len(existing))
    ious = np.asarray(ious, dtype=np.float64).reshape(len(found), len(existing))
    return [bool(row.max() >= min_iou) for row in ious]


def _coco(rle: Rle) -> dict:
    counts = rle["counts"]
    return {"size": [int(v) for v in rle["size"]], "counts": counts.encode("ascii") if isinstance(counts, str)
            else counts}
