"""SAM 3's tracker: SAM 2's memory design over the tracker's own neck, with the ``tracker.*``
weights of ``sam3.pt``.

The prompt encoder and mask decoder are the interactive head's (``interactive.py``, the same
tensors); this module adds what video needs (keys under ``tracker.``):

- ``maskmem_backbone``: the memory encoder (``sam2/memory_encoder.py``), whose mask input is first
  resized to 1152² (bilinear, antialiased) so that four stride-2 convolutions reach the 72² grid;
- ``transformer.encoder``: memory attention (``sam2/memory_attention.py``, RoPE on a 72² grid);
- ``maskmem_tpos_enc`` (7, 1, 1, mem), ``no_obj_ptr``, ``no_obj_embed_spatial``,
  ``obj_ptr_proj`` (3-layer MLP), ``obj_ptr_tpos_proj``, ``mask_downsample`` (4×4 stride-4 conv
  turning a 1152² mask prompt into the decoder's 288² mask input); ``no_mem_pos_enc`` is in the
  file and never read.

Per frame (:meth:`Sam3Tracker.frame_features`): the tracker's neck levels are rounded to
bfloat16 — the official detector hands them to the tracker through a bfloat16 all-gather — and
the 288² / 144² levels go through the decoder's ``conv_s0`` / ``conv_s1`` once.

Shapes (released model; a reduced test checkpoint has its own widths): C = 256 hidden, M = 64
memory channels, a 72² grid (1008 / 14), low-res masks 288², high-res masks 1008².
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model_runtime.checkpoints import SAM3, CheckpointError, load_strict
from model_runtime.models.common.layers import MLP
from model_runtime.models.common.upscaling_head import SkipFeatures
from model_runtime.models.sam2.memory_attention import (
    MemoryAttention,
    MemoryAttentionConfig,
    MemoryInputs,
    ProjectedMemory,
)
from model_runtime.models.sam2.memory_encoder import MemoryEncoder, MemoryEncoderConfig
from model_runtime.models.sam2.position_encoding import sine_position_encoding
from model_runtime.models.sam2.tracker import sine_1d
from model_runtime.models.sam3.interactive import BACKBONE_STRIDE, InteractiveHead

PREFIX = "tracker."
NO_OBJ_SCORE = -1024.0  # low-res logits of an object judged absent (official placeholder)
MASK_AS_OUTPUT_SCALE, MASK_AS_OUTPUT_BIAS = 20.0, -10.0  # a mask prompt becomes ±10 logits
UNUSED_KEYS = ("no_mem_pos_enc",)
# What the interactive head loads from ``tracker.``; everything else there is this module's.
HEAD_PREFIXES = ("sam_prompt_encoder.", "sam_mask_decoder.", "no_mem_embed")


@dataclass(frozen=True)
class TrackerConfig:
    """Sizes (read from the checkpoint) and the released tracker's fixed settings."""

    hidden_dim: int = 256
    mem_dim: int = 64
    num_maskmem: int = 7  # the conditioning frames' slot + 6 previous frames
    attention_layers: int = 4
    attention_ffn: int = 2048
    fuser_layers: int = 2
    image_size: int = 1008
    max_obj_ptrs_in_encoder: int = 16
    max_cond_frames_in_attn: int = 4
    multimask_min_pt_num: int = 0
    multimask_max_pt_num: int = 1
    memory_selection_threshold: float = 0.01  # SAM2Long's frame filter (``mf_threshold``)
    sigmoid_scale_for_mem_enc: float = 20.0
    sigmoid_bias_for_mem_enc: float = -10.0

    @property
    def grid(self) -> int:
        """Side of the image embedding (72)."""
        return self.image_size // BACKBONE_STRIDE

    @property
    def low_res_size(self) -> int:
        """Side of the decoder's masks (288)."""
        return self.grid * 4

    @property
    def input_mask_size(self) -> int:
        """Side a mask prompt is resized to (1152)."""
        return self.low_res_size * 4


class _Transformer(nn.Module):
    """Keys: ``encoder.*`` (the official TransformerWrapper has no decoder here)."""

    def __init__(self, config: TrackerConfig) -> None:
        super().__init__()
        self.encoder = MemoryAttention(
            MemoryAttentionConfig(
                d_model=config.hidden_dim,
                kv_in_dim=config.mem_dim,
                num_layers=config.attention_layers,
                num_heads=1,
                dim_feedforward=config.attention_ffn,
            )
        )


