"""Test-only: the official SAM 3 detector (everything after the encoders) at any width, on CPU.

``build_official_detector`` assembles the official ``Sam3Image`` from the same classes and
settings as ``sam3.model_builder`` (``_create_transformer_encoder``, ``_create_transformer_decoder``,
``_create_dot_product_scoring``, ``_create_segmentation_head``, ``_create_geometry_encoder``), with
the widths as parameters and no backbone: its ``forward_grounding`` and the official
``Sam3Processor`` post-processing run on a ``backbone_out`` dict built from given features.

``cpu_patches`` removes what keeps the official detector off a CPU-only machine:
- the exemplar encoder pins a tensor (``pin_memory`` needs an accelerator): made a no-op;
- ``torchvision.ops.roi_align`` without torchvision's C++ library falls back to its pure-PyTorch
  ``_roi_align``, wrapped in a lazy ``torch.compile``; uncompiled, with adaptive sampling it
  samples H × W points per bin and masks off all but the few the box needs (seconds and GBs per
  box at 72²). :func:`roi_align_reference` is that function sampling only the points the largest
  box needs, through torchvision's own ``_bilinear_interpolate``: the same values.

``informative`` perturbs a fresh state dict so that parity means something: constant tensors
become c + 0.1·N(0, 1), mask logits reach about ±5, and the scoring and presence heads are biased
so that query scores spread across the 0.5 threshold (official init: every score ≈ 0.19, nothing
is ever kept and post-processing would go untested).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from tests.oracles.sam3_official import import_official


@dataclass(frozen=True)
class DetectorSizes:
    d_model: int = 256
    num_heads: int = 8
    ffn_dim: int = 2048
    num_queries: int = 200
    encoder_layers: int = 6
    decoder_layers: int = 6
    geometry_layers: int = 3


DAMPING = 0.1
SCORE_GAIN = 4.0

SMALL = DetectorSizes(d_model=32, num_heads=2, ffn_dim=64, num_queries=200)


def build_official_detector(sizes: DetectorSizes = SMALL, seed: int = 0) -> Any:
    """The official ``Sam3Image`` without backbone (eval, CPU, official random init)."""
    import_official()
    from sam3.model.decoder import TransformerDecoder, TransformerDecoderLayer
    from sam3.model.encoder import TransformerEncoderFusion, TransformerEncoderLayer
    from sam3.model.geometry_encoders import SequenceGeometryEncoder
    from sam3.model.maskformer_segmentation import PixelDecoder, UniversalSegmentationHead
    from sam3.model.model_misc import MLP, DotProductScoring, TransformerWrapper
    from sam3.model.model_misc import MultiheadAttentionWrapper as MultiheadAttention
    from sam3.model.position_encoding import PositionEmbeddingSine
    from sam3.model.sam3_image import Sam3Image
    from torch import nn

    d, heads, ffn = sizes.d_model, sizes.num_heads, sizes.ffn_dim
    torch.manual_seed(seed)

    def encoder_layer(pos_at_attn: bool, pos_at_keys: bool, batch_first: bool) -> Any:
        return TransformerEncoderLayer(
            activation="relu",
            d_model=d,
            dim_feedforward=ffn,
            dropout=0.1,
            pos_enc_at_attn=pos_at_attn,
            pos_enc_at_cross_attn_keys=pos_at_keys,
            pos_enc_at_cross_attn_queries=False,
            pre_norm=True,
            self_attention=MultiheadAttention(
                num_heads=heads, dropout=0.1, embed_dim=d, batch_first=batch_first
            ),
            cross_attention=MultiheadAttention(
                num_heads=heads, dropout=0.1, embed_dim=d, batch_first=batch_first
            ),
        )

    encoder = TransformerEncoderFusion(
        layer=encoder_layer(True, False, True),
        num_layers=sizes.encoder_layers,
        d_model=d,
        num_feature_levels=1,
        frozen=False,
        use_act_checkpoint=True,
        add_pooled_text_to_img_feat=False,
        pool_text_with_mask=True,
    )
    decoder_layer = TransformerDecoderLayer(
        activation="relu",
        d_model=d,
        dim_feedforward=ffn,
        dropout=0.1,
        cross_attention=MultiheadAttention(num_heads=heads, dropout=0.1, embed_dim=d),
        n_heads=heads,
        use_text_cross_attention=True,
    )
    decoder = TransformerDecoder(
        layer=decoder_layer,
        num_layers=sizes.decoder_layers,
        num_queries=sizes.num_queries,
        return_intermediate=True,
        box_refine=True,
        num_o2m_queries=0,
        dac=True,
        boxRPB="log",
        d_model=d,
        frozen=False,
        interaction_layer=None,
        dac_use_selfatt_ln=True,
        resolution=None,  # the official 1008 / 14 would precompute coordinates on "cuda"
        stride=None,
        use_act_checkpoint=True,
        presence_token=True,
    )
    transformer = TransformerWrapper(encoder=encoder, decoder=decoder, d_model=d)
    scoring = DotProductScoring(
        d_model=d,
        d_proj=d,
        prompt_mlp=MLP(d, ffn, d, 2, dropout=0.1, residual=True, out_norm=nn.LayerNorm(d)),
    )
    segmentation = UniversalSegmentationHead(
        hidden_dim=d,
        upsampling_stages=3,
        aux_masks=False,
        presence_head=False,
        dot_product_scorer=None,
        act_ckpt=True,
        cross_attend_prompt=MultiheadAttention(num_heads=heads, dropout=0, embed_dim=d),
        pixel_decoder=PixelDecoder(num_upsampling_stages=3, interpolation_mode="nearest", hidden_dim=d),
    )
    geometry = SequenceGeometryEncoder(
        pos_enc=PositionEmbeddingSine(num_pos_feats=d, normalize=True, scale=None, temperature=10000),
        encode_boxes_as_points=False,
        points_direct_project=True,
        points_pool=True,
        points_pos_enc=True,
        boxes_direct_project=True,
        boxes_pool=True,
        boxes_pos_enc=True,
        d_model=d,
        num_layers=sizes.geometry_layers,
        layer=encoder_layer(False, True, False),
        use_act_ckpt=True,
        add_cls=True,
        add_post_encode_proj=True,
    )
    model = Sam3Image(
        backbone=None,
        transformer=transformer,
        input_geometry_encoder=geometry,
        segmentation_head=segmentation,
        num_feature_levels=1,
        o2m_mask_predict=True,
        dot_prod_scoring=scoring,
        use_instance_query=False,
        multimask_output=True,
        inst_interactive_predictor=None,
        matcher=None,
    )
    return model.eval()


@contextlib.contextmanager
def cpu_patches() -> Iterator[None]:
    """Run the official detector on a CPU-only machine (see module docstring)."""
    import_official()
    roi_module = importlib.import_module("torchvision.ops.roi_align")
    compiled = roi_module._roi_align
    pin_memory = torch.Tensor.pin_memory
    roi_module._roi_align = roi_align_reference
    torch.Tensor.pin_memory = lambda self, *args, **kwargs: self  # type: ignore[method-assign]
    try:
        yield
    finally:
        roi_module._roi_align = compiled
        torch.Tensor.pin_memory = pin_memory  # type: ignore[method-assign]


def roi_align_reference(
    features: torch.Tensor,
    rois: torch.Tensor,
    spatial_scale: float,
    pooled_height: int,
    pooled_width: int,
    sampling_ratio: int,
    aligned: bool,
) -> torch.Tensor:
    """torchvision's pure-PyTorch ``_roi_align`` (its fallback without the C++ library), step for
    step, except that adaptive sampling evaluates max(grid) points per bin and axis instead of
    H (W) of which all but grid are masked to 0: identical output, a fraction of the work."""
    module = importlib.import_module("torchvision.ops.roi_align")
    dtype, device = features.dtype, features.device
    if not len(rois):
        return features.new_zeros((0, features.shape[1], pooled_height, pooled_width))
    ph = torch.arange(pooled_height, device=device)
    pw = torch.arange(pooled_width, device=device)
    roi_batch_ind = rois[:, 0].int()
    offset = 0.5 if aligned else 0.0
    start_w = rois[:, 1] * spatial_scale - offset
    start_h = rois[:, 2] * spatial_scale - offset
    roi_width = rois[:, 3] * spatial_scale - offset - start_w
    roi_height = rois[:, 4] * spatial_scale - offset - start_h
    if not aligned:
        roi_width = torch.clamp(roi_width, min=1.0)
        roi_height = torch.clamp(roi_height, min=1.0)
    bin_h, bin_w = roi_height / pooled_height, roi_width / pooled_width
    if sampling_ratio > 0:
        grid_h = grid_w = torch.full_like(roi_height, float(sampling_ratio))
    else:
        grid_h, grid_w = torch.ceil(roi_height / pooled_height), torch.ceil(roi_width / pooled_width)
    iy = torch.arange(max(int(grid_h.max()), 1), device=device)
    ix = torch.arange(max(int(grid_w.max()), 1), device=device)
    ymask = iy[None, :] < grid_h[:, None]
    xmask = ix[None, :] < grid_w[:, None]
    y = (
        start_h[:, None, None]
        + ph[None, :, None] * bin_h[:, None, None]
        + (iy[None, None, :] + 0.5).to(dtype) * (bin_h / grid_h)[:, None, None]
    )
    x = (
        start_w[:, None, None]
        + pw[None, :, None] * bin_w[:, None, None]
        + (ix[None, None, :] + 0.5).to(dtype) * (bin_w / grid_w)[:, None, None]
    )
    val = module._bilinear_interpolate(features, roi_batch_ind, y, x, ymask, xmask)
    val = torch.where(ymask[:, None, None, None, :, None], val, 0)
    val = torch.where(xmask[:, None, None, None, None, :], val, 0)
    output = val.sum((-1, -2))
    return output / torch.clamp(grid_h * grid_w, min=1)[:, None, None, None]


@torch.no_grad()
def informative(state_dict: dict[str, torch.Tensor], seed: int, prefix: str = "") -> dict[str, torch.Tensor]:
    """Perturb a fresh detector state dict (keys as ``Sam3Image.state_dict()``, each preceded
    by ``prefix``, e.g. "detector.") so parity tests exercise every path (module docstring).
    Entries outside the detector (the encoders, the tracker) are passed through, not copied."""
    gen = torch.Generator().manual_seed(seed)
    parts = tuple(
        prefix + p for p in ("transformer.", "geometry_encoder.", "segmentation_head.", "dot_prod_scoring.")
    )
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if not key.startswith(parts):
            out[key] = value
            continue
        value = value.detach().clone()
        if value.is_floating_point() and value.numel() > 0 and bool((value == value.flatten()[0]).all()):
            value = value + 0.1 * torch.randn(value.shape, generator=gen, dtype=value.dtype)
        out[key] = value

    def scale(name: str, factor: float) -> None:
        out[prefix + name] = out[prefix + name] * factor

    def shift(name: str, amount: float) -> None:
        out[prefix + name] = out[prefix + name] + amount

    # Query logits: random decoder layers make all queries alike (every residual branch reads
    # the same image); damping the branches keeps each query near its own embedding, and wider
    # projections spread the dot products over a few units either side of 0.
    for key in list(out):
        if key.startswith(prefix + "transformer.decoder.layers.") and key.endswith(
            (
                "self_attn.out_proj.weight",
                "ca_text.out_proj.weight",
                "cross_attn.out_proj.weight",
                "linear2.weight",
            )
        ):
            out[key] = out[key] * DAMPING
    scale("dot_prod_scoring.hs_proj.weight", SCORE_GAIN)
    scale("dot_prod_scoring.prompt_proj.weight", SCORE_GAIN)
    # Presence: mostly "present" (sigmoid ≈ 0.9).
    shift("transformer.decoder.presence_token_head.layers.2.bias", 2.5)
    # Masks: logits of a few units, not a few hundredths.
    scale("segmentation_head.mask_predictor.mask_embed.layers.2.weight", 6.0)
    return out


def load(model: Any, state_dict: dict[str, torch.Tensor]) -> Any:
    model.load_state_dict(state_dict, strict=True)
    return model.eval()
