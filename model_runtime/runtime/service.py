"""The runtime service: owns the loaded model and runs every model call off the caller's thread.

:class:`Runtime` is what callers use: one method per kind of request, each returning a
:class:`~model_runtime.runtime.requests.RequestHandle` at once, the outcome arriving later
through callbacks on a runtime thread. Each method builds one piece of work
(:mod:`model_runtime.runtime.work`) and hands it to the scheduler
(:mod:`model_runtime.runtime.scheduler`: two threads, priorities, parking on embeddings,
model swaps, faults), whose model calls go through :mod:`model_runtime.runtime.model_calls`
(autograd off, out-of-memory errors, the embedding caches). docs/adr/0003-runtime-threading.md
says why it is built this way.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model_runtime.api import ClickPreparer, ImageModel, ModelInfo, PromptError, Prompts
from model_runtime.runtime.cache import (
    DEFAULT_DISK_BYTES,
    DEFAULT_MEMORY_BYTES,
    DiskEmbeddingCache,
    MemoryEmbeddingCache,
)
from model_runtime.runtime.model_calls import ModelCalls
from model_runtime.runtime.requests import Callbacks, ModelLoaded, Priority, RequestHandle
from model_runtime.runtime.scheduler import LaneThread, ModelLoader, Scheduler
from model_runtime.runtime.work.base import Lane
from model_runtime.runtime.work.encode import EncodeWork
from model_runtime.runtime.work.find_all import FindAllWork
from model_runtime.runtime.work.job import Job, JobFactory, JobWork
from model_runtime.runtime.work.load import LoadWork
from model_runtime.runtime.work.predict import PredictWork
from model_runtime.runtime.work.prepare import PrepareWork

ImageProvider = Callable[[], np.ndarray]


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
    # While no click runs, under SCHED_IDLE only (None: every core not kept for the GUI).
    background_threads_alone: int | None = None
    background_nice: int = 10
    # Linux: run the background thread under SCHED_IDLE (see threads.make_current_thread_idle);
    # right for an interactive app, wrong for a batch run that should keep its share of the CPU.
    background_idle: bool = True
    interactive_nice: int = 0
    # --compile: torch.compile each loaded model's image encoder (and SAM 2's memory attention),
    # warmed up during the load on the background thread (models/common/compilation.py).
    # "inductor" generates kernels (minutes on a CPU, worth it on a GPU); "eager" only traces.
    compile: bool = False
    compile_backend: str = "inductor"
    compile_mode: str | None = None
    # Prepare the clicks on the image on screen when it is shown (``Runtime.encode``); off only
    # to measure what that saves (bench/first_click.py).
    prepare_clicks: bool = True


class Runtime:
    """See the module docstring. Thread-safe; every public method returns at once.

    ``loader(source, device) -> ImageModel`` builds models (default: ``model_runtime.load_model``).
    """

    def __init__(self, config: RuntimeConfig | None = None, loader: ModelLoader | None = None):
        self.config = config = config or RuntimeConfig()
        self.memory_cache = MemoryEmbeddingCache(config.memory_cache_bytes)
        self.disk_cache: DiskEmbeddingCache | None = (
            DiskEmbeddingCache(
                Path(config.disk_cache_dir) if config.disk_cache_dir is not None else None,
                config.disk_cache_bytes,
            )
            if config.disk_cache
            else None
        )
        # Thread counts left unset are planned on the runtime threads themselves: the plan
        # needs torch, whose import must not happen on the caller's (GUI) thread.
        lanes = [
            LaneThread(Lane.INTERACTIVE, config.interactive_threads, config.interactive_nice),
            LaneThread(
                Lane.BACKGROUND,
                config.background_threads,
                config.background_nice,
                idle=config.background_idle,
                # Set counts stay as set: the share while clicking is then the count alone too.
                threads_alone=(
                    config.background_threads_alone
                    if config.background_threads_alone is not None
                    else config.background_threads
                ),
            ),
        ]
        calls = ModelCalls(self.memory_cache, self.disk_cache)
        self._scheduler = Scheduler(calls, loader or _default_loader, lanes)

    @property
    def model_info(self) -> ModelInfo | None:
        model = self._scheduler.model
        return model.info if model is not None else None

    def watch_models(self, watcher: Callable[[ModelLoaded], None]) -> None:
        """Call ``watcher(ModelLoaded)`` (on a runtime thread; keep it short) whenever the runtime
        loads a model by itself: the device ran out of memory twice and the same checkpoint was
        loaded on the CPU (``ModelLoaded.note`` says why)."""
        self._scheduler.watch_models(watcher)

    def thread_counts(self) -> dict[str, int]:
        """Intra-op threads of each runtime thread (plans them here if not yet done)."""
        return self._scheduler.thread_counts()

    def load_model(
        self,
        source: str | os.PathLike[str] | ImageModel,
        device: str | None = None,
        callbacks: Callbacks | None = None,
    ) -> RequestHandle:
        """Load a checkpoint (or adopt an already built ``ImageModel``) and make it current
        (compiled and warmed up first with ``RuntimeConfig.compile``). The result is a
        :class:`ModelLoaded`, which says what the model can do."""
        config = self.config
        compile_with = (config.compile_backend, config.compile_mode) if config.compile else None
        work = LoadWork(source=source, device=device, compile_with=compile_with)
        return self._scheduler.submit(work, callbacks)

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
        the image on screen. The result is an :class:`EncodeResult`.

        Without ``prefetch`` (the image on screen), a model that is a
        :class:`~model_runtime.api.ClickPreparer` also prepares the clicks to come on it, on the
        interactive thread once the embedding exists (:mod:`~model_runtime.runtime.work.prepare`)."""
        priority = Priority.BACKGROUND if prefetch else Priority.CURRENT
        work = EncodeWork(media_key=media_key, frame=frame, image_provider=image_provider, priority=priority)
        handle = self._scheduler.submit(work, callbacks)
        if not prefetch and self.config.prepare_clicks and isinstance(self._scheduler.model, ClickPreparer):
            prepare = PrepareWork(media_key=media_key, frame=frame, image_provider=image_provider)
            self._scheduler.submit(prepare, None)
        return handle

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
        _check_prompts(prompts)
        if not prompts.has_click:
            raise PromptError("no prompt: give points, a box or a mask_input")
        work = PredictWork(
            object_key=object_key, media_key=media_key, frame=frame, prompts=prompts,
            multimask=multimask, image_provider=image_provider,
        )
        return self._scheduler.submit(work, callbacks)

    def find_all(
        self,
        object_key: Any,
        media_key: str,
        frame: int,
        prompts: Prompts,
        *,
        threshold: float = 0.5,
        image_provider: ImageProvider | None = None,
        callbacks: Callbacks | None = None,
    ) -> RequestHandle:
        """Every instance of the concept in ``prompts`` (a phrase, several phrases, exemplar
        boxes) scoring above ``threshold``, on the interactive thread once the image's embedding
        exists. Supersedes the queued query of the same ``object_key``. Prompts without a
        concept raise ``PromptError`` at once; a model without the ``concept`` capability raises
        :class:`ModelCapabilityError` at once. The result is a :class:`FindAllResult`."""
        _check_prompts(prompts)
        if not prompts.has_concept:
            raise PromptError("no concept: give a phrase or exemplar boxes")
        work = FindAllWork(
            object_key=object_key, media_key=media_key, frame=frame, prompts=prompts,
            threshold=float(threshold), image_provider=image_provider,
        )
        return self._scheduler.submit(work, callbacks)

    def run_job(
        self,
        job: Job | JobFactory,
        *,
        name: str | None = None,
        priority: Priority | None = None,
        callbacks: Callbacks | None = None,
    ) -> RequestHandle:
        """Run a long job (a :class:`Job`, or a bare ``job(ctx)`` steps function, see
        :class:`Job`) on the background thread. Between steps the background thread serves more
        urgent work (by ``priority``, default the job's own: a query the user waits for is
        ``Priority.CURRENT``, ahead of prefetches) and checks cancellation (a cancelled job's
        generator is closed, so ``finally`` blocks run). A job that ``requires`` a capability
        the model lacks is refused at once with :class:`ModelCapabilityError`."""
        if not isinstance(job, Job):
            job = Job(job)
        if name is not None:
            job = dataclasses.replace(job, name=name)
        if priority is not None:
            job = dataclasses.replace(job, priority=priority)
        if job.priority is Priority.CONTROL:
            raise ValueError("Priority.CONTROL is for model loads only")
        return self._scheduler.submit(JobWork(job=job), callbacks)

    def close(self, timeout: float | None = 10.0) -> bool:
        """Stop the threads; queued requests are cancelled without callbacks. Waits up to
        ``timeout`` seconds (None: for ever) for a running model call, which cannot be
        interrupted. True when every runtime thread has stopped (see :func:`model_calls_running`);
        calling it again waits again."""
        return self._scheduler.close(timeout)

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_prompts(prompts: Any) -> None:
    if not isinstance(prompts, Prompts):
        raise PromptError(f"prompts must be a Prompts value, got {type(prompts).__name__}")


def _default_loader(source: Any, device: str | None) -> ImageModel:
    from model_runtime import load_model

    return load_model(source, device=device)
