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
from samdesk.session import mask_ops

Crop = tuple[np.ndarray, tuple[int, int]]  # bool (h, w) and its top-left (x0, y0) in the image


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
    _crops: list[Crop | None] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.instances)

    def crops(self) -> list[Crop | None]:
        """Each instance's mask inside its bounding box, bool (h, w), with the box's top-left
        (x0, y0); None for an empty mask. Found once: the canvas and the accept both use them."""
        if self._crops is None:
            self._crops = []
            for index in range(len(self.instances)):
                mask = self.instances.masks[index]
                box = mask_ops.bounding_box_near(mask, self.instances.boxes[index])
                if box is None:
                    self._crops.append(None)
                else:
                    x0, y0, x1, y1 = box
                    self._crops.append((mask[y0:y1, x0:x1], (x0, y0)))
        return self._crops

    def add_commands(self, category_id: int | None) -> list[AddObject]:
        """One ``AddObject`` per instance with a non-empty mask, in the model's order."""
        size = self.instances.image_size
        commands: list[AddObject] = []
        for index, crop in enumerate(self.crops()):
            if crop is None:
                continue
            annotation = FrameAnnotation(
                rle.encode_box(*crop, size),
                Provenance.MODEL,
                float(self.instances.scores[index]),
                self.prompts,
                self.model_id,
            )
            obj = AnnotationObject(0, self.media_id, category_id, {self.frame: annotation})
            commands.append(AddObject(obj, text="add object"))
        return commands
