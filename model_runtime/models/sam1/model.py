"""SAM 1 (ViT-B/L/H) and MobileSAM (TinyViT) as a :class:`model_runtime.api.ImageModel`.

``from_state_dict`` is what ``model_runtime.load_model`` calls: it recognises the encoder from
tensor shapes (never the file name), builds the matching architecture and loads the official
keys strictly.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from model_runtime.api import (
    Capability,
    ImageEmbedding,
    ModelInfo,
    Prediction,
    PromptError,
    Prompts,
    check_embedding,
    validate_image,
    validate_prompts,
)
from model_runtime.checkpoints import MOBILESAM, SAM1, CheckpointError, load_strict
from model_runtime.devices import resolve_device
from model_runtime.everything.from_clicks import EverythingFromClicks
from model_runtime.fingerprint import weights_fingerprint
from model_runtime.models.common.heap_reuse import reusing_freed_memory
from model_runtime.models.common.mask_upsampling import Plan, candidate_masks, sam1_plan
from model_runtime.models.common.prompt_batches import decode_click_groups, shape_groups
from model_runtime.models.common.prompt_encoder import PromptEncoder
from model_runtime.models.common.two_way_transformer import ImageSide
from model_runtime.models.sam1 import transforms
from model_runtime.models.sam1.mask_decoder import MaskDecoder
from model_runtime.models.sam1.tiny_vit import CLASSIFIER_PREFIXES, TinyViT, tiny_vit_config_from_state_dict
from model_runtime.models.sam1.vit import ImageEncoderViT, vit_config_from_state_dict

IMAGE_SIZE = 1024
EMBED_DIM = 256
EMBED_GRID = IMAGE_SIZE // 16
LOW_RES = 4 * EMBED_GRID  # the mask decoder's logits are LOW_RES² (256²)
# The name of the image features in ImageEmbedding.features.
FEATURES = "image_embed"


class Sam(nn.Module):
    """The three official sub-modules under their checkpoint names."""

    def __init__(self, image_encoder: nn.Module) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.prompt_encoder = PromptEncoder(
            embed_dim=EMBED_DIM,
            image_embedding_size=(EMBED_GRID, EMBED_GRID),
            input_image_size=(IMAGE_SIZE, IMAGE_SIZE),
            mask_in_chans=16,
        )
        self.mask_decoder = MaskDecoder(transformer_dim=EMBED_DIM)


@dataclass(frozen=True)
class _Prompts:
    """Prompt tensors in the model's 1024-px input frame."""

    points: tuple[torch.Tensor, torch.Tensor] | None
    box: torch.Tensor | None
    mask: torch.Tensor | None


