"""The contract every segmentation backend fulfils.

A backend (SAM 1, MobileSAM, SAM 2/2.1, SAM 3, the classical GrabCut default, a plugin) turns an
RGB image into an :class:`ImageEmbedding` once (the heavy part) and then answers prompts against
it (the cheap part). What it can answer is declared in ``ModelInfo.capabilities``:

=================  =============================================  ==============================
capability         method                                         answer
=================  =============================================  ==============================
``click``          ``predict(embedding, points=, labels=, ...)``  :class:`Prediction`: one
                                                                  object, K candidate masks
``concept``        ``find_all(embedding, prompts, threshold)``    :class:`Instances` (one per
                                                                  phrase for several phrases)
``everything``     ``segment_everything(image, embedding)``       :class:`Instances`;
                   ``iter_everything``: the same in steps         :class:`EverythingProgress`
``video``          ``open_video(source) -> VideoSession``         tracked masks per frame
``concept_video``  ``open_video(source)``, then ``add_concept``    every instance of a phrase
                   (SAM 3; ``models/sam3/video.py``)              tracked, stable ids per frame
=================  =============================================  ==============================

``predict_batch(embedding, [Prompts, ...])`` is optional for ``click`` models: many prompts in
one decoder pass (segment everything asks ~1,000 per image). Prompts of every kind travel as one
:class:`Prompts` value. Nothing here imports Qt or torch, or knows about documents.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import numpy as np

from model_runtime.candidate_masks import CandidateMasks
from model_runtime.instances import Instances
from model_runtime.prompts import Exemplar, PromptError, Prompts, validate_exemplar_box

__all__ = [
    "BatchPredictor",
    "CandidateMasks",
    "Capability",
    "ClickPreparer",
    "ConceptModel",
    "EverythingModel",
    "EverythingProgress",
    "Exemplar",
    "ImageEmbedding",
    "ImageModel",
    "Instances",
    "ModelCapabilityError",
    "ModelInfo",
    "Prediction",
    "PromptError",
    "Prompts",
    "VideoFrameEncoder",
    "VideoModel",
    "VideoSession",
    "check_embedding",
    "models_with",
    "require_capability",
    "validate_exemplar_box",
    "validate_image",
    "validate_prompts",
]


class Capability(StrEnum):
    """What a loaded model can do; the runtime and the GUI enable features from these."""

    CLICK = "click"  # predict(): clicks, a box, a previous mask -> one object's candidates
    CONCEPT = "concept"  # find_all(): a noun phrase and/or exemplar boxes -> every instance
    EVERYTHING = "everything"  # segment_everything(): every object of an image
    VIDEO = "video"  # open_video(): track prompted objects through a video
    CONCEPT_VIDEO = "concept_video"  # open_video().add_concept(): track every instance of a phrase


WEIGHTS_ID_CHARS = 12  # of the weights fingerprint in a model id (48 bits)


class ModelCapabilityError(Exception):
    """The loaded model cannot serve this request (e.g. track a video with SAM 1, find all with
    SAM 2); the message names what the request needs and which models have it."""


@dataclass(frozen=True)
class ModelInfo:
    """What a loaded model is. ``family`` is one of "sam1", "mobilesam", "sam2", "sam2.1",
    "classical" (or a plugin's own name); ``variant`` names the size ("vit_b", "hiera_t", ...);
    ``weights`` fingerprints the weights (``model_runtime.fingerprint``; "" for a model
    without weights), so two checkpoints of one size have different ids. ``compute_dtype`` is
    the precision the model computes its embeddings in ("float32", or "bfloat16" where the
    model chose reduced precision, e.g. on a GPU): the model decides and applies it itself
    (the runtime adds no autocast), and it is part of the id, so caches never mix the two."""

    family: str
    variant: str
    image_size: int
    parameter_count: int
    device: str = "cpu"
    source: str = ""  # the checkpoint path, or "" for models without weights
    capabilities: frozenset[str] = frozenset({Capability.CLICK})
    weights: str = ""
    compute_dtype: str = "float32"

    def can(self, capability: str) -> bool:
        return capability in self.capabilities

    @property
    def model_id(self) -> str:
        """Stable id of what computes the numbers — architecture and weights — used to key the
        embedding caches and written into projects: embeddings of different models never mix.
        E.g. "sam2.1-hiera_t-1f0c2a9b7d3e", "sam2.1-hiera_t-1f0c2a9b7d3e-bfloat16". The device
        is not in it: float32 on a CPU and on a GPU differ by rounding only."""
        parts = [self.family, self.variant]
        if self.weights:
            parts.append(self.weights[:WEIGHTS_ID_CHARS])
        if self.compute_dtype != "float32":
            parts.append(self.compute_dtype)
        return "-".join(parts)

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
        return _nbytes(self.features)


def _nbytes(value: Any) -> int:
    """Bytes of the tensors and arrays in ``value``, through nested dicts, lists and tuples."""
    if hasattr(value, "element_size") and hasattr(value, "nelement"):
        return int(value.element_size() * value.nelement())
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    return 0


@dataclass
class Prediction:
    """Candidate masks for one prompt set.

    masks:          K candidates, bool (H, W) each at the original image size (see
                    :class:`CandidateMasks`; a plain bool (K, H, W) array given here is wrapped)
    scores:         float32 (K,) predicted IoU (or the backend's confidence)
    low_res_logits: float32 (K, 256, 256) (SAM 3: (K, 288, 288)); one of them, as (1, h, w),
                    is the next call's ``mask_input`` when refining the same object
    """

    masks: CandidateMasks
    scores: np.ndarray
    low_res_logits: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.masks, CandidateMasks):
            self.masks = CandidateMasks.of(self.masks)


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


@runtime_checkable
class BatchPredictor(Protocol):
    """Optional for ``click`` models: many prompt sets on one embedding in one decoder pass."""

    def predict_batch(
        self, embedding: ImageEmbedding, prompts: Sequence[Prompts], multimask: bool = True
    ) -> list[Prediction]:
        """One :class:`Prediction` per prompt set, in order; each set has clicks and/or a box."""
        ...


@runtime_checkable
class ClickPreparer(Protocol):
    """Optional for ``click`` models whose clicks on one image share work that the embedding
    does not hold (SAM 1: the mask decoder's image-side projections; SAM 2 and SAM 3 store
    theirs in the embedding at encode time). The runtime calls ``prepare_clicks`` on its
    interactive thread when an image is shown, so that the first click on it costs what the
    later ones do. Idempotent; the result is kept by the model for the embedding given."""

    def prepare_clicks(self, embedding: ImageEmbedding) -> None: ...


@runtime_checkable
class ConceptModel(Protocol):
    """``concept`` models (SAM 3): every instance of a noun phrase and/or exemplar boxes."""

    info: ModelInfo

    def encode_image(self, image: np.ndarray) -> ImageEmbedding: ...

    def find_all(
        self, embedding: ImageEmbedding, prompts: Prompts, threshold: float = 0.5
    ) -> Instances | list[Instances]:
        """Instances scoring above ``threshold`` (``.above(t)`` re-filters without the model).
        With several phrases (``Prompts(text=(...))``), one :class:`Instances` per phrase."""
        ...


@dataclass
class EverythingProgress:
    """One step of ``iter_everything``: ``done`` of ``total`` point batches, and the instances
    kept so far (a preview, duplicates removed as far as known; ``final``: the finished answer,
    the same as ``segment_everything`` gives)."""

    done: int
    total: int
    instances: Instances
    final: bool = False


@runtime_checkable
class EverythingModel(Protocol):
    """``everything`` models: every object of an image proposed at once."""

    info: ModelInfo

    def segment_everything(
        self, image: np.ndarray, embedding: ImageEmbedding | None = None, **settings: Any
    ) -> Instances:
        """image: uint8 (H, W, 3); ``embedding``: the cached full-image one, reused if given."""
        ...

    def iter_everything(
        self, image: np.ndarray, embedding: ImageEmbedding | None = None, **settings: Any
    ) -> Iterator[EverythingProgress]:
        """The same in steps, one point batch each, the final answer last: a sweep takes
        seconds to minutes (~1,000 decoder prompts per image, more with crops), so the runtime
        shows what is kept so far and can stop between batches."""
        ...


@runtime_checkable
class VideoSession(Protocol):
    """One video being tracked; holds per-object memory. Close it to free that memory."""

    num_frames: int

    def add_prompt(
        self,
        frame_index: int,
        obj_id: int,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask: np.ndarray | None = None,
    ) -> dict[int, np.ndarray]:
        """Prompt one object on one frame; returns every object's bool (H, W) mask there."""
        ...

    def propagate(
        self,
        start_frame: int | None = None,
        direction: str = "forward",
        max_frames: int | None = None,
        ranges: Mapping[int, tuple[int, int]] | None = None,
    ) -> Iterator[Any]:
        """One step per frame, each with the frame index and every object's mask; ``ranges``
        limits objects to frame spans (obj_id -> (first, last))."""
        ...

    def stop_object(self, obj_id: int) -> None:
        """Track ``obj_id`` no further in the direction being propagated."""
        ...

    def close(self) -> None:
        """Free the session's memory and its frame reader; the session is unusable after."""
        ...


@runtime_checkable
class VideoModel(Protocol):
    """``video`` models (SAM 2/2.1)."""

    info: ModelInfo

    def open_video(self, source: Any, config: Any = None) -> VideoSession: ...


@runtime_checkable
class VideoFrameEncoder(Protocol):
    """Optional for ``video`` models (SAM 2/2.1): a video frame encoded for clicks exactly as
    tracking encodes it, so one embedding serves both (the runtime's embedding cache shares it
    with the tracking session: ``open_video(source, shared=...)``)."""

    def encode_video_frame(self, image: np.ndarray) -> ImageEmbedding:
        """image: uint8 (H, W, 3) RGB, one frame of a video."""
        ...


def require_capability(info: ModelInfo, capability: str, what: str) -> None:
    """Raise :class:`ModelCapabilityError` unless the model has ``capability``.

    ``what`` says what was asked, for the message ("track objects through a video")."""
    if capability not in info.capabilities:
        needed = models_with(capability)
        raise ModelCapabilityError(
            f"{info.display_name} cannot {what}: that needs {needed} (this model can: "
            f"{', '.join(sorted(info.capabilities)) or 'nothing'})"
        )


_MODELS_WITH = {
    Capability.CLICK: "a click model (SAM 1, MobileSAM, SAM 2/2.1, SAM 3, GrabCut)",
    Capability.CONCEPT: "a SAM 3 model",
    Capability.EVERYTHING: "a SAM 1, MobileSAM or SAM 2/2.1 model",
    Capability.VIDEO: "a SAM 2/2.1 model",
    Capability.CONCEPT_VIDEO: "a SAM 3 model",
}


def models_with(capability: str) -> str:
    """Which models have ``capability``, in words, for messages and tooltips."""
    return _MODELS_WITH.get(capability, "a model with the capability")


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
    mask_size: int = 256,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Normalise prompt arrays to float32/int32 and raise PromptError on malformed input.

    ``mask_size``: the side of the model's low-res logits (256; SAM 3's interactive head: 288)."""
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
        if mask_input.shape == (mask_size, mask_size):
            mask_input = mask_input[None]
        if mask_input.shape != (1, mask_size, mask_size):
            raise PromptError(
                f"mask_input must be (1, {mask_size}, {mask_size}) low-res logits of this model, "
                f"got {mask_input.shape}"
            )
    if points is None and box is None and mask_input is None:
        raise PromptError("no prompt: give points, a box or a mask_input")
    return points, labels, box, mask_input
