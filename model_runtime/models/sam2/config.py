"""SAM 2 / 2.1 model configurations per size, and detecting the size from a state dict.

Constants come from the official ``sam2/configs/sam2.1/*.yaml`` and ``sam2/configs/sam2/*.yaml``.
The four sizes differ only in the Hiera trunk; SAM 2.1 adds two video-only tensors
(``no_obj_embed_spatial``, ``obj_ptr_tpos_proj``) and temporal-encoding options for object pointers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from model_runtime.models.sam2.hiera import HieraConfig
from model_runtime.models.sam2.mask_decoder import MaskDecoderConfig
from model_runtime.models.sam2.memory_attention import MemoryAttentionConfig
from model_runtime.models.sam2.memory_encoder import MemoryEncoderConfig
from model_runtime.models.sam2.neck import NeckConfig

SAM2 = "sam2"
SAM2_1 = "sam2.1"

HIERA_CONFIGS: dict[str, HieraConfig] = {
    "hiera_t": HieraConfig(
        embed_dim=96,
        num_heads=1,
        stages=(1, 2, 7, 2),
        global_att_blocks=(5, 7, 9),
        window_pos_embed_bkg_spatial_size=(7, 7),
    ),
    "hiera_s": HieraConfig(
        embed_dim=96,
        num_heads=1,
        stages=(1, 2, 11, 2),
        global_att_blocks=(7, 10, 13),
        window_pos_embed_bkg_spatial_size=(7, 7),
    ),
    # base+ uses the Hiera defaults.
    "hiera_b+": HieraConfig(embed_dim=112, num_heads=2),
    "hiera_l": HieraConfig(
        embed_dim=144,
        num_heads=2,
        stages=(2, 6, 36, 4),
        global_att_blocks=(23, 33, 43),
        window_pos_embed_bkg_spatial_size=(7, 7),
        window_spec=(8, 4, 16, 8),
    ),
}


@dataclass(frozen=True)
class Sam2Config:
    """Everything needed to build one SAM 2 / 2.1 network."""

    family: str
    variant: str
    hiera: HieraConfig
    neck: NeckConfig = field(default_factory=NeckConfig)
    decoder: MaskDecoderConfig = field(default_factory=MaskDecoderConfig)
    memory_encoder: MemoryEncoderConfig = field(default_factory=MemoryEncoderConfig)
    memory_attention: MemoryAttentionConfig = field(default_factory=MemoryAttentionConfig)
    image_size: int = 1024
    backbone_stride: int = 16
    num_maskmem: int = 7
    # Video options (read by the video path). SAM 2.1 adds the last three.
    sigmoid_scale_for_mem_enc: float = 20.0
    sigmoid_bias_for_mem_enc: float = -10.0
    use_mask_input_as_output_without_sam: bool = True
    directly_add_no_mem_embed: bool = True
    multimask_output_in_sam: bool = True
    multimask_min_pt_num: int = 0
    multimask_max_pt_num: int = 1
    multimask_output_for_tracking: bool = True
    use_obj_ptrs_in_encoder: bool = True
    max_obj_ptrs_in_encoder: int = 16
    only_obj_ptrs_in_the_past_for_eval: bool = True
    fixed_no_obj_ptr: bool = True
    use_mlp_for_obj_ptr_proj: bool = True
    add_tpos_enc_to_obj_ptrs: bool = False
    proj_tpos_enc_in_obj_ptrs: bool = False
    use_signed_tpos_enc_to_obj_ptrs: bool = False
    no_obj_embed_spatial: bool = False

    @property
    def hidden_dim(self) -> int:
        return self.neck.d_model

    @property
    def mem_dim(self) -> int:
        return self.memory_encoder.out_dim


def make_config(family: str, variant: str) -> Sam2Config:
    """The official configuration of ``family`` ("sam2" or "sam2.1") and ``variant`` ("hiera_t", ...)."""
    if family not in (SAM2, SAM2_1):
        raise ValueError(f"unknown SAM 2 family {family!r}")
    if variant not in HIERA_CONFIGS:
        raise ValueError(f"unknown SAM 2 variant {variant!r}; known: {sorted(HIERA_CONFIGS)}")
    v21 = family == SAM2_1
    return Sam2Config(
        family=family,
        variant=variant,
        hiera=HIERA_CONFIGS[variant],
        add_tpos_enc_to_obj_ptrs=v21,
        proj_tpos_enc_in_obj_ptrs=v21,
        use_signed_tpos_enc_to_obj_ptrs=v21,
        no_obj_embed_spatial=v21,
    )


_BLOCK_PROJ = re.compile(r"^image_encoder\.trunk\.blocks\.(\d+)\.proj\.weight$")
_BLOCK_ANY = re.compile(r"^image_encoder\.trunk\.blocks\.(\d+)\.")


def detect_variant(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """Tell the Hiera size from tensor shapes: the patch-embedding width and the blocks per stage
    (a stage starts at each block with a ``proj``, where the width doubles). None if unknown."""
    weight = state_dict.get("image_encoder.trunk.patch_embed.proj.weight")
    if weight is None or weight.ndim != 4:
        return None
    embed_dim = int(weight.shape[0])
    block_ids = {int(m.group(1)) for k in state_dict if (m := _BLOCK_ANY.match(k))}
    if not block_ids:
        return None
    depth = max(block_ids) + 1
    starts = sorted(int(m.group(1)) for k in state_dict if (m := _BLOCK_PROJ.match(k)))
    bounds = [0, *starts, depth]
    stages = tuple(b - a for a, b in zip(bounds[:-1], bounds[1:], strict=True))
    for name, cfg in HIERA_CONFIGS.items():
        if cfg.embed_dim == embed_dim and cfg.stages == stages:
            return name
    return None
