"""The runtime's scheduler: one queue of work, two threads that take from it by priority.

Two runtime threads (*lanes*) share the queue (docs/adr/0003-runtime-threading.md):

- the **interactive** lane runs the short calls a user waits for (clicks, concept queries), so
  they never wait behind an encode;
- the **background** lane runs model loads, encodes (the image on screen first, then
  prefetches) and long jobs one step at a time, re-checking priorities between steps.

What a piece of work is and how it runs is its own business (:mod:`model_runtime.runtime.work`):
the scheduler reads its :class:`~model_runtime.runtime.work.base.WorkSpec` and calls its hooks.

Work that needs an embedding not yet cached parks until the background lane has it (the
scheduler asks for the encode, at "current image" priority, if nobody has); then parked work
runs in the order it was made. A newer request of a superseding kind for the same object
cancels that object's queued ones.

Model swap: work made before a load keeps being served by the old model until the new one is
ready; what is still queued at the swap fails with :class:`ModelChangedError` (running long jobs
too, at their next step). Work made after a load waits for the new model. If loading fails the
old model stays and nothing else is failed.

Faults: an exception in a model call fails that request only. If a runtime thread dies (a
``BaseException`` escapes), the request it was running fails with :class:`WorkerCrashedError`,
the thread is restarted and queued requests are served by it.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

from model_runtime.api import ImageEmbedding, ImageModel, ModelCapabilityError, require_capability
from model_runtime.runtime.model_calls import ModelCalls
from model_runtime.runtime.requests import (
    Callbacks,
    EmbeddingKey,
    ModelChangedError,
    ModelLoaded,
    ModelNotLoadedError,
    Priority,
    RequestHandle,
    RequestState,
    RuntimeClosedError,
    WorkerCrashedError,
    _RequestCore,
)
from model_runtime.runtime.threads import (
    configure_current_thread,
    lower_current_thread_priority,
    make_current_thread_idle,
    plan_threads,
)
from model_runtime.runtime.work.base import Lane, Work, report_callback_error
from model_runtime.runtime.work.encode import EncodeWork
from model_runtime.runtime.work.load import LoadWork

log = logging.getLogger(__name__)

THREAD_NAME_PREFIX = "samdesk-runtime-"

ModelLoader = Callable[[Any, str | None], ImageModel]


def model_calls_running() -> bool:
    """Whether a runtime thread of this process is alive. After every runtime is closed, only
    one that is still inside a model call (an encode cannot be interrupted) is.

    A process must not run its normal exit under such a call: C++ static destructors then run
    under the torch operator in flight and abort the process (SIGABRT, "terminate called without
    an active exception", exit status 134) — after the user's work was saved, but it reads as a
    crash. Entry points check this and leave with ``os._exit`` instead (``samdesk.cli.run``).
    """
    return any(t.name.startswith(THREAD_NAME_PREFIX) and t.is_alive() for t in threading.enumerate())


class LaneThread:
    """One runtime thread: its intra-op thread count (None: planned on the thread), OS priority,
    and the work it runs now."""

    def __init__(
        self, lane: Lane, threads: int | None, nice: int, idle: bool = False, threads_alone: int | None = None
    ):
        self.lane = lane
        self.threads = threads
        self.threads_alone = threads_alone  # while the interactive lane has nothing to do
        self.nice = nice
        self.idle = idle
        self.idle_in_effect = False  # the thread runs under SCHED_IDLE
        self.threads_now = 0  # the count set on the thread now
        self.thread: threading.Thread | None = None
        self.current: Work | None = None
        self.restarts = 0

    def resolve_threads(self) -> int:
        if self.threads is None:
            plan = plan_threads()
            self.threads = plan.interactive if self.lane is Lane.INTERACTIVE else plan.background
        return self.threads

    def resolve_threads_alone(self) -> int:
        """The background lane's count while no click runs: more than :meth:`resolve_threads`
        only under SCHED_IDLE (which gives a click the cores back at once)."""
        if self.threads_alone is None:
            self.threads_alone = max(self.resolve_threads(), plan_threads().background_alone)
        return self.threads_alone if self.idle_in_effect else self.resolve_threads()


class Scheduler:
    """See the module docstring. Thread-safe; ``submit`` returns at once."""

    def __init__(self, calls: ModelCalls, loader: ModelLoader, lanes: list[LaneThread]):
        self.calls = calls
        self.loader = loader
        self._lanes = {lane.lane: lane for lane in lanes}
        self._cv = threading.Condition()
        self._queue: list[Work] = []
        self._ids = itertools.count(1)
        self._seqs = itertools.count(1)
        self._model: ImageModel | None = None
        self._swap_waiting: LaneThread | None = None  # a lane waits for the others to idle
        self._loading_seq: int | None = None  # seq of the load running now, if any
        self._closing = False
        self._fallback_of: ImageModel | None = None  # the model a queued CPU fall-back replaces
        self._model_watchers: list[Callable[[ModelLoaded], None]] = []
        calls.on_device_exhausted = self.fall_back_to_cpu
        for lane in self._lanes.values():
            self._start_lane(lane)

    @property
    def model(self) -> ImageModel | None:
        return self._model

    def thread_counts(self) -> dict[str, int]:
        """Planned intra-op threads of each lane (the background lane's while a click runs)."""
        return {str(name): lane.resolve_threads() for name, lane in self._lanes.items()}

    def background_threads_now(self) -> int:
        """The intra-op threads the background lane set for its current (or last) step."""
        return self._lanes[Lane.BACKGROUND].threads_now

    # --- submission ------------------------------------------------------------------------

    def submit(self, work: Work, callbacks: Callbacks | None) -> RequestHandle:
        """Queue ``work``; a model without the capability its kind requires refuses it here."""
        spec = work.spec
        core = _RequestCore(next(self._ids), spec.name, callbacks or Callbacks(), self._wake)
        with self._cv:
            if self._closing:
                raise RuntimeClosedError("the model runtime has been shut down")
            if spec.requires is not None and self._model is not None and not self._has_load_queued():
                # The model that will serve it is known: refuse now, not when its turn comes.
                require_capability(self._model.info, spec.requires, spec.purpose)
            work.core = core
            work.seq = next(self._seqs)
            if work.priority is None:
                work.priority = spec.priority
            superseded = [
                w for w in self._queue
                if spec.supersedes and w.spec.name == spec.name and w.object_key == work.object_key
            ]
            for w in superseded:
                self._queue.remove(w)
            self._queue.append(work)
            target = work.embedding_target
            model = self._model
            if (
                target is not None
                and model is not None
                and not self._has_load_queued()
                and EmbeddingKey(*target, model.info.model_id) not in self.calls.memory_cache
            ):
                # Decided now, not when the interactive thread next looks: the background
                # thread may pick its next encode before that.
                self._request_encode_for(work)
            self._revive_dead_lanes()
            self._cv.notify_all()
        for w in superseded:
            w.core.cancel(RequestState.SUPERSEDED)
        return RequestHandle(core)

    def close(self, timeout: float | None) -> bool:
        """Stop the threads; queued work is cancelled without callbacks and discarded. True
        when every runtime thread has stopped within ``timeout``."""
        with self._cv:
            self._closing = True
            dropped = list(self._queue)
            self._queue.clear()
            self._cv.notify_all()
        for work in dropped:
            work.core.cancel()
        for lane in self._lanes.values():
            thread = lane.thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)
        self._discard(dropped)
        return not any(lane.thread is not None and lane.thread.is_alive() for lane in self._lanes.values())

    def _has_load_queued(self) -> bool:
        return self._first_load_seq() is not None

    def _first_load_seq(self) -> int | None:
        """Seq of the earliest load queued or running: requests made after it wait for it."""
        queued = [w.seq for w in self._queue if w.spec.swaps_model]
        if self._loading_seq is not None:
            queued.append(self._loading_seq)
        return min(queued, default=None)

    def _wake(self) -> None:
        with self._cv:
            self._cv.notify_all()

    def watch_models(self, watcher: Callable[[ModelLoaded], None]) -> None:
        """``watcher(ModelLoaded)`` on a runtime thread for each model the runtime loads by itself."""
        with self._cv:
            self._model_watchers.append(watcher)

    # --- what work calls back -----------------------------------------------------------------

    def fall_back_to_cpu(self, model: ImageModel, reason: str) -> bool:
        """``model`` ran out of device memory twice: queue a load of its checkpoint on the CPU
        (ahead of everything but other loads; work made before it fails with
        ``ModelChangedError`` as after any swap). True when such a load is queued now or was
        already; False when none can be: the model has no checkpoint file, is no longer current,
        or another load is queued anyway."""
        info = model.info
        with self._cv:
            if self._fallback_of is model:
                return True
            if self._closing or not info.source or self._model is not model or self._has_load_queued():
                return False
            load = LoadWork(
                source=info.source, device="cpu", priority=Priority.CONTROL,
                note=f"{reason}: {info.display_name} now runs on the CPU",
            )
            load.core = _RequestCore(
                next(self._ids), load.spec.name,
                Callbacks(on_result=self._announce_model, on_error=self._fallback_failed), self._wake,
            )
            load.seq = next(self._seqs)
            self._fallback_of = model
            self._queue.append(load)
            self._cv.notify_all()
        log.warning("%s; loading %s on the CPU", reason, info.display_name)
        return True

    @staticmethod
    def _fallback_failed(request_id: int, error: BaseException) -> None:
        log.error("loading the model on the CPU after running out of device memory failed: %s", error)

    def _announce_model(self, request_id: int, loaded: ModelLoaded) -> None:
        with self._cv:
            watchers = list(self._model_watchers)
        for watcher in watchers:
            try:
                watcher(loaded)
            except Exception as exc:
                report_callback_error("model watcher", exc)

    def adopt_model(self, model: ImageModel, load: Work) -> None:
        """Make ``model`` current (called by the load that built it); fail the work made before
        ``load`` and still queued: it was meant for the old model."""
        with self._cv:
            old = self._model
            self._model = model
            self._loading_seq = None
            stale = [
                w for w in self._queue if w.seq < load.seq and not w.spec.swaps_model and w.spec.needs_model
            ]
            for w in stale:
                self._queue.remove(w)
            self._cv.notify_all()
        # The memory cache holds tensors on the model's device: the same model on another
        # device must not be handed them (the disk cache is read onto the new device).
        if old is not None and _placement(old) != _placement(model):
            self.calls.memory_cache.discard_model(old.info.model_id)
        del old
        self._discard(stale)
        error = ModelChangedError(
            f"the model was changed to {model.info.display_name} before this request ran"
        )
        for w in stale:
            w.core.deliver_error(error, report_callback_error)

    def load_ended(self) -> None:
        """A load finished, failed or died: work waiting for it may go on."""
        with self._cv:
            self._loading_seq = None
            self._fallback_of = None
            self._cv.notify_all()

    def encode_finished(self, target: tuple[str, int], embedding: ImageEmbedding) -> None:
        """Pin ``embedding`` into the work parked on it: an LRU eviction cannot strand it."""
        with self._cv:
            for w in self._queue:
                if w.embedding_target == target:
                    w.embedding = embedding  # type: ignore[attr-defined]
            self._cv.notify_all()

    def encode_failed(self, target: tuple[str, int]) -> list[Work]:
        """The encode of ``target`` failed or died: the work parked on it, removed from the queue
        (it fails with the same error)."""
        with self._cv:
            parked = [
                w for w in self._queue
                if w.embedding_target == target and getattr(w, "embedding", None) is None
            ]
            for w in parked:
                self._queue.remove(w)
            self._cv.notify_all()
        return parked

    def has_parked(self, target: tuple[str, int]) -> bool:
        """Whether live work waits for the embedding of ``target`` (call under the lock)."""
        return any(w.embedding_target == target and not w.core.state.terminal for w in self._queue)

    def new_internal_core(self, kind: str) -> _RequestCore:
        """A request nobody outside holds (an encode the scheduler asked for itself)."""
        return _RequestCore(next(self._ids), kind, Callbacks(), self._wake)

    def interactive_waiting(self) -> bool:
        """Whether a user request waits for the interactive lane."""
        with self._cv:
            return any(w.spec.lane is Lane.INTERACTIVE and not w.core.state.terminal for w in self._queue)

    # --- lanes -----------------------------------------------------------------------------

    def _start_lane(self, lane: LaneThread) -> None:
        thread = threading.Thread(
            target=self._lane_main, args=(lane,), name=f"{THREAD_NAME_PREFIX}{lane.lane}", daemon=True
        )
        lane.thread = thread
        thread.start()

    def _revive_dead_lanes(self) -> None:
        # Called under the lock: a lane that died without reaching its crash handler is restarted.
        for lane in self._lanes.values():
            if lane.thread is not None and not lane.thread.is_alive() and not self._closing:
                log.error("runtime thread %s found dead; restarting it", lane.lane)
                lane.current = None
                lane.restarts += 1
                self._start_lane(lane)

    def _lane_main(self, lane: LaneThread) -> None:
        # Priority first: OpenMP worker threads, created at the first parallel operator,
        # inherit the creating thread's nice value and scheduling policy.
        if lane.nice:
            lower_current_thread_priority(lane.nice)
        if lane.idle:
            lane.idle_in_effect = make_current_thread_idle()
        lane.threads_now = lane.resolve_threads()
        configure_current_thread(lane.threads_now)
        try:
            self._lane_loop(lane)
        except BaseException as exc:  # the thread is dying: fail its request, then replace it
            self._handle_lane_crash(lane, exc)

    def _handle_lane_crash(self, lane: LaneThread, exc: BaseException) -> None:
        log.error("runtime thread %s died: %r; restarting it", lane.lane, exc)
        error = WorkerCrashedError(f"the {lane.lane} runtime thread died while running this request: {exc!r}")
        error.__cause__ = exc
        failed: list[Work] = []
        work = lane.current
        if work is not None:
            # Work parked on what it made would only re-trigger the same crash.
            failed = [work, *work.fails_with_it(self)]
        with self._cv:
            lane.current = None
            if not self._closing:
                lane.restarts += 1
                self._start_lane(lane)
            self._cv.notify_all()
        for w in failed:
            w.core.deliver_error(error, report_callback_error)

    def _lane_loop(self, lane: LaneThread) -> None:
        while True:
            failures: list[tuple[Work, BaseException]] = []
            dropped: list[Work] = []
            with self._cv:
                while True:
                    if self._closing:
                        return
                    work = self._next(lane, failures, dropped)
                    if work is not None or failures or dropped:
                        break
                    self._cv.wait()
                lane.current = work
            self._discard(dropped)
            for failed, exc in failures:
                failed.core.deliver_error(exc, report_callback_error)
            if work is None:
                continue
            if lane.lane is Lane.BACKGROUND:
                self._fit_threads(lane)
            again = work.run(self)
            # Not in a ``finally``: if the thread is dying, its crash handler needs ``current``.
            with self._cv:
                lane.current = None
                if again and not self._closing:
                    self._queue.append(work)  # same seq: it keeps its place in its lane
                    again = False
                self._cv.notify_all()
            if again:  # closing: it will not run its next step
                self._discard([work])

    def _fit_threads(self, lane: LaneThread) -> None:
        """Before each background step: every core while the interactive lane has nothing to do,
        the planned share while a click runs or waits (on the background thread itself)."""
        interactive = self._lanes.get(Lane.INTERACTIVE)
        clicking = (interactive is not None and interactive.current is not None) or self.interactive_waiting()
        wanted = lane.resolve_threads() if clicking else lane.resolve_threads_alone()
        if wanted != lane.threads_now:
            configure_current_thread(wanted)
            lane.threads_now = wanted

    def _next(
        self, lane: LaneThread, failures: list[tuple[Work, BaseException]], dropped: list[Work]
    ) -> Work | None:
        """The next work ``lane`` should run, taken off the queue (under the lock). Fills
        ``failures`` with work that cannot run and ``dropped`` with work cancelled while queued."""
        if self._swap_waiting is lane:
            self._swap_waiting = None  # looked at again below
        if self._swap_waiting is not None:
            return None  # a model swap waits for this lane to go idle
        load_seq = self._first_load_seq()
        for work in sorted((w for w in self._queue if w.spec.lane is lane.lane), key=lambda w: w.order):
            if work.core.state.terminal and not work.still_needed(self):
                self._queue.remove(work)
                dropped.append(work)
                continue
            if work.spec.swaps_model:
                if any(other.current is not None for other in self._lanes.values() if other is not lane):
                    self._swap_waiting = lane  # stops the other lanes taking more
                    return None
                self._queue.remove(work)
                self._loading_seq = work.seq
                return work
            if not work.spec.needs_model:
                self._queue.remove(work)
                return work  # ``work.model`` stays None
            if load_seq is not None and work.seq > load_seq:
                continue  # made for the model being loaded
            model = self._model
            if model is None:
                self._queue.remove(work)
                failures.append((work, ModelNotLoadedError("no model is loaded")))
                continue
            refused = _capability_error(work, model)
            if refused is not None:  # asked while another model was being loaded
                self._queue.remove(work)
                failures.append((work, refused))
                continue
            target = work.embedding_target
            if target is not None:
                embedding = getattr(work, "embedding", None) or self.calls.memory_cache.get(
                    EmbeddingKey(*target, model.info.model_id)
                )
                if embedding is None:
                    self._request_encode_for(work)
                    continue  # parked
                work.embedding = embedding  # type: ignore[attr-defined]
            self._queue.remove(work)
            work.model = model
            return work
        return None

    def _request_encode_for(self, work: Work) -> None:
        """Make sure an encode of the parked work's image is queued or running, at "current
        image" priority (under the lock)."""
        target = work.embedding_target
        assert target is not None
        running = (lane.current for lane in self._lanes.values())
        if any(isinstance(work, EncodeWork) and work.target == target for work in running):
            return
        for other in self._queue:
            if isinstance(other, EncodeWork) and other.target == target and not other.core.state.terminal:
                other.promote(Priority.CURRENT, getattr(work, "image_provider", None))
                return
        encode = EncodeWork(
            media_key=target[0],
            frame=target[1],
            image_provider=getattr(work, "image_provider", None),
            priority=Priority.CURRENT,
        )
        encode.core = self.new_internal_core(encode.spec.name)
        encode.seq = work.seq  # runs as if asked together with the click
        self._queue.append(encode)
        self._cv.notify_all()

    @staticmethod
    def _discard(works: list[Work]) -> None:
        for work in works:
            try:
                work.discard()
            except Exception:
                log.exception("releasing %s request %d failed", work.spec.name, work.core.request_id)


def _placement(model: ImageModel) -> tuple[str, str]:
    """What an embedding in the memory cache belongs to: the model, and the device of its tensors."""
    return (model.info.model_id, str(model.info.device))


def _capability_error(work: Work, model: ImageModel) -> ModelCapabilityError | None:
    spec = work.spec
    if spec.requires is None:
        return None
    try:
        require_capability(model.info, spec.requires, spec.purpose)
    except ModelCapabilityError as exc:
        return exc
    return None

