"""Prepare clicks: the prompt-independent work of the clicks to come on the image just shown.

Interactive lane, at "current image" priority: after any click waiting, before nothing else
there (the lane is idle while the user looks at the picture). Asked for by ``Runtime.encode``
of the image on screen when the model is a :class:`~model_runtime.api.ClickPreparer` (SAM 1);
it parks until the embedding exists, like a click. The newest one supersedes the queued ones:
only the image on screen is worth preparing, and a parked one would keep alive an encode the
caller cancelled (see ``EncodeWork.still_needed``). Without it the first click after switching
images pays for this work (issue 18, defect 10; bench/first_click.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from model_runtime.api import ClickPreparer
from model_runtime.runtime.requests import EmbeddingKey, Priority
from model_runtime.runtime.work.base import ImageWork, Lane, WorkSpec, report_callback_error

if TYPE_CHECKING:
    from model_runtime.runtime.scheduler import Scheduler

PREPARE = WorkSpec("prepare", Lane.INTERACTIVE, Priority.CURRENT, supersedes=True)


@dataclass(frozen=True)
class PrepareResult:
    """``prepared``: False when the model that took it needs no preparation (it was swapped)."""

    key: EmbeddingKey
    prepared: bool
    seconds: float


@dataclass(eq=False, kw_only=True)
class PrepareWork(ImageWork):
    spec = PREPARE

    def run(self, scheduler: Scheduler) -> bool:
        if not self.core.mark_running():
            return False
        model, embedding = self.model, self.embedding
        assert model is not None and embedding is not None
        start = time.perf_counter()
        # A model swapped in after it was asked may not be a preparer, nor own this embedding.
        prepared = isinstance(model, ClickPreparer) and embedding.model_id == model.info.model_id
        if prepared:
            try:
                scheduler.calls.call(
                    model, "preparing clicks", model.prepare_clicks, embedding, retry=True  # type: ignore[attr-defined]
                )
            except Exception as exc:  # the click will do it itself, and report what fails then
                self.core.deliver_error(exc, report_callback_error)
                return False
        result = PrepareResult(self.embedding_key(), prepared, time.perf_counter() - start)
        self.core.deliver_result(result, report_callback_error)
        return False
