"""Many objects found at once: the answer of ``find_all`` (SAM 3) and ``segment_everything``.

A click's answer is one object with K candidate masks (:class:`~model_runtime.api.Prediction`).
A concept query or an automatic sweep answers with N *instances*, each its own object, each with
a mask, a box and a score. :class:`Instances` holds them in the model's output order.

Masks are made on first read (a :class:`CandidateMasks` of N), so a result whose masks are never
shown costs nothing beyond its scores, and filtering by threshold makes no mask at all.

A model returns every candidate it scored (the *pool*) filtered at the threshold it was asked
for; ``above(t)`` re-filters that pool at another threshold without running the model again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model_runtime.candidate_masks import CandidateMasks


class Instances:
    """N instances found in one image, in the model's output order.

    masks:            bool (N, H, W) at the original image size, made on first read
    boxes:            float32 (N, 4) pixel x0, y0, x1, y1
    scores:           float32 (N,) the model's confidence (SAM 3: sigmoid(logit) × presence;
                      segment everything: the predicted IoU)
    presence:         SAM 3's sigmoid(presence logit) for the whole image, else None
    stability_scores: float32 (N,) for segment everything, else None
    phrase:           the noun phrase these instances answer, if any
    """

    def __init__(
        self,
        masks: CandidateMasks | np.ndarray,
        boxes: np.ndarray,
        scores: np.ndarray,
        presence: float | None = None,
        stability_scores: np.ndarray | None = None,
        phrase: str | None = None,
        *,
        threshold: float | None = None,
        _pool: Instances | None = None,
        _indices: np.ndarray | None = None,
    ) -> None:
        self.masks = masks if isinstance(masks, CandidateMasks) else CandidateMasks.of(masks)
        self.boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        self.scores = np.asarray(scores, dtype=np.float32).reshape(-1)
        self.presence = None if presence is None else float(presence)
        self.stability_scores = (
            None if stability_scores is None else np.asarray(stability_scores, dtype=np.float32).reshape(-1)
        )
        self.phrase = phrase
        self.threshold = threshold
        count = len(self.masks)
        for name, array in (("boxes", self.boxes), ("scores", self.scores), ("stability_scores",
                                                                             self.stability_scores)):
            if array is not None and len(array) != count:
                raise ValueError(f"{count} masks but {len(array)} {name}")
        self._pool = _pool
        self._indices = _indices

    # --- construction ----------------------------------------------------------------------------

    @classmethod
    def empty(cls, image_size: tuple[int, int], presence: float | None = None,
              phrase: str | None = None) -> Instances:
        height, width = image_size
        return cls(np.zeros((0, height, width), dtype=np.bool_), np.zeros((0, 4)), np.zeros(0),
                   presence=presence, phrase=phrase)

    # --- reading ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.scores)

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the masks."""
        _, height, width = self.masks.shape
        return height, width

    @property
    def pool(self) -> Instances:
        """Every candidate the model scored, before any threshold."""
        return self if self._pool is None else self._pool

    @property
    def pool_indices(self) -> np.ndarray:
        """int64 (N,): each instance's index in :attr:`pool`."""
        return np.arange(len(self)) if self._indices is None else self._indices

    def select(self, indices: Sequence[int] | np.ndarray) -> Instances:
        """The instances at ``indices`` (of this result), in that order; masks stay lazy."""
        order = np.asarray(indices, dtype=np.int64).reshape(-1)
        return Instances(
            self.masks.subset(order),
            self.boxes[order],
            self.scores[order],
            self.presence,
            None if self.stability_scores is None else self.stability_scores[order],
            self.phrase,
            threshold=self.threshold,
            _pool=self.pool,
            _indices=self.pool_indices[order],
        )

    def above(self, threshold: float) -> Instances:
        """The pool's instances scoring strictly above ``threshold``, in pool order.

        Works from any filtered result: ``found.above(0.3)`` can return more instances than
        ``found`` itself when ``found`` was filtered at 0.5. Never runs the model.
        """
        pool = self.pool
        keep = np.flatnonzero(pool.scores > float(threshold))
        result = pool.select(keep)
        result.threshold = float(threshold)
        return result

    def __repr__(self) -> str:
        phrase = f", phrase={self.phrase!r}" if self.phrase is not None else ""
        return f"Instances(n={len(self)}, image_size={self.image_size}{phrase})"
