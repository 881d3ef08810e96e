"""SAM 3 as a model_runtime model: what ``load_model("sam3.pt")`` returns.

``encode_image`` runs the ViT and both necks once per image and keeps, for the detector, only what
prompts need (see :class:`~model_runtime.models.sam3.detector.ImageContext`); ``find_all`` answers
a noun phrase and/or exemplar boxes with every instance (as the official ``Sam3Processor``);
``predict`` answers clicks and boxes through the interactive (tracker) head (as the official
``predict_inst``); ``open_video`` opens a video where a noun phrase tracks every instance with
stable ids and clicks correct them (``video.py``, as the official ``Sam3VideoPredictor``).

Beyond the official code:

- text features are cached per phrase (by the encoders); several phrases run as one batched
  detector pass, one :class:`Instances` each (``Prompts(text=(...))``);
- ``Instances.above(t)`` re-filters without the model; masks are made only for what is kept and
  resized to the image only when read; the semantic head never runs;
- whatever depends on the image alone is computed at encode time, not per prompt.

Errors are :class:`PromptError` with the reason: no phrase and no exemplar, an empty phrase
without exemplars, an exemplar box of zero area or outside the image, a threshold that is not a
number. A phrase longer than the text context (32 tokens with [SOT] and [EOT]) is cut as the
official tokenizer cuts it, with a warning naming it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from model_runtime.api import (
    Capability,
    ImageEmbedding,
    Instances,
    ModelCapabilityError,
    ModelInfo,
    Prediction,
    PromptError,
    Prompts,
    check_embedding,
    validate_exemplar_box,
    validate_image,
)
from model_runtime.checkpoints import SAM3, CheckpointError
from model_runtime.devices import resolve_device
from model_runtime.fingerprint import weights_fingerprint
from model_runtime.models.common.precision import autocast, check_compute_dtype, default_compute_dtype
from model_runtime.models.common.resident import release_pages
from model_runtime.models.sam3.checkpoint import (
    DETECTOR,
    IMAGE_ENCODER,
    TEXT_ENCODER,
    TRACKER,
    load_encoders,
    require_parts,
)
from model_runtime.models.sam3.detector import ImageContext, Sam3Detector, load_detector
from model_runtime.models.sam3.encoders import Sam3Encoders
from model_runtime.models.sam3.interactive import InteractiveHead, load_interactive_head
from model_runtime.models.sam3.postprocess import detections_to_instances
from model_runtime.models.sam3.tracker import Sam3Tracker, load_tracker
from model_runtime.models.sam3.transforms import preprocess_image

# The phrase the official processor encodes when a prompt has exemplars but no text.
VISUAL_PHRASE = "visual"
# Phrases per detector pass: bounds the activations (~60 MB per phrase in the fusion encoder).
PHRASES_PER_PASS = 8
# ImageEmbedding.features: the detector's entry; the interactive head writes its own "tracker_*" keys.
DETECTOR_FEATURES = "detector"


class Sam3Model:
    """SAM 3 over its encoders, its detector and (optionally) its interactive head.

    Precision (``info.compute_dtype``): ``compute_dtype`` "bfloat16" runs the encoders, the
    detector and the interactive head under bf16 autocast, as the official examples run SAM 3 on
    a GPU (the detector's feed-forward layers stay float32, as in the official decoder); the
    default (:func:`~model_runtime.models.common.precision.default_compute_dtype`) is bf16 on a
    CUDA GPU that supports it and float32 elsewhere.
    """

    def __init__(
        self,
        encoders: Sam3Encoders,
        detector: Sam3Detector | None,
        interactive: InteractiveHead | None = None,
        device: torch.device | str = "cpu",
        source: str = "",
        weights: str = "",
        compute_dtype: str | None = None,
        tracker: Sam3Tracker | None = None,
    ) -> None:
        self.encoders = encoders
        self.detector = detector
        self.interactive = interactive
        self.tracker = tracker
        self.device = torch.device(device)
        self.compute_dtype = check_compute_dtype(
            default_compute_dtype(self.device) if compute_dtype is None else compute_dtype, "SAM 3"
        )
        capabilities = set()
        if detector is not None and encoders.language_backbone is not None:
            capabilities.add(Capability.CONCEPT)
        if interactive is not None:
            capabilities.add(Capability.CLICK)
        # The concept session (``video.py``) tracks phrases and clicks, but not yet the keyframe
        # protocol of ``api.VideoSession`` (per-object frame ranges, ``stop_object``) that
        # Video ▸ Track drives, so SAM 3 does not claim ``video``.
        if tracker is not None and Capability.CONCEPT in capabilities:
            capabilities.add(Capability.CONCEPT_VIDEO)
        modules = [m for m in (encoders, detector, interactive) if m is not None]
        if tracker is not None:
            modules.append(tracker.memory)
        config = encoders.config
        self.info = ModelInfo(
            family=SAM3,
            variant=_variant(config.vit.embed_dim, config.vit.depth, config.d_model),
            image_size=config.image_size,
            parameter_count=sum(p.numel() for m in modules for p in m.parameters()),
            device=str(self.device),
            source=source,
            capabilities=frozenset(capabilities),
            weights=weights,
            compute_dtype=self.compute_dtype,
        )

    def compilable_modules(self) -> dict[str, tuple[torch.nn.Module, bool]]:
        """What ``--compile`` compiles (``models.common.compilation``): the image encoder (ViT)."""
        return {"image_encoder": (self.encoders.vision_backbone.trunk, False)}

    # -- encoding -----------------------------------------------------------------------------

    @torch.inference_mode()
    def encode_image(self, image: np.ndarray) -> ImageEmbedding:
        """uint8 (H, W, 3) RGB -> the embedding every prompt on this image reuses."""
        image = validate_image(image)
        size = self.info.image_size
        pixels = preprocess_image(image, size).to(self.device)
        head = self.interactive
        tracker_heads = head.neck_heads if head is not None else ()
        features: dict[str, Any] = {}
        self.encoders.release_text_pages()
        with autocast(self.device, self.compute_dtype):
            vision = self.encoders.vision_backbone(
                pixels, with_tracker=head is not None, tracker_heads=tracker_heads
            )
            if self.detector is not None:
                features[DETECTOR_FEATURES] = self.detector.prepare_image(vision.backbone_fpn).as_features()
            if head is not None and vision.sam2_backbone_out is not None:
                features.update(head.image_features(vision.sam2_backbone_out))
        return ImageEmbedding(
            model_id=self.info.model_id,
            original_size=(int(image.shape[0]), int(image.shape[1])),
            input_size=(size, size),
            features=features,
        )

    # -- concepts -----------------------------------------------------------------------------

    def find_all(
        self, embedding: ImageEmbedding, prompts: Prompts, threshold: float = 0.5
    ) -> Instances | list[Instances]:
        """Every instance of the prompts' phrase(s) and/or exemplar boxes scoring above
        ``threshold``; one :class:`Instances` per phrase when ``prompts.text`` is a tuple.
        Clicks and a box in ``prompts`` are not concept prompts and are not used here."""
        if Capability.CONCEPT not in self.info.capabilities or self.detector is None:
            raise ModelCapabilityError(
                f"{self.info.display_name} was loaded without its detector or text encoder"
            )
        check_embedding(embedding, self.info)
        if not isinstance(prompts, Prompts):
            raise PromptError(f"find_all takes a Prompts value, got {type(prompts).__name__}")
        threshold = _threshold(threshold)
        phrases, names = _phrases(prompts)
        for exemplar in prompts.exemplars:
            validate_exemplar_box(exemplar.box, embedding.original_size)
        detector_features = embedding.features.get(DETECTOR_FEATURES)
        if detector_features is None:
            raise PromptError(
                "this embedding was made without the detector's features; encode the image again"
            )
        image = _on_device(ImageContext.from_features(detector_features), self.device)
        boxes, positive = self._exemplar_tensors(prompts, embedding.original_size)
        unique = list(dict.fromkeys(zip(phrases, names, strict=True)))
        answers: dict[tuple[str, str | None], Instances] = {}
        with torch.inference_mode(), autocast(self.device, self.compute_dtype):
            for start in range(0, len(unique), PHRASES_PER_PASS):
                part = unique[start : start + PHRASES_PER_PASS]
                text = self.encoders.forward_text([phrase for phrase, _ in part])
                found = self.detector.detect(
                    image,
                    text.language_features.transpose(0, 1).to(self.device),
                    text.language_mask.to(self.device),
                    boxes,
                    positive,
                )
                results = detections_to_instances(
                    self.detector, image, found, embedding.original_size, threshold, [n for _, n in part]
                )
                answers.update(zip(part, results, strict=True))
        ordered = [answers[key] for key in zip(phrases, names, strict=True)]
        return ordered if isinstance(prompts.text, tuple) else ordered[0]

    def _exemplar_tensors(
        self, prompts: Prompts, image_size: tuple[int, int]
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Exemplar boxes as normalised (cx, cy, w, h) float32 (N, 4) and positive bool (N,)."""
        if not prompts.exemplars:
            return None, None
        height, width = image_size
        rows = [
            [(x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height]
            for (x0, y0, x1, y1) in (e.box for e in prompts.exemplars)
        ]
        boxes = torch.tensor(rows, dtype=torch.float32, device=self.device)
        positive = torch.tensor([e.positive for e in prompts.exemplars], device=self.device)
        return boxes, positive

    # -- clicks -------------------------------------------------------------------------------

    def predict(
        self,
        embedding: ImageEmbedding,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask: bool = True,
    ) -> Prediction:
        """Clicks and/or a box through SAM 3's interactive head (the official ``predict_inst``)."""
        if self.interactive is None:
            raise ModelCapabilityError(f"{self.info.display_name} was loaded without its interactive head")
        check_embedding(embedding, self.info)
        with autocast(self.device, self.compute_dtype):
            return self.interactive.predict(
                embedding.features, embedding.original_size, points, labels, box, mask_input, multimask
            )


    # -- video --------------------------------------------------------------------------------

    def open_video(self, source: Any, config: Any = None) -> Any:
        """A video session (``video.ConceptVideoSession``): a phrase tracks every instance
        (``add_concept``), clicks add or correct single objects (``add_prompt``). ``source``: a
        video file, a folder of frames, or a sequence of RGB arrays."""
        if self.tracker is None:
            raise ModelCapabilityError(f"{self.info.display_name} was loaded without its video tracker")
        from model_runtime.models.sam3.video import ConceptVideoSession

        return ConceptVideoSession(self, source, config)


def _variant(vit_dim: int, vit_depth: int, d_model: int) -> str:
    """'vit_l' for the released sizes, else the sizes (reduced test checkpoints)."""
    if (vit_dim, vit_depth, d_model) == (1024, 32, 256):
        return "vit_l"
    return f"vit{vit_dim}x{vit_depth}-d{d_model}"


def _threshold(value: Any) -> float:
    try:
        threshold = float(value)
    except (TypeError, ValueError):
        raise PromptError(f"threshold must be a number, got {value!r}") from None
    if not math.isfinite(threshold):
        raise PromptError(f"threshold must be finite, got {threshold}")
    return threshold


def _phrases(prompts: Prompts) -> tuple[list[str], list[str | None]]:
    """The phrases to encode, one per result, and the results' names: no phrase (or an empty one)
    with exemplars encodes the official "visual" and names nothing; an empty phrase without
    exemplars is an error."""
    if not prompts.phrases and not prompts.exemplars:
        raise PromptError("no concept prompt: give a noun phrase (text=) and/or exemplar boxes (exemplars=)")
    if not prompts.phrases:
        return [VISUAL_PHRASE], [None]
    encoded: list[str] = []
    names: list[str | None] = []
    for phrase in prompts.phrases:
        if phrase.strip():
            encoded.append(phrase)
            names.append(phrase)
        elif prompts.exemplars:
            encoded.append(VISUAL_PHRASE)
            names.append(None)
        else:
            raise PromptError("empty phrase and no exemplar boxes: type what to find, or draw an example box")
    return encoded, names


def _on_device(image: ImageContext, device: torch.device) -> ImageContext:
    """The context's tensors on ``device`` (a disk-cached embedding comes back on the CPU)."""
    return ImageContext(
        tokens=image.tokens.to(device),
        first_self_attention=image.first_self_attention.to(device),
        no_exemplars=image.no_exemplars.to(device),
        laterals=[t.to(device) for t in image.laterals],
        size=image.size,
    )


def from_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    *,
    family: str,
    path: str | os.PathLike[str],
    device: str | torch.device | None = None,
) -> Sam3Model:
    """Build SAM 3 from a ``sam3.pt`` state dict: encoders, detector and interactive head, sizes
    from tensor shapes, each holding the file's tensors (no copies).

    A file missing a part is refused naming it (``checkpoint.require_parts``)."""
    if family != SAM3:
        raise CheckpointError(path, f"not a SAM 3 checkpoint: {family!r}", family)
    dev = resolve_device(device)
    require_parts(state_dict, path, (IMAGE_ENCODER, TEXT_ENCODER, DETECTOR, TRACKER))
    weights = weights_fingerprint(state_dict)
    encoders = load_encoders(state_dict, path, with_text=True, with_tracker=True, device=dev)
    detector = load_detector(state_dict, path, dev)
    head = load_interactive_head(state_dict, path, encoders.config.d_model, encoders.config.image_size, dev)
    tracker = load_tracker(head, state_dict, path, dev)
    model = Sam3Model(encoders, detector, head, dev, source=str(path), weights=weights, tracker=tracker)
    # The fingerprint's samples touched every page of a memory-mapped file (3.3 GB at the
    # released size): each part maps its pages again when it first runs.
    for module in (encoders, detector, head, tracker.memory):
        release_pages(module)
    return model
