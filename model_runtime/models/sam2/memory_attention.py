"""SAM 2 memory attention: condition the current frame's features on the memory bank.

A stack of ``num_layers`` pre-norm blocks, each: RoPE self-attention over the current frame's
tokens, RoPE cross-attention from those tokens to the memory tokens (spatial memories of past
frames followed by object-pointer tokens, which are not rotated), then a ReLU MLP. Keys follow the
official checkpoint: ``memory_attention.layers.{i}.{self_attn,cross_attn_image}.{q,k,v,out}_proj``,
``linear1``, ``linear2``, ``norm1..3`` and ``memory_attention.norm``.

Speed: the official code projects every stored memory to keys and values in every layer on every
frame. A memory frame's features never change, and its key input is ``features + spatial_pos +
tpos[t]`` where only the temporal term ``tpos[t]`` (one vector) changes as the frame ages. Keys
are linear in their input and RoPE is linear too, so

    rope(k_proj(f + s + tpos[t])) = rope(k_proj(f + s)) + rope(W_k · tpos[t])

and :meth:`MemoryAttention.project_memory` computes the first term once per memory frame; each
frame then only adds the (cheap, shared) temporal term.

Values are never projected per memory token: softmax rows sum to 1 and ``v_proj`` is affine, so
the raw 64-channel memory is mixed by the attention weights and only the 4096 mixed rows are
projected (:meth:`RoPEAttention.attend_memory`). PyTorch's fused CPU attention kernel needs
values as wide as the keys (256), so the mixing is two matrix products per block of 1024 queries
with the block's scores soft-maxed in place (:func:`softmax_mix`): the second product is a
quarter of the fused kernel's. Per layer at 28k keys (``bench/cross_attention.py``, 2 cores
under load ~9) 1.07-1.10 CPU-s against 1.35 for the official way (``v_proj`` of every memory
token, one fused call); an earlier blocked loop with a Python-level online softmax was slower
than the fused kernel (ADR 0005).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model_runtime.models.sam2.rope import RopeTables, add_rotated_constant, apply_rope, axial_rope_tables

SCORE_BLOCK_QUERIES = 1024  # queries whose scores against every memory key are held at once


@dataclass(frozen=True)
class MemoryAttentionConfig:
    """Hyper-parameters shared by every official SAM 2 / 2.1 variant."""

    d_model: int = 256
    kv_in_dim: int = 64  # memory channels (the memory encoder's out_dim)
    num_layers: int = 4
    num_heads: int = 1
    dim_feedforward: int = 2048
    rope_theta: float = 10000.0
    pos_enc_at_input: bool = True


class RoPEAttention(nn.Module):
    """Multi-head attention with axial RoPE on queries and (the first part of the) keys.

    Keys: ``q_proj`` (C→C), ``k_proj``/``v_proj`` (kv_dim→C), ``out_proj`` (C→C).
    """

    def __init__(self, dim: int, num_heads: int, kv_dim: int | None = None) -> None:
        super().__init__()
        kv_dim = dim if kv_dim is None else kv_dim
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(kv_dim, dim)
        self.v_proj = nn.Linear(kv_dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, heads, N, C / heads)."""
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Rotated, head-split q (B, h, Nq, d), k and v (B, h, Nk, d) -> projected output (B, Nq, C)."""
        out = F.scaled_dot_product_attention(q, k, v)
        b, h, n, d = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, h * d))

    def attend_memory(self, q: torch.Tensor, k: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Like :meth:`attend` with values ``v_proj(memory)``: q (B, h, Nq, d), k (B, h, Nk, d)
        rotated and head-split, memory (B, Nk, kv_dim) the raw value input -> projected output
        (B, Nq, C).

        Softmax rows sum to 1 and ``v_proj`` is affine, so ``softmax(qkᵀ)·v_proj(memory) =
        v_proj(softmax(qkᵀ)·memory)`` per head: the raw kv_dim-wide memory is mixed
        (:func:`softmax_mix`) and only the Nq mixed rows are projected."""
        mixed = softmax_mix(q, k, memory)  # (B, h, Nq, kv_dim)
        h, d = self.num_heads, self.v_proj.weight.shape[0] // self.num_heads
        weight = self.v_proj.weight.view(h, d, -1).transpose(1, 2)  # (h, kv_dim, d)
        values = torch.matmul(mixed, weight) + self.v_proj.bias.view(h, 1, d)
        b, _, n, _ = values.shape
        return self.out_proj(values.transpose(1, 2).reshape(b, n, h * d))

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rope: RopeTables) -> torch.Tensor:
        """Self-attention form: q, k, v (B, N, C) over the same N grid tokens -> (B, N, C)."""
        qh = apply_rope(self.heads(self.q_proj(q)), rope)
        kh = apply_rope(self.heads(self.k_proj(k)), rope)
        return self.attend(qh, kh, self.heads(self.v_proj(v)))


