"""Many objects proposed at once and not accepted yet: a find-all or segment-everything answer.

A click builds one pending object with K candidate masks (``samdesk.session.pending``); a
concept query (SAM 3) or an automatic sweep answers with N instances, each its own object.
They are shown together, each in its own colour with its score, until the user accepts them
(one undoable step adds them all) or discards them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from model_runtime.api import Instances, Prompts
from samdesk.document import AddObject, AnnotationObject, FrameAnnotation, Provenance
from samdesk.document import masks as rle


@dataclass
class PendingInstances:
    """``instances`` found on frame ``frame`` of media ``media_id`` by model ``model_id``.

    instances: masks bool (N, H, W) made on first read, boxes (N, 4), scores (N,)
    prompts:   what asked for them (a phrase, exemplar boxes), stored with each accepted object
    """

    instances: Instances
    media_id: int
    frame: int
    model_id: str | None = None
    prompts: Prompts = field(default_factory=Prompts)

    def __len__(self) -> int:
        return len(self.instances)

    def masks(self) -> list[np.ndarray]:
        return [self.instances.masks[i] for i in range(len(self.instances))]

    def add_commands(self, category_id: int | None) -> list[AddObject]:
        """One ``AddObject`` per instance with a non-empty mask, in the model's order."""
        commands: list[AddObject] = []
        for index in range(len(self.instances)):
            mask = self.instances.masks[index]
            if not mask.any():
                continue
            annotation = FrameAnnotation(
                rle.encode(mask),
                Provenance.MODEL,
                float(self.instances.scores[index]),
                self.prompts,
                self.model_id,
            )
            obj = AnnotationObject(0, self.media_id, category_id, {self.frame: annotation})
            commands.append(AddObject(obj, text="add object"))
        return commands
