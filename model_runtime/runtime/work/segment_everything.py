"""Segment everything: every object of one image, proposed by the model (``everything``).

A long job on the background lane: it can take seconds to minutes (about 1,000 decoder prompts
per image, more with crops), so it runs the model's ``iter_everything`` one point batch per step,
hands what is kept so far to ``on_partial`` after each (an :class:`~model_runtime.api.Instances`
preview that replaces the previous one), reports progress, and stops between batches when
cancelled. Its result is the model's final answer, the same ``segment_everything`` gives. The
image's embedding comes from the caches when it is there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from model_runtime.api import Capability, EverythingProgress, validate_image
from model_runtime.runtime.requests import MediaReadError, Priority
from model_runtime.runtime.work.base import ImageProvider
from model_runtime.runtime.work.job import Job, JobContext, JobSteps


def segment_everything(
    media_key: str,
    frame: int,
    image_provider: ImageProvider,
    *,
    settings: Mapping[str, Any] | None = None,
    priority: Priority = Priority.BACKGROUND,
) -> Job:
    """Every object of frame ``frame`` of ``media_key`` (``image_provider()`` gives its RGB
    pixels, on the background thread). ``settings`` go to the model (the official automatic mask
    generator's keyword arguments). Progress: first ``(0, None)`` once the embedding exists, then
    ``(done, total, preview)`` per point batch but the last. The result is an ``Instances``."""
    options = dict(settings or {})

    def steps(ctx: JobContext) -> JobSteps:
        embedding = ctx.embedding(media_key, frame, image_provider)
        yield 0, None
        try:
            image = validate_image(image_provider())
        except Exception as exc:
            raise MediaReadError(f"could not read media {media_key} frame {frame}: {exc}") from exc
        sweep = ctx.call(ctx.model.iter_everything, image, embedding, **options)  # type: ignore[attr-defined]
        try:
            while (progress := ctx.call(next, sweep, None)) is not None:
                if not isinstance(progress, EverythingProgress):
                    raise TypeError(f"iter_everything yielded a {type(progress).__name__}")
                if progress.final:
                    return progress.instances
                yield progress.done, progress.total, progress.instances
        finally:
            close = getattr(sweep, "close", None)
            if close is not None:
                close()
        raise RuntimeError(f"{ctx.model.info.display_name}: iter_everything ended without a final answer")

    return Job(
        steps, name="segment_everything", priority=priority,
        requires=Capability.EVERYTHING, purpose="segment everything in an image",
    )
