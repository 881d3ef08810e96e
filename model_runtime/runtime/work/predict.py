"""Predict: one object's candidate masks from clicks, a box or a previous mask (``click``).

Interactive lane; a newer predict for the same object supersedes the queued ones. It parks
until its image's embedding exists. Only the best candidate mask is made before the answer;
the others right after it, unless a newer click waits (``CandidateMasks``, ADR 0006).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from model_runtime.api import CandidateMasks, Capability, Prompts
from model_runtime.runtime.requests import PredictResult, Priority
from model_runtime.runtime.work.base import ImageWork, Lane, WorkSpec, report_callback_error

if TYPE_CHECKING:
    from model_runtime.runtime.scheduler import Scheduler

log = logging.getLogger(__name__)

PREDICT = WorkSpec(
    "predict", Lane.INTERACTIVE, Priority.INTERACTIVE, supersedes=True,
    requires=Capability.CLICK, purpose="answer a click",
)


@dataclass(eq=False, kw_only=True)
class PredictWork(ImageWork):
    spec = PREDICT
    prompts: Prompts = field(repr=False)
    multimask: bool = True

    def run(self, scheduler: Scheduler) -> bool:
        arrays = self.prompts.click_arrays()
        answered = self.answer(scheduler, "predicting", "predict", **arrays, multimask=self.multimask)
        if answered is None:
            return False
        prediction, seconds = answered
        result = PredictResult(
            object_key=self.object_key, key=self.embedding_key(), prediction=prediction, seconds=seconds
        )
        self.core.deliver_result(result, report_callback_error)
        # Make the candidate masks the answer left for later while the user looks at the best
        # one, so that switching candidates never waits on the GUI thread. A newer click waiting
        # comes first: its answer supersedes these anyway, and a mask not made here is made when read.
        masks = getattr(prediction, "masks", None)
        if isinstance(masks, CandidateMasks):
            try:
                masks.make_all(stop=scheduler.interactive_waiting)
            except Exception:  # raised again, to whoever reads that mask, when it is read
                log.warning("could not make the remaining candidate masks", exc_info=True)
        return False
