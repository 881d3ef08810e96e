"""The GUI's only door to the model runtime: a QObject that turns runtime callbacks into signals.

The runtime calls back on its own threads; the bridge forwards each callback through a queued
connection, so every public signal is emitted on the thread the bridge lives in (the GUI
thread), where slots may touch widgets and the document. Guarantees, per request id:

- ``predicted`` (``found``) is emitted only for the newest predict (find-all) of an object: an
  older request's result or error that arrives late is dropped (the canvas never flashes a
  superseded mask);
- after :meth:`RuntimeBridge.cancel` nothing at all is emitted for that id, even if the runtime
  had already finished it and its signal was waiting in the event queue;
- ``failed`` carries the exception; its message is meant for the status bar.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot

from model_runtime.api import Prompts
from model_runtime.runtime import Callbacks, Job, JobFactory, Priority, RequestHandle, Runtime, RuntimeConfig
from model_runtime.runtime.scheduler import ModelLoader

_RESULT, _ERROR, _PROGRESS, _PARTIAL = "result", "error", "progress", "partial"


class RuntimeBridge(QObject):
    """Wraps a :class:`~model_runtime.runtime.Runtime` (created here unless one is given; a
    runtime created here is closed by :meth:`shutdown`)."""

    modelLoaded = Signal(int, object)  # request id, ModelLoaded
    encoded = Signal(int, object)  # request id, EncodeResult
    predicted = Signal(int, object)  # request id, PredictResult (newest per object only)
    found = Signal(int, object)  # request id, FindAllResult (newest per object only)
    jobFinished = Signal(int, object)  # request id, the job's return value
    failed = Signal(int, object)  # request id, exception
    progressed = Signal(int, int, int)  # request id, done, total (-1 when unknown)
    partial = Signal(int, object)  # request id, a piece of a job's result (a tracked frame)
    modelChanged = Signal(object)  # ModelLoaded: a model the runtime loaded by itself (its note says why)

    _delivery = Signal(object)  # (what, request id, payload, total); crosses threads, queued
    _model_change = Signal(object)  # ModelLoaded from a runtime thread; queued

    def __init__(
        self,
        runtime: Runtime | None = None,
        *,
        config: RuntimeConfig | None = None,
        loader: ModelLoader | None = None,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self._owns_runtime = runtime is None
        self.runtime = runtime if runtime is not None else Runtime(config, loader=loader)
        # request id -> its handle and the signal its result is emitted on
        self._handles: dict[int, tuple[RequestHandle, Any]] = {}
        # Newest per object: request id -> (signal name, object key), and the reverse.
        self._superseding: dict[int, tuple[str, Any]] = {}
        self._latest: dict[tuple[str, Any], int] = {}
        self._delivery.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)
        self._model_change.connect(self.modelChanged, Qt.ConnectionType.QueuedConnection)
        self.runtime.watch_models(self._model_change.emit)  # a CPU fall-back after running out of memory

    # --- requests (call from the GUI thread) -----------------------------------------------

    def load_model(self, source: Any, device: str | None = None) -> int:
        handle = self.runtime.load_model(source, device, callbacks=self._callbacks())
        return self._track(handle, self.modelLoaded)

    def encode(
        self,
        media_key: str,
        frame: int,
        image_provider: Callable[[], np.ndarray] | None,
        *,
        prefetch: bool = False,
    ) -> int:
        return self._track(
            self.runtime.encode(
                media_key, frame, image_provider, prefetch=prefetch, callbacks=self._callbacks()
            ),
            self.encoded,
        )

    def predict(
        self,
        object_key: Any,
        media_key: str,
        frame: int,
        prompts: Prompts,
        *,
        multimask: bool = True,
        image_provider: Callable[[], np.ndarray] | None = None,
    ) -> int:
        """See :meth:`Runtime.predict`. Raises ``PromptError`` at once for prompts without a
        click, ``ModelCapabilityError`` at once when the model cannot answer clicks."""
        handle = self.runtime.predict(
            object_key, media_key, frame, prompts,
            multimask=multimask, image_provider=image_provider, callbacks=self._callbacks(),
        )
        return self._track_newest(handle, "predicted", object_key)

    def find_all(
        self,
        object_key: Any,
        media_key: str,
        frame: int,
        prompts: Prompts,
        *,
        threshold: float = 0.5,
        image_provider: Callable[[], np.ndarray] | None = None,
    ) -> int:
        """See :meth:`Runtime.find_all`. Raises ``PromptError`` at once for prompts without a
        concept, ``ModelCapabilityError`` at once when the model has no concepts."""
        handle = self.runtime.find_all(
            object_key, media_key, frame, prompts,
            threshold=threshold, image_provider=image_provider, callbacks=self._callbacks(),
        )
        return self._track_newest(handle, "found", object_key)

    def run_job(
        self, job: Job | JobFactory, *, name: str | None = None, priority: Priority | None = None
    ) -> int:
        """See :meth:`Runtime.run_job` (``ModelCapabilityError`` at once when the model lacks
        what the job requires); progress, partial results and the result arrive as signals."""
        handle = self.runtime.run_job(job, name=name, priority=priority, callbacks=self._callbacks())
        return self._track(handle, self.jobFinished)

    def cancel(self, request_id: int) -> None:
        """Nothing is emitted for ``request_id`` after this call."""
        entry = self._handles.pop(request_id, None)
        self._forget_newest(request_id)
        if entry is not None:
            entry[0].cancel()

    def handle(self, request_id: int) -> RequestHandle | None:
        """The runtime's handle of a request that will still emit something, else None."""
        entry = self._handles.get(request_id)
        return None if entry is None else entry[0]

    def pending(self) -> list[int]:
        """Ids of requests that will still emit something."""
        return list(self._handles)

    def shutdown(self, timeout: float = 2.0) -> None:
        """Cancel everything pending; close a runtime created here, waiting at most ``timeout``
        seconds for a running model call (the runtime threads are daemons: quitting does not
        wait for a long encode; ``samdesk.cli.run`` then leaves the process without the exit
        steps that would abort under it)."""
        for request_id in list(self._handles):
            self.cancel(request_id)
        if self._owns_runtime:
            self.runtime.close(timeout)

    # --- delivery ----------------------------------------------------------------------------

    def _track(self, handle: RequestHandle, done: Any) -> int:
        """Remember ``handle``; its result will be emitted on the signal ``done``."""
        self._handles[handle.request_id] = (handle, done)
        return handle.request_id

    def _track_newest(self, handle: RequestHandle, signal: str, object_key: Any) -> int:
        """Like :meth:`_track`, forgetting the previous request of the object on ``signal``."""
        previous = self._latest.get((signal, object_key))
        if previous is not None:
            # Superseded or about to be stale: whatever it reports will be dropped anyway.
            self._handles.pop(previous, None)
            self._superseding.pop(previous, None)
        self._latest[(signal, object_key)] = handle.request_id
        self._superseding[handle.request_id] = (signal, object_key)
        return self._track(handle, getattr(self, signal))

    def _callbacks(self) -> Callbacks:
        # Runtime threads only emit: the queued connection moves the work to the GUI thread.
        emit = self._delivery.emit
        return Callbacks(
            on_result=lambda rid, value: emit((_RESULT, rid, value, None)),
            on_error=lambda rid, exc: emit((_ERROR, rid, exc, None)),
            on_progress=lambda rid, done, total: emit((_PROGRESS, rid, done, total)),
            on_partial=lambda rid, value: emit((_PARTIAL, rid, value, None)),
        )

    @Slot(object)
    def _dispatch(self, message: tuple[str, int, Any, int | None]) -> None:
        what, rid, payload, total = message
        entry = self._handles.get(rid)
        if entry is None:
            return  # cancelled, superseded or stale
        if what == _PROGRESS:
            self.progressed.emit(rid, int(payload), -1 if total is None else int(total))
            return
        if what == _PARTIAL:
            self.partial.emit(rid, payload)
            return
        del self._handles[rid]
        self._forget_newest(rid)
        if what == _ERROR:
            self.failed.emit(rid, payload)
        else:
            entry[1].emit(rid, payload)

    def _forget_newest(self, request_id: int) -> None:
        scoped = self._superseding.pop(request_id, None)
        if scoped is not None and self._latest.get(scoped) == request_id:
            del self._latest[scoped]
