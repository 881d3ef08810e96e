"""The contract every image-segmentation backend fulfils.

A backend (SAM 1, MobileSAM, SAM 2/2.1, the classical GrabCut default, a plugin) turns an RGB
image into an :class:`ImageEmbedding` once (the heavy part) and then answers prompts against it
with a :class:`Prediction` (the cheap part). Nothing here imports Qt or knows about documents.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class ModelInfo:
    """What a loaded model is. ``family`` is one of "sam1", "mobilesam", "sam2", "sam2.1",
    "classical" (or a plugin's own name); ``variant`` names the size ("vit_b", "hiera_t", ...)."""

    family: str
    variant: str
    image_size: int
    parameter_count: int
    device: str = "cpu"
    source: str = ""  # the checkpoint path, or "" for models without weights

    @property
    def model_id(self) -> str:
        """Stable id used to key embedding caches: embeddings of different models never mix."""
        return f"{self.family}-{self.variant}"

    @property
    def display_name(self) -> str:
        return f"{self.family} {self.variant}"


@dataclass
class ImageEmbedding:
    """The result of encoding one image. Backends subclass or fill ``features``.

    ``original_size`` is (H, W) of the image that was encoded; ``input_size`` is (H, W) of the
    image after the model's resize (before padding), which is what prompts are scaled by.
    ``features`` holds the backend's tensors by name (CPU or device tensors).
    """

    model_id: str
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    features: dict[str, Any] = field(default_factory=dict)

    def nbytes(self) -> int:
        """Approximate memory held, for byte-bounded caches."""
        total = 0
        for value in self.features.values():
            if hasattr(value, "element_size") and hasattr(value, "nelement"):
                total += value.element_size() * value.nelement()
            elif isinstance(value, np.ndarray):
                total += value.nbytes
            elif isinstance(value, (list, tuple)):
                for item in value:
                    if hasattr(item, "element_size"):
                        total += item.element_size() * item.nelement()
                    elif isinstance(item, np.ndarray):
                        total += item.nbytes
        return total


class CandidateMasks:
    """K candidate masks, bool (H, W) each at the original image size, each made on first read.

    A single click asks for three candidates, but its answer shows only the best one, and
    making a full-size mask from its 256² logits is a real share of a click (SAM 1 ViT-B on a
    2 MP photo: ~2 ms of ~40 per mask when the logits are noisy, more on a 12 MP photo). So a
    backend makes the masks it must (``ready``: the best-scoring one) before answering, and the
    rest when first read; the runtime reads them right after delivering the answer, unless a
    newer click waits. Indexing, ``len``, iteration and ``np.asarray`` work as on the (K, H, W)
    array; a mask is made once, by whichever thread reads it first.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        make: Callable[[int], np.ndarray],
        ready: Iterable[int] = (),
    ) -> None:
        """shape: (K, H, W); make(i) -> mask i, bool-like (H, W); ``ready``: made right away."""
        count, height, width = (int(n) for n in shape)
        self._shape = (count, height, width)
        self._make = make
        self._masks: list[np.ndarray | None] = [None] * count
        self._lock = threading.Lock()
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
        count = self._shape[0]
        i = int(index)
        if not -count <= i < count:
            raise IndexError(f"candidate {index} of {count}")
        i %= count
        mask = self._masks[i]
        if mask is None:
            with self._lock:
                mask = self._masks[i]
                if mask is None:
                    mask = np.asarray(self._make(i), dtype=np.bool_)
                    if mask.shape != self._shape[1:]:
                        raise ValueError(f"candidate {i} was made {mask.shape}, expected {self._shape[1:]}")
                    self._masks[i] = mask
        return mask

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        stacked = np.stack(list(self)) if len(self) else np.zeros(self._shape, dtype=np.bool_)
        return stacked if dtype is None else stacked.astype(dtype, copy=False)

    def is_made(self, index: int) -> bool:
        return self._masks[int(index)] is not None

    def make_all(self, stop: Callable[[], bool] | None = None) -> bool:
        """Make every mask not made yet; ``stop()`` is asked before each. True when all are made."""
        for i in range(len(self)):
            if self._masks[i] is None:
                if stop is not None and stop():
                    return False
                self[i]
        return True

    def __repr__(self) -> str:
        made = sum(m is not None for m in self._masks)
        return f"CandidateMasks(shape={self._shape}, made={made})"


@dataclass
class Prediction:
    """Candidate masks for one prompt set.

    masks:          K candidates, bool (H, W) each at the original image size (see
                    :class:`CandidateMasks`; a plain bool (K, H, W) array given here is wrapped)
    scores:         float32 (K,) predicted IoU (or the backend's confidence)
    low_res_logits: float32 (K, 256, 256); one of them, as (1, 256, 256), is the next call's
                    ``mask_input`` when refining the same object
    """

    masks: CandidateMasks
    scores: np.ndarray
    low_res_logits: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.masks, CandidateMasks):
            self.masks = CandidateMasks.of(self.masks)


class PromptError(ValueError):
    """A prompt that cannot be answered (no prompt at all, mismatched points/labels, ...)."""


@runtime_checkable
class ImageModel(Protocol):
    """What the runtime and scripts rely on. See ``model_runtime.load_model``."""

    info: ModelInfo

    def encode_image(self, image: np.ndarray) -> ImageEmbedding:
        """image: uint8 (H, W, 3) RGB."""
        ...

    def predict(
        self,
        embedding: ImageEmbedding,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask: bool = True,
    ) -> Prediction:
        """points: (N, 2) pixel x, y in the original image; labels: (N,) 1 = fg, 0 = bg;
        box: (4,) x0, y0, x1, y1; mask_input: (1, 256, 256) low-res logits of a previous call."""
        ...


def check_embedding(embedding: ImageEmbedding, info: ModelInfo) -> None:
    """Refuse an embedding made by another model: its features would give silent garbage."""
    if embedding.model_id != info.model_id:
        raise PromptError(
            f"embedding was made by {embedding.model_id!r}, not by this model ({info.model_id!r})"
        )


def validate_image(image: np.ndarray) -> np.ndarray:
    """Check an RGB uint8 image and return it C-contiguous; raise ValueError naming the problem."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be H×W×3 RGB, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image is empty: shape {image.shape}")
    return np.ascontiguousarray(image)


def validate_prompts(
    points: np.ndarray | None,
    labels: np.ndarray | None,
    box: np.ndarray | None,
    mask_input: np.ndarray | None,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Normalise prompt arrays to float32/int32 and raise PromptError on malformed input."""
    if points is not None or labels is not None:
        if points is None or labels is None:
            raise PromptError("points and labels must be given together")
        points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        labels = np.asarray(labels, dtype=np.int32).reshape(-1)
        if len(points) != len(labels):
            raise PromptError(f"{len(points)} points but {len(labels)} labels")
        if len(points) == 0:
            points = labels = None
        elif not np.isfinite(points).all():
            raise PromptError("points contain NaN or infinity")
    if box is not None:
        box = np.asarray(box, dtype=np.float32).reshape(-1)
        if box.shape != (4,):
            raise PromptError(f"box must be (x0, y0, x1, y1), got {box.shape[0]} values")
        if not np.isfinite(box).all():
            raise PromptError("box contains NaN or infinity")
    if mask_input is not None:
        mask_input = np.asarray(mask_input, dtype=np.float32)
        if mask_input.shape == (256, 256):
            mask_input = mask_input[None]
        if mask_input.shape != (1, 256, 256):
            raise PromptError(f"mask_input must be (1, 256, 256) low-res logits, got {mask_input.shape}")
    if points is None and box is None and mask_input is None:
        raise PromptError("no prompt: give points, a box or a mask_input")
    return points, labels, box, mask_input
