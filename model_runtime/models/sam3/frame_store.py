"""Byte-bounded stores a SAM 3 video session keeps per frame.

- :class:`FeatureCache`: each frame's tracker features (and the detections of the current phrase
  when they were made), least recently used dropped first;
- :class:`OutputCache`: each frame's output masks at video resolution, bit-packed and
  compressed (a few KB per object and frame), with the tracker scores of that frame; the
  official session keeps every frame's masks uncompressed, for as long as it lives.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from model_runtime.models.sam3.tracker import TrackerFrame
from model_runtime.models.sam3.video_detection import FrameDetections


@dataclass
class FrameEntry:
    """One frame's cached work: its tracker features, and the phrase's detections on it."""

    tracker: TrackerFrame
    detections: dict[str, FrameDetections] = field(default_factory=dict)

    def nbytes(self) -> int:
        return self.tracker.nbytes() + sum(d.nbytes() for d in self.detections.values())


class FeatureCache:
    """LRU of :class:`FrameEntry` bounded in bytes (the newest entry always stays)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[int, FrameEntry] = OrderedDict()

    def get(self, frame: int) -> FrameEntry | None:
        item = self._items.get(frame)
        if item is not None:
            self._items.move_to_end(frame)
        return item

    def put(self, frame: int, entry: FrameEntry) -> None:
        self._items[frame] = entry
        self._items.move_to_end(frame)
        self.trim()

    def trim(self) -> None:
        while self.nbytes > self.max_bytes and len(self._items) > 1:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def forget_detections(self) -> None:
        for entry in self._items.values():
            entry.detections.clear()

    @property
    def nbytes(self) -> int:
        return sum(entry.nbytes() for entry in self._items.values())


@dataclass
class FrameOutputs:
    """One frame's masks (obj id -> zlib of the bit-packed mask) and tracker scores."""

    shape: tuple[int, int]
    packed: dict[int, bytes] = field(default_factory=dict)
    tracker_scores: dict[int, float] = field(default_factory=dict)

    def nbytes(self) -> int:
        return sum(len(b) for b in self.packed.values()) + 64 * len(self.tracker_scores)

    def masks(self) -> dict[int, np.ndarray]:
        count = self.shape[0] * self.shape[1]
        return {
            o: np.unpackbits(np.frombuffer(zlib.decompress(b), np.uint8), count=count)
            .reshape(self.shape)
            .astype(bool)
            for o, b in self.packed.items()
        }

    def set_masks(self, masks: dict[int, np.ndarray]) -> None:
        self.packed = {o: zlib.compress(np.packbits(m.reshape(-1)).tobytes(), 1) for o, m in masks.items()}


class OutputCache:
    """Frame -> :class:`FrameOutputs`, bounded in bytes (least recently written dropped first)."""

    def __init__(self, max_bytes: int, shape: tuple[int, int]) -> None:
        self.max_bytes = max_bytes
        self.shape = shape
        self._items: OrderedDict[int, FrameOutputs] = OrderedDict()
        self._counted: dict[int, int] = {}  # bytes of each entry as last counted
        self._bytes = 0

    def entry(self, frame: int) -> FrameOutputs:
        """The frame's entry, made empty if absent (not counted until written)."""
        item = self._items.get(frame)
        if item is None:
            item = FrameOutputs(self.shape)
            self._items[frame] = item
        return item

    def get(self, frame: int) -> FrameOutputs | None:
        return self._items.get(frame)

    def write(self, frame: int, masks: dict[int, np.ndarray] | None = None) -> None:
        """Store ``masks`` (when given) on the frame's entry and re-count the store."""
        item = self.entry(frame)
        if masks is not None:
            item.set_masks(masks)
        self._recount(frame, item)
        self._items.move_to_end(frame)
        while self._bytes > self.max_bytes and len(self._items) > 1:
            old, _ = self._items.popitem(last=False)
            self._bytes -= self._counted.pop(old, 0)

    def _recount(self, frame: int, item: FrameOutputs) -> None:
        size = item.nbytes()
        self._bytes += size - self._counted.get(frame, 0)
        self._counted[frame] = size

    def drop_object(self, obj_id: int) -> None:
        for frame, item in self._items.items():
            item.packed.pop(obj_id, None)
            item.tracker_scores.pop(obj_id, None)
            self._recount(frame, item)

    def clear(self) -> None:
        self._items.clear()
        self._counted.clear()
        self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes
