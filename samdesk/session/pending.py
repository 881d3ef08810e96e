"""The object being built: its prompts, the model's candidate masks, hand edits, and its undo.

Nothing here is in the document until the user accepts it. ``PendingHistory`` keeps the earlier
states of the pending object, so Ctrl+Z first takes back its last prompt or edit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from model_runtime.api import CandidateMasks, Prompts
from samdesk.document import FrameAnnotation


@dataclass
class Candidates:
    """A model answer as the model gave it: K masks bool (H, W), low-res logits (K, 256, 256).

    ``order`` ranks them best score first; ``selected`` is a rank (0 = best), so keys 1/2/3
    always mean best/second/third. The masks are never reordered or copied: at full
    resolution that would cost more than the rest of a click's GUI work. They are read one at
    a time only, so candidates the runtime has not made yet cost nothing until shown.
    """

    masks: CandidateMasks
    raw_scores: np.ndarray
    logits: np.ndarray | None
    selected: int = 0
    order: np.ndarray | None = None  # indices into masks, best first

    def __post_init__(self) -> None:
        if self.order is None:
            self.order = np.argsort(-self.raw_scores, kind="stable")

    def __len__(self) -> int:
        return len(self.masks)

    @property
    def scores(self) -> np.ndarray:
        """Scores best first (the order the user sees)."""
        return self.raw_scores[self.order]

    def mask(self, rank: int | None = None) -> np.ndarray:
        return self.masks[self.order[self.selected if rank is None else rank]]

    def logit(self, rank: int | None = None) -> np.ndarray | None:
        if self.logits is None or not len(self.logits):
            return None
        return self.logits[self.order[self.selected if rank is None else rank]]

    def score(self) -> float:
        return float(self.raw_scores[self.order[self.selected]])


@dataclass
class Pending:
    """The object being built: its prompts, the model's candidates and any hand edits on them."""

    prompts: Prompts = Prompts()  # immutable: a new prompt makes a new value
    candidates: Candidates | None = None
    edited_mask: np.ndarray | None = None  # a brush-edited copy of the selected candidate
    target_object: int | None = None  # refining an accepted object instead of making a new one
    manual: bool = False  # drawn by hand from scratch (no model involved)
    # A box or polygon drawn as such (``shape_edits.py``), and the mask shown for it: the
    # object keeps the shape if that mask is still the pending one when accepted.
    shape: FrameAnnotation | None = None
    shape_mask: np.ndarray | None = None

    def snapshot(self) -> Pending:
        """A copy for the undo stack. Mask arrays and prompts are shared, not copied: neither is
        modified in place (edits always produce new values), and copying 3 full-size masks per
        click would cost more than the rest of the click's GUI work."""
        cands = self.candidates
        return replace(self, candidates=None if cands is None else replace(cands))

    def mask_identity(self) -> tuple[int, int, int]:
        """Changes exactly when ``mask()`` would return different pixels (for repaint skipping)."""
        cands = self.candidates
        return (
            id(self.edited_mask),
            id(cands.masks) if cands is not None else 0,
            cands.selected if cands is not None else -1,
        )

    def mask(self) -> np.ndarray | None:
        if self.edited_mask is not None:
            return self.edited_mask
        if self.candidates is not None and len(self.candidates):
            return self.candidates.mask()
        return None


def with_point(prompts: Prompts, x: float, y: float, positive: bool) -> Prompts:
    """``prompts`` plus one click."""
    return replace(
        prompts,
        points=(*prompts.points, (float(x), float(y))),
        labels=(*prompts.labels, 1 if positive else 0),
    )


def with_box(prompts: Prompts, box: tuple[float, float, float, float]) -> Prompts:
    """``prompts`` with ``box`` (x0, y0, x1, y1) instead of its box."""
    return replace(prompts, box=box)


class PendingHistory:
    """Undo and redo of the pending object's states (None: no pending object)."""

    def __init__(self) -> None:
        self._undo: list[Pending | None] = []
        self._redo: list[Pending | None] = []

    def record(self, state: Pending | None) -> None:
        """Remember ``state`` (the one being left) as the next undo step; forget redo."""
        self._undo.append(_snap(state))
        self._redo.clear()

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self, current: Pending | None) -> Pending | None:
        """The state before ``current`` (call only when :meth:`can_undo`)."""
        self._redo.append(_snap(current))
        return self._undo.pop()

    def redo(self, current: Pending | None) -> Pending | None:
        """The state ``current`` was undone from (call only when :meth:`can_redo`)."""
        self._undo.append(_snap(current))
        return self._redo.pop()

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()


def _snap(pending: Pending | None) -> Pending | None:
    return None if pending is None else pending.snapshot()
