"""SAM 3's detector after the encoders: prompt tokens -> scored boxes, and masks on request.

Module names follow the checkpoint keys under ``detector.`` (minus ``backbone.``, the encoders):
``geometry_encoder``, ``transformer.encoder``, ``transformer.decoder``, ``dot_prod_scoring``,
``segmentation_head``. What the official ``Sam3Image.forward_grounding`` does for one prompt,
done here for B prompts on one image at once (B phrases sharing the same exemplars):

1. prompt tokens = the phrase's 32 text tokens, then the exemplar tokens (boxes, then CLS);
2. the fusion encoder mixes them into the 72² image tokens;
3. the decoder answers with 200 boxes and a presence logit; the scorer gives each box a logit;
4. masks, only for the queries asked for (:meth:`Sam3Detector.masks`).

Everything that depends on the image alone is computed once per image by :meth:`prepare_image`
(:class:`ImageContext`): the image tokens, the fusion encoder's first self-attention, the
exemplar encoder's output without exemplars, and the image-only half of the pixel decoder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from model_runtime.checkpoints import SAM3, CheckpointError, load_strict
from model_runtime.models.sam3.decoder import Decoder, DecoderConfig
from model_runtime.models.sam3.fusion_encoder import FusionEncoder, FusionEncoderConfig
from model_runtime.models.sam3.geometry_encoder import (
    UNUSED_KEYS as GEOMETRY_UNUSED,
)
from model_runtime.models.sam3.geometry_encoder import (
    GeometryEncoder,
    GeometryEncoderConfig,
)
from model_runtime.models.sam3.position_encoding import sine_position_encoding
from model_runtime.models.sam3.scoring import DotProductScoring
from model_runtime.models.sam3.segmentation_head import SegmentationHead, SegmentationHeadConfig

PREFIX = "detector."
BACKBONE_PREFIX = "detector.backbone."


@dataclass(frozen=True)
class DetectorConfig:
    """Sizes of the detector; the released model's by default."""

    d_model: int = 256
    num_heads: int = 8
    encoder_layers: int = 6
    encoder_ffn_dim: int = 2048
    decoder_layers: int = 6
    decoder_ffn_dim: int = 2048
    num_queries: int = 200
    geometry_layers: int = 3
    geometry_ffn_dim: int = 2048
    roi_size: int = 7
    scoring_hidden_dim: int = 2048
    pixel_decoder_convs: int = 3

    def fusion_encoder(self) -> FusionEncoderConfig:
        return FusionEncoderConfig(self.d_model, self.num_heads, self.encoder_ffn_dim, self.encoder_layers)

    def decoder(self) -> DecoderConfig:
        return DecoderConfig(
            self.d_model, self.num_heads, self.decoder_ffn_dim, self.decoder_layers, self.num_queries
        )

    def geometry_encoder(self) -> GeometryEncoderConfig:
        return GeometryEncoderConfig(
            self.d_model, self.num_heads, self.geometry_ffn_dim, self.geometry_layers, self.roi_size
        )

    def segmentation_head(self) -> SegmentationHeadConfig:
        return SegmentationHeadConfig(self.d_model, self.num_heads, self.pixel_decoder_convs)


