"""K masks of one image, each made on first read (see :class:`CandidateMasks`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np


class CandidateMasks:
    """K candidate masks, bool (H, W) each at the original image size, each made on first read.

    A single click asks for three candidates, but its answer shows only the best one, and
    making a full-size mask from its 256² logits is a real share of a click (SAM 1 ViT-B on a
    2 MP photo: ~2 ms of ~40 per mask when the logits are noisy, more on a 12 MP photo). So a
    backend makes the masks it must (``ready``: the best-scoring one) before answering, and the
    rest when first read; the runtime reads them right after delivering the answer, unless a
    newer click waits. Indexing, ``len``, iteration and ``np.asarray`` work as on the (K, H, W)
    array; a mask is made once, by whichever thread reads it first.

    ``packed``: keep each made mask bit-packed (one bit a pixel instead of a byte) and unpack it
    on every read, a fresh array each time. For answers with many masks: SAM 3's five phrases
    on a 2 MP photo keep ~650 masks, 1.4 GB as bytes, 175 MB packed; a read costs ~0.3 ms more.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        make: Callable[[int], np.ndarray],
        ready: Iterable[int] = (),
        *,
        packed: bool = False,
    ) -> None:
        """shape: (K, H, W); make(i) -> mask i, bool-like (H, W); ``ready``: made right away."""
        count, height, width = (int(n) for n in shape)
        self._shape = (count, height, width)
        self._make = make
        self._packed = packed
        self._masks: list[np.ndarray | None] = [None] * count
        self._lock = threading.Lock()
        # A subset (:meth:`subset`) reads and stores its masks in its parent, at these indices.
        self._parent: tuple[CandidateMasks, np.ndarray] | None = None
        for index in ready:
            self[index]

    @classmethod
    def of(cls, masks: np.ndarray) -> CandidateMasks:
        """Masks already made: bool-like (K, H, W), or (H, W) for one."""
        array = np.asarray(masks, dtype=np.bool_)
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3:
            raise ValueError(f"candidate masks must be (K, H, W), got shape {array.shape}")
        return cls(array.shape, array.__getitem__, ready=range(len(array)))

    @property
    def shape(self) -> tuple[int, int, int]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.bool_)

    def __len__(self) -> int:
        return self._shape[0]

    def __getitem__(self, index: int) -> np.ndarray:
        i = self._index(index)
        if self._parent is not None:
            parent, order = self._parent
            return parent[int(order[i])]
        mask = self._masks[i]
        if mask is None:
            with self._lock:
                mask = self._masks[i]
                if mask is None:
                    made = np.asarray(self._make(i), dtype=np.bool_)
                    if made.shape != self._shape[1:]:
                        raise ValueError(f"candidate {i} was made {made.shape}, expected {self._shape[1:]}")
                    self._masks[i] = np.packbits(made, axis=None) if self._packed else made
                    return made
        if self._packed:
            height, width = self._shape[1:]
            return np.unpackbits(mask, count=height * width).view(np.bool_).reshape(height, width)
        return mask

    def _index(self, index: int) -> int:
        count = self._shape[0]
        i = int(index)
        if not -count <= i < count:
            raise IndexError(f"candidate {index} of {count}")
        return i % count

    def subset(self, indices: Sequence[int] | np.ndarray) -> CandidateMasks:
        """The masks at ``indices`` (of this object), in that order, sharing this object's masks:
        each is made once and stored once, here, whichever of the two reads it first."""
        order = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(order) and not (-self._shape[0] <= order.min() and order.max() < self._shape[0]):
            raise IndexError(f"candidates {order.tolist()} of {self._shape[0]}")
        order %= max(self._shape[0], 1)
        root = self
        if self._parent is not None:
            root, above = self._parent
            order = above[order]
        view = CandidateMasks((len(order), *self._shape[1:]), root._make)
        view._parent = (root, order)
        return view

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        stacked = np.stack(list(self)) if len(self) else np.zeros(self._shape, dtype=np.bool_)
        return stacked if dtype is None else stacked.astype(dtype, copy=False)

    def is_made(self, index: int) -> bool:
        i = self._index(index)
        if self._parent is not None:
            parent, order = self._parent
            return parent.is_made(int(order[i]))
        return self._masks[i] is not None

    def make_all(self, stop: Callable[[], bool] | None = None) -> bool:
        """Make every mask not made yet; ``stop()`` is asked before each. True when all are made."""
        for i in range(len(self)):
            if not self.is_made(i):
                if stop is not None and stop():
                    return False
                self[i]
        return True

    def __repr__(self) -> str:
        made = sum(self.is_made(i) for i in range(len(self)))
        return f"CandidateMasks(shape={self._shape}, made={made})"
