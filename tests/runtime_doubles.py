"""Test doubles for the runtime tests: an ``ImageModel`` whose calls can be held at a gate, made
to fail, and recorded, plus a callback recorder. Tests synchronise on events, never on sleeps."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from model_runtime.api import (
    CandidateMasks,
    Capability,
    EverythingProgress,
    ImageEmbedding,
    Instances,
    ModelInfo,
    Prediction,
    Prompts,
    validate_prompts,
)
from model_runtime.runtime import Callbacks

WAIT = 20.0  # generous upper bound for "should happen"; tests never assert on durations


class Gate:
    """Holds a model call until released; ``entered`` is set when a call is waiting at it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self._open = threading.Event()

    def pass_through(self) -> None:
        self.entered.set()
        if not self._open.wait(WAIT):
            raise AssertionError("gate never opened")

    def release(self) -> None:
        self._open.set()


class DoubleModel:
    """Deterministic stand-in for a SAM backend.

    encode: per-channel 8×8 block means as float32 (3, H/8, W/8) plus a pyramid list and a numpy
    array, so caches see nested features. predict: logits from the embedding sampled around the
    first point; a pure function of (embedding, prompts), so equal inputs give equal outputs.
    """

    def __init__(
        self,
        variant: str = "a",
        device: str = "cpu",
        capabilities: frozenset[str] = frozenset({Capability.CLICK}),
    ):
        self.info = ModelInfo(
            family="double", variant=variant, image_size=64, parameter_count=0, device=device,
            capabilities=capabilities,
        )
        self.encode_gates: dict[str, Gate] = {}  # media marker -> gate (marker = image[0, 0, 0])
        self.predict_gate: Gate | None = None
        self.encode_log: list[int] = []  # image markers in the order encodes started
        self.predict_log: list[tuple[float, float]] = []
        self.encode_error: BaseException | None = None
        self.predict_error: BaseException | None = None
        self.encode_threads: set[str] = set()
        self.predict_threads: set[str] = set()
        self.predict_torch_threads: list[int] = []  # torch.get_num_threads() seen by each predict
        # With ``lazy_masks`` a prediction makes only candidate 0 (the best: scores are equal)
        # before answering, like the SAM backends; the others log (index, thread) when made,
        # and the next candidate 1 made waits at ``mask_gate`` if one is set.
        self.lazy_masks = False
        self.mask_gate: Gate | None = None
        self.mask_log: list[tuple[int, str]] = []
        self._lock = threading.Lock()

    def encode_image(self, image: np.ndarray) -> ImageEmbedding:
        marker = int(image[0, 0, 0])
        with self._lock:
            self.encode_log.append(marker)
            self.encode_threads.add(threading.current_thread().name)
        gate = self.encode_gates.get(str(marker))
        if gate is not None:
            gate.pass_through()
        if self.encode_error is not None:
            raise self.encode_error
        h, w = image.shape[:2]
        t = torch.from_numpy(image[: h - h % 8, : w - w % 8].astype(np.float32)).permute(2, 0, 1)
        blocks = torch.nn.functional.avg_pool2d(t[None], 8)[0]
        return ImageEmbedding(
            model_id=self.info.model_id,
            original_size=(h, w),
            input_size=(h, w),
            features={
                "image_embed": blocks,
                "high_res": [blocks * 0.5, blocks.to(torch.bfloat16)],
                "stats": np.array([h, w], dtype=np.int64),
            },
        )

    def predict(
        self,
        embedding: ImageEmbedding,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask: bool = True,
    ) -> Prediction:
        points, labels, box, mask_input = validate_prompts(points, labels, box, mask_input)
        with self._lock:
            first = (float(points[0, 0]), float(points[0, 1])) if points is not None else (-1.0, -1.0)
            self.predict_log.append(first)
            self.predict_threads.add(threading.current_thread().name)
            self.predict_torch_threads.append(torch.get_num_threads())
        if self.predict_gate is not None:
            self.predict_gate.pass_through()
        if self.predict_error is not None:
            raise self.predict_error
        blocks = embedding.features["image_embed"].float()
        h, w = embedding.original_size
        x, y = first if points is not None else (w / 2, h / 2)
        mean = blocks.mean(dim=0)
        centre = mean[min(int(y) // 8, mean.shape[0] - 1), min(int(x) // 8, mean.shape[1] - 1)]
        logits = -(mean - centre).abs() + 10.0
        full = torch.nn.functional.interpolate(logits[None, None], size=(h, w), mode="nearest")[0, 0]
        low = torch.nn.functional.interpolate(logits[None, None], size=(256, 256), mode="bilinear")[0]
        k = 3 if multimask else 1
        mask = (full > 5.0).numpy()
        masks = CandidateMasks((k, h, w), self._mask_maker(mask), ready=[0]) if self.lazy_masks else None
        return Prediction(
            masks=masks if masks is not None else np.repeat(mask[None], k, axis=0),
            scores=np.full((k,), float(centre), dtype=np.float32),
            low_res_logits=np.repeat(low.numpy(), k, axis=0).astype(np.float32),
        )

    def _mask_maker(self, mask: np.ndarray):
        def make(index: int) -> np.ndarray:
            with self._lock:
                self.mask_log.append((index, threading.current_thread().name))
                gate = self.mask_gate if index == 1 else None
                if gate is not None:
                    self.mask_gate = None
            if gate is not None:
                gate.pass_through()
            return mask

        return make


class ConceptDouble(DoubleModel):
    """A ``concept`` model (stands in for SAM 3): ``find_all`` finds, for each phrase, one
    instance per letter, scored evenly between 0 and 1 (the last scores 1), each a one-pixel-wide
    column of the image; exemplars alone count as the phrase "x". ``find_gate`` holds a query."""

    def __init__(self, variant: str = "concept"):
        super().__init__(variant, capabilities=frozenset({Capability.CLICK, Capability.CONCEPT}))
        self.find_gate: Gate | None = None
        self.find_log: list[tuple[tuple[str, ...], str]] = []  # (phrases, thread)

    def find_all(self, embedding: ImageEmbedding, prompts: Prompts, threshold: float = 0.5):
        with self._lock:
            self.find_log.append((prompts.phrases, threading.current_thread().name))
        if self.find_gate is not None:
            self.find_gate.pass_through()
        found = [self._instances(embedding, phrase).above(threshold) for phrase in prompts.phrases or ("x",)]
        return found if len(prompts.phrases) > 1 else found[0]

    @staticmethod
    def _instances(embedding: ImageEmbedding, phrase: str) -> Instances:
        h, w = embedding.original_size
        count = len(phrase)
        masks = np.zeros((count, h, w), dtype=bool)
        for i in range(count):
            masks[i, :, i] = True
        boxes = np.array([[i, 0, i + 1, h] for i in range(count)], dtype=np.float32)
        scores = np.arange(1, count + 1, dtype=np.float32) / count
        return Instances(masks, boxes, scores, presence=1.0, phrase=phrase)


class EverythingDouble(DoubleModel):
    """An ``everything`` model: a sweep of ``parts`` point batches, each finding one instance (a
    row of the image); each step previews the rows found so far, and the final answer drops the
    last row as a duplicate. Batch ``i`` waits at ``part_gates[i]`` if one is set; ``sweep_log``
    records what happened."""

    def __init__(self, variant: str = "everything", parts: int = 3):
        super().__init__(variant, capabilities=frozenset({Capability.CLICK, Capability.EVERYTHING}))
        self.parts = parts
        self.part_gates: dict[int, Gate] = {}
        self.sweep_log: list[str] = []

    def segment_everything(self, image: np.ndarray, embedding: ImageEmbedding | None = None, **settings):
        *_, last = self.iter_everything(image, embedding, **settings)
        return last.instances

    def iter_everything(self, image: np.ndarray, embedding: ImageEmbedding | None = None, **settings):
        h, w = image.shape[:2]
        self.sweep_log.append(f"start embedding={embedding is not None} settings={settings}")
        rows = np.zeros((self.parts, h, w), dtype=bool)

        def found(count: int) -> Instances:
            boxes = np.array([[0, i, w, i + 1] for i in range(count)], dtype=np.float32).reshape(-1, 4)
            return Instances(rows[:count], boxes, np.full(count, 0.9))

        try:
            for i in range(self.parts):
                gate = self.part_gates.get(i)
                if gate is not None:
                    gate.pass_through()
                rows[i, i] = True
                self.sweep_log.append(f"part {i} on {threading.current_thread().name}")
                if i + 1 < self.parts:
                    yield EverythingProgress(i + 1, self.parts, found(i + 1))
            yield EverythingProgress(self.parts, self.parts, found(self.parts - 1), final=True)
        finally:
            self.sweep_log.append("closed")


def image_with_marker(marker: int, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    """An RGB image whose top-left pixel names it (the double's gates and logs use it)."""
    rng = np.random.default_rng(marker)
    image = rng.integers(0, 256, size=(*size, 3), dtype=np.uint8)
    image[0, 0, 0] = marker
    return image


def provider(marker: int):
    return lambda: image_with_marker(marker)


@dataclass
class Recorder:
    """Collects callbacks from runtime threads; ``wait(rid)`` blocks until that request reports."""

    results: dict[int, Any] = field(default_factory=dict)
    errors: dict[int, BaseException] = field(default_factory=dict)
    progress: list[tuple[int, int, int | None]] = field(default_factory=list)
    partials: list[tuple[int, Any]] = field(default_factory=list)
    order: list[int] = field(default_factory=list)
    threads: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._cv = threading.Condition()

    def callbacks(self) -> Callbacks:
        return Callbacks(self._on_result, self._on_error, self._on_progress, self._on_partial)

    def _on_result(self, rid: int, value: Any) -> None:
        with self._cv:
            self.results[rid] = value
            self.order.append(rid)
            self.threads.add(threading.current_thread().name)
            self._cv.notify_all()

    def _on_error(self, rid: int, exc: BaseException) -> None:
        with self._cv:
            self.errors[rid] = exc
            self.order.append(rid)
            self._cv.notify_all()

    def _on_progress(self, rid: int, done: int, total: int | None) -> None:
        with self._cv:
            self.progress.append((rid, done, total))
            self._cv.notify_all()

    def _on_partial(self, rid: int, value: Any) -> None:
        with self._cv:
            self.partials.append((rid, value))
            self._cv.notify_all()

    def wait_for(self, condition, timeout: float = WAIT) -> None:
        """Block until ``condition()`` (checked whenever a callback arrives) holds."""
        with self._cv:
            if not self._cv.wait_for(condition, timeout):
                raise AssertionError("the runtime never reported what the test waits for")

    def wait(self, rid: int, timeout: float = WAIT) -> None:
        with self._cv:
            if not self._cv.wait_for(lambda: rid in self.results or rid in self.errors, timeout):
                raise AssertionError(f"request {rid} never reported")

    def reported(self, rid: int) -> bool:
        with self._cv:
            return rid in self.results or rid in self.errors
