"""What callers hand the runtime and what they get back: priorities, handles, results, errors.

Every call on :class:`~model_runtime.runtime.service.Runtime` returns a :class:`RequestHandle`
at once; the outcome arrives later through the :class:`Callbacks` given with the call, invoked on
a runtime thread (never the caller's). Delivery rules, which the GUI bridge relies on:

- exactly one of ``on_result`` / ``on_error`` is called for a request that finishes;
- a request that was cancelled (``handle.cancel()`` returned True) or superseded by a newer
  predict for the same object gets **no callback at all**, not even a "cancelled" notice: the
  caller already knows, and the handle's :attr:`RequestHandle.state` says which it was;
- ``on_progress`` and ``on_partial`` are called only while the request runs and never after a
  terminal callback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from model_runtime.api import Prediction


class Priority(IntEnum):
    """Lower value is served first. Interactive predicts never queue behind encodes at all: they
    run on their own thread (see docs/adr/0003-runtime-threading.md)."""

    CONTROL = 0  # model load / swap
    INTERACTIVE = 1  # a click, box or drag on the image on screen
    CURRENT = 2  # encoding the image or frame on screen
    BACKGROUND = 3  # prefetching neighbours, long jobs (propagate, find-all, precompute)


class RequestState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"  # a newer predict for the same object replaced it while queued

    @property
    def terminal(self) -> bool:
        return self not in (RequestState.PENDING, RequestState.RUNNING)


ResultCallback = Callable[[int, Any], None]
ErrorCallback = Callable[[int, BaseException], None]
ProgressCallback = Callable[[int, int, int | None], None]
PartialCallback = Callable[[int, Any], None]


@dataclass(frozen=True)
class Callbacks:
    """Called on a runtime thread; keep them short and non-blocking (emit a signal, set a flag).

    ``on_progress(request_id, done, total)``: ``total`` is None when a job cannot know it.
    ``on_partial(request_id, value)``: a piece of a long job's result as soon as it exists (one
    tracked video frame), delivered right after that step's progress.
    """

    on_result: ResultCallback | None = None
    on_error: ErrorCallback | None = None
    on_progress: ProgressCallback | None = None
    on_partial: PartialCallback | None = None


# --- results ---------------------------------------------------------------------------------


VIDEO_FRAMES = "video-frames:"  # media keys of frames encoded as tracking encodes them


def video_frames_key(media_key: str) -> str:
    """The media key under which a video's frames are encoded the way tracking encodes them
    (the model's ``encode_video_frame``, when it has one; other models encode them as images),
    so that clicks and tracking runs share embeddings. Never the file's own key: an embedding
    made as a still image is never taken for one made as a video frame."""
    return media_key if media_key.startswith(VIDEO_FRAMES) else VIDEO_FRAMES + media_key


def is_video_frames_key(media_key: str) -> bool:
    return media_key.startswith(VIDEO_FRAMES)


@dataclass(frozen=True)
class EmbeddingKey:
    """Identity of one cached embedding: the media's content hash (so renames keep the cache),
    the frame (0 for still images) and the model that computed it."""

    media_key: str
    frame: int
    model_id: str


@dataclass(frozen=True)
class EncodeResult:
    """``source`` tells where the embedding came from: "memory", "disk" or "computed"."""

    key: EmbeddingKey
    source: str
    original_size: tuple[int, int]
    seconds: float


@dataclass(frozen=True)
class PredictResult:
    object_key: Any
    key: EmbeddingKey
    prediction: Prediction
    seconds: float


@dataclass(frozen=True)
class ModelLoaded:
    """The model now current. ``capabilities`` (``model_runtime.api.Capability`` values) say
    which requests it can serve; the GUI enables its features from them. A load the runtime made
    by itself (nobody asked: the device ran out of memory) reaches ``Runtime.watch_models``
    watchers, with ``note`` saying why."""

    model_id: str
    display_name: str
    device: str
    seconds: float
    capabilities: frozenset[str] = frozenset()
    note: str = ""  # why the runtime loaded it by itself (a fall-back to the CPU), for the user

    def can(self, capability: str) -> bool:
        return capability in self.capabilities


# --- errors ----------------------------------------------------------------------------------


class RuntimeServiceError(Exception):
    """Base of the runtime's own errors (model errors are passed through unchanged)."""


class ModelNotLoadedError(RuntimeServiceError):
    """A request arrived while no model is loaded."""


class ModelChangedError(RuntimeServiceError):
    """The request was queued for a model that has since been replaced; re-issue it."""


class WorkerCrashedError(RuntimeServiceError):
    """The runtime thread running this request died; the thread was restarted."""


class ModelOutOfMemoryError(RuntimeServiceError):
    """The device ran out of memory; the runtime freed what it could and keeps working."""


class EmbeddingUnavailableError(RuntimeServiceError):
    """A predict needs an embedding that is not cached and no image was given to compute it."""


class MediaReadError(RuntimeServiceError):
    """The image provider failed or returned something that is not an RGB uint8 image."""


class RuntimeClosedError(RuntimeServiceError):
    """The runtime was shut down."""


# --- handles ---------------------------------------------------------------------------------


class RequestHandle:
    """The caller's view of one request. Thread-safe.

    ``cancel()`` returns True when the request will never call back; False when it had already
    finished (its callback has then already been delivered). A running model call cannot be
    interrupted; cancelling it discards its outcome (an embedding it computes is still cached).
    """

    def __init__(self, request: _RequestCore):
        self._request = request

    @property
    def request_id(self) -> int:
        return self._request.request_id

    @property
    def kind(self) -> str:
        return self._request.kind

    @property
    def state(self) -> RequestState:
        return self._request.state

    def cancel(self) -> bool:
        return self._request.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the request reaches a terminal state; for scripts and the CLI, never the GUI."""
        return self._request.finished.wait(timeout)

    def result(self, timeout: float | None = None) -> Any:
        """Wait and return the result, or raise the request's error (for scripts and the CLI)."""
        if not self.wait(timeout):
            raise TimeoutError(f"request {self.request_id} ({self.kind}) still {self.state.value}")
        core = self._request
        if core.state is RequestState.DONE:
            return core.result
        if core.state is RequestState.FAILED and core.error is not None:
            raise core.error
        raise RuntimeServiceError(f"request {self.request_id} was {core.state.value}")

    def __repr__(self) -> str:
        return f"RequestHandle(id={self.request_id}, kind={self.kind!r}, state={self.state.value})"


class _RequestCore:
    """State shared by the scheduler and the handle; delivery happens under ``lock`` so that a
    ``cancel()`` that returned True is never followed by a callback."""

    def __init__(self, request_id: int, kind: str, callbacks: Callbacks, on_terminal: Callable[[], None]):
        self.request_id = request_id
        self.kind = kind
        self.callbacks = callbacks
        self.state = RequestState.PENDING
        self.result: Any = None
        self.error: BaseException | None = None
        self.lock = threading.RLock()
        self.finished = threading.Event()
        self._on_terminal = on_terminal  # wakes the scheduler so it drops the request from queues

    def cancel(self, state: RequestState = RequestState.CANCELLED) -> bool:
        with self.lock:
            if self.state.terminal:
                return False
            self.state = state
        self.finished.set()
        self._on_terminal()
        return True

    def mark_running(self) -> bool:
        with self.lock:
            if self.state is not RequestState.PENDING:
                return False
            self.state = RequestState.RUNNING
            return True

    def deliver_result(self, value: Any, report: Callable[[str, BaseException], None]) -> None:
        with self.lock:
            if self.state.terminal:
                return
            self.state = RequestState.DONE
            self.result = value
            self.finished.set()
            if self.callbacks.on_result is not None:
                _call_safely(report, "on_result", self.callbacks.on_result, self.request_id, value)

    def deliver_error(self, exc: BaseException, report: Callable[[str, BaseException], None]) -> None:
        with self.lock:
            if self.state.terminal:
                return
            self.state = RequestState.FAILED
            self.error = exc
            self.finished.set()
            if self.callbacks.on_error is not None:
                _call_safely(report, "on_error", self.callbacks.on_error, self.request_id, exc)

    def deliver_progress(
        self, done: int, total: int | None, report: Callable[[str, BaseException], None]
    ) -> None:
        self._deliver_while_running(report, "on_progress", self.callbacks.on_progress, done, total)

    def deliver_partial(self, value: Any, report: Callable[[str, BaseException], None]) -> None:
        self._deliver_while_running(report, "on_partial", self.callbacks.on_partial, value)

    def _deliver_while_running(
        self,
        report: Callable[[str, BaseException], None],
        what: str,
        callback: Callable[..., Any] | None,
        *args: Any,
    ) -> None:
        """Call ``callback(request_id, *args)`` only while the request runs: never after a
        cancel or a terminal callback (the lock orders it against both)."""
        with self.lock:
            if self.state is RequestState.RUNNING and callback is not None:
                _call_safely(report, what, callback, self.request_id, *args)


def _call_safely(
    report: Callable[[str, BaseException], None], what: str, fn: Callable[..., Any], *args: Any
) -> None:
    # A broken callback must not take the worker down with it; it is reported, not re-raised.
    try:
        fn(*args)
    except Exception as exc:
        report(what, exc)
