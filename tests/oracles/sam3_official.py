"""Test-only SAM 3 oracle: the official ``sam3`` package (PyPI 0.1.4) on a CPU-only machine, built
at full or reduced width with the official classes, and random checkpoints in the ``sam3.pt``
layout (flat: ``detector.*`` and ``tracker.*``).

What the official code needs that a CPU-only test machine lacks, and what is done instead:
- ``sam3.model.edt`` imports ``triton`` at module level (a GPU-only Euclidean distance
  transform used by the video tracker): it is replaced by a module whose function raises.
- ``PositionEmbeddingSine(precompute_resolution=...)`` fills its cache on ``"cuda"`` at build
  time: built without the pre-computation (the cache then fills on first use, same values).
- ``TransformerDecoder`` precomputes box-bias coordinates on ``"cuda"``: made on the CPU.
- ``import torchvision`` needs the ``torchvision::nms`` schema (``tests.oracles`` does that).
- The interactive predictor fills small holes in its masks (``max_hole_area=256``) with
  connected components from a GPU kernel, or on a CPU from scikit-image (an optional package;
  without it the step is skipped with a warning). scikit-image is not installed here: its
  ``label`` (default full, i.e. 8-, connectivity) is replaced by OpenCV's 8-connected
  ``connectedComponentsWithStats``, which labels the same regions.

Reduced width (:func:`reduced_spec`): the same architecture and the same 1008² input, every
component present, with narrow layers (ViT 4 blocks × 64 wide, 2 heads, global blocks 1 and 3;
``d_model`` 32; text encoder 2 layers × 64 with 16 heads; the detector at
``tests.oracles.sam3_detector.SMALL``; tracker memory attention 1 layer). The official
``model_builder`` hard-codes the released sizes, so :func:`build_official` mirrors its
composition with sizes from a :class:`Spec` (the detector parts through
``tests.oracles.sam3_detector.build_official_detector``);
``test_sam3_encoders.py`` checks that the mirror at :func:`full_spec` gives exactly the official
builder's keys and shapes.

Random-weight traps handled by :func:`make_checkpoint`: the text encoder's
``positional_embedding`` and ``text_projection`` are left uninitialised (``torch.empty``) by the
official init and are initialised here; every constant floating tensor (zeros, ones) becomes
c + 0.1·N(0, 1); the tracker's hypernetwork output layers are scaled so mask logits reach about
±3 and its object-score head is biased positive. ``detector_tweak`` is a hook for the detector
tests (e.g. to spread query scores across 0.5); see /work/wt/notes/sam3.md.
"""

from __future__ import annotations

import gc
import importlib
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

import tests.oracles  # noqa: F401  (torchvision shim before the official package imports it)

