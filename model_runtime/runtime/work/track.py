"""Track: follow prompted objects through a video with the loaded video model (``video``).

A long job on the background lane: one step per prompt (encoding its frame), then one step per
propagated frame, each handing a :class:`TrackedFrame` to ``on_partial``. The video session —
its per-object memory and its frame reader — is closed when the job ends, fails or is stopped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model_runtime.api import Capability, ImageEmbedding, PromptError, Prompts, VideoFrameEncoder
from model_runtime.runtime.requests import video_frames_key
from model_runtime.runtime.work.job import Job, JobContext, JobSteps


@dataclass(frozen=True)
class TrackPrompt:
    """What one object is on one frame, in video pixels: a ``mask`` (bool H×W at video
    resolution, or a function returning it, called on the background thread), or click
    ``prompts`` (points with labels and/or a box)."""

    obj_id: int
    frame: int
    mask: np.ndarray | Callable[[], np.ndarray] | None = None
    prompts: Prompts | None = None

    def __post_init__(self) -> None:
        if (self.mask is None) == (self.prompts is None):
            raise PromptError(f"object {self.obj_id} frame {self.frame}: give a mask or prompts, not both")
        if self.prompts is not None:
            if self.prompts.mask_input is not None or self.prompts.has_concept:
                raise PromptError("tracking takes points, a box or a mask, not low-res logits or a concept")
            if not self.prompts.has_click:
                raise PromptError(f"object {self.obj_id} frame {self.frame}: the prompts are empty")

    def session_arguments(self) -> dict[str, Any]:
        """Keyword arguments of ``VideoSession.add_prompt``: points, labels, box, mask."""
        if self.prompts is None:
            return {"mask": self.mask() if callable(self.mask) else self.mask}
        arrays = self.prompts.click_arrays()
        return {"points": arrays["points"], "labels": arrays["labels"], "box": arrays["box"]}


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
    ranges: Mapping[int, tuple[int, int]] | None = None,
    stop_when_lost: bool = False,
    convert: Callable[[np.ndarray], Any] | None = None,
    media_key: str | None = None,
) -> Job:
    """Track the prompted objects through the video ``source`` with the loaded video model
    (SAM 2). ``ranges`` (obj_id -> (first, last) frame) keeps objects to their own stretch;
    with ``stop_when_lost`` an object is tracked no further in a direction once the tracker
    finds it gone (that frame is still reported). ``convert`` runs on each mask on the
    background thread (e.g. RLE-encode it, so the GUI thread gets small objects). The result is
    a :class:`TrackingSummary`. Stopping (cancel) is possible between any two steps.

    ``media_key``: the video's key in the runtime's embedding caches (a
    :func:`~model_runtime.runtime.requests.video_frames_key`). With a model that encodes video
    frames for clicks as tracking does (``VideoFrameEncoder``), frames already encoded for
    clicks are not encoded again, and the frames this run encodes are kept for the clicks after.
    """
    prompts = list(prompts)
    if not prompts:
        raise ValueError("nothing to track: no object has a prompt")

    def steps(ctx: JobContext) -> JobSteps:
        model = ctx.model
        if media_key is not None and isinstance(model, VideoFrameEncoder):
            shared = _CachedFrames(ctx, video_frames_key(media_key))
            video = ctx.call(model.open_video, source, shared=shared)  # type: ignore[attr-defined]
        else:
            video = ctx.call(model.open_video, source)  # type: ignore[attr-defined]
        try:
            for done, prompt in enumerate(prompts, start=1):
                ctx.call(video.add_prompt, prompt.frame, prompt.obj_id, **prompt.session_arguments())
                yield done, None
            summary = TrackingSummary(objects=sorted({p.obj_id for p in prompts}))
            propagation = ctx.call(video.propagate, start_frame, direction, max_frames, ranges)
            try:
                while (step := ctx.call(next, propagation, None)) is not None:
                    if stop_when_lost:
                        for obj_id, score in step.object_scores.items():
                            if score <= 0 or not step.masks[obj_id].any():
                                video.stop_object(obj_id)
                    masks = {o: m if convert is None else convert(m) for o, m in step.masks.items()}
                    summary.frames += 1
                    tracked = TrackedFrame(step.frame_index, masks, dict(step.object_scores))
                    yield step.done, step.total, tracked
            finally:
                propagation.close()
            return summary
        finally:
            video.close()

    return Job(steps, name="track", requires=Capability.VIDEO, purpose="track objects through a video")


class _CachedFrames:
    """A video's frames in the runtime's embedding caches, as a session's ``SharedEmbeddings``."""

    def __init__(self, ctx: JobContext, media_key: str) -> None:
        self.ctx = ctx
        self.media_key = media_key

    def get(self, frame: int) -> ImageEmbedding | None:
        return self.ctx.cached_embedding(self.media_key, frame)

    def put(self, frame: int, embedding: ImageEmbedding) -> None:
        self.ctx.keep_embedding(self.media_key, frame, embedding)
