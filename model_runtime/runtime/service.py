"""The runtime service: owns the loaded model and runs every model call off the caller's thread.

Two runtime threads share one scheduler (docs/adr/0003-runtime-threading.md):

- the **interactive** thread runs predicts only, so a click never waits behind an encode;
- the **background** thread runs model loads, encodes (the image on screen first, then
  prefetches) and long jobs one step at a time, re-checking priorities between steps.

A predict whose embedding is not cached parks until the background thread has it (it asks for
the encode, at "current image" priority, if nobody has), then parked predicts run in the order
they were made. A new predict for an object supersedes that object's queued predicts.

Model swap: requests made before a ``load_model`` keep being served by the old model until the
new one is ready; those still queued at the swap fail with :class:`ModelChangedError` (running
long jobs too, at their next step). Requests made after ``load_model`` wait for the new model.
If loading fails the old model stays and nothing else is failed.

Faults: an exception in a model call fails that request only. If a runtime thread dies
(a ``BaseException`` escapes), the request it was running fails with
:class:`WorkerCrashedError`, the thread is restarted and queued requests are served by it.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from model_runtime.api import (
    CandidateMasks,
    Capability,
    ImageEmbedding,
    ImageModel,
    ModelCapabilityError,
    ModelInfo,
    Prediction,
    PromptError,
    Prompts,
    require_capability,
    validate_image,
)
from model_runtime.runtime.cache import (
    DEFAULT_DISK_BYTES,
    DEFAULT_MEMORY_BYTES,
    DiskEmbeddingCache,
    MemoryEmbeddingCache,
)
from model_runtime.runtime.requests import (
    Callbacks,
    EmbeddingKey,
    EmbeddingUnavailableError,
    EncodeResult,
    LoadResult,
    MediaReadError,
    ModelChangedError,
    ModelNotLoadedError,
    ModelOutOfMemoryError,
    PredictResult,
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

log = logging.getLogger(__name__)

THREAD_NAME_PREFIX = "samdesk-runtime-"


def model_calls_running() -> bool:
    """Whether a runtime thread of this process is alive. After every runtime is closed, only
    one that is still inside a model call (an encode cannot be interrupted) is.

    A process must not run its normal exit under such a call: C++ static destructors then run
    under the torch operator in flight and abort the process (SIGABRT, "terminate called without
    an active exception", exit status 134) — after the user's work was saved, but it reads as a
    crash. Entry points check this and leave with ``os._exit`` instead (``samdesk.cli.run``).
    """
    return any(t.name.startswith(THREAD_NAME_PREFIX) and t.is_alive() for t in threading.enumerate())


ImageProvider = Callable[[], np.ndarray]
ModelLoader = Callable[[Any, str | None], ImageModel]
JobSteps = Generator[Any, None, Any]
JobFactory = Callable[["JobContext"], JobSteps]


@dataclass(frozen=True)
class Job:
    """A long job for :meth:`Runtime.run_job`: ``steps(ctx)`` makes its generator; ``requires``
    names the capability the model needs (``purpose`` says what for, in the refusal).

    ``needs_model=False``: the job never touches the model (it reads or writes files: opening
    media, importing or exporting a dataset). It runs with no model loaded (``ctx.model`` is
    None) and a model swap does not stop it; it still runs on the background thread, one step
    at a time, behind model loads and the encode of the image on screen.
    """

    steps: JobFactory
    name: str = "job"
    priority: Priority = Priority.BACKGROUND
    requires: str | None = None
    purpose: str = ""
    needs_model: bool = True


INTERACTIVE_LANE = "interactive"
BACKGROUND_LANE = "background"


@dataclass
class RuntimeConfig:
    """``None`` thread counts mean :func:`~model_runtime.runtime.threads.plan_threads`.
    ``disk_cache_dir`` ``None`` means the user cache dir; ``disk_cache=False`` disables it."""

    memory_cache_bytes: int = DEFAULT_MEMORY_BYTES
    disk_cache: bool = True
    disk_cache_dir: str | os.PathLike[str] | None = None
    disk_cache_bytes: int = DEFAULT_DISK_BYTES
    interactive_threads: int | None = None
    background_threads: int | None = None
    background_nice: int = 10
    # Linux: run the background thread under SCHED_IDLE (see threads.make_current_thread_idle);
    # right for an interactive app, wrong for a batch run that should keep its share of the CPU.
    background_idle: bool = True
    interactive_nice: int = 0
    cuda_bf16: bool = True  # bf16 autocast for model calls on CUDA devices that support it


# --- work items --------------------------------------------------------------------------------


@dataclass(eq=False)
class _Work:
    core: _RequestCore
    priority: Priority
    seq: int
    lane: str
    requires: tuple[str, str] | None = field(default=None, kw_only=True)  # (capability, what for)

    @property
    def order(self) -> tuple[int, int]:
        return (int(self.priority), self.seq)


@dataclass(eq=False)
class _LoadWork(_Work):
    source: Any = None
    device: str | None = None


@dataclass(eq=False)
class _EncodeWork(_Work):
    media_key: str = ""
    frame: int = 0
    image_provider: ImageProvider | None = None
    model: ImageModel | None = None


@dataclass(eq=False)
class _PredictWork(_Work):
    object_key: Any = None
    media_key: str = ""
    frame: int = 0
    prompts: Prompts = field(default_factory=Prompts)
    multimask: bool = True
    image_provider: ImageProvider | None = None
    embedding: ImageEmbedding | None = None  # pinned once its encode finishes
    model: ImageModel | None = None


@dataclass(eq=False)
class _JobWork(_Work):
    factory: JobFactory | None = None
    steps: JobSteps | None = None
    context: JobContext | None = None
    name: str = "job"
    needs_model: bool = True


class _Lane:
    def __init__(self, name: str, threads: int | None, nice: int, idle: bool = False):
        self.name = name
        self.threads = threads
        self.nice = nice
        self.idle = idle
        self.thread: threading.Thread | None = None
        self.current: _Work | None = None
        self.restarts = 0


class JobContext:
    """What a long job's steps may use. Steps run on the background thread; between two steps
    the runtime serves more urgent work and checks cancellation, so keep each step short
    (one frame, one image)."""

    def __init__(self, runtime: Runtime, model: ImageModel | None, core: _RequestCore):
        self._runtime = runtime
        self._model = model
        self._core = core

    @property
    def model(self) -> ImageModel:
        if self._model is None:
            raise ModelNotLoadedError("this job was started as one that needs no model")
        return self._model

    @property
    def model_id(self) -> str:
        return self.model.info.model_id

    @property
    def cancelled(self) -> bool:
        return self._core.state.terminal

    def embedding(self, media_key: str, frame: int, image_provider: ImageProvider | None) -> ImageEmbedding:
        """The cached embedding, or encode it now (and cache it)."""
        return self.embedding_with_source(media_key, frame, image_provider)[0]

    def embedding_with_source(
        self, media_key: str, frame: int, image_provider: ImageProvider | None
    ) -> tuple[ImageEmbedding, str]:
        """Like :meth:`embedding`; also says "memory", "disk" or "computed"."""
        return self._runtime._obtain_embedding(self.model, media_key, frame, image_provider)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a model function the way the runtime does (no grad, autocast, clear OOM errors)."""
        return self._runtime._model_call(self.model, "a job step", fn, *args, **kwargs)


# --- the service -------------------------------------------------------------------------------


class Runtime:
    """See the module docstring. Thread-safe; every public method returns at once.

    ``loader(source, device) -> ImageModel`` builds models (default: ``model_runtime.load_model``).
    """

    def __init__(
        self,
        config: RuntimeConfig | None = None,
        loader: ModelLoader | None = None,
    ):
        self.config = config or RuntimeConfig()
        self._loader = loader or _default_loader
        self.memory_cache = MemoryEmbeddingCache(self.config.memory_cache_bytes)
        self.disk_cache: DiskEmbeddingCache | None = (
            DiskEmbeddingCache(
                Path(self.config.disk_cache_dir) if self.config.disk_cache_dir is not None else None,
                self.config.disk_cache_bytes,
            )
            if self.config.disk_cache
            else None
        )
        # Thread counts left unset are planned on the runtime threads themselves: the plan
        # needs torch, whose import must not happen on the caller's (GUI) thread.
        self._lanes = {
            INTERACTIVE_LANE: _Lane(
                INTERACTIVE_LANE, self.config.interactive_threads, self.config.interactive_nice
            ),
            BACKGROUND_LANE: _Lane(
                BACKGROUND_LANE,
                self.config.background_threads,
                self.config.background_nice,
                idle=self.config.background_idle,
            ),
        }
        self._cv = threading.Condition()
        self._queue: list[_Work] = []
        self._ids = itertools.count(1)
        self._seqs = itertools.count(1)
        self._model: ImageModel | None = None
        self._running_encodes: set[tuple[str, int]] = set()
        self._load_waiting = False  # the background thread waits for the interactive one to idle
        self._loading_seq: int | None = None  # seq of the load running now, if any
        self._closing = False
        for lane in self._lanes.values():
            self._start_lane(lane)

    # --- public API ------------------------------------------------------------------------

    @property
    def model_info(self) -> ModelInfo | None:
        model = self._model
        return model.info if model is not None else None

    def thread_counts(self) -> dict[str, int]:
        """Intra-op threads of each runtime thread (plans them here if not yet done)."""
        return {name: self._resolve_threads(lane) for name, lane in self._lanes.items()}

    @staticmethod
    def _resolve_threads(lane: _Lane) -> int:
        if lane.threads is None:
            plan = plan_threads()
            lane.threads = plan.interactive if lane.name == INTERACTIVE_LANE else plan.background
        return lane.threads

    def load_model(
        self,
        source: str | os.PathLike[str] | ImageModel,
        device: str | None = None,
        callbacks: Callbacks | None = None,
    ) -> RequestHandle:
        """Load a checkpoint (or adopt an already built ``ImageModel``) and make it current.
        The result is a :class:`LoadResult`."""
        return self._submit(
            lambda core, seq: _LoadWork(
                core, Priority.CONTROL, seq, BACKGROUND_LANE, source=source, device=device
            ),
            "load",
            callbacks,
        )

    def encode(
        self,
        media_key: str,
        frame: int,
        image_provider: ImageProvider | None,
        *,
        prefetch: bool = False,
        callbacks: Callbacks | None = None,
    ) -> RequestHandle:
        """Make sure the embedding of ``media_key``/``frame`` is cached (memory, then disk, then
        computed). ``image_provider()`` returns the RGB uint8 image and is called on the
        background thread only when the embedding must be computed. ``prefetch`` puts it behind
        the image on screen. The result is an :class:`EncodeResult`."""
        priority = Priority.BACKGROUND if prefetch else Priority.CURRENT
        return self._submit(
            lambda core, seq: _EncodeWork(
                core,
                priority,
                seq,
                BACKGROUND_LANE,
                media_key=media_key,
                frame=frame,
                image_provider=image_provider,
            ),
            "encode",
            callbacks,
        )

    def predict(
        self,
        object_key: Any,
        media_key: str,
        frame: int,
        prompts: Prompts,
        *,
        multimask: bool = True,
        image_provider: ImageProvider | None = None,
        callbacks: Callbacks | None = None,
    ) -> RequestHandle:
        """Masks for ``object_key`` from click prompts (points, box, mask_input) in
        original-image pixels. Supersedes this object's queued predicts. Prompts without a click
        raise ``PromptError`` here, at once; a model without the ``click`` capability raises
        :class:`ModelCapabilityError` at once. ``image_provider`` lets the runtime encode the
        image if nobody asked for it yet. The result is a :class:`PredictResult`."""
        if not isinstance(prompts, Prompts):
            raise PromptError(f"prompts must be a Prompts value, got {type(prompts).__name__}")
        if not prompts.has_click:
            raise PromptError("no prompt: give points, a box or a mask_input")
        return self._submit(
            lambda core, seq: _PredictWork(
                core,
                Priority.INTERACTIVE,
                seq,
                INTERACTIVE_LANE,
                object_key=object_key,
                media_key=media_key,
                frame=frame,
                prompts=prompts,
                multimask=multimask,
                image_provider=image_provider,
            ),
            "predict",
            callbacks,
            requires=(Capability.CLICK, "answer a click"),
        )

    def run_job(
        self,
        job: Job | JobFactory,
        *,
        name: str | None = None,
        priority: Priority | None = None,
        callbacks: Callbacks | None = None,
    ) -> RequestHandle:
        """Run a long job (a :class:`Job`, or a bare ``job(ctx)`` function): ``job(ctx)``
        returns a generator; each ``next()`` is one step and yields ``(done, total)`` (total may
        be None) for ``on_progress``, or ``(done, total, partial)`` to hand ``partial`` to
        ``on_partial`` as well; its return value is the result. Between steps the background
        thread serves more urgent work (by ``priority``, default the job's own: a query the user
        waits for is ``Priority.CURRENT``, ahead of prefetches) and checks cancellation (a
        cancelled job's generator is closed, so ``finally`` blocks run). A job that
        ``requires`` a capability the model lacks is refused at once with
        :class:`ModelCapabilityError`."""
        if not isinstance(job, Job):
            job = Job(job)
        name = job.name if name is None else name
        priority = job.priority if priority is None else priority
        if priority is Priority.CONTROL:
            raise ValueError("Priority.CONTROL is for model loads only")
        requires = None if job.requires is None else (job.requires, job.purpose)
        return self._submit(
            lambda core, seq: _JobWork(
                core, priority, seq, BACKGROUND_LANE,
                factory=job.steps, name=name, needs_model=job.needs_model,
            ),
            "job",
            callbacks,
            requires=requires,
        )

    def close(self, timeout: float | None = 10.0) -> bool:
        """Stop the threads; queued requests are cancelled without callbacks. Waits up to
        ``timeout`` seconds (None: for ever) for a running model call, which cannot be
        interrupted. True when every runtime thread has stopped (see :func:`model_calls_running`);
        calling it again waits again."""
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
        for work in dropped:
            if isinstance(work, _JobWork) and work.steps is not None:
                work.steps.close()
        return self._stopped()

    def _stopped(self) -> bool:
        return not any(lane.thread is not None and lane.thread.is_alive() for lane in self._lanes.values())

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- submission ------------------------------------------------------------------------

    def _submit(
        self,
        make: Callable[[_RequestCore, int], _Work],
        kind: str,
        callbacks: Callbacks | None,
        requires: tuple[str, str] | None = None,
    ) -> RequestHandle:
        core = _RequestCore(next(self._ids), kind, callbacks or Callbacks(), self._wake)
        superseded: list[_Work] = []
        with self._cv:
            if self._closing:
                raise RuntimeClosedError("the model runtime has been shut down")
            if requires is not None and self._model is not None and not self._has_load_queued():
                # The model that will serve it is known: refuse now, not when its turn comes.
                require_capability(self._model.info, *requires)
            work = make(core, next(self._seqs))
            work.requires = requires
            if isinstance(work, _PredictWork):
                superseded = [
                    w for w in self._queue if isinstance(w, _PredictWork) and w.object_key == work.object_key
                ]
                for w in superseded:
                    self._queue.remove(w)
            self._queue.append(work)
            if isinstance(work, _PredictWork) and self._model is not None and not self._has_load_queued():
                key = EmbeddingKey(work.media_key, work.frame, self._model.info.model_id)
                if key not in self.memory_cache:
                    # Decided now, not when the interactive thread next looks: the background
                    # thread may pick its next encode before that.
                    self._request_encode_for(work)
            self._revive_dead_lanes()
            self._cv.notify_all()
        for w in superseded:
            w.core.cancel(RequestState.SUPERSEDED)
        return RequestHandle(core)

    def _has_load_queued(self) -> bool:
        return self._first_load_seq() is not None

    def _first_load_seq(self) -> int | None:
        """Seq of the earliest load queued or running: requests made after it wait for it."""
        queued = [w.seq for w in self._queue if isinstance(w, _LoadWork)]
        if self._loading_seq is not None:
            queued.append(self._loading_seq)
        return min(queued, default=None)

    def _wake(self) -> None:
        with self._cv:
            self._cv.notify_all()

    # --- lanes -----------------------------------------------------------------------------

    def _start_lane(self, lane: _Lane) -> None:
        thread = threading.Thread(
            target=self._lane_main, args=(lane,), name=f"{THREAD_NAME_PREFIX}{lane.name}", daemon=True
        )
        lane.thread = thread
        thread.start()

    def _revive_dead_lanes(self) -> None:
        # Called under the lock: a lane that died without reaching its crash handler is restarted.
        for lane in self._lanes.values():
            if lane.thread is not None and not lane.thread.is_alive() and not self._closing:
                log.error("runtime thread %s found dead; restarting it", lane.name)
                lane.current = None
                lane.restarts += 1
                self._start_lane(lane)

    def _lane_main(self, lane: _Lane) -> None:
        # Priority first: OpenMP worker threads, created at the first parallel operator,
        # inherit the creating thread's nice value and scheduling policy.
        if lane.nice:
            lower_current_thread_priority(lane.nice)
        if lane.idle:
            make_current_thread_idle()
        configure_current_thread(self._resolve_threads(lane))
        try:
            if lane.name == INTERACTIVE_LANE:
                self._interactive_loop(lane)
            else:
                self._background_loop(lane)
        except BaseException as exc:  # the thread is dying: fail its request, then replace it
            self._handle_lane_crash(lane, exc)

    def _handle_lane_crash(self, lane: _Lane, exc: BaseException) -> None:
        log.error("runtime thread %s died: %r; restarting it", lane.name, exc)
        error = WorkerCrashedError(f"the {lane.name} runtime thread died while running this request: {exc!r}")
        error.__cause__ = exc
        failed: list[_Work] = []
        with self._cv:
            work = lane.current
            lane.current = None
            if work is not None:
                failed.append(work)
                if isinstance(work, _EncodeWork):
                    # Predicts waiting for this image would only re-trigger the same crash.
                    self._running_encodes.discard((work.media_key, work.frame))
                    failed += self._take_parked(work.media_key, work.frame)
            if not self._closing:
                lane.restarts += 1
                self._start_lane(lane)
            self._cv.notify_all()
        for w in failed:
            w.core.deliver_error(error, self._report_callback_error)

    # --- interactive thread ----------------------------------------------------------------

    def _interactive_loop(self, lane: _Lane) -> None:
        while True:
            failures: list[tuple[_Work, BaseException]] = []
            with self._cv:
                while True:
                    if self._closing:
                        return
                    work = self._next_interactive(failures)
                    if work is not None or failures:
                        break
                    self._cv.wait()
                lane.current = work
            self._fail_all(failures)
            if work is None:
                continue
            self._run_predict(work)
            # Not in a ``finally``: if the thread is dying, its crash handler needs ``current``.
            with self._cv:
                lane.current = None
                self._cv.notify_all()

    def _next_interactive(self, failures: list[tuple[_Work, BaseException]]) -> _PredictWork | None:
        if self._load_waiting:
            return None
        load_seq = self._first_load_seq()
        for work in sorted((w for w in self._queue if w.lane == INTERACTIVE_LANE), key=lambda w: w.order):
            assert isinstance(work, _PredictWork)
            if work.core.state.terminal:
                self._queue.remove(work)
                continue
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
            embedding = work.embedding or self.memory_cache.get(
                EmbeddingKey(work.media_key, work.frame, model.info.model_id)
            )
            if embedding is not None:
                self._queue.remove(work)
                work.embedding = embedding
                work.model = model
                return work
            self._request_encode_for(work)
        return None

    def _request_encode_for(self, work: _PredictWork) -> None:
        """Make sure an encode of the parked predict's image is queued or running, at
        "current image" priority."""
        target = (work.media_key, work.frame)
        if target in self._running_encodes:
            return
        for other in self._queue:
            if (
                isinstance(other, _EncodeWork)
                and (other.media_key, other.frame) == target
                and not other.core.state.terminal
            ):
                if other.priority > Priority.CURRENT:
                    other.priority = Priority.CURRENT
                if other.image_provider is None and work.image_provider is not None:
                    other.image_provider = work.image_provider
                return
        core = _RequestCore(next(self._ids), "encode", Callbacks(), self._wake)
        self._queue.append(
            _EncodeWork(
                core,
                Priority.CURRENT,
                work.seq,  # runs as if asked together with the click
                BACKGROUND_LANE,
                media_key=work.media_key,
                frame=work.frame,
                image_provider=work.image_provider,
            )
        )
        self._cv.notify_all()

    def _run_predict(self, work: _PredictWork) -> None:
        if not work.core.mark_running():
            return
        model, embedding = work.model, work.embedding
        assert model is not None and embedding is not None
        start = time.perf_counter()
        try:
            prediction = self._model_call(
                model, "predicting", model.predict, embedding,
                **work.prompts.click_arrays(), multimask=work.multimask,
            )
        except Exception as exc:
            work.core.deliver_error(exc, self._report_callback_error)
            return
        result = PredictResult(
            object_key=work.object_key,
            key=EmbeddingKey(work.media_key, work.frame, model.info.model_id),
            prediction=prediction,
            seconds=time.perf_counter() - start,
        )
        work.core.deliver_result(result, self._report_callback_error)
        self._make_remaining_candidates(prediction)

    def _make_remaining_candidates(self, prediction: Prediction) -> None:
        """Make the candidate masks the answer left for later (see ``CandidateMasks``) while the
        user looks at the best one, so that switching candidates never waits on the GUI thread.
        A newer click waiting comes first: its answer supersedes these anyway, and a mask not
        made here is made when read."""
        masks = getattr(prediction, "masks", None)
        if not isinstance(masks, CandidateMasks):
            return
        try:
            masks.make_all(stop=self._interactive_waiting)
        except Exception:  # raised again, to whoever reads that mask, when it is read
            log.warning("could not make the remaining candidate masks", exc_info=True)

    def _interactive_waiting(self) -> bool:
        with self._cv:
            return any(w.lane == INTERACTIVE_LANE and not w.core.state.terminal for w in self._queue)

    # --- background thread -----------------------------------------------------------------

    def _background_loop(self, lane: _Lane) -> None:
        while True:
            failures: list[tuple[_Work, BaseException]] = []
            to_close: list[JobSteps] = []
            with self._cv:
                while True:
                    if self._closing:
                        return
                    work = self._next_background(failures, to_close)
                    if work is not None or failures or to_close:
                        break
                    self._cv.wait()
                lane.current = work
            for steps in to_close:
                steps.close()
            self._fail_all(failures)
            if work is None:
                continue
            if isinstance(work, _LoadWork):
                try:
                    self._run_load(work)
                finally:  # also if the thread dies: requests waiting for this load must not hang
                    with self._cv:
                        self._loading_seq = None
                        self._cv.notify_all()
            elif isinstance(work, _EncodeWork):
                self._run_encode(work)
            elif isinstance(work, _JobWork):
                self._run_job_step(work)
            with self._cv:  # see _interactive_loop: deliberately not a ``finally``
                lane.current = None
                self._load_waiting = False
                self._cv.notify_all()

    def _next_background(
        self, failures: list[tuple[_Work, BaseException]], to_close: list[JobSteps]
    ) -> _Work | None:
        self._load_waiting = False
        for work in sorted((w for w in self._queue if w.lane == BACKGROUND_LANE), key=lambda w: w.order):
            if work.core.state.terminal:
                if isinstance(work, _EncodeWork) and self._has_parked(work.media_key, work.frame):
                    # The caller gave up on this encode but queued clicks still need it.
                    work.core = _RequestCore(next(self._ids), "encode", Callbacks(), self._wake)
                else:
                    self._queue.remove(work)
                    if isinstance(work, _JobWork) and work.steps is not None:
                        to_close.append(work.steps)
                    continue
            if isinstance(work, _LoadWork):
                if self._lanes[INTERACTIVE_LANE].current is not None:
                    self._load_waiting = True  # stops the interactive thread taking more
                    return None
                self._queue.remove(work)
                self._loading_seq = work.seq
                return work
            if self._model is None and not _model_free(work):
                self._queue.remove(work)
                failures.append((work, ModelNotLoadedError("no model is loaded")))
                if isinstance(work, _EncodeWork):
                    failures += [(w, failures[-1][1]) for w in self._take_parked(work.media_key, work.frame)]
                continue
            refused = None if self._model is None else _capability_error(work, self._model)
            if refused is not None:  # asked while another model was being loaded
                self._queue.remove(work)
                failures.append((work, refused))
                continue
            self._queue.remove(work)
            if isinstance(work, _EncodeWork):
                work.model = self._model
                self._running_encodes.add((work.media_key, work.frame))
            return work
        return None

    def _run_load(self, work: _LoadWork) -> None:
        if not work.core.mark_running():
            return
        start = time.perf_counter()
        source = work.source
        try:
            model = source if _is_model(source) else self._loader(source, work.device)
        except Exception as exc:
            work.core.deliver_error(exc, self._report_callback_error)
            return
        with self._cv:
            old = self._model
            self._model = model
            self._loading_seq = None
            stale = [
                w
                for w in self._queue
                if w.seq < work.seq and not isinstance(w, _LoadWork) and not _model_free(w)
            ]
            for w in stale:
                self._queue.remove(w)
            self._cv.notify_all()
        if old is not None and old.info.model_id != model.info.model_id:
            self.memory_cache.discard_model(old.info.model_id)
        del old
        error = ModelChangedError(
            f"the model was changed to {model.info.display_name} before this request ran"
        )
        for w in stale:
            if isinstance(w, _JobWork) and w.steps is not None:
                w.steps.close()
            w.core.deliver_error(error, self._report_callback_error)
        info = model.info
        work.core.deliver_result(
            LoadResult(
                info.model_id, info.display_name, info.device, time.perf_counter() - start,
                frozenset(info.capabilities),
            ),
            self._report_callback_error,
        )

    def _run_encode(self, work: _EncodeWork) -> None:
        model = work.model
        assert model is not None
        work.core.mark_running()  # a cancelled encode still runs for the predicts parked on it
        start = time.perf_counter()
        try:
            embedding, source = self._obtain_embedding(model, work.media_key, work.frame, work.image_provider)
        except Exception as exc:
            with self._cv:
                self._running_encodes.discard((work.media_key, work.frame))
                parked = self._take_parked(work.media_key, work.frame)
                self._cv.notify_all()
            for w in [work, *parked]:
                w.core.deliver_error(exc, self._report_callback_error)
            return
        with self._cv:
            self._running_encodes.discard((work.media_key, work.frame))
            for w in self._queue:
                if isinstance(w, _PredictWork) and (w.media_key, w.frame) == (work.media_key, work.frame):
                    w.embedding = embedding  # pinned: an LRU eviction cannot strand them
            self._cv.notify_all()
        result = EncodeResult(
            key=EmbeddingKey(work.media_key, work.frame, model.info.model_id),
            source=source,
            original_size=embedding.original_size,
            seconds=time.perf_counter() - start,
        )
        work.core.deliver_result(result, self._report_callback_error)

    def _has_parked(self, media_key: str, frame: int) -> bool:
        return any(
            isinstance(w, _PredictWork)
            and not w.core.state.terminal
            and (w.media_key, w.frame) == (media_key, frame)
            for w in self._queue
        )

    def _take_parked(self, media_key: str, frame: int) -> list[_Work]:
        """Remove (under the lock) the predicts waiting for this image's embedding."""
        parked: list[_Work] = [
            w
            for w in self._queue
            if isinstance(w, _PredictWork)
            and w.embedding is None
            and (w.media_key, w.frame) == (media_key, frame)
        ]
        for w in parked:
            self._queue.remove(w)
        return parked

    def _run_job_step(self, work: _JobWork) -> None:
        if work.steps is None:
            if not work.core.mark_running():
                return
            model = self._model if work.needs_model else None
            assert work.factory is not None and (model is not None or not work.needs_model)
            work.context = JobContext(self, model, work.core)
            try:
                work.steps = work.factory(work.context)
            except Exception as exc:
                work.core.deliver_error(exc, self._report_callback_error)
                return
        try:
            progress = next(work.steps)
        except StopIteration as stop:
            work.core.deliver_result(stop.value, self._report_callback_error)
            return
        except Exception as exc:
            work.core.deliver_error(exc, self._report_callback_error)
            return
        if work.core.state.terminal:
            work.steps.close()
            return
        if progress is not None:
            done, total, *partial = progress
            work.core.deliver_progress(
                int(done), None if total is None else int(total), self._report_callback_error
            )
            if partial:
                work.core.deliver_partial(partial[0], self._report_callback_error)
        with self._cv:
            if self._closing:
                return
            self._queue.append(work)  # same seq: it keeps its place among background work
            self._cv.notify_all()

    # --- model calls -----------------------------------------------------------------------

    def _obtain_embedding(
        self, model: ImageModel, media_key: str, frame: int, image_provider: ImageProvider | None
    ) -> tuple[ImageEmbedding, str]:
        key = EmbeddingKey(media_key, frame, model.info.model_id)
        embedding = self.memory_cache.get(key)
        if embedding is not None:
            return embedding, "memory"
        if self.disk_cache is not None:
            embedding = self.disk_cache.get(key, device=model.info.device)
            if embedding is not None:
                self.memory_cache.put(key, embedding)
                return embedding, "disk"
        if image_provider is None:
            raise EmbeddingUnavailableError(
                f"no embedding of media {media_key} frame {frame} for {model.info.display_name} "
                "is cached, and no image was given to compute it"
            )
        try:
            image = validate_image(image_provider())
        except Exception as exc:
            raise MediaReadError(f"could not read media {media_key} frame {frame}: {exc}") from exc
        embedding = self._model_call(
            model, f"encoding media {media_key} frame {frame}", model.encode_image, image
        )
        self.memory_cache.put(key, embedding)
        if self.disk_cache is not None:
            self.disk_cache.put(key, embedding)
        return embedding, "computed"

    def _model_call(
        self, model: ImageModel, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        import torch  # runtime threads only: importing torch takes seconds, never on the GUI thread

        device = str(model.info.device)
        try:
            with torch.no_grad(), self._autocast(device):
                return fn(*args, **kwargs)
        except torch.cuda.OutOfMemoryError as exc:  # the same class as torch.OutOfMemoryError (any device)
            self._free_device_memory(device)
            raise ModelOutOfMemoryError(
                f"out of memory on {device} while {what} with {model.info.display_name}; cached "
                "embeddings were freed — try again, or use a smaller model or another device"
            ) from exc
        except MemoryError as exc:
            self.memory_cache.clear()
            raise ModelOutOfMemoryError(
                f"out of memory while {what} with {model.info.display_name}; cached embeddings were freed"
            ) from exc

    def _autocast(self, device: str) -> contextlib.AbstractContextManager[Any]:
        import torch

        # bf16 halves activation memory and runs on tensor cores; only where the GPU supports it.
        if self.config.cuda_bf16 and device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _free_device_memory(self, device: str) -> None:
        self.memory_cache.clear()
        if device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    # --- delivery helpers ------------------------------------------------------------------

    def _fail_all(self, failures: list[tuple[_Work, BaseException]]) -> None:
        for work, exc in failures:
            work.core.deliver_error(exc, self._report_callback_error)

    @staticmethod
    def _report_callback_error(what: str, exc: BaseException) -> None:
        log.error("runtime callback %s raised %r (ignored)", what, exc)


def _model_free(work: _Work) -> bool:
    """A job that never touches the model (see ``Job.needs_model``)."""
    return isinstance(work, _JobWork) and not work.needs_model


def _capability_error(work: _Work, model: ImageModel) -> ModelCapabilityError | None:
    if work.requires is None:
        return None
    try:
        require_capability(model.info, *work.requires)
    except ModelCapabilityError as exc:
        return exc
    return None


def _is_model(source: Any) -> bool:
    return not isinstance(source, (str, os.PathLike)) and isinstance(source, ImageModel)


def _default_loader(source: Any, device: str | None) -> ImageModel:
    from model_runtime import load_model

    return load_model(source, device=device)