_PATCHED = False
Tweak = Callable[[dict[str, torch.Tensor], int], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Spec:
    """The sizes the official builder hard-codes, as parameters."""

    vit_dim: int
    vit_depth: int
    vit_heads: int
    vit_global_blocks: tuple[int, ...]
    detector: Any  # tests.oracles.sam3_detector.DetectorSizes (its d_model is the necks' too)
    text_width: int
    text_heads: int
    text_layers: int
    mem_dim: int  # tracker memory channels
    tracker_layers: int  # tracker memory-attention layers
    tracker_ffn: int
    vit_mlp_ratio: float = 4.625
    window_size: int = 24

    @property
    def d_model(self) -> int:
        return int(self.detector.d_model)


def full_spec() -> Spec:
    """The released sizes."""
    from tests.oracles.sam3_detector import DetectorSizes

    return Spec(
        vit_dim=1024, vit_depth=32, vit_heads=16, vit_global_blocks=(7, 15, 23, 31), detector=DetectorSizes(),
        text_width=1024, text_heads=16, text_layers=24, mem_dim=64, tracker_layers=4, tracker_ffn=2048,
    )


def reduced_spec() -> Spec:
    """The default suite's sizes (module docstring)."""
    from tests.oracles.sam3_detector import SMALL

    return Spec(
        vit_dim=64, vit_depth=4, vit_heads=2, vit_global_blocks=(1, 3), detector=SMALL, text_width=64,
        text_heads=16, text_layers=2, mem_dim=16, tracker_layers=1, tracker_ffn=64,
    )


def _edt_unavailable(data: Any) -> Any:
    raise NotImplementedError("the official triton EDT kernel is GPU-only (test oracle shim)")


def import_official() -> types.ModuleType:
    """Import ``sam3`` (and its model builder) with the CPU shims in place; returns ``sam3``."""
    global _PATCHED
    try:
        importlib.import_module("triton")
    except ImportError:
        if "sam3.model.edt" not in sys.modules:
            edt = types.ModuleType("sam3.model.edt")
            edt.edt_triton = _edt_unavailable  # type: ignore[attr-defined]
            sys.modules["sam3.model.edt"] = edt
    import sam3
    import sam3.model_builder  # noqa: F401

    if _PATCHED:
        return sam3
    _patch_connected_components()
    if not torch.cuda.is_available():
        from sam3.model.decoder import TransformerDecoder
        from sam3.model.position_encoding import PositionEmbeddingSine

        sine_init = PositionEmbeddingSine.__init__

        def cpu_sine_init(self: Any, *args: Any, precompute_resolution: Any = None, **kwargs: Any) -> None:
            sine_init(self, *args, precompute_resolution=None, **kwargs)

        PositionEmbeddingSine.__init__ = cpu_sine_init  # type: ignore[method-assign]
        get_coords = TransformerDecoder._get_coords

        def cpu_coords(h: int, w: int, device: Any) -> Any:
            return get_coords(h, w, "cpu" if str(device) == "cuda" else device)

        TransformerDecoder._get_coords = staticmethod(cpu_coords)  # type: ignore[method-assign]
    _PATCHED = True
    return sam3


def _patch_connected_components() -> None:
    try:
        importlib.import_module("skimage.measure")
        return  # the official CPU path works as it is
    except ImportError:
        pass
    import cv2
    import numpy as np
    from sam3.perflib import connected_components as cc

    def single(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """As the official ``connected_components_cpu_single``: labels (0 = background) and,
        per pixel, the area of its region (0 on background)."""
        binary = values.cpu().numpy().astype(np.uint8)
        _, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        areas = stats[:, cv2.CC_STAT_AREA].astype(np.int64)
        areas[0] = 0
        return torch.from_numpy(labels.astype(np.int64)), torch.from_numpy(areas[labels])

    cc.connected_components_cpu_single = single


def vocabulary_path() -> str:
    """The CLIP merges file the official tokenizer reads (the wheel omits it; ours ships it)."""
    from model_runtime.models.sam3.tokenizer import default_vocabulary_path

    return str(default_vocabulary_path())


def _vision_backbone(spec: Spec) -> nn.Module:
    from sam3.model.necks import Sam3DualViTDetNeck
    from sam3.model.position_encoding import PositionEmbeddingSine
    from sam3.model.vitdet import ViT

    vit = ViT(
        img_size=1008, pretrain_img_size=336, patch_size=14, embed_dim=spec.vit_dim, depth=spec.vit_depth,
        num_heads=spec.vit_heads, mlp_ratio=spec.vit_mlp_ratio, norm_layer="LayerNorm", drop_path_rate=0.1,
        qkv_bias=True, use_abs_pos=True, tile_abs_pos=True, global_att_blocks=spec.vit_global_blocks,
        rel_pos_blocks=(), use_rope=True, use_interp_rope=True, window_size=spec.window_size,
        pretrain_use_cls_token=True, retain_cls_token=False, ln_pre=True, ln_post=False,
        return_interm_layers=False, bias_patch_embed=False,
    )
    position = PositionEmbeddingSine(num_pos_feats=spec.d_model, normalize=True, temperature=10000)
    return Sam3DualViTDetNeck(
        position_encoding=position, d_model=spec.d_model, scale_factors=[4.0, 2.0, 1.0, 0.5], trunk=vit,
        add_sam2_neck=True,
    )


def _text_encoder(spec: Spec) -> nn.Module:
    from sam3.model.text_encoder_ve import VETextEncoder
    from sam3.model.tokenizer_ve import SimpleTokenizer

    tokenizer = SimpleTokenizer(bpe_path=vocabulary_path())
    return VETextEncoder(
        tokenizer=tokenizer, d_model=spec.d_model, width=spec.text_width, heads=spec.text_heads,
        layers=spec.text_layers,
    )


def _tracker(spec: Spec, memory_selection: bool = False) -> nn.Module:
    """The tracker as ``model_builder.build_tracker`` makes it; ``memory_selection`` is its
    ``apply_temporal_disambiguation`` (on in the video model, off under the image model)."""
    from sam3.model.decoder import TransformerDecoderLayerv2, TransformerEncoderCrossAttention
    from sam3.model.memory import CXBlock, SimpleFuser, SimpleMaskDownSampler, SimpleMaskEncoder
    from sam3.model.model_misc import TransformerWrapper
    from sam3.model.position_encoding import PositionEmbeddingSine
    from sam3.model.sam3_tracking_predictor import Sam3TrackerPredictor
    from sam3.sam.transformer import RoPEAttention

    d = spec.d_model
    ffn = spec.tracker_ffn
    maskmem = SimpleMaskEncoder(
        out_dim=spec.mem_dim,
        position_encoding=PositionEmbeddingSine(num_pos_feats=spec.mem_dim, normalize=True, scale=None,
                                                temperature=10000),
        mask_downsampler=SimpleMaskDownSampler(embed_dim=d, kernel_size=3, stride=2, padding=1,
                                               interpol_size=[1152, 1152]),
        fuser=SimpleFuser(layer=CXBlock(dim=d, kernel_size=7, padding=3, layer_scale_init_value=1.0e-06,
                                        use_dwconv=True), num_layers=2),
        in_dim=d,
    )
    rope = {"num_heads": 1, "downsample_rate": 1, "dropout": 0.1, "rope_theta": 10000.0,
            "feat_sizes": [72, 72], "use_fa3": False, "use_rope_real": False}
    layer = TransformerDecoderLayerv2(
        cross_attention_first=False, activation="relu", dim_feedforward=ffn, dropout=0.1,
        pos_enc_at_attn=False, pre_norm=True, d_model=d,
        self_attention=RoPEAttention(embedding_dim=d, **rope),
        pos_enc_at_cross_attn_keys=True, pos_enc_at_cross_attn_queries=False,
        cross_attention=RoPEAttention(embedding_dim=d, kv_in_dim=spec.mem_dim, rope_k_repeat=True, **rope),
    )
    encoder = TransformerEncoderCrossAttention(
        remove_cross_attention_layers=[], batch_first=True, d_model=d, frozen=False, pos_enc_at_input=True,
        layer=layer, num_layers=spec.tracker_layers, use_act_checkpoint=False,
    )
    return Sam3TrackerPredictor(
        image_size=1008, num_maskmem=7, backbone=None, backbone_stride=14,
        transformer=TransformerWrapper(encoder=encoder, decoder=None, d_model=d), maskmem_backbone=maskmem,
        multimask_output_in_sam=True, forward_backbone_per_frame_for_eval=True,
        trim_past_non_cond_mem_for_eval=False, multimask_output_for_tracking=True, multimask_min_pt_num=0,
        multimask_max_pt_num=1, always_start_from_first_ann_frame=False, non_overlap_masks_for_mem_enc=False,
        non_overlap_masks_for_output=False, max_cond_frames_in_attn=4, offload_output_to_cpu_for_eval=False,
        sam_mask_decoder_extra_args={"dynamic_multimask_via_stability": True,
                                     "dynamic_multimask_stability_delta": 0.05,
                                     "dynamic_multimask_stability_thresh": 0.98},
        clear_non_cond_mem_around_input=True, fill_hole_area=0, use_memory_selection=memory_selection,
    )


def build_official(spec: Spec | None = None, seed: int = 0) -> nn.Module:
    """The official ``Sam3Image`` with its interactive predictor (eval, CPU, random weights),
    composed as ``model_builder.build_sam3_image_model(enable_inst_interactivity=True)`` does;
    ``spec`` None is :func:`reduced_spec`. The detector parts come from ``tests.oracles.sam3_detector``."""
    spec = spec or reduced_spec()
    import_official()
    from sam3.model.sam1_task_predictor import SAM3InteractiveImagePredictor
    from sam3.model.vl_combiner import SAM3VLBackbone

    from tests.oracles.sam3_detector import build_official_detector

    model = build_official_detector(spec.detector, seed=seed)  # Sam3Image, no backbone yet
    model.backbone = SAM3VLBackbone(visual=_vision_backbone(spec), text=_text_encoder(spec), scalp=1)
    model.inst_interactive_predictor = SAM3InteractiveImagePredictor(_tracker(spec))
    return model.eval()


def build_official_released(checkpoint: str | Path | None = None) -> nn.Module:
    """The released-size model from the official builder itself (CPU, eval)."""
    import_official()
    from sam3.model_builder import build_sam3_image_model

    return build_sam3_image_model(
        bpe_path=vocabulary_path(), device="cpu", eval_mode=True,
        checkpoint_path=str(checkpoint) if checkpoint else None, load_from_HF=False,
        enable_inst_interactivity=True,
    )


_TRACKER_PREFIX = "inst_interactive_predictor.model."


def to_file_layout(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``Sam3Image`` (with interactive predictor) keys -> the flat ``sam3.pt`` layout."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith(_TRACKER_PREFIX):
            out["tracker." + key[len(_TRACKER_PREFIX) :]] = value
        else:
            out["detector." + key] = value
    return out


@torch.no_grad()
def perturb(state_dict: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Make a fresh official init informative (see the module docstring); file-layout keys.

    The tensors left as they are are the given ones (shared with the model they came from)."""
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        value = value.detach()  # not copied: the released size would need twice its 3.4 GB
        if key.endswith("language_backbone.encoder.positional_embedding"):
            value = 0.01 * torch.randn(value.shape, generator=gen)
        elif key.endswith("language_backbone.encoder.text_projection"):
            value = value.shape[0] ** -0.5 * torch.randn(value.shape, generator=gen)
        elif value.is_floating_point() and value.numel() > 0 and bool((value == value.flatten()[0]).all()):
            value = value + 0.1 * torch.randn(value.shape, generator=gen, dtype=value.dtype)
        out[key] = value
    for key in out:
        if key.startswith("tracker.sam_mask_decoder.output_hypernetworks_mlps.") and ".layers.2." in key:
            out[key] = out[key] * 8.0
    bias = "tracker.sam_mask_decoder.pred_obj_score_head.layers.2.bias"
    if bias in out:
        out[bias] = out[bias] + 3.5
    return out


def informative_detector(state_dict: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """The detector helper's perturbation (query scores spread across 0.5), file layout."""
    from tests.oracles.sam3_detector import informative

    return informative(state_dict, seed, prefix="detector.")


def make_state_dict(
    spec: Spec | None = None,
    seed: int = 0,
    detector_tweak: Tweak | None = informative_detector,
) -> dict[str, torch.Tensor]:
    """Random weights in the ``sam3.pt`` layout (``spec`` None: :func:`reduced_spec`).

    ``detector_tweak(state_dict, seed) -> state_dict`` runs last; the default spreads the
    detector's scores across 0.5; None keeps the plain perturbation."""
    model = build_official(spec, seed)
    state_dict = perturb(to_file_layout(model.state_dict()), seed)
    del model
    gc.collect()
    if detector_tweak is not None:
        state_dict = detector_tweak(state_dict, seed)
    return state_dict


def make_checkpoint(
    path: str | Path,
    spec: Spec | None = None,
    seed: int = 0,
    detector_tweak: Tweak | None = informative_detector,
) -> Path:
    """Write a random ``sam3.pt``-layout checkpoint (a flat dict, as the released file) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(make_state_dict(spec, seed, detector_tweak), path)
    return path


def file_layout_shapes(builder: Callable[[], nn.Module]) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Key -> (shape, dtype) of ``builder()``'s model in the file layout, built on the meta
    device (no memory; ``torch.linspace`` stays on the CPU: the ViT reads drop-path rates)."""
    from torch.utils._device import DeviceContext

    class _Meta(DeviceContext):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            if func is torch.linspace:
                return func(*args, **{**(kwargs or {}), "device": "cpu"})
            return super().__torch_function__(func, types, args, kwargs)

    import_official()
    with _Meta("meta"):
        model = builder()
    return {k: (tuple(v.shape), v.dtype) for k, v in to_file_layout(model.state_dict()).items()}


def load_official(path: str | Path, spec: Spec | None = None) -> nn.Module:
    """The official model of ``spec``'s sizes with the checkpoint at ``path`` loaded by the
    official loader (``detector.`` stripped, ``tracker.`` -> the interactive predictor)."""
    model = build_official(spec)
    from sam3.model_builder import _load_checkpoint

    _load_checkpoint(model, str(path))
    return model.eval()


def processor(model: nn.Module, confidence_threshold: float = 0.5) -> Any:
    """The official ``Sam3Processor`` on the CPU."""
    from sam3.model.sam3_image_processor import Sam3Processor

    return Sam3Processor(model, device="cpu", confidence_threshold=confidence_threshold)




__all__ = [
    "Spec",
    "build_official",
    "build_official_released",
    "file_layout_shapes",
    "full_spec",
    "import_official",
    "informative_detector",
    "load_official",
    "make_checkpoint",
    "make_state_dict",
    "perturb",
    "processor",
    "reduced_spec",
    "replace",
    "to_file_layout",
    "vocabulary_path",
]
