"""Reusable long jobs for :meth:`Runtime.run_job <model_runtime.runtime.service.Runtime.run_job>`.

A job is a function of a :class:`~model_runtime.runtime.service.JobContext` returning a
generator: one ``next()`` is one step (one image, one frame), yielding ``(done, total)`` or
``(done, total, partial)``. The GUI and the command line run the same jobs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model_runtime.api import Capability
from model_runtime.runtime.requests import Priority
from model_runtime.runtime.service import Job, JobContext, JobSteps


@dataclass(frozen=True)
class EncodeItem:
    """One image or frame to encode; ``label`` names it in reports (e.g. the file name)."""

    media_key: str
    frame: int
    image_provider: Callable[[], np.ndarray]
    label: str = ""


@dataclass
class EncodeSummary:
    computed: int = 0
    cached: int = 0  # found in the memory or disk cache
    failed: list[tuple[str, str]] = field(default_factory=list)  # (label, message)


def encode_many(items: Sequence[EncodeItem]) -> Job:
    """Fill the caches with the embeddings of ``items``; one step per item.

    A failing item (unreadable file, model error) is recorded and the job goes on with the next.
    The result is an :class:`EncodeSummary`.
    """
    items = list(items)

    def job(ctx: JobContext) -> JobSteps:
        summary = EncodeSummary()
        for done, item in enumerate(items, start=1):
            try:
                _, source = ctx.embedding_with_source(item.media_key, item.frame, item.image_provider)
            except Exception as exc:
                summary.failed.append((item.label or item.media_key, str(exc)))
            else:
                if source == "computed":
                    summary.computed += 1
                else:
                    summary.cached += 1
            yield done, len(items)
        return summary

    return Job(job, name="precompute", priority=Priority.BACKGROUND)


# --- tracking objects through a video ----------------------------------------------------------


@dataclass(frozen=True)
class TrackPrompt:
    """What one object is on one frame: a mask (bool H×W at video resolution, or a function
    returning it, called on the background thread), or points (N, 2) with labels (N,) and/or a
    box (x0, y0, x1, y1), in video pixels."""

    obj_id: int
    frame: int
    mask: np.ndarray | Callable[[], np.ndarray] | None = None
    points: np.ndarray | None = None
    labels: np.ndarray | None = None
    box: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class TrackedFrame:
    """One propagated frame: ``masks`` maps object id to its mask (bool H×W, or whatever the
    job's ``convert`` made of it; an absent object has an empty mask) and ``scores`` to the
    object-presence logit (> 0: the model sees the object)."""

    frame: int
    masks: dict[int, Any]
    scores: dict[int, float]


@dataclass
class TrackingSummary:
    frames: int = 0  # frames propagated
    objects: list[int] = field(default_factory=list)


def track_video(
    source: str | os.PathLike[str] | Sequence[np.ndarray],
    prompts: Sequence[TrackPrompt],
    *,
    start_frame: int | None = None,
    direction: str = "forward",
    max_frames: int | None = None,
    convert: Callable[[np.ndarray], Any] | None = None,
) -> Job:
    """Track the prompted objects through the video ``source`` with the loaded video model
    (SAM 2): one step per prompt (encoding its frame), then one step per propagated frame,
    each handing a :class:`TrackedFrame` to ``on_partial``. ``convert`` runs on each mask on
    the background thread (e.g. RLE-encode it, so the GUI thread gets small objects).
    The result is a :class:`TrackingSummary`. Stopping (cancel) is possible between any two steps.
    """
    prompts = list(prompts)
    if not prompts:
        raise ValueError("nothing to track: no object has a prompt")

    def job(ctx: JobContext) -> JobSteps:
        video = ctx.call(ctx.model.open_video, source)
        for done, prompt in enumerate(prompts, start=1):
            mask = prompt.mask() if callable(prompt.mask) else prompt.mask
            ctx.call(
                video.add_prompt, prompt.frame, prompt.obj_id,
                points=prompt.points, labels=prompt.labels, box=prompt.box, mask=mask,
            )
            yield done, None
        summary = TrackingSummary(objects=sorted({p.obj_id for p in prompts}))
        steps = ctx.call(video.propagate, start_frame, direction, max_frames)
        try:
            while (step := ctx.call(next, steps, None)) is not None:
                masks = {
                    obj: convert(mask) if convert is not None else mask for obj, mask in step.masks.items()
                }
                summary.frames += 1
                yield step.done, step.total, TrackedFrame(step.frame_index, masks, dict(step.object_scores))
        finally:
            steps.close()
        return summary

    return Job(job, name="track", requires=Capability.VIDEO, purpose="track objects through a video")
