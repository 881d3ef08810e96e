"""Load: build a model from a checkpoint (or adopt a built one) and make it current.

Background lane at ``Priority.CONTROL``; it swaps the model, so it waits for the other lane to
go idle, requests made after it wait for it, and those made before it and still queued fail
with ``ModelChangedError`` when it is done (see :mod:`model_runtime.runtime.scheduler`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from model_runtime.api import ImageModel
from model_runtime.runtime.requests import ModelLoaded, Priority
from model_runtime.runtime.work.base import Lane, Work, WorkSpec, report_callback_error

if TYPE_CHECKING:
    from model_runtime.runtime.scheduler import Scheduler

LOAD = WorkSpec("load", Lane.BACKGROUND, Priority.CONTROL, swaps_model=True)


@dataclass(eq=False, kw_only=True)
class LoadWork(Work):
    spec = LOAD
    source: Any = field(repr=False)  # a checkpoint path, a registry name, or a built ImageModel
    device: str | None = None
    note: str = ""  # a load the runtime made by itself says why (ModelLoaded.note)
    # (backend, mode) of torch.compile, or None: compile the model and warm it up before it is
    # made current, here on the background thread, so the first click never waits for it.
    compile_with: tuple[str, str | None] | None = None

    def run(self, scheduler: Scheduler) -> bool:
        try:
            self._load(scheduler)
        finally:  # also if the thread dies: requests waiting for this load must not hang
            scheduler.load_ended()
        return False

    def _load(self, scheduler: Scheduler) -> None:
        if not self.core.mark_running():
            return
        start = time.perf_counter()
        try:
            model = self.source if is_model(self.source) else scheduler.loader(self.source, self.device)
            if self.compile_with is not None:
                scheduler.calls.call(
                    model, "compiling the model", _compile_and_warm_up, model, self.compile_with
                )
        except Exception as exc:
            self.core.deliver_error(exc, report_callback_error)
            return
        scheduler.adopt_model(model, self)
        info = model.info
        result = ModelLoaded(
            info.model_id, info.display_name, info.device, time.perf_counter() - start,
            frozenset(info.capabilities), self.note,
        )
        self.core.deliver_result(result, report_callback_error)


def _compile_and_warm_up(model: ImageModel, compile_with: tuple[str, str | None]) -> None:
    from model_runtime.models.common.compilation import CompileOptions, compile_model, warm_up

    backend, mode = compile_with
    if compile_model(model, CompileOptions(backend=backend, mode=mode)):
        warm_up(model)


def is_model(source: Any) -> bool:
    return not isinstance(source, (str, os.PathLike)) and isinstance(source, ImageModel)
