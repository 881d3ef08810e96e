"""SAM 3's dual simple-FPN neck: the ViT's single token map -> feature pyramids for the detector
and for the tracker (keys ``convs.*`` and ``sam2_convs.*`` under ``vision_backbone``).

Each level is made from the same (B, 1024, 72, 72) map (ViTDet's "simple FPN"):

=====  ========================================================  ==========  ============
level  layers (key names)                                         scale       output
=====  ========================================================  ==========  ============
0      ``dconv_2x2_0`` (1024→512, ×2), GELU, ``dconv_2x2_1``        4×          (B, d, 288²)
       (512→256, ×2), ``conv_1x1`` (256→d), ``conv_3x3`` (d→d)
1      ``dconv_2x2`` (1024→512, ×2), ``conv_1x1``, ``conv_3x3``   2×          (B, d, 144²)
2      ``conv_1x1`` (1024→d), ``conv_3x3``                        1×          (B, d, 72²)
3      max-pool 2×2, ``conv_1x1``, ``conv_3x3``                   ½×          (dropped)
=====  ========================================================  ==========  ============

``d`` is ``d_model`` (256). The official backbone drops the last level (``scalp=1``), so it is
never computed here; its weights are in the file and are read past (see ``checkpoint.py``).

Computation: a stride-2 2×2 transposed convolution maps every input pixel to its own 2×2 output
block, so the transposed convolution followed by the 1×1 convolution is one transposed
convolution with composed weights (``fused``): the same linear map, fewer operations. The
tracker's levels 0 and 1 are, in use, always followed by its mask decoder's ``conv_s0`` /
``conv_s1`` (1×1, d→d/8 and d→d/4); :meth:`TrackerNeckPlan` composes those into the 3×3
convolution as well, so the 288² map is computed with 32 output channels instead of 256.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

SCALES = (4.0, 2.0, 1.0, 0.5)  # the official order of the neck's levels


@dataclass(frozen=True)
class NeckConfig:
    """Sizes of the neck. Defaults are the released model's."""

    trunk_dim: int = 1024
    d_model: int = 256
    scale_factors: tuple[float, ...] = SCALES
    scalp: int = 1  # coarsest levels dropped by the backbone
    with_tracker: bool = True  # the tracker's copy (``sam2_convs``)

    @property
    def used_scales(self) -> tuple[float, ...]:
        return self.scale_factors[: len(self.scale_factors) - self.scalp]