class Sam1Model(EverythingFromClicks):
    """SAM 1 / MobileSAM: ``encode_image`` once per image, then cheap ``predict`` calls."""

    def __init__(self, sam: Sam, info: ModelInfo, device: torch.device) -> None:
        self.sam = sam.eval().to(device)
        self.info = info
        self.device = device
        with torch.inference_mode():
            # Constant per model: the official code recomputes it on every predict.
            self._dense_pe = self.sam.prompt_encoder.get_dense_pe()
        # The decoder's prompt-independent work for the most recent image (used when there is no
        # mask input), keyed by the identity of that image's feature tensor.
        self._side_lock = threading.Lock()
        self._side: tuple[weakref.ref[torch.Tensor], ImageSide] | None = None

    def _image_side(self, features: torch.Tensor) -> ImageSide:
        """Decoder precomputation for ``features`` with the "no mask" dense prompt, cached."""
        with self._side_lock:
            if self._side is not None and self._side[0]() is features:
                return self._side[1]
            no_mask = self.sam.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
            side = self.sam.mask_decoder.precompute(features, self._dense_pe, no_mask)
            self._side = (weakref.ref(features), side)
            return side

    def prepare_clicks(self, embedding: ImageEmbedding) -> None:
        """The decoder's image side for ``embedding``'s features, ready for the first click on
        it (``ClickPreparer``: the runtime calls this when the image is shown)."""
        check_embedding(embedding, self.info)
        features = embedding.features.get(FEATURES)
        if features is None:
            raise PromptError(f"embedding has no {FEATURES!r} features")
        with torch.inference_mode():
            self._image_side(features.to(self.device))

    def compilable_modules(self) -> dict[str, tuple[nn.Module, bool]]:
        """What ``--compile`` compiles (``models.common.compilation``): the image encoder."""
        return {"image_encoder": (self.sam.image_encoder, False)}

    def encode_image(self, image: np.ndarray) -> ImageEmbedding:
        """image: uint8 (H, W, 3) RGB -> embedding with features["image_embed"] (1, 256, 64, 64)."""
        image = validate_image(image)
        resized = transforms.resize_image(image, IMAGE_SIZE)
        x = transforms.image_to_input(resized, IMAGE_SIZE, self.device)
        with torch.inference_mode():
            features = self.sam.image_encoder(x)
        return ImageEmbedding(
            model_id=self.info.model_id,
            original_size=(image.shape[0], image.shape[1]),
            input_size=(resized.shape[0], resized.shape[1]),
            features={FEATURES: features},
        )

    def _prompts(
        self,
        embedding: ImageEmbedding,
        points: np.ndarray | None,
        labels: np.ndarray | None,
        box: np.ndarray | None,
        mask_input: np.ndarray | None,
    ) -> _Prompts:
        points, labels, box, mask_input = validate_prompts(points, labels, box, mask_input)
        dev = self.device
        point_t = None
        if points is not None and labels is not None:
            if not np.isin(labels, (0, 1)).all():
                raise PromptError(
                    f"SAM 1 point labels must be 0 (background) or 1 (foreground), got {labels}"
                )
            coords = transforms.scale_coords(points, embedding.original_size, embedding.input_size)
            point_t = (
                torch.from_numpy(coords)[None].to(dev),
                torch.from_numpy(labels.astype(np.int32))[None].to(dev),
            )
        box_t = None
        if box is not None:
            corners = transforms.scale_coords(
                box.reshape(2, 2), embedding.original_size, embedding.input_size
            )
            box_t = torch.from_numpy(corners.reshape(1, 4)).to(dev)
        mask_t = torch.from_numpy(mask_input)[None].to(dev) if mask_input is not None else None
        return _Prompts(point_t, box_t, mask_t)

    def predict(
        self,
        embedding: ImageEmbedding,
        points: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask: bool = True,
    ) -> Prediction:
        """Masks for one prompt set: 3 candidates with ``multimask``, else 1 (SAM 1 semantics)."""
        prompts = self._prompts(embedding, points, labels, box, mask_input)
        low_res, scores = self._decode(embedding, [prompts], multimask)
        return self._prediction(embedding, low_res[0], scores[0], make_best=True)

    def predict_batch(
        self, embedding: ImageEmbedding, prompts: Sequence[Prompts], multimask: bool = True
    ) -> list[Prediction]:
        """One :class:`Prediction` per prompt set, as ``predict`` gives, from one decoder pass per
        group of equally shaped prompt sets. No mask is made until it is read."""
        results: list[Prediction | None] = [None] * len(prompts)
        with reusing_freed_memory():  # groups reuse each other's pages
            for group in shape_groups(prompts):
                encoded = [self._prompts(embedding, **prompts[i].click_arrays()) for i in group]
                low_res, scores = self._decode(embedding, encoded, multimask)
                for j, i in enumerate(group):
                    results[i] = self._prediction(embedding, low_res[j], scores[j], make_best=False)
        return [r for r in results if r is not None]

    def decode_clicks(
        self, embedding: ImageEmbedding, points: np.ndarray, multimask: bool = True,
        min_score: float | None = None,
    ) -> tuple[torch.Tensor, np.ndarray]:
        """Single foreground clicks, points float (N, 2) in image pixels -> low-res logits
        float32 (N, K, 256, 256) on the CPU and scores float32 (N, K), as ``predict`` computes
        them, in groups of ``MAX_BATCH`` decoder passes, with no :class:`Prediction` per click
        (segment everything's grid; ``model_runtime.everything``). ``min_score``: the logits of
        a click none of whose K scores exceeds it are not computed (NaN)."""
        return decode_click_groups(
            points, multimask, LOW_RES,
            lambda point, label: self._prompts(embedding, point, label, None, None),
            lambda group: self._decode(embedding, group, multimask, min_score),
        )

    def _decode(
        self, embedding: ImageEmbedding, prompts: Sequence[_Prompts], multimask: bool,
        min_score: float | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt sets of one shape -> low-res logits (B, K, 256, 256) and scores (B, K);
        ``min_score``: see :meth:`decode_clicks`."""
        check_embedding(embedding, self.info)
        features = embedding.features.get(FEATURES)
        if features is None:
            raise PromptError(f"embedding has no {FEATURES!r} features")
        first = prompts[0]
        points = None
        if first.points is not None:
            points = (torch.cat([p.points[0] for p in prompts]), torch.cat([p.points[1] for p in prompts]))
        box = torch.cat([p.box for p in prompts]) if first.box is not None else None
        mask = torch.cat([p.mask for p in prompts]) if first.mask is not None else None
        with torch.inference_mode():
            features = features.to(self.device)
            sparse, dense = self.sam.prompt_encoder(points, box, mask)
            # Without a mask input the dense prompt is a constant, so the image side is reusable.
            side = self._image_side(features) if mask is None else None
            return self.sam.mask_decoder(
                features, self._dense_pe, sparse, dense, multimask_output=multimask, image_side=side,
                min_iou=min_score,
            )

    def _prediction(
        self, embedding: ImageEmbedding, low_res: torch.Tensor, scores: torch.Tensor, make_best: bool
    ) -> Prediction:
        """(K, 256, 256) logits and (K,) scores -> masks made sign-exactly, interpolating only
        near the mask border (see common.mask_upsampling), on first read."""
        scores_np = scores.float().cpu().numpy()
        return Prediction(
            masks=candidate_masks(low_res, self.mask_plan(embedding), scores_np, make_best),
            scores=scores_np,
            low_res_logits=low_res.float().cpu().numpy(),
        )

    def mask_plan(self, embedding: ImageEmbedding) -> Plan:
        """How this model's low-res logits become masks of the encoded image's size."""
        input_size, original_size = tuple(embedding.input_size), tuple(embedding.original_size)
        return sam1_plan((LOW_RES, LOW_RES), input_size, original_size, IMAGE_SIZE)


def _parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def from_state_dict(
    state_dict: dict[str, torch.Tensor],
    *,
    family: str,
    path: str | os.PathLike[str],
    device: str | torch.device | None = None,
) -> Sam1Model:
    """Build SAM 1 (ViT-B/L/H) or MobileSAM from an official state dict, size detected from shapes."""
    if family == SAM1:
        config = vit_config_from_state_dict(state_dict)
        if config is None:
            raise CheckpointError(path, "ViT image encoder of an unknown size (not ViT-B, -L or -H)", family)
        encoder: nn.Module = ImageEncoderViT(config)
        variant = config.name
        ignore: tuple[str, ...] = ()
    elif family == MOBILESAM:
        tiny = tiny_vit_config_from_state_dict(state_dict)
        if tiny is None:
            raise CheckpointError(
                path, "TinyViT image encoder of an unknown size (not MobileSAM's 5M)", family
            )
        encoder = TinyViT(tiny)
        variant = tiny.name
        ignore = CLASSIFIER_PREFIXES
    else:
        raise CheckpointError(path, f"not a SAM 1 / MobileSAM checkpoint (family {family})", family)
    sam = Sam(encoder)
    load_strict(sam, state_dict, path, family, ignore_prefixes=ignore)
    if isinstance(encoder, TinyViT):
        encoder.fuse()
    dev = resolve_device(device)
    weights = weights_fingerprint(sam.state_dict())
    info = ModelInfo(
        family=family,
        variant=variant,
        image_size=IMAGE_SIZE,
        parameter_count=_parameter_count(sam),
        device=str(dev),
        source=str(path),
        capabilities=frozenset({Capability.CLICK, Capability.EVERYTHING}),
        weights=weights,
    )
    return Sam1Model(sam, info, dev)