def _count(state_dict: Mapping[str, torch.Tensor], pattern: str) -> int:
    found = {int(m.group(1)) for k in state_dict if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def detect_config(state_dict: Mapping[str, torch.Tensor]) -> DetectorConfig:
    """Read the detector's sizes from a ``sam3.pt`` state dict's tensor shapes and key names.

    The head count is not a shape anywhere but in the box-bias MLPs, whose outputs are one per
    head; every attention of the detector uses that count. Raises KeyError naming a missing key."""
    p = PREFIX + "transformer."

    def shape(key: str) -> tuple[int, ...]:
        if key not in state_dict:
            raise KeyError(key)
        return tuple(state_dict[key].shape)

    num_queries, d_model = shape(p + "decoder.query_embed.weight")
    return DetectorConfig(
        d_model=d_model,
        num_heads=shape(p + "decoder.boxRPB_embed_x.layers.1.weight")[0],
        encoder_layers=_count(state_dict, re.escape(p + "encoder.layers.") + r"(\d+)\."),
        encoder_ffn_dim=shape(p + "encoder.layers.0.linear1.weight")[0],
        decoder_layers=_count(state_dict, re.escape(p + "decoder.layers.") + r"(\d+)\."),
        decoder_ffn_dim=shape(p + "decoder.layers.0.linear1.weight")[0],
        num_queries=num_queries,
        geometry_layers=_count(state_dict, re.escape(PREFIX + "geometry_encoder.encode.") + r"(\d+)\."),
        geometry_ffn_dim=shape(PREFIX + "geometry_encoder.encode.0.linear1.weight")[0],
        roi_size=shape(PREFIX + "geometry_encoder.boxes_pool_project.weight")[-1],
        scoring_hidden_dim=shape(PREFIX + "dot_prod_scoring.prompt_mlp.layers.0.weight")[0],
        pixel_decoder_convs=_count(
            state_dict, re.escape(PREFIX + "segmentation_head.pixel_decoder.conv_layers.") + r"(\d+)\."
        ),
    )


class Transformer(nn.Module):
    """Keys: ``encoder.*`` (fusion encoder), ``decoder.*``."""

    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        self.encoder = FusionEncoder(config.fusion_encoder())
        self.decoder = Decoder(config.decoder())


@dataclass
class ImageContext:
    """What the detector needs of one image, computed once (:meth:`Sam3Detector.prepare_image`).

    tokens:               (1, HW, D) the coarsest neck level as tokens, row-major over ``size``
    first_self_attention: (1, HW, D) the fusion encoder's first self-attention block of them
    no_exemplars:         (1, 1, D) the exemplar encoder's output for no boxes (its CLS token)
    laterals:             the image-only half of the pixel decoder, coarsest first
                          ((1, D, 2H, 2W), (1, D, 4H, 4W))
    size:                 (H, W) of the coarsest level
    """

    tokens: torch.Tensor
    first_self_attention: torch.Tensor
    no_exemplars: torch.Tensor
    laterals: list[torch.Tensor]
    size: tuple[int, int]

    def as_features(self) -> dict[str, object]:
        """Plain tensors by name, for ``ImageEmbedding.features`` (byte-counted, cacheable)."""
        return {
            "tokens": self.tokens,
            "first_self_attention": self.first_self_attention,
            "no_exemplars": self.no_exemplars,
            "laterals": list(self.laterals),
            "size": tuple(self.size),
        }

    @classmethod
    def from_features(cls, features: Mapping[str, object]) -> ImageContext:
        return cls(
            tokens=features["tokens"],  # type: ignore[arg-type]
            first_self_attention=features["first_self_attention"],  # type: ignore[arg-type]
            no_exemplars=features["no_exemplars"],  # type: ignore[arg-type]
            laterals=list(features["laterals"]),  # type: ignore[call-overload]
            size=tuple(features["size"]),  # type: ignore[arg-type]
        )


@dataclass
class Detections:
    """The detector's answer for B prompts on one image (all of the last decoder layer).

    logits:   (B, Q) query logits; boxes (B, Q, 4) normalised cx, cy, w, h; presence (B,) logits
    queries:  (B, Q, D) query features, for masks
    fused:    (B, HW, D) the fusion encoder's output, for masks
    prompt:   (B, P, D) prompt tokens and prompt_padding (B, P), for masks
    """

    logits: torch.Tensor
    boxes: torch.Tensor
    presence: torch.Tensor
    queries: torch.Tensor
    fused: torch.Tensor
    prompt: torch.Tensor
    prompt_padding: torch.Tensor


class Sam3Detector(nn.Module):
    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        self.config = config
        self.geometry_encoder = GeometryEncoder(config.geometry_encoder())
        self.transformer = Transformer(config)
        self.dot_prod_scoring = DotProductScoring(config.d_model, config.scoring_hidden_dim)
        self.segmentation_head = SegmentationHead(config.segmentation_head())
        self._pos_cache: dict[tuple[int, int, str], torch.Tensor] = {}

    def unused_keys(self) -> tuple[str, ...]:
        """Checkpoint keys (relative to this module) that inference never reads."""
        geometry = tuple("geometry_encoder." + k for k in GEOMETRY_UNUSED)
        head = tuple(
            "segmentation_head." + k for k in SegmentationHead.unused_keys(self.config.segmentation_head())
        )
        return geometry + head

    def position_encoding(self, size: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
        """(1, HW, D) sine encoding of the (H, W) grid (the neck's ``vision_pos_enc``), cached."""
        key = (size[0], size[1], str(like.device))
        if key not in self._pos_cache:
            grid = sine_position_encoding(self.config.d_model, size, like.device)  # (1, D, H, W)
            self._pos_cache[key] = grid.flatten(2).transpose(1, 2).contiguous()
        return self._pos_cache[key].to(like.dtype)

    def prepare_image(self, backbone_fpn: list[torch.Tensor]) -> ImageContext:
        """backbone_fpn: the detector neck levels of one image, finest first ((1, D, 4H, 4W),
        (1, D, 2H, 2W), (1, D, H, W)) -> the per-image context."""
        coarsest = backbone_fpn[-1]
        size = (int(coarsest.shape[-2]), int(coarsest.shape[-1]))
        tokens = coarsest.flatten(2).transpose(1, 2).contiguous()
        pos = self.position_encoding(size, tokens)
        return ImageContext(
            tokens=tokens,
            first_self_attention=self.transformer.encoder.first_self_attention(tokens, pos),
            no_exemplars=self.geometry_encoder(tokens, pos, size),
            laterals=self.segmentation_head.laterals(list(backbone_fpn[:-1])),
            size=size,
        )

    def detect(
        self,
        image: ImageContext,
        text: torch.Tensor,
        text_padding: torch.Tensor,
        boxes: torch.Tensor | None = None,
        positive: torch.Tensor | None = None,
    ) -> Detections:
        """text (B, T, D) text tokens (batch first) with text_padding bool (B, T); boxes (N, 4)
        normalised cx, cy, w, h with positive bool (N,), shared by all B prompts, or None."""
        pos = self.position_encoding(image.size, image.tokens)
        if boxes is None or not len(boxes):
            exemplars = image.no_exemplars
        else:
            exemplars = self.geometry_encoder(image.tokens, pos, image.size, boxes, positive)
        batch = text.shape[0]
        prompt = torch.cat([text, exemplars.expand(batch, -1, -1)], dim=1)
        padding = torch.cat([text_padding, text_padding.new_zeros((batch, exemplars.shape[1]))], dim=1)
        fused = self.transformer.encoder(image.tokens, pos, prompt, padding, image.first_self_attention)
        decoded = self.transformer.decoder(fused, pos, image.size, prompt, padding)
        logits = self.dot_prod_scoring(decoded.queries, prompt, padding)
        return Detections(
            logits=logits,
            boxes=decoded.boxes,
            presence=decoded.presence,
            queries=decoded.queries,
            fused=fused,
            prompt=prompt,
            prompt_padding=padding,
        )

    def pixel_features(self, image: ImageContext, found: Detections, index: int) -> torch.Tensor:
        """(D, 4H, 4W) per-pixel features of prompt ``index``: what its masks are made from."""
        pick = slice(index, index + 1)
        pixels = self.segmentation_head.pixel_features(
            found.fused[pick], image.size, found.prompt[pick], found.prompt_padding[pick], image.laterals
        )
        return pixels[0]

    def masks(
        self, pixels: torch.Tensor, found: Detections, index: int, queries: torch.Tensor
    ) -> torch.Tensor:
        """Mask logits (K, 4H, 4W) of prompt ``index``'s queries ``queries`` (K,) int64."""
        return self.segmentation_head.mask_logits(pixels, found.queries[index, queries])


def detector_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The detector's entries of a ``sam3.pt`` state dict, without the ``detector.`` prefix and
    without the encoders (``detector.backbone.*``)."""
    return {
        k[len(PREFIX) :]: v
        for k, v in state_dict.items()
        if k.startswith(PREFIX) and not k.startswith(BACKBONE_PREFIX)
    }


def load_detector(
    state_dict: Mapping[str, torch.Tensor], path: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> Sam3Detector:
    """The detector of a ``sam3.pt``-layout state dict (sizes from its shapes), holding the file's
    tensors themselves (built on ``meta``, loaded with ``assign``). CheckpointError when a tensor
    is missing or of the wrong shape."""
    try:
        config = detect_config(state_dict)
    except KeyError as exc:
        raise CheckpointError(path, f"SAM 3 detector weights are incomplete: no {exc.args[0]}", SAM3) from exc
    with torch.device("meta"):
        detector = Sam3Detector(config)
    load_strict(detector, detector_state_dict(state_dict), path, SAM3, detector.unused_keys(), assign=True)
    return detector.eval().requires_grad_(False).to(device)