def softmax_mix(
    q: torch.Tensor, k: torch.Tensor, memory: torch.Tensor, block: int = SCORE_BLOCK_QUERIES
) -> torch.Tensor:
    """``softmax(q·kᵀ / sqrt(d)) · memory`` for every head: q (B, h, Nq, d), k (B, h, Nk, d),
    memory (B, Nk, c) shared by the heads -> (B, h, Nq, c).

    PyTorch's fused CPU attention needs values as wide as the keys, so this runs as two matrix
    products per ``block`` of queries with the block's scores (block × Nk floats, one buffer
    re-used) soft-maxed in place between them: at 28k keys, 256-wide keys and 64-wide memory a
    quarter of the fused kernel's second product (``bench/cross_attention.py``)."""
    b, h, nq, d = q.shape
    # 1/sqrt(d) is folded into the queries: exact for the power-of-4 head widths SAM 2 uses.
    q = q * d**-0.5
    out = memory.new_empty(b, h, nq, memory.shape[-1])
    scores = q.new_empty(min(block, nq), k.shape[2])
    for row in range(b):
        for head in range(h):
            keys_t = k[row, head].t()
            for start in range(0, nq, block):
                stop = min(start + block, nq)
                s = scores[: stop - start]
                torch.mm(q[row, head, start:stop], keys_t, out=s)
                torch._softmax(s, -1, False, out=s)
                torch.mm(s, memory[row], out=out[row, head, start:stop])
    return out


class MemoryAttentionLayer(nn.Module):
    """One pre-norm block (self-attention, cross-attention to memory, MLP)."""

    def __init__(self, config: MemoryAttentionConfig) -> None:
        super().__init__()
        c = config.d_model
        self.self_attn = RoPEAttention(c, config.num_heads)
        self.cross_attn_image = RoPEAttention(c, config.num_heads, kv_dim=config.kv_in_dim)
        self.linear1 = nn.Linear(c, config.dim_feedforward)
        self.linear2 = nn.Linear(config.dim_feedforward, c)
        self.norm1 = nn.LayerNorm(c)
        self.norm2 = nn.LayerNorm(c)
        self.norm3 = nn.LayerNorm(c)


@dataclass
class ProjectedMemory:
    """One memory frame's cross-attention inputs for every layer, computed once.

    keys[i]:  (B, heads, HW, d) float32, ``rope(k_proj_i(features + spatial_pos))`` of layer i
    features: (B, HW, kv_in_dim) float32, the value input of every layer (mixed raw)
    """

    keys: list[torch.Tensor]
    features: torch.Tensor

    def nbytes(self) -> int:
        return sum(t.element_size() * t.nelement() for t in [*self.keys, self.features])


@dataclass
class MemoryInputs:
    """What one object's current frame attends to.

    frames:    projected spatial memories (batch 1), in bank order
    tpos:      (len(frames), kv_in_dim) temporal encoding added to each frame's key input
    ptrs:      (1, P, kv_in_dim) object-pointer tokens (not rotated), P may be 0
    ptrs_pos:  (1, P, kv_in_dim) their positional encoding
    """

    frames: list[ProjectedMemory]
    tpos: torch.Tensor
    ptrs: torch.Tensor
    ptrs_pos: torch.Tensor


