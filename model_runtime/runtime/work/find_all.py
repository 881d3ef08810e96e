"""Find all: every instance of a concept — a noun phrase and/or exemplar boxes — in one image
(``concept`` models, SAM 3's ``find_all``).

Interactive lane, like a click: the user typed a phrase and waits. It parks until the image's
embedding exists (the encode runs on the background lane at "current image" priority); once it
does, the query is short. A newer query for the same object key supersedes the queued one; a
cancelled query that is running is not interrupted, its answer is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from model_runtime.api import Capability, Instances, Prompts
from model_runtime.runtime.requests import EmbeddingKey, Priority
from model_runtime.runtime.work.base import ImageWork, Lane, WorkSpec, report_callback_error

if TYPE_CHECKING:
    from model_runtime.runtime.scheduler import Scheduler

FIND_ALL = WorkSpec(
    "find_all", Lane.INTERACTIVE, Priority.INTERACTIVE, supersedes=True,
    requires=Capability.CONCEPT, purpose="find every instance of a concept",
)


@dataclass(frozen=True)
class FindAllResult:
    """``instances``: one :class:`Instances` for one phrase (or exemplars only), a list of them
    (one per phrase, in order) when the prompts held several phrases."""

    object_key: Any
    key: EmbeddingKey
    prompts: Prompts
    instances: Instances | list[Instances]
    seconds: float


@dataclass(eq=False, kw_only=True)
class FindAllWork(ImageWork):
    spec = FIND_ALL
    prompts: Prompts = field(repr=False)
    threshold: float = 0.5

    def run(self, scheduler: Scheduler) -> bool:
        answered = self.answer(scheduler, "finding a concept", "find_all", self.prompts, self.threshold)
        if answered is None:
            return False
        found, seconds = answered
        result = FindAllResult(
            object_key=self.object_key,
            key=self.embedding_key(),
            prompts=self.prompts,
            instances=found,
            seconds=seconds,
        )
        self.core.deliver_result(result, report_callback_error)
        return False
