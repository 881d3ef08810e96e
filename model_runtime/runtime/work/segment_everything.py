"""Segment everything: every object of one image, proposed by the model (``everything``).

A long job on the background lane: it can take seconds to minutes (about 1,000 decoder prompts
per image, more with crops), so it streams what each part of the sweep finds to ``on_partial``
(an :class:`~model_runtime.api.Instances`, duplicates across parts not yet removed), reports
progress, and stops between parts when cancelled. Its result is the model's final answer, with
duplicates removed. The image's embedding comes from the caches when it is there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from model_runtime.api import Capability, Instances, validate_image
from model_runtime.runtime.requests import MediaReadError, Priority
from model_runtime.runtime.work.base import ImageProvider
from model_runtime.runtime.work.job import Job, JobContext, JobSteps, advance


def segment_everything(
    media_key: str,
    frame: int,
    image_provider: ImageProvider,
    *,
    settings: Mapping[str, Any] | None = None,
    priority: Priority = Priority.BACKGROUND,
) -> Job:
    """Every object of frame ``frame`` of ``media_key`` (``image_provider()`` gives its RGB
    pixels, on the background thread). ``settings`` go to the model's ``segment_everything``
    (grid density, thresholds). Progress: first ``(0, None)`` once the embedding exists, then
    each part's ``(done, total, instances)``. The result is an :class:`Instances`."""
    options = dict(settings or {})

    def steps(ctx: JobContext) -> JobSteps:
        embedding = ctx.embedding(media_key, frame, image_provider)
        yield 0, None
        try:
            image = validate_image(image_provider())
        except Exception as exc:
            raise MediaReadError(f"could not read media {media_key} frame {frame}: {exc}") from exc
        sweep = ctx.call(ctx.model.segment_everything, image, embedding, **options)  # type: ignore[attr-defined]
        try:
            while True:
                finished, value = ctx.call(advance, sweep)
                if finished:
                    if not isinstance(value, Instances):
                        kind = type(value).__name__
                        raise TypeError(f"segment_everything returned a {kind}, not Instances")
                    return value
                yield value.done, value.total, value.instances
        finally:
            sweep.close()

    return Job(
        steps, name="segment_everything", priority=priority,
        requires=Capability.EVERYTHING, purpose="segment everything in an image",
    )
