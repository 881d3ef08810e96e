"""SAM 3 encoder configuration, detected from a ``sam3.pt``-layout state dict's tensor shapes.

Everything the file's shapes tell is read from them (widths, depths, which ViT blocks attend
globally, window and grid sizes, the neck's levels), so reduced-width test checkpoints in the
official layout load as they are. Attention head counts leave no trace in the shapes of a
fused ``in_proj`` projection: the ViT's is read from its rotary tables (``freqs_cis`` holds
head_dim / 2 factors per token); the text encoder's is the released constant (16).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from model_runtime.models.sam3.neck import SCALES, NeckConfig
from model_runtime.models.sam3.text_encoder import TextEncoderConfig
from model_runtime.models.sam3.vit import ViTConfig

VISION = "detector.backbone.vision_backbone."
TRUNK = VISION + "trunk."
LANGUAGE = "detector.backbone.language_backbone."
TEXT_HEADS = 16  # the released text encoder's (not recoverable from shapes)

_BLOCK = re.compile(r"^" + re.escape(TRUNK) + r"blocks\.(\d+)\.")
_LEVEL = re.compile(r"^" + re.escape(VISION) + r"convs\.(\d+)\.")
_TEXT_LAYER = re.compile(r"^" + re.escape(LANGUAGE) + r"encoder\.transformer\.resblocks\.(\d+)\.")


class ConfigError(ValueError):
    """The state dict's shapes do not describe a SAM 3 encoder; the message says which tensor."""


@dataclass(frozen=True)
class EncoderConfig:
    """The image encoder (ViT + necks) and, when present, the text encoder."""

    vit: ViTConfig
    neck: NeckConfig
    text: TextEncoderConfig | None

    @property
    def d_model(self) -> int:
        return self.neck.d_model

    @property
    def image_size(self) -> int:
        return self.vit.image_size


def _tensor(state_dict: Mapping[str, torch.Tensor], key: str, ndim: int) -> torch.Tensor:
    value = state_dict.get(key)
    if value is None:
        raise ConfigError(f"missing {key}")
    if value.ndim != ndim:
        raise ConfigError(f"{key} has shape {tuple(value.shape)}, expected {ndim} dimensions")
    return value


def _square_side(count: int, what: str) -> int:
    side = math.isqrt(count)
    if side * side != count:
        raise ConfigError(f"{what}: {count} entries is not a square grid")
    return side


def detect_vit(state_dict: Mapping[str, torch.Tensor]) -> ViTConfig:
    """The trunk's sizes from ``patch_embed``, ``pos_embed``, each block's ``freqs_cis`` and MLP.

    When the windows are as large as the token grid, every block is taken as global (the same
    attention: a window that is the whole grid)."""
    patch = _tensor(state_dict, TRUNK + "patch_embed.proj.weight", 4)
    embed_dim, patch_size = int(patch.shape[0]), int(patch.shape[-1])
    pos = _tensor(state_dict, TRUNK + "pos_embed", 3)
    pretrain_grid = _square_side(int(pos.shape[1]) - 1, TRUNK + "pos_embed (after its class row)")
    blocks = sorted({int(m.group(1)) for k in state_dict if (m := _BLOCK.match(k))})
    if not blocks or blocks != list(range(len(blocks))):
        raise ConfigError(f"ViT blocks are not numbered 0..n-1 (found {blocks[:5]}...)")
    rope_tokens = [int(_tensor(state_dict, f"{TRUNK}blocks.{i}.attn.freqs_cis", 2).shape[0]) for i in blocks]
    head_dim = 2 * int(state_dict[f"{TRUNK}blocks.0.attn.freqs_cis"].shape[1])
    if head_dim == 0 or embed_dim % head_dim:
        raise ConfigError(f"rotary tables of width {head_dim // 2} do not divide the ViT width {embed_dim}")
    # The output is taken after the last global block, so the last block is a global one (in any
    # file the official code can run); the others with a table of its size are global too.
    global_tokens = rope_tokens[-1]
    global_blocks = tuple(i for i, n in zip(blocks, rope_tokens, strict=True) if n == global_tokens)
    window_tokens = [n for n in rope_tokens if n != global_tokens]
    if len(set(window_tokens)) > 1:
        raise ConfigError(f"ViT rotary tables of more than two sizes: {sorted(set(rope_tokens))}")
    grid = _square_side(global_tokens, "global rotary table")
    window = _square_side(window_tokens[0], "window rotary table") if window_tokens else grid
    return ViTConfig(
        embed_dim=embed_dim,
        depth=len(blocks),
        num_heads=embed_dim // head_dim,
        mlp_dim=int(_tensor(state_dict, f"{TRUNK}blocks.0.mlp.fc1.weight", 2).shape[0]),
        patch_size=patch_size,
        image_size=grid * patch_size,
        pretrain_grid=pretrain_grid,
        window_size=window,
        global_blocks=global_blocks,
    )


