"""MobileSAM's image encoder: TinyViT-5M adapted to 1024 px input and SAM's 256-channel neck.

Input (B, 3, 1024, 1024) -> output (B, 256, 64, 64). Stage layout (tokens per side):
patch_embed 1024 -> 256 (two stride-2 convs), stage 0 MBConv 256 -> merge -> 128, stage 1
attention (window 7) -> merge -> 64, stage 2 attention (window 14) -> merge (stride 1) -> 64,
stage 3 attention (window 7) -> neck. Keys (prefix ``image_encoder.``) follow the official
file: ``patch_embed.seq.{0,2}.{c,bn}``, ``layers.{s}.blocks.{i}...``, ``layers.{s}.downsample...``,
``neck.{0..3}``. Every convolution is a ``Conv2d_BN`` (``c`` conv without bias, ``bn`` BatchNorm2d,
inference statistics). The official file also holds the ImageNet classifier (``norm_head``,
``head``), which inference never uses; the loader drops those keys explicitly.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from model_runtime.models.common.layers import LayerNorm2d

# Keys in the official MobileSAM file that belong to TinyViT's unused ImageNet classifier.
CLASSIFIER_PREFIXES = ("image_encoder.norm_head.", "image_encoder.head.")


@dataclass(frozen=True)
class TinyViTConfig:
    """Architecture of a TinyViT encoder; MobileSAM ships the 5M one."""

    name: str
    embed_dims: tuple[int, int, int, int]
    depths: tuple[int, int, int, int]
    num_heads: tuple[int, int, int, int]
    window_sizes: tuple[int, int, int, int]
    img_size: int = 1024
    mlp_ratio: float = 4.0
    mbconv_expand_ratio: float = 4.0
    local_conv_size: int = 3
    out_chans: int = 256


TINY_VIT_5M = TinyViTConfig(
    "tiny_vit_5m",
    embed_dims=(64, 128, 160, 320),
    depths=(2, 2, 6, 2),
    num_heads=(2, 4, 5, 10),
    window_sizes=(7, 7, 14, 7),
)


class Conv2d_BN(nn.Sequential):  # noqa: N801 - the official key names are ``c`` and ``bn``
    """Conv2d without bias followed by BatchNorm2d. (B, a, H, W) -> (B, b, H', W')."""

    def __init__(self, a: int, b: int, ks: int = 1, stride: int = 1, pad: int = 0, groups: int = 1) -> None:
        super().__init__()
        self.add_module("c", nn.Conv2d(a, b, ks, stride, pad, groups=groups, bias=False))
        self.add_module("bn", nn.BatchNorm2d(b))


class PatchEmbed(nn.Module):
    """(B, 3, 1024, 1024) -> (B, C0, 256, 256)."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            Conv2d_BN(3, embed_dim // 2, 3, 2, 1),
            nn.GELU(),
            Conv2d_BN(embed_dim // 2, embed_dim, 3, 2, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)


class MBConv(nn.Module):
    """Inverted residual block (1×1 expand, 3×3 depthwise, 1×1 project). (B, C, H, W) -> same."""

    def __init__(self, chans: int, expand_ratio: float) -> None:
        super().__init__()
        hidden = int(chans * expand_ratio)
        self.conv1 = Conv2d_BN(chans, hidden, ks=1)
        self.act1 = nn.GELU()
        self.conv2 = Conv2d_BN(hidden, hidden, ks=3, stride=1, pad=1, groups=hidden)
        self.act2 = nn.GELU()
        self.conv3 = Conv2d_BN(hidden, chans, ks=1)
        self.act3 = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act2(self.conv2(self.act1(self.conv1(x))))
        return self.act3(self.conv3(y) + x)


class PatchMerging(nn.Module):
    """Channel change and (except into 320+ channels) 2× downsampling.

    x: (B, C, H, W) or (B, H·W, C) at ``input_resolution`` -> (B, H'·W', out_dim).
    """

    def __init__(self, input_resolution: tuple[int, int], dim: int, out_dim: int) -> None:
        super().__init__()
        self.input_resolution = input_resolution
        # The official model keeps the 64×64 resolution into the last stage: stride 1 for
        # TinyViT's widest output widths.
        stride = 1 if out_dim in (320, 448, 576) else 2
        self.stride = stride
        self.act = nn.GELU()
        self.conv1 = Conv2d_BN(dim, out_dim, 1, 1, 0)
        self.conv2 = Conv2d_BN(out_dim, out_dim, 3, stride, 1, groups=out_dim)
        self.conv3 = Conv2d_BN(out_dim, out_dim, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3:
            h, w = self.input_resolution
            x = x.view(x.shape[0], h, w, -1).permute(0, 3, 1, 2)
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        x = self.conv3(x)
        return x.flatten(2).transpose(1, 2)


class ConvLayer(nn.Module):
    """Stage 0: MBConv blocks then a PatchMerging. (B, C, H, W) -> (B, H/2·W/2, C')."""

    def __init__(self, dim: int, input_resolution: tuple[int, int], depth: int, out_dim: int, expand: float):
        super().__init__()
        self.blocks = nn.ModuleList(MBConv(dim, expand) for _ in range(depth))
        self.downsample = PatchMerging(input_resolution, dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x)


class Mlp(nn.Module):
    """Pre-norm MLP: LayerNorm, fc1, GELU, fc2. (..., C) -> (..., C)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(self.norm(x))))


class Attention(nn.Module):
    """Pre-norm window attention with a learned bias per head and per |Δy|, |Δx| offset.

    x: (B_windows, N = window², C) -> same. Keys: ``norm``, ``qkv``, ``proj``,
    ``attention_biases`` (heads, number of distinct offsets).
    """

    def __init__(self, dim: int, key_dim: int, num_heads: int, resolution: tuple[int, int]) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.d = key_dim  # attn_ratio 1 in TinyViT's SAM configuration
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, num_heads * (2 * key_dim + self.d))
        self.proj = nn.Linear(num_heads * self.d, dim)
        points = list(itertools.product(range(resolution[0]), range(resolution[1])))
        offsets: dict[tuple[int, int], int] = {}
        idxs = []
        for p1 in points:
            for p2 in points:
                off = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
                idxs.append(offsets.setdefault(off, len(offsets)))
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, len(offsets)))
        self.register_buffer(
            "attention_bias_idxs",
            torch.tensor(idxs, dtype=torch.long).view(len(points), len(points)),
            persistent=False,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        qkv = self.qkv(self.norm(x)).view(b, n, self.num_heads, -1)
        q, k, v = qkv.split([self.key_dim, self.key_dim, self.d], dim=3)
        q, k, v = (t.permute(0, 2, 1, 3) for t in (q, k, v))
        bias = self.attention_biases[:, self.attention_bias_idxs]  # (heads, N, N)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(b, n, -1))


class TinyViTBlock(nn.Module):
    """Window attention, depthwise 3×3 conv, MLP. x: (B, H·W, C) at ``input_resolution``."""

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        num_heads: int,
        window_size: int,
        mlp_ratio: float,
        local_conv_size: int,
    ) -> None:
        super().__init__()
        self.input_resolution = input_resolution
        self.window_size = window_size
        self.attn = Attention(dim, dim // num_heads, num_heads, (window_size, window_size))
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.local_conv = Conv2d_BN(
            dim, dim, ks=local_conv_size, stride=1, pad=local_conv_size // 2, groups=dim
        )

    def _windowed_attention(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.input_resolution
        ws = self.window_size
        b, n, c = x.shape
        if h == ws and w == ws:
            return self.attn(x)
        x = x.view(b, h, w, c)
        pad_b = (ws - h % ws) % ws
        pad_r = (ws - w % ws) % ws
        if pad_b or pad_r:
            # Padded zeros are normalised inside the attention and act as keys, as officially.
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        ph, pw = h + pad_b, w + pad_r
        nh, nw = ph // ws, pw // ws
        x = x.view(b, nh, ws, nw, ws, c).transpose(2, 3).reshape(b * nh * nw, ws * ws, c)
        x = self.attn(x)
        x = x.view(b, nh, nw, ws, ws, c).transpose(2, 3).reshape(b, ph, pw, c)
        return x[:, :h, :w].reshape(b, n, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.input_resolution
        b, n, c = x.shape
        x = x + self._windowed_attention(x)
        x = self.local_conv(x.transpose(1, 2).reshape(b, c, h, w)).view(b, c, n).transpose(1, 2)
        return x + self.mlp(x)


class BasicLayer(nn.Module):
    """Stages 1-3: TinyViT blocks then an optional PatchMerging. (B, H·W, C) -> (B, H'·W', C')."""

    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        depth: int,
        num_heads: int,
        window_size: int,
        mlp_ratio: float,
        local_conv_size: int,
        out_dim: int | None,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TinyViTBlock(dim, input_resolution, num_heads, window_size, mlp_ratio, local_conv_size)
            for _ in range(depth)
        )
        self.downsample = PatchMerging(input_resolution, dim, out_dim) if out_dim is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x) if self.downsample is not None else x


class TinyViT(nn.Module):
    """(B, 3, 1024, 1024) -> (B, 256, 64, 64)."""

    def __init__(self, config: TinyViTConfig) -> None:
        super().__init__()
        self.config = config
        self.img_size = config.img_size
        dims = config.embed_dims
        self.patch_embed = PatchEmbed(dims[0])
        res = config.img_size // 4
        # Stage 3 runs at the resolution of stage 2 (the last merge has stride 1).
        resolutions = [res, res // 2, res // 4, res // 4]
        self.out_grid = resolutions[-1]
        layers: list[nn.Module] = [
            ConvLayer(dims[0], (res, res), config.depths[0], dims[1], config.mbconv_expand_ratio)
        ]
        for i in range(1, 4):
            layers.append(
                BasicLayer(
                    dims[i],
                    (resolutions[i], resolutions[i]),
                    config.depths[i],
                    config.num_heads[i],
                    config.window_sizes[i],
                    config.mlp_ratio,
                    config.local_conv_size,
                    out_dim=dims[i + 1] if i < 3 else None,
                )
            )
        self.layers = nn.ModuleList(layers)
        self.neck = nn.Sequential(
            nn.Conv2d(dims[-1], config.out_chans, kernel_size=1, bias=False),
            LayerNorm2d(config.out_chans),
            nn.Conv2d(config.out_chans, config.out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(config.out_chans),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        b, _, c = x.shape
        g = self.out_grid
        return self.neck(x.view(b, g, g, c).permute(0, 3, 1, 2))


def tiny_vit_config_from_state_dict(
    state_dict: dict[str, torch.Tensor], prefix: str = "image_encoder."
) -> TinyViTConfig | None:
    """Recognise the TinyViT size from the stage widths; None if it is not MobileSAM's.

    Widths are read from the first block of each stage; the strict load then checks every key.
    """
    for config in (TINY_VIT_5M,):
        widths = [
            state_dict.get(f"{prefix}layers.0.blocks.0.conv1.c.weight"),
            *(state_dict.get(f"{prefix}layers.{s}.blocks.0.attn.proj.weight") for s in (1, 2, 3)),
        ]
        found = [
            (t.shape[1] if stage == 0 else t.shape[0])
            for stage, t in enumerate(widths)
            if t is not None and t.ndim >= 2
        ]
        expected = [config.embed_dims[s] for s, t in enumerate(widths) if t is not None and t.ndim >= 2]
        if found and found == expected:
            return config
    return None
