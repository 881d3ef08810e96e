"""Segment boxes: turn box-only objects into masks with the loaded click model, one batch per image.

Box-only objects (``samdesk/document/boxes.py``) come from detection datasets: a frame with a
box prompt and no mask. :func:`box_tasks` groups them by image (or video frame);
:func:`segment_boxes` is a runtime :class:`~model_runtime.runtime.Job` that encodes each image
once (through the runtime's embedding caches) and answers all its boxes with one
``predict_batch`` (one mask per box, ``multimask=False``: a box is an unambiguous prompt), one
step per image, so it can be cancelled between images; :func:`apply_box_masks` turns the
answers into one undoable :class:`~samdesk.document.commands.Batch`. Qt-free: the CLI
(``samdesk segment-boxes``) runs it on a runtime of its own, a GUI would submit the same job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from model_runtime.api import Capability
from model_runtime.prompts import Box, Prompts
from samdesk.document import masks
from samdesk.document.boxes import is_box_only
from samdesk.document.commands import Batch, SetFrame
from samdesk.document.model import FrameAnnotation, MediaKind, Project, Provenance
from samdesk.session.requests import media_key

if TYPE_CHECKING:
    from model_runtime.runtime import Job, JobContext, JobSteps
    from model_runtime.runtime.work.base import ImageProvider


@dataclass(frozen=True)
class BoxTask:
    """The box-only objects of one image (or one video frame): ``boxes`` is (object id, box)."""

    media_id: int
    path: str
    kind: MediaKind
    frame: int
    media_key: str  # the embedding caches' identity of the medium (content hash, else path)
    boxes: tuple[tuple[int, Box], ...]


@dataclass
class BoxMasks:
    """What the model made of one task's boxes: (object id, frame annotation) per box, or why
    it failed (``error``; the job goes on with the next image)."""

    task: BoxTask
    frames: list[tuple[int, FrameAnnotation]] = field(default_factory=list)
    error: str = ""


def box_tasks(project: Project, media_ids: set[int] | None = None) -> list[BoxTask]:
    """One task per image / video frame that has box-only objects, in project order."""
    grouped: dict[tuple[int, int], list[tuple[int, Box]]] = {}
    for obj in project.objects:
        if media_ids is not None and obj.media_id not in media_ids:
            continue
        for frame, annotation in sorted(obj.frames.items()):
            if is_box_only(annotation):
                assert annotation.prompts.box is not None
                grouped.setdefault((obj.media_id, frame), []).append((obj.id, annotation.prompts.box))
    tasks = []
    for item in project.media:
        for (media_id, frame), boxes in sorted(grouped.items()):
            if media_id == item.id:
                tasks.append(BoxTask(item.id, item.path, item.kind, frame, media_key(item), tuple(boxes)))
    return tasks


def segment_boxes(tasks: Sequence[BoxTask], image_provider: Callable[[BoxTask], ImageProvider]) -> Job:
    """A runtime job answering every task's boxes (see the module docstring): it yields
    ``(done, total, BoxMasks)`` per image and returns the number of masks made.
    ``image_provider(task)`` gives the function the runtime calls for that image's pixels."""
    from model_runtime.runtime import Job

    tasks = list(tasks)

    def steps(ctx: JobContext) -> JobSteps:
        made = 0
        for done, task in enumerate(tasks, start=1):
            result = BoxMasks(task)
            try:
                embedding = ctx.embedding(task.media_key, task.frame, image_provider(task))
                prompts = [Prompts(box=box) for _, box in task.boxes]
                predictions = _predict(ctx, embedding, prompts)
                for (object_id, box), prediction in zip(task.boxes, predictions, strict=True):
                    best = int(np.argmax(prediction.scores))
                    rle = masks.encode(np.asarray(prediction.masks[best], dtype=bool))
                    score = float(prediction.scores[best])
                    annotation = FrameAnnotation(
                        rle, Provenance.MODEL, score=score, prompts=Prompts(box=box), model_id=ctx.model_id
                    )
                    result.frames.append((object_id, annotation))
                made += len(result.frames)
            except Exception as exc:  # one unreadable image must not stop the others
                result.error = str(exc) or type(exc).__name__
            yield done, len(tasks), result
        return made

    return Job(
        steps,
        name="segment_boxes",
        requires=Capability.CLICK,
        purpose="segment the boxes of box-only objects",
    )


def _predict(ctx: JobContext, embedding, prompts: list[Prompts]) -> list:
    """One prediction per box: one batched decoder pass where the model has ``predict_batch``."""
    model = ctx.model
    batch = getattr(model, "predict_batch", None)
    if batch is not None:
        return ctx.call(batch, embedding, prompts, multimask=False)
    return [ctx.call(model.predict, embedding, **p.click_arrays(), multimask=False) for p in prompts]


def apply_box_masks(project: Project, results: Sequence[BoxMasks]) -> Batch | None:
    """One undoable step setting every answered box's mask (None when there is none). A frame
    that is no longer the same box-only frame (the user drew on it meanwhile) is left alone."""
    commands = []
    for result in results:
        for object_id, annotation in result.frames:
            obj = project.objects.get(object_id)
            current = obj.frames.get(result.task.frame) if obj is not None else None
            if current is None or not is_box_only(current) or current.prompts.box != annotation.prompts.box:
                continue
            commands.append(SetFrame(object_id, result.task.frame, annotation, text="segment box"))
    return Batch(commands, text=f"segment {len(commands)} boxes") if commands else None
