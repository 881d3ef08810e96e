"""SAM 2's tracking step: one frame, a batch of objects, through the network.

:class:`FrameTracker` holds the maths of the official ``SAM2Base.track_step`` that a video session
runs on every frame: encode the frame (:meth:`FrameTracker.encode_frame`), condition its features
on each object's memory bank — conditioning frames, up to ``num_maskmem - 1`` previous frames and
up to 15 object pointers (``memory_attention.py``, with each memory's keys projected once and
kept) — run the prompt encoder and mask decoder with the object-score gating, and encode the
result as the frame's memory (:meth:`FrameTracker.encode_memory`). What a session keeps per object
between frames is :class:`ObjectTrack`; which frames run, and what is kept or dropped, is the
session's business (``video.py``).

Tensor conventions: features (B, C, 64, 64) with B objects; masks at 1024² are "high-res", the
decoder's 256² logits are "low-res".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from model_runtime.models.common.upscaling_head import SkipFeatures
from model_runtime.models.sam2.memory_attention import MemoryInputs, ProjectedMemory
from model_runtime.models.sam2.network import Sam2Network
from model_runtime.models.sam2.position_encoding import sine_position_encoding
from model_runtime.models.sam2.video_features import FrameFeatures, encode_frame

NO_OBJ_SCORE = -1024.0  # logits of an object judged absent (the official placeholder)
MASK_AS_OUTPUT_SCALE, MASK_AS_OUTPUT_BIAS = 20.0, -10.0  # a mask prompt becomes ±10 logits


@dataclass
class FrameOutput:
    """One object's result on one frame.

    pred_masks (1, 1, 256, 256) low-res logits; obj_ptr (1, 256); object_score (1, 1) logit;
    maskmem (1, 64, 64, 64) bfloat16 memory features (None until encoded); projected: the
    memory's cross-attention keys/values, computed the first time another frame reads it.
    """

    pred_masks: torch.Tensor
    obj_ptr: torch.Tensor
    object_score: torch.Tensor
    maskmem: torch.Tensor | None = None
    projected: ProjectedMemory | None = None

    def nbytes(self) -> int:
        total = sum(t.element_size() * t.nelement() for t in (self.pred_masks, self.obj_ptr))
        if self.maskmem is not None:
            total += self.maskmem.element_size() * self.maskmem.nelement()
        if self.projected is not None:
            total += self.projected.nbytes()
        return total


@dataclass
class ObjectTrack:
    """Everything one object id holds. ``points[frame]`` = (coords (1, P, 2) in model input
    pixels, labels (1, P) int32); ``masks[frame]`` = (1, 1, 1024, 1024) float 0/1 mask prompt;
    ``tracked[frame]`` = whether that frame was last tracked in reverse."""

    obj_id: int
    points: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    masks: dict[int, torch.Tensor] = field(default_factory=dict)
    cond: dict[int, FrameOutput] = field(default_factory=dict)
    non_cond: dict[int, FrameOutput] = field(default_factory=dict)
    temp_cond: dict[int, FrameOutput] = field(default_factory=dict)
    temp_non_cond: dict[int, FrameOutput] = field(default_factory=dict)
    tracked: dict[int, bool] = field(default_factory=dict)

    def latest(self, frame: int) -> FrameOutput | None:
        """The most recent output on ``frame``: a new prompt's result first, then tracking's."""
        for store in (self.temp_cond, self.temp_non_cond, self.cond, self.non_cond):
            if frame in store:
                return store[frame]
        return None

    def nbytes(self) -> int:
        stores = (self.cond, self.non_cond, self.temp_cond, self.temp_non_cond)
        total = sum(out.nbytes() for store in stores for out in store.values())
        total += sum(m.element_size() * m.nelement() for m in self.masks.values())
        return total


class FrameTracker:
    """The network's work on one frame of a video of ``num_frames`` frames (see the module
    docstring). Holds no per-object state: that is passed in as :class:`ObjectTrack` values."""

    def __init__(self, network: Sam2Network, device: torch.device, num_frames: int) -> None:
        self.network = network
        self.device = device
        self.num_frames = num_frames
        c = network.config
        self.image_size = c.image_size
        self.num_maskmem = c.num_maskmem
        with torch.no_grad():
            self._dense_pe = network.sam_prompt_encoder.get_dense_pe()
            side = c.image_size // c.backbone_stride
            pos = sine_position_encoding(c.mem_dim, (side, side), device)
            self._mem_pos = pos.flatten(2).transpose(1, 2)  # (1, HW, mem_dim)

    def encode_frame(self, rgb: np.ndarray) -> FrameFeatures:
        """uint8 (H, W, 3) RGB video frame -> its features (``video_features.encode_frame``)."""
        return encode_frame(self.network, rgb, self.device)

    def infer(
        self,
        feats: FrameFeatures,
        frame: int,
        tracks: list[ObjectTrack],
        *,
        is_init: bool,
        reverse: bool,
        encode_memory: bool,
        points: tuple[torch.Tensor, torch.Tensor] | None = None,
        mask: torch.Tensor | None = None,
        prev_logits: torch.Tensor | None = None,
    ) -> list[FrameOutput]:
        """Track ``tracks`` (batched) on ``frame``, whose features are ``feats``: condition on
        each track's memory bank (or start a masklet, ``is_init``), run the prompt encoder and
        mask decoder, and with ``encode_memory`` encode the result as the frame's memory.
        ``points`` (coords (1, P, 2) in model input pixels, labels (1, P)), ``mask`` (1, 1,
        1024, 1024) or ``prev_logits`` (1, 1, 256, 256) prompt a single track."""
        net = self.network
        b = len(tracks)
        high_res = feats.skips
        if mask is not None and net.config.use_mask_input_as_output_without_sam:
            low_res, high_res_masks, obj_ptr, score = self._mask_as_output(feats, high_res, mask)
        else:
            if is_init and net.config.directly_add_no_mem_embed:
                pix = feats.s16 + net.no_mem_embed.view(1, -1, 1, 1)
                pix = pix.expand(b, -1, -1, -1)
            else:
                pix = self._condition_on_memory(frame, tracks, feats, reverse)
            multimask = self._use_multimask(is_init, points)
            low_res, high_res_masks, obj_ptr, score = self._sam_heads(
                pix, high_res, points, prev_logits if mask is None else mask, multimask
            )
        maskmem = None
        if encode_memory:
            maskmem = self.encode_memory(feats, high_res_masks, score, from_prompt=points is not None)
        return [
            FrameOutput(
                pred_masks=low_res[i : i + 1],
                obj_ptr=obj_ptr[i : i + 1],
                object_score=score[i : i + 1],
                maskmem=None if maskmem is None else maskmem[i : i + 1],
            )
            for i in range(b)
        ]

    def _use_multimask(self, is_init: bool, points: tuple[torch.Tensor, torch.Tensor] | None) -> bool:
        c = self.network.config
        num_pts = 0 if points is None else points[1].shape[1]
        return (
            c.multimask_output_in_sam
            and (is_init or c.multimask_output_for_tracking)
            and c.multimask_min_pt_num <= num_pts <= c.multimask_max_pt_num
        )

    def _sam_heads(
        self,
        pix: torch.Tensor,
        high_res: SkipFeatures,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        mask_input: torch.Tensor | None,
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """pix (B, 256, 64, 64) -> best low-res (B, 1, 256, 256), high-res (B, 1, 1024, 1024)
        logits, object pointers (B, 256) and object-score logits (B, 1)."""
        net = self.network
        b = pix.shape[0]
        if points is None:
            coords = torch.zeros(b, 1, 2, device=pix.device)
            labels = -torch.ones(b, 1, dtype=torch.int32, device=pix.device)
        else:
            coords, labels = points
        if mask_input is not None:
            prompt_size = net.sam_prompt_encoder.mask_input_size
            if tuple(mask_input.shape[-2:]) != tuple(prompt_size):
                mask_input = F.interpolate(
                    mask_input.float(), size=prompt_size, mode="bilinear", align_corners=False, antialias=True
                )
        sparse, dense = net.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=mask_input)
        out = net.sam_mask_decoder(
            image_embeddings=pix,
            image_pe=self._dense_pe,
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
            repeat_image=False,
            high_res_features=high_res,
        )
        score = out.object_score_logits
        present = score > 0
        low_multi = torch.where(present[:, None, None], out.masks, NO_OBJ_SCORE).float()
        high_multi = F.interpolate(
            low_multi, size=(self.image_size,) * 2, mode="bilinear", align_corners=False
        )
        token = out.sam_tokens[:, 0]
        if multimask:
            best = torch.argmax(out.iou, dim=-1)
            rows = torch.arange(b, device=pix.device)
            low_res = low_multi[rows, best].unsqueeze(1)
            high_res_masks = high_multi[rows, best].unsqueeze(1)
            if out.sam_tokens.shape[1] > 1:
                token = out.sam_tokens[rows, best]
        else:
            low_res, high_res_masks = low_multi, high_multi
        obj_ptr = self._gate_pointer(net.obj_ptr_proj(token), present.float())
        return low_res, high_res_masks, obj_ptr, score

    def _gate_pointer(self, obj_ptr: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Absent objects get the learned ``no_obj_ptr`` (fixed: the pointer itself is zeroed)."""
        net = self.network
        if net.config.fixed_no_obj_ptr:
            obj_ptr = present * obj_ptr
        return obj_ptr + (1 - present) * net.no_obj_ptr

    def _mask_as_output(
        self, feats: FrameFeatures, high_res: SkipFeatures, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """A mask prompt is taken as the output (±10 logits); the pointer still comes from the
        decoder, prompted by the downsampled mask on the frame's raw features."""
        net = self.network
        high_res_masks = mask * MASK_AS_OUTPUT_SCALE + MASK_AS_OUTPUT_BIAS
        low_res = F.interpolate(
            high_res_masks, size=(high_res_masks.shape[-2] // 4, high_res_masks.shape[-1] // 4),
            mode="bilinear", align_corners=False, antialias=True,
        )
        _, _, obj_ptr, _ = self._sam_heads(feats.s16, high_res, None, net.mask_downsample(mask), False)
        present = torch.any(mask.flatten(1) > 0.0, dim=1)[:, None].float()
        score = MASK_AS_OUTPUT_SCALE * present + MASK_AS_OUTPUT_BIAS
        # _sam_heads gated the pointer by the decoder's own score; the official code gates again
        # by the mask's presence, on top (a pointer of an absent object gets no_obj_ptr twice).
        obj_ptr = self._gate_pointer(obj_ptr, present)
        return low_res, high_res_masks, obj_ptr, score

    def encode_memory(
        self, feats: FrameFeatures, high_res_masks: torch.Tensor, score: torch.Tensor, from_prompt: bool
    ) -> torch.Tensor:
        """high_res_masks (B, 1, 1024, 1024) logits and their object scores (B, 1) -> the frame's
        memory, (B, 64, 64, 64) bfloat16 (stored rounded, like the official code)."""
        net = self.network
        c = net.config
        b = high_res_masks.shape[0]
        # binarize_mask_from_pts_for_mem_enc: a prompted frame's memory encodes what the user saw.
        probs = (high_res_masks > 0).float() if from_prompt else torch.sigmoid(high_res_masks)
        if c.sigmoid_scale_for_mem_enc != 1.0:
            probs = probs * c.sigmoid_scale_for_mem_enc
        if c.sigmoid_bias_for_mem_enc != 0.0:
            probs = probs + c.sigmoid_bias_for_mem_enc
        mem, _ = net.memory_encoder(feats.s16.expand(b, -1, -1, -1), probs, skip_mask_sigmoid=True)
        if c.no_obj_embed_spatial:
            absent = 1 - (score > 0).float()
            mem = mem + absent[..., None, None] * net.no_obj_embed_spatial[..., None, None]
        return mem.to(torch.bfloat16)

    # -- memory bank ------------------------------------------------------------------------------

    def _condition_on_memory(
        self, frame: int, tracks: list[ObjectTrack], feats: FrameFeatures, reverse: bool
    ) -> torch.Tensor:
        """-> (B, 256, 64, 64) features of ``frame`` conditioned on each track's memory bank."""
        net = self.network
        curr = feats.s16.flatten(2).transpose(1, 2)  # (1, HW, C)
        curr_pos = feats.pos16.flatten(2).transpose(1, 2)
        banks = [self._memory_inputs(frame, t, reverse) for t in tracks]
        # Objects whose banks have the same layout run in one batch.
        groups: dict[tuple[int, int], list[int]] = {}
        for i, bank in enumerate(banks):
            groups.setdefault((len(bank.frames), bank.ptrs.shape[1]), []).append(i)
        out = torch.empty(len(tracks), *curr.shape[1:], dtype=curr.dtype, device=curr.device)
        for members in groups.values():
            batch = [banks[i] for i in members]
            result = net.memory_attention.forward_banks(curr.expand(len(members), -1, -1), curr_pos, batch)
            out[members] = result
        b, hw, c = out.shape
        side = feats.s16.shape[-1]
        return out.transpose(1, 2).reshape(b, c, hw // side, side)

    def _memory_inputs(self, frame: int, track: ObjectTrack, reverse: bool) -> MemoryInputs:
        """The track's memory bank as seen from ``frame``: conditioning frames (t_pos 0), then
        up to ``num_maskmem - 1`` previous frames (t_pos 1 = the farthest), then object pointers."""
        net = self.network
        n = self.num_maskmem
        if not track.cond:
            raise RuntimeError(f"object {track.obj_id} has no conditioning frame")
        entries: list[tuple[int, FrameOutput]] = [(0, out) for out in track.cond.values()]
        for t_pos in range(1, n):
            t_rel = n - t_pos
            prev = frame + t_rel if reverse else frame - t_rel
            out = track.non_cond.get(prev)
            if out is not None:
                entries.append((t_pos, out))
        frames: list[ProjectedMemory] = []
        tpos_rows: list[torch.Tensor] = []
        for t_pos, out in entries:
            if out.maskmem is None:
                raise RuntimeError(f"object {track.obj_id}: a memory frame was never encoded")
            if out.projected is None:
                feats = out.maskmem.flatten(2).transpose(1, 2)  # (1, HW, mem_dim)
                out.projected = net.memory_attention.project_memory(feats, self._mem_pos)
            frames.append(out.projected)
            tpos_rows.append(net.maskmem_tpos_enc[n - t_pos - 1].reshape(-1))
        tpos = torch.stack(tpos_rows)
        ptrs, ptrs_pos = self._pointer_tokens(frame, track, reverse)
        return MemoryInputs(frames, tpos, ptrs, ptrs_pos)

    def _pointer_tokens(
        self, frame: int, track: ObjectTrack, reverse: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Object pointers of conditioning frames (not in the future) and of up to 15 previous
        frames, split into mem_dim-wide tokens: (1, P·C/mem_dim, mem_dim) and their encoding."""
        net = self.network
        c = net.config
        hidden, mem_dim = c.hidden_dim, c.mem_dim
        max_ptrs = min(self.num_frames, c.max_obj_ptrs_in_encoder)
        sign = -1 if reverse else 1
        pairs: list[tuple[int, torch.Tensor]] = []
        for t, out in track.cond.items():
            if c.only_obj_ptrs_in_the_past_for_eval and (t < frame if reverse else t > frame):
                continue
            pos = (frame - t) * sign if c.use_signed_tpos_enc_to_obj_ptrs else abs(frame - t)
            pairs.append((pos, out.obj_ptr))
        for t_diff in range(1, max_ptrs):
            t = frame + t_diff if reverse else frame - t_diff
            if t < 0 or t >= self.num_frames:
                break
            out = track.non_cond.get(t)
            if out is not None:
                pairs.append((t_diff, out.obj_ptr))
        if not pairs:
            empty = torch.zeros(1, 0, mem_dim, device=self.device)
            return empty, empty
        ptrs = torch.stack([p for _, p in pairs], dim=0)  # (P, 1, C)
        if c.add_tpos_enc_to_obj_ptrs:
            t_diff_max = max_ptrs - 1
            tpos_dim = hidden if c.proj_tpos_enc_in_obj_ptrs else mem_dim
            positions = torch.tensor([p for p, _ in pairs], device=self.device)
            pos = sine_1d(positions / t_diff_max, tpos_dim)
            if c.proj_tpos_enc_in_obj_ptrs:
                pos = net.obj_ptr_tpos_proj(pos)
            pos = pos.unsqueeze(1)  # (P, 1, mem_dim)
        else:
            pos = ptrs.new_zeros(len(pairs), 1, mem_dim)
        if mem_dim < hidden:
            split = hidden // mem_dim
            ptrs = ptrs.reshape(-1, 1, split, mem_dim).permute(0, 2, 1, 3).flatten(0, 1)
            pos = pos.repeat_interleave(split, dim=0)
        return ptrs.transpose(0, 1), pos.transpose(0, 1)


def sine_1d(positions: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """(P,) positions -> (P, dim): [sin(p / T^(2⌊i/2⌋/(dim/2))) ..., cos(...) ...] (sin half first)."""
    half = dim // 2
    dim_t = torch.arange(half, dtype=torch.float32, device=positions.device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / half)
    emb = positions.unsqueeze(-1) / dim_t
    return torch.cat([emb.sin(), emb.cos()], dim=-1)