def _level(scale: float, dim: int, d_model: int) -> nn.Sequential:
    """One level's layers under the official names (no weights for the max-pool)."""
    seq = nn.Sequential()
    if scale == 4.0:
        seq.add_module("dconv_2x2_0", nn.ConvTranspose2d(dim, dim // 2, kernel_size=2, stride=2))
        seq.add_module("gelu", nn.GELU())
        seq.add_module("dconv_2x2_1", nn.ConvTranspose2d(dim // 2, dim // 4, kernel_size=2, stride=2))
        out_dim = dim // 4
    elif scale == 2.0:
        seq.add_module("dconv_2x2", nn.ConvTranspose2d(dim, dim // 2, kernel_size=2, stride=2))
        out_dim = dim // 2
    elif scale == 1.0:
        out_dim = dim
    elif scale == 0.5:
        seq.add_module("maxpool_2x2", nn.MaxPool2d(kernel_size=2, stride=2))
        out_dim = dim
    else:
        raise ValueError(f"neck scale factor {scale} is not one of {SCALES}")
    seq.add_module("conv_1x1", nn.Conv2d(out_dim, d_model, kernel_size=1))
    seq.add_module("conv_3x3", nn.Conv2d(d_model, d_model, kernel_size=3, padding=1))
    return seq


def _compose_dconv_1x1(dconv: nn.ConvTranspose2d, conv: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """A 2×2 stride-2 transposed conv followed by a 1×1 conv, as one transposed conv.

    dconv weight (C_in, C_mid, 2, 2), conv weight (C_out, C_mid, 1, 1) -> (C_in, C_out, 2, 2), (C_out,)."""
    w1 = conv.weight[:, :, 0, 0]  # (C_out, C_mid)
    weight = torch.einsum("imab,om->ioab", dconv.weight, w1)
    bias = w1 @ dconv.bias + conv.bias
    return weight.contiguous(), bias


def _compose_3x3_1x1(conv3: nn.Conv2d, conv1: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """A 3×3 conv followed by a 1×1 conv, as one 3×3 conv: (C_out, C_in, 3, 3), (C_out,)."""
    w1 = conv1.weight[:, :, 0, 0]  # (C_out, C_mid)
    weight = torch.einsum("om,mikl->oikl", w1, conv3.weight)
    bias = w1 @ conv3.bias + conv1.bias
    return weight.contiguous(), bias


@dataclass
class _LevelPlan:
    """Precomposed weights of one level (see the module docstring)."""

    scale: float
    first: tuple[torch.Tensor, torch.Tensor] | None  # dconv_2x2_0 of the 4× level
    up: tuple[torch.Tensor, torch.Tensor] | None  # last transposed conv ∘ conv_1x1
    lateral: tuple[torch.Tensor, torch.Tensor] | None  # conv_1x1 alone (1× level)
    smooth: tuple[torch.Tensor, torch.Tensor]  # conv_3x3 (∘ conv_s0 / conv_s1 when given)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, G, G) trunk map -> (B, d, G·scale, G·scale)."""
        if self.first is not None:
            x = torch.ops.aten.gelu_(F.conv_transpose2d(x, *self.first, stride=2))
        if self.up is not None:
            x = F.conv_transpose2d(x, *self.up, stride=2)
        if self.lateral is not None:
            x = F.conv2d(x, *self.lateral)
        return F.conv2d(x, *self.smooth, padding=1)


def _plan(level: nn.Sequential, scale: float, head: nn.Conv2d | None = None) -> _LevelPlan:
    smooth = (level.conv_3x3.weight, level.conv_3x3.bias)
    if head is not None:
        smooth = _compose_3x3_1x1(level.conv_3x3, head)
    if scale == 4.0:
        first = (level.dconv_2x2_0.weight, level.dconv_2x2_0.bias)
        return _LevelPlan(scale, first, _compose_dconv_1x1(level.dconv_2x2_1, level.conv_1x1), None, smooth)
    if scale == 2.0:
        return _LevelPlan(scale, None, _compose_dconv_1x1(level.dconv_2x2, level.conv_1x1), None, smooth)
    if scale == 1.0:
        return _LevelPlan(scale, None, None, (level.conv_1x1.weight, level.conv_1x1.bias), smooth)
    raise ValueError(f"neck level of scale {scale} is not computed (dropped by the backbone)")


class DualNeck(nn.Module):
    """(B, C, G, G) trunk map -> detector levels and tracker levels, finest first.

    Keys: ``convs.{i}.*`` (detector), ``sam2_convs.{i}.*`` (tracker), i over the levels kept
    (the file's dropped level is not built). The detector's composed weights are made on first
    use and forgotten when a state dict is loaded (or by :meth:`refresh`).
    """

    def __init__(self, config: NeckConfig) -> None:
        super().__init__()
        self.config = config
        dim, d = config.trunk_dim, config.d_model
        self.convs = nn.ModuleList(_level(s, dim, d) for s in config.used_scales)
        self.sam2_convs = (
            nn.ModuleList(_level(s, dim, d) for s in config.used_scales) if config.with_tracker else None
        )
        self._detector_plan: list[_LevelPlan] | None = None
        self.register_load_state_dict_post_hook(lambda module, incompatible: module.refresh())

    def refresh(self) -> None:
        """Forget composed weights (call after changing the parameters)."""
        self._detector_plan = None

    @torch.no_grad()
    def detector_levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: (B, C, G, G) -> [(B, d, 4G, 4G), (B, d, 2G, 2G), (B, d, G, G)] (released model)."""
        if self._detector_plan is None:
            self._detector_plan = [_plan(self.convs[i], s) for i, s in enumerate(self.config.used_scales)]
        return [plan.run(x) for plan in self._detector_plan]

    @torch.no_grad()
    def tracker_levels(self, x: torch.Tensor, heads: tuple[nn.Conv2d | None, ...] = ()) -> list[torch.Tensor]:
        """x: (B, C, G, G) -> the tracker's levels, finest first.

        ``heads[i]``: a 1×1 conv applied to level i afterwards (the tracker's ``conv_s0``,
        ``conv_s1``), composed into that level's 3×3 conv; then level i has its output channels."""
        if self.sam2_convs is None:
            raise RuntimeError("this neck was built without the tracker's levels")
        plans = [
            _plan(self.sam2_convs[i], s, heads[i] if i < len(heads) else None)
            for i, s in enumerate(self.config.used_scales)
        ]
        return [plan.run(x) for plan in plans]
