"""Encode: make sure one image's (or video frame's) embedding is cached.

Background lane; the image on screen at ``Priority.CURRENT``, prefetches of its neighbours at
``Priority.BACKGROUND``. The scheduler also queues one itself for work parked on a missing
embedding, and promotes a queued prefetch of that image instead when there is one. An encode
the caller cancelled still runs while clicks are parked on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from model_runtime.runtime.requests import EmbeddingKey, EncodeResult, Priority
from model_runtime.runtime.work.base import ImageProvider, Lane, Work, WorkSpec, report_callback_error

if TYPE_CHECKING:
    from model_runtime.runtime.scheduler import Scheduler

ENCODE = WorkSpec("encode", Lane.BACKGROUND, Priority.CURRENT)


@dataclass(eq=False, kw_only=True)
class EncodeWork(Work):
    spec = ENCODE
    media_key: str
    frame: int = 0
    image_provider: ImageProvider | None = field(default=None, repr=False)

    @property
    def target(self) -> tuple[str, int]:
        return (self.media_key, self.frame)

    def promote(self, priority: Priority, image_provider: ImageProvider | None) -> None:
        """Parked work needs this image now: at least ``priority``, and an image to encode."""
        if self.priority is None or self.priority > priority:
            self.priority = priority
        if self.image_provider is None and image_provider is not None:
            self.image_provider = image_provider

    def still_needed(self, scheduler: Scheduler) -> bool:
        if not scheduler.has_parked(self.target):
            return False
        # The caller gave up on this encode but queued clicks still need it.
        self.core = scheduler.new_internal_core(self.spec.name)
        return True

    def run(self, scheduler: Scheduler) -> bool:
        model = self.model
        assert model is not None
        self.core.mark_running()  # a cancelled encode still runs for the work parked on it
        start = time.perf_counter()
        try:
            embedding, source = scheduler.calls.embedding(
                model, self.media_key, self.frame, self.image_provider
            )
        except Exception as exc:
            for work in [self, *scheduler.encode_failed(self.target)]:
                work.core.deliver_error(exc, report_callback_error)
            return False
        scheduler.encode_finished(self.target, embedding)
        result = EncodeResult(
            key=EmbeddingKey(self.media_key, self.frame, model.info.model_id),
            source=source,
            original_size=embedding.original_size,
            seconds=time.perf_counter() - start,
        )
        self.core.deliver_result(result, report_callback_error)
        return False

    def fails_with_it(self, scheduler: Scheduler) -> list[Work]:
        return scheduler.encode_failed(self.target)