def detect_neck(state_dict: Mapping[str, torch.Tensor], trunk_dim: int) -> NeckConfig:
    """The neck's levels (the official scale order), output width and whether the tracker's copy is there."""
    levels = sorted({int(m.group(1)) for k in state_dict if (m := _LEVEL.match(k))})
    if not levels or levels != list(range(len(levels))) or len(levels) > len(SCALES):
        raise ConfigError(f"neck levels {levels} are not the official 0..{len(SCALES) - 1}")
    d_model = int(_tensor(state_dict, VISION + "convs.0.conv_3x3.weight", 4).shape[0])
    scales = SCALES[: len(levels)]
    expected = {4.0: "dconv_2x2_0.weight", 2.0: "dconv_2x2.weight"}
    for i, scale in enumerate(scales):
        if scale in expected and f"{VISION}convs.{i}.{expected[scale]}" not in state_dict:
            raise ConfigError(f"neck level {i} should upsample ×{scale:g} but has no {expected[scale]}")
    return NeckConfig(
        trunk_dim=trunk_dim,
        d_model=d_model,
        scale_factors=scales,
        scalp=1 if len(scales) == len(SCALES) else 0,
        with_tracker=any(k.startswith(VISION + "sam2_convs.") for k in state_dict),
    )


def detect_text(state_dict: Mapping[str, torch.Tensor], d_model: int) -> TextEncoderConfig | None:
    """The text encoder's sizes, or None when the file has none."""
    if not any(k.startswith(LANGUAGE) for k in state_dict):
        return None
    embedding = _tensor(state_dict, LANGUAGE + "encoder.token_embedding.weight", 2)
    positions = _tensor(state_dict, LANGUAGE + "encoder.positional_embedding", 2)
    layers = sorted({int(m.group(1)) for k in state_dict if (m := _TEXT_LAYER.match(k))})
    width = int(embedding.shape[1])
    if width % TEXT_HEADS:
        raise ConfigError(f"text width {width} is not a multiple of {TEXT_HEADS} heads")
    fc = _tensor(state_dict, LANGUAGE + "encoder.transformer.resblocks.0.mlp.c_fc.weight", 2)
    resizer = _tensor(state_dict, LANGUAGE + "resizer.weight", 2)
    if int(resizer.shape[0]) != d_model:
        raise ConfigError(f"text resizer gives {resizer.shape[0]} channels, the image neck {d_model}")
    return TextEncoderConfig(
        vocab_size=int(embedding.shape[0]),
        context_length=int(positions.shape[0]),
        width=width,
        heads=TEXT_HEADS,
        layers=len(layers),
        mlp_dim=int(fc.shape[0]),
        d_model=d_model,
    )


def detect_encoder_config(state_dict: Mapping[str, torch.Tensor], with_text: bool = True) -> EncoderConfig:
    """All encoder sizes from a ``sam3.pt``-layout state dict; raises :class:`ConfigError`."""
    vit = detect_vit(state_dict)
    neck = detect_neck(state_dict, vit.embed_dim)
    text = detect_text(state_dict, neck.d_model) if with_text else None
    return EncoderConfig(vit=vit, neck=neck, text=text)