class TrackerMemory(nn.Module):
    """The tracker's weights beyond the interactive head (module docstring for the keys)."""

    def __init__(self, config: TrackerConfig) -> None:
        super().__init__()
        self.config = config
        c, m = config.hidden_dim, config.mem_dim
        self.maskmem_backbone = MemoryEncoder(
            MemoryEncoderConfig(
                in_dim=c, out_dim=m, fuser_layers=config.fuser_layers, mask_resize=config.input_mask_size
            )
        )
        self.transformer = _Transformer(config)
        self.maskmem_tpos_enc = nn.Parameter(torch.zeros(config.num_maskmem, 1, 1, m))
        self.no_obj_ptr = nn.Parameter(torch.zeros(1, c))
        self.no_obj_embed_spatial = nn.Parameter(torch.zeros(1, m))
        self.mask_downsample = nn.Conv2d(1, 1, kernel_size=4, stride=4)
        self.obj_ptr_proj = MLP(c, c, c, 3)
        self.obj_ptr_tpos_proj = nn.Linear(c, m)


@dataclass
class TrackerFrame:
    """One frame's tracker features (batch 1): ``skips`` the 288²/144² levels after
    ``conv_s0``/``conv_s1`` (decoder block order); ``pix`` (1, C, 72, 72) the coarsest level;
    ``pos`` (1, 72², C) its sine encoding as tokens."""

    skips: SkipFeatures
    pix: torch.Tensor
    pos: torch.Tensor

    def nbytes(self) -> int:
        return sum(t.element_size() * t.nelement() for t in (self.skips.s0, self.skips.s1, self.pix))


@dataclass
class HeadsOutput:
    """The decoder's answer for B objects: ``low_res`` (B, 1, 288, 288) best logits (−1024 where
    the object is judged absent), ``high_res`` (B, 1, 1008, 1008) their bilinear upsampling,
    ``iou_score`` (B,) best predicted IoU, ``obj_ptr`` (B, C), ``score`` (B, 1) presence logits."""

    low_res: torch.Tensor | None
    high_res: torch.Tensor | None
    iou_score: torch.Tensor
    obj_ptr: torch.Tensor
    score: torch.Tensor