class MemoryAttention(nn.Module):
    """The full stack. Keys: ``layers.{i}.*`` and the final ``norm``."""

    def __init__(self, config: MemoryAttentionConfig | None = None) -> None:
        super().__init__()
        self.config = config or MemoryAttentionConfig()
        self.layers = nn.ModuleList(MemoryAttentionLayer(self.config) for _ in range(self.config.num_layers))
        self.norm = nn.LayerNorm(self.config.d_model)
        self._rope_cache: dict[int, RopeTables] = {}

    def rope_tables(self, num_tokens: int) -> RopeTables:
        """Tables for a square grid of ``num_tokens`` tokens (64² at 1024² input)."""
        tables = self._rope_cache.get(num_tokens)
        if tables is None:
            side = int(round(num_tokens**0.5))
            if side * side != num_tokens:
                raise ValueError(f"memory attention needs a square token grid, got {num_tokens} tokens")
            head_dim = self.config.d_model // self.config.num_heads
            tables = axial_rope_tables(head_dim, side, side, self.config.rope_theta)
            self._rope_cache[num_tokens] = tables
        return tables

    @torch.no_grad()
    def project_memory(self, features: torch.Tensor, spatial_pos: torch.Tensor) -> ProjectedMemory:
        """features: (B, HW, kv_in_dim) one memory frame (bf16-rounded values); spatial_pos:
        (1 or B, HW, kv_in_dim) its sine encoding -> its keys and values for every layer."""
        features = features.float()
        rope = self.rope_tables(features.shape[1])
        key_in = features + spatial_pos
        keys = []
        for layer in self.layers:
            attn = layer.cross_attn_image
            keys.append(apply_rope(attn.heads(attn.k_proj(key_in)), rope))
        return ProjectedMemory(keys, features)

    def forward(
        self,
        curr: torch.Tensor,
        memory: torch.Tensor,
        curr_pos: torch.Tensor,
        memory_pos: torch.Tensor,
        num_obj_ptr_tokens: int = 0,
    ) -> torch.Tensor:
        """The official interface (sequence-first), projecting every memory token on the spot:
        curr (HW, B, C) + curr_pos, memory (M·HW + P, B, kv_in_dim) + memory_pos whose last P
        tokens are object pointers (not rotated) -> (HW, B, C). Reference for the cached path."""
        rope = self.rope_tables(curr.shape[0])
        memory = memory.transpose(0, 1).float()
        key_in = memory + memory_pos.transpose(0, 1)
        n_rope = memory.shape[1] - num_obj_ptr_tokens

        def layer_keys(index: int) -> torch.Tensor:
            attn = self.layers[index].cross_attn_image
            keys = attn.heads(attn.k_proj(key_in))
            rotated = apply_rope(keys[:, :, :n_rope], rope)
            return torch.cat([rotated, keys[:, :, n_rope:]], dim=2)

        out = self._run(curr.transpose(0, 1), curr_pos.transpose(0, 1), layer_keys, memory, rope)
        return out.transpose(0, 1)

    def forward_banks(
        self, curr: torch.Tensor, curr_pos: torch.Tensor, banks: list[MemoryInputs]
    ) -> torch.Tensor:
        """The cached path (batch-first): curr (B, HW, C) current frame tokens; curr_pos
        (1 or B, HW, C) their sine encoding; banks: one per batch row, all with the same number
        of frames and pointer tokens -> (B, HW, C) memory-conditioned tokens."""
        if len(banks) != curr.shape[0]:
            raise ValueError(f"{len(banks)} memory banks for a batch of {curr.shape[0]}")
        rope = self.rope_tables(curr.shape[1])
        self._check_layout(banks)
        values = torch.stack(
            [torch.cat([*(frame.features[0] for frame in bank.frames), bank.ptrs[0]]) for bank in banks]
        )
        return self._run(curr, curr_pos, lambda index: self._layer_keys(index, banks, rope), values, rope)

    def _run(
        self,
        curr: torch.Tensor,
        curr_pos: torch.Tensor,
        layer_keys: Callable[[int], torch.Tensor],
        memory: torch.Tensor,
        rope: RopeTables,
    ) -> torch.Tensor:
        """The layer stack on batch-first tokens; ``layer_keys(i)`` gives layer i's rotated,
        head-split cross-attention keys, ``memory`` (B, M·HW + P, kv_in_dim) the value input."""
        output = curr + 0.1 * curr_pos if self.config.pos_enc_at_input else curr
        for index, layer in enumerate(self.layers):
            # Self-attention (no positional term added: RoPE carries position).
            x = layer.norm1(output)
            output = output + layer.self_attn(x, x, x, rope)
            # Cross-attention to memory frames + object pointers.
            attn = layer.cross_attn_image
            x = layer.norm2(output)
            q = apply_rope(attn.heads(attn.q_proj(x)), rope)
            output = output + attn.attend_memory(q, layer_keys(index), memory)
            # MLP.
            x = layer.norm3(output)
            output = output + layer.linear2(F.relu(layer.linear1(x)))
        return self.norm(output)

    @staticmethod
    def _check_layout(banks: list[MemoryInputs]) -> None:
        num_frames = len(banks[0].frames)
        num_ptrs = banks[0].ptrs.shape[1]
        if any(len(b.frames) != num_frames or b.ptrs.shape[1] != num_ptrs for b in banks):
            raise ValueError("memory banks batched together must have the same layout")

    def _layer_keys(self, index: int, banks: list[MemoryInputs], rope: RopeTables) -> torch.Tensor:
        """Keys (B, heads, M·HW + P, d) of layer ``index``, written once into one buffer: each
        cached frame key plus its temporal term, then the pointer tokens."""
        attn = self.layers[index].cross_attn_image
        hw = rope.cos.shape[0]
        num_frames = len(banks[0].frames)
        num_ptrs = banks[0].ptrs.shape[1]
        heads = attn.num_heads
        dim = attn.k_proj.weight.shape[0]
        total = num_frames * hw + num_ptrs
        like = banks[0].frames[0].keys[index] if num_frames else banks[0].ptrs
        keys = like.new_empty(len(banks), heads, total, dim // heads)
        for row, bank in enumerate(banks):
            if num_frames:
                # W_k · tpos[t] per frame (no bias: it is already in the cached keys), rotated
                # at every grid position as it is added.
                tpos_k = attn.heads((bank.tpos @ attn.k_proj.weight.t())[:, None, :])  # (M, h, 1, d)
                for m, frame in enumerate(bank.frames):
                    span = slice(m * hw, (m + 1) * hw)
                    add_rotated_constant(frame.keys[index][0], tpos_k[m], rope, out=keys[row, :, span])
            if num_ptrs:
                ptr_span = slice(num_frames * hw, total)
                keys[row, :, ptr_span] = attn.heads(attn.k_proj(bank.ptrs + bank.ptrs_pos))[0]
        return keys
