"""What every kind of runtime work is, as the scheduler sees it.

A kind of work (load, encode, predict, find-all, a long job) is a :class:`WorkSpec` — the lane
that runs it, its priority, whether a newer request supersedes it, whether it swaps the model,
the capability the model needs — and a :class:`Work` subclass whose ``run`` does it. The
scheduler (:mod:`model_runtime.runtime.scheduler`) knows only this module: adding a kind of work
is one new module in this package and one method on :class:`~model_runtime.runtime.service.Runtime`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from model_runtime.api import ImageEmbedding, ImageModel
from model_runtime.runtime.requests import EmbeddingKey, Priority, _RequestCore

if TYPE_CHECKING:
    from model_runtime.runtime.scheduler import Scheduler

log = logging.getLogger(__name__)

ImageProvider = Callable[[], np.ndarray]


def report_callback_error(what: str, exc: BaseException) -> None:
    """A caller's callback raised: logged, never re-raised (it must not take a thread down)."""
    log.error("runtime callback %s raised %r (ignored)", what, exc)


class Lane(StrEnum):
    """The runtime thread that runs a kind of work (docs/adr/0003-runtime-threading.md)."""

    INTERACTIVE = "interactive"  # short calls the user waits for: clicks, concept queries
    BACKGROUND = "background"  # loads, encodes, long jobs one step at a time


@dataclass(frozen=True)
class WorkSpec:
    """How the scheduler treats one kind of work.

    name:       the request's ``kind`` (logs, ``RequestHandle.kind``)
    lane:       the runtime thread that runs it
    priority:   its default place in its lane's queue (lower first; a request may override it)
    supersedes: a newer request of this kind for the same ``object_key`` cancels the queued
                ones (state ``SUPERSEDED``): only the user's latest prompt counts
    swaps_model: a model load: runs alone, requests made after it wait for it, those made
                before it and still queued fail with ``ModelChangedError`` when it ends
    requires:   the ``Capability`` the model needs; ``purpose`` says what for, in the refusal
    needs_model: False for work that never touches the model (a job reading or writing files):
                it runs with no model loaded and a model swap does not fail it
    """

    name: str
    lane: Lane
    priority: Priority
    supersedes: bool = False
    swaps_model: bool = False
    requires: str | None = None
    purpose: str = ""
    needs_model: bool = True


@dataclass(eq=False, kw_only=True)
class Work:
    """One request: its kind (``spec``), what it asks, and how to run it.

    The scheduler sets ``core``, ``seq`` and ``model`` (the model it runs on, when taken);
    ``priority`` is the spec's unless given.
    """

    spec: ClassVar[WorkSpec]
    priority: Priority | None = None
    object_key: Any = None  # what ``spec.supersedes`` compares
    core: _RequestCore = field(init=False, repr=False)
    seq: int = field(init=False, default=0)
    model: ImageModel | None = field(init=False, default=None, repr=False)

    @property
    def order(self) -> tuple[int, int]:
        """Lower is served first: (priority, submission order)."""
        return (int(self.priority if self.priority is not None else self.spec.priority), self.seq)

    @property
    def embedding_target(self) -> tuple[str, int] | None:
        """(media key, frame) whose embedding this work needs before it can run: it parks, and
        the scheduler asks for that encode, until the embedding exists. None: needs none."""
        return None

    def run(self, scheduler: Scheduler) -> bool:
        """Do the work (one step of it) on its lane's thread; deliver its outcome through
        ``self.core``. True: queue it again for its next step."""
        raise NotImplementedError

    def discard(self) -> None:
        """It will not run (further): cancelled, stale, or the runtime closes. Release what it
        holds (a job's generator, and through it a video session)."""

    def still_needed(self, scheduler: Scheduler) -> bool:
        """Cancelled while queued: run it anyway? (An encode that clicks are parked on.)"""
        return False

    def fails_with_it(self, scheduler: Scheduler) -> list[Work]:
        """Its thread died running it: the other queued work that must fail too (removed from
        the queue under the scheduler's lock)."""
        return []


@dataclass(eq=False, kw_only=True)
class ImageWork(Work):
    """Work on one image's embedding (a click, a concept query): parks until the embedding
    exists; ``image_provider`` lets the scheduler encode the image if nobody asked for it."""

    media_key: str
    frame: int = 0
    image_provider: ImageProvider | None = None
    embedding: ImageEmbedding | None = field(default=None, repr=False)  # pinned when found

    @property
    def embedding_target(self) -> tuple[str, int]:
        return (self.media_key, self.frame)

    def embedding_key(self) -> EmbeddingKey:
        assert self.model is not None
        return EmbeddingKey(self.media_key, self.frame, self.model.info.model_id)

    def answer(
        self, scheduler: Scheduler, doing: str, method: str, *args: Any, **kwargs: Any
    ) -> tuple[Any, float] | None:
        """Mark this work running and call the model's ``method`` on the embedding (then ``args``,
        ``kwargs``) through the scheduler's calls, ``doing`` naming it in errors: (answer, seconds),
        or None when the work was cancelled first or the call failed (its error delivered)."""
        if not self.core.mark_running():
            return None
        model, embedding = self.model, self.embedding
        assert model is not None and embedding is not None
        start = time.perf_counter()
        try:
            answer = scheduler.calls.call(
                model, doing, getattr(model, method), embedding, *args, retry=True, **kwargs
            )
        except Exception as exc:
            self.core.deliver_error(exc, report_callback_error)
            return None
        return answer, time.perf_counter() - start