class Sam3Tracker:
    """The tracker's operations over the interactive head and :class:`TrackerMemory`."""

    def __init__(self, head: InteractiveHead, memory: TrackerMemory) -> None:
        self.head = head
        self.memory = memory
        self.config = memory.config
        grid = self.config.grid
        device = memory.no_obj_ptr.device
        with torch.no_grad():
            pos = sine_position_encoding(self.config.mem_dim, (grid, grid), device)
            self.memory_pos = pos.flatten(2).transpose(1, 2).contiguous()  # (1, HW, M)
            image_pos = sine_position_encoding(self.config.hidden_dim, (grid, grid), device)
            self.image_pos = image_pos.flatten(2).transpose(1, 2).contiguous()  # (1, HW, C)

    @property
    def attention(self) -> MemoryAttention:
        return self.memory.transformer.encoder

    # -- per frame ------------------------------------------------------------------------------

    @torch.no_grad()
    def frame_features(self, levels: list[torch.Tensor]) -> TrackerFrame:
        """The tracker neck's raw levels (1, C, 288²), (1, C, 144²), (1, C, 72²) -> :class:`TrackerFrame`."""
        s0, s1, s2 = (level.to(torch.bfloat16).float() for level in levels)
        decoder = self.head.sam_mask_decoder
        skips = SkipFeatures.from_maps(decoder.conv_s0(s0), decoder.conv_s1(s1), decoder.output_upscaling)
        return TrackerFrame(skips=skips, pix=s2, pos=self.image_pos)

    # -- decoding -------------------------------------------------------------------------------

    @torch.no_grad()
    def sam_heads(
        self,
        pix: torch.Tensor,
        skips: SkipFeatures,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        mask_input: torch.Tensor | None,
        multimask: bool,
        high_res: bool = True,
    ) -> HeadsOutput:
        """pix (B, C, 72, 72) features (memory-conditioned, or + no_mem_embed); points: model-input
        coordinates (B, P, 2) and labels (B, P); mask_input (B, 1, 288, 288) logits or None."""
        head = self.head
        b = pix.shape[0]
        if points is None:
            coords = torch.zeros(b, 1, 2, device=pix.device)
            labels = -torch.ones(b, 1, dtype=torch.int32, device=pix.device)
        else:
            coords, labels = points
        if mask_input is not None:
            size = head.sam_prompt_encoder.mask_input_size
            if tuple(mask_input.shape[-2:]) != tuple(size):
                mask_input = F.interpolate(
                    mask_input.float(), size=size, mode="bilinear", align_corners=False, antialias=True
                )
        sparse, dense = head.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=mask_input)
        dense_pe, _ = head._positional()
        out = head.sam_mask_decoder(
            image_embeddings=pix,
            image_pe=dense_pe,
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
            repeat_image=False,
            high_res_features=skips,
        )
        score = out.object_score_logits
        present = score > 0
        low_multi = torch.where(present[:, None, None], out.masks, NO_OBJ_SCORE).float()
        token = out.sam_tokens[:, 0]
        rows = torch.arange(b, device=pix.device)
        if multimask:
            best = torch.argmax(out.iou, dim=-1)
            low_res = low_multi[rows, best].unsqueeze(1)
            if out.sam_tokens.shape[1] > 1:
                token = out.sam_tokens[rows, best]
        else:
            low_res = low_multi
        high = None
        if high_res:
            size = (self.config.image_size,) * 2
            high = F.interpolate(low_res, size=size, mode="bilinear", align_corners=False)
        obj_ptr = self._gate_pointer(self.memory.obj_ptr_proj(token), present.float())
        return HeadsOutput(low_res, high, out.iou.max(-1)[0], obj_ptr, score)

    def _gate_pointer(self, obj_ptr: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """present (B, 1) 0/1: absent objects get the learned ``no_obj_ptr``."""
        return present * obj_ptr + (1 - present) * self.memory.no_obj_ptr

    @torch.no_grad()
    def mask_as_output(self, frame: TrackerFrame, mask: torch.Tensor) -> HeadsOutput:
        """A mask prompt (B, 1, 1152, 1152) float 0/1 taken as the output: only its pointer comes
        from the decoder (prompted by the downsampled mask on the frame's raw features); its
        presence logit is ±10 by whether the mask is empty, its IoU score 1. The masks themselves
        are the caller's (at video resolution)."""
        b = mask.shape[0]
        pointer = self.sam_heads(
            frame.pix.expand(b, -1, -1, -1),
            frame.skips,
            None,
            self.memory.mask_downsample(mask),
            False,
            high_res=False,
        ).obj_ptr
        present = torch.any(mask.flatten(1) > 0.0, dim=1)[:, None].float()
        score = MASK_AS_OUTPUT_SCALE * present + MASK_AS_OUTPUT_BIAS
        # The decoder's own presence already gated the pointer; the official code gates it again
        # by the mask's presence, on top.
        obj_ptr = self._gate_pointer(pointer, present)
        return HeadsOutput(None, None, mask.new_ones(b), obj_ptr, score)

    # -- memory ---------------------------------------------------------------------------------

    @torch.no_grad()
    def encode_memory(
        self, frame: TrackerFrame, high_res_masks: torch.Tensor, score: torch.Tensor, binarize: bool
    ) -> torch.Tensor:
        """high_res_masks (B, 1, S, S) logits (S = 1008 or 1152), score (B, 1) presence logits ->
        (B, M, 72, 72) bfloat16 memory (stored rounded, as the official code stores it).
        ``binarize``: the frame's masks come from the user's prompts (encoded as seen, > 0)."""
        c = self.config
        probs = (high_res_masks > 0).float() if binarize else torch.sigmoid(high_res_masks)
        probs = probs * c.sigmoid_scale_for_mem_enc + c.sigmoid_bias_for_mem_enc
        b = high_res_masks.shape[0]
        mem, _ = self.memory.maskmem_backbone(frame.pix.expand(b, -1, -1, -1), probs, skip_mask_sigmoid=True)
        absent = 1 - (score > 0).float()
        mem = mem + absent[..., None, None] * self.memory.no_obj_embed_spatial[..., None, None]
        return mem.to(torch.bfloat16)

    @torch.no_grad()
    def project(self, maskmem: torch.Tensor) -> ProjectedMemory:
        """(B, M, 72, 72) memory -> its cross-attention keys for every layer (computed once)."""
        features = maskmem.flatten(2).transpose(1, 2)  # (B, HW, M)
        return self.attention.project_memory(features, self.memory_pos)

    def tpos_row(self, t_pos: int) -> torch.Tensor:
        """(M,) temporal encoding of a memory at bank slot ``t_pos`` (0: a conditioning frame)."""
        n = self.config.num_maskmem
        return self.memory.maskmem_tpos_enc[n - t_pos - 1].reshape(-1)

    @torch.no_grad()
    def pointer_tokens(
        self, pointers: list[tuple[int, torch.Tensor]], num_frames: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(temporal position, pointer (B, C)) pairs -> tokens (B, P·C/M, M) and their encoding."""
        c = self.config
        hidden, mem_dim = c.hidden_dim, c.mem_dim
        b = pointers[0][1].shape[0]
        ptrs = torch.stack([p for _, p in pointers], dim=0)  # (P, B, C)
        max_ptrs = min(num_frames, c.max_obj_ptrs_in_encoder)
        positions = torch.tensor([t for t, _ in pointers], device=ptrs.device)
        pos = self.memory.obj_ptr_tpos_proj(sine_1d(positions / (max_ptrs - 1), hidden))
        pos = pos.unsqueeze(1).expand(-1, b, -1)  # (P, B, M)
        if mem_dim < hidden:
            split = hidden // mem_dim
            ptrs = ptrs.reshape(-1, b, split, mem_dim).permute(0, 2, 1, 3).flatten(0, 1)
            pos = pos.repeat_interleave(split, dim=0)
        return ptrs.transpose(0, 1), pos.transpose(0, 1)

    @torch.no_grad()
    def condition(self, frame: TrackerFrame, banks: list[MemoryInputs]) -> torch.Tensor:
        """The frame's features conditioned on each object's memory bank -> (B, C, 72, 72).
        Banks of one layout (the usual case: objects tracked together share their frames) run
        as one batch."""
        curr = frame.pix.flatten(2).transpose(1, 2)  # (1, HW, C)
        out = torch.empty(len(banks), *curr.shape[1:], dtype=curr.dtype, device=curr.device)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, bank in enumerate(banks):
            groups.setdefault((len(bank.frames), bank.ptrs.shape[1]), []).append(i)
        for members in groups.values():
            rows = self.attention.forward_banks(
                curr.expand(len(members), -1, -1), frame.pos, [banks[i] for i in members]
            )
            out[members] = rows
        b, hw, ch = out.shape
        side = frame.pix.shape[-1]
        return out.transpose(1, 2).reshape(b, ch, hw // side, side)


def detect_tracker_config(state_dict: Mapping[str, torch.Tensor]) -> TrackerConfig:
    """The tracker's sizes from a ``sam3.pt`` state dict (KeyError naming a missing key)."""

    def shape(key: str) -> tuple[int, ...]:
        if PREFIX + key not in state_dict:
            raise KeyError(PREFIX + key)
        return tuple(state_dict[PREFIX + key].shape)

    def count(pattern: str) -> int:
        found = {int(m.group(1)) for k in state_dict if (m := re.match(re.escape(PREFIX) + pattern, k))}
        return max(found) + 1 if found else 0

    num_maskmem, _, _, mem_dim = shape("maskmem_tpos_enc")
    return TrackerConfig(
        hidden_dim=shape("no_obj_ptr")[1],
        mem_dim=mem_dim,
        num_maskmem=num_maskmem,
        attention_layers=count(r"transformer\.encoder\.layers\.(\d+)\."),
        attention_ffn=shape("transformer.encoder.layers.0.linear1.weight")[0],
        fuser_layers=count(r"maskmem_backbone\.fuser\.layers\.(\d+)\."),
    )


def load_tracker(
    head: InteractiveHead,
    state_dict: Mapping[str, torch.Tensor],
    path: str | os.PathLike[str],
    device: torch.device | str = "cpu",
) -> Sam3Tracker:
    """The tracker over ``head`` and the file's memory weights (taken in place, ``assign=True``).
    CheckpointError when a tracker tensor is missing or of the wrong shape."""
    try:
        config = detect_tracker_config(state_dict)
    except KeyError as exc:
        raise CheckpointError(path, f"SAM 3 tracker weights are incomplete: no {exc.args[0]}", SAM3) from exc
    own = {
        key[len(PREFIX) :]: value
        for key, value in state_dict.items()
        if key.startswith(PREFIX) and not key[len(PREFIX) :].startswith(HEAD_PREFIXES)
    }
    with torch.device("meta"):
        memory = TrackerMemory(config)
    load_strict(memory, own, path, SAM3, UNUSED_KEYS, assign=True)
    memory.eval().requires_grad_(False)
    return Sam3Tracker(head, memory.to(device))
