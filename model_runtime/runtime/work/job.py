"""Long jobs: work done in short steps on the background lane (track a video, encode a folder,
segment everything), with progress, partial results and cancellation between steps.

A :class:`Job` is the spec of one kind of long job plus the function that makes its steps; a
step is one ``next()`` of the generator ``steps(ctx)``. After every step the job goes back in
the queue with its place (priority, then submission order), so an encode of the image on screen
overtakes it; a cancelled job's generator is closed, so its ``finally`` blocks run.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from model_runtime.api import ImageEmbedding, ImageModel
from model_runtime.runtime.requests import EmbeddingKey, ModelNotLoadedError, Priority, _RequestCore
from model_runtime.runtime.work.base import ImageProvider, Lane, Work, WorkSpec, report_callback_error

if TYPE_CHECKING:
    from model_runtime.runtime.model_calls import ModelCalls
    from model_runtime.runtime.scheduler import Scheduler

JobSteps = Generator[Any, None, Any]
JobFactory = Callable[["JobContext"], JobSteps]


@dataclass(frozen=True)
class Job:
    """A long job for :meth:`Runtime.run_job <model_runtime.runtime.service.Runtime.run_job>`.

    ``steps(ctx)`` makes the generator: each ``next()`` is one step and yields ``(done, total)``
    (total may be None) for ``on_progress``, or ``(done, total, partial)`` to hand ``partial``
    to ``on_partial`` as well; its return value is the result. ``requires`` names the capability
    the model needs (``purpose`` says what for, in the refusal).

    ``needs_model=False``: the job never touches the model (it reads or writes files: opening
    media, importing or exporting a dataset). It runs with no model loaded (``ctx.model``
    raises ``ModelNotLoadedError``) and a model swap does not stop it; it still runs on the
    background thread, one step at a time, behind model loads and the encode of the image on
    screen.
    """

    steps: JobFactory
    name: str = "job"
    priority: Priority = Priority.BACKGROUND
    requires: str | None = None
    purpose: str = ""
    needs_model: bool = True

    @property
    def spec(self) -> WorkSpec:
        return WorkSpec(
            self.name, Lane.BACKGROUND, self.priority,
            requires=self.requires, purpose=self.purpose, needs_model=self.needs_model,
        )


class JobContext:
    """What a long job's steps may use. Steps run on the background thread; between two steps
    the runtime serves more urgent work and checks cancellation, so keep each step short
    (one frame, one image)."""

    def __init__(self, calls: ModelCalls, model: ImageModel | None, core: _RequestCore):
        self._calls = calls
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
        return self._calls.embedding(self.model, media_key, frame, image_provider)

    def cached_embedding(self, media_key: str, frame: int) -> ImageEmbedding | None:
        """The embedding the caches hold for ``media_key``/``frame`` (memory, then disk), or None."""
        found = self._calls.cached(self.model, EmbeddingKey(media_key, frame, self.model_id))
        return None if found is None else found[0]

    def keep_embedding(self, media_key: str, frame: int, embedding: ImageEmbedding) -> None:
        """Put an embedding the job made in the memory cache (not on disk: a run's every frame
        would fill it), so clicks on that frame find it."""
        self._calls.memory_cache.put(EmbeddingKey(media_key, frame, self.model_id), embedding)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a model function the way the runtime does (no grad, clear OOM errors)."""
        return self._calls.call(self.model, "a job step", fn, *args, **kwargs)


@dataclass(eq=False, kw_only=True)
class JobWork(Work):
    """A :class:`Job` being run: its spec is the job's."""

    job: Job
    steps: JobSteps | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.spec = self.job.spec  # type: ignore[misc]  # per job, not per class

    def run(self, scheduler: Scheduler) -> bool:
        core = self.core
        if self.steps is None:
            if not core.mark_running():
                return False
            assert self.model is not None or not self.spec.needs_model
            try:
                self.steps = self.job.steps(JobContext(scheduler.calls, self.model, core))
            except Exception as exc:
                core.deliver_error(exc, report_callback_error)
                return False
        try:
            progress = next(self.steps)
        except StopIteration as stop:
            core.deliver_result(stop.value, report_callback_error)
            return False
        except Exception as exc:
            core.deliver_error(exc, report_callback_error)
            return False
        if core.state.terminal:
            self.steps.close()
            return False
        if progress is not None:
            done, total, *partial = progress
            core.deliver_progress(int(done), None if total is None else int(total), report_callback_error)
            if partial:
                core.deliver_partial(partial[0], report_callback_error)
        return True

    def discard(self) -> None:
        if self.steps is not None:
            self.steps.close()


