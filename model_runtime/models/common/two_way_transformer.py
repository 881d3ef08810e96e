"""SAM's two-way transformer: prompt tokens and image tokens attend to each other.

Shared by SAM 1/MobileSAM and SAM 2/2.1. The only key difference between the families is the
name of each block's MLP: SAM 1 has ``mlp.lin1``/``mlp.lin2``, SAM 2 has ``mlp.layers.0``/``mlp.layers.1``;
choose with ``mlp_naming``. Keys per block ``layers.{i}``::

    self_attn.{q,k,v,out}_proj, norm1, cross_attn_token_to_image.*, norm2, mlp.*, norm3,
    norm4, cross_attn_image_to_token.*
and ``final_attn_token_to_image.*``, ``norm_final_attn``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from model_runtime.models.common.layers import MLP, MLPBlock

MlpNaming = Literal["lin", "layers"]


class Attention(nn.Module):
    """Multi-head attention whose projections may shrink the width by ``downsample_rate``.

    q: (B, Nq, D), k/v: (B, Nk, kv_in_dim) -> (B, Nq, D). Internal width D // downsample_rate.
    """

    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        downsample_rate: int = 1,
        kv_in_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.kv_in_dim = kv_in_dim if kv_in_dim is not None else embedding_dim
        self.internal_dim = embedding_dim // downsample_rate
        self.num_heads = num_heads
        if self.internal_dim % num_heads:
            raise ValueError(f"num_heads {num_heads} must divide the internal width {self.internal_dim}")
        self.q_proj = nn.Linear(embedding_dim, self.internal_dim)
        self.k_proj = nn.Linear(self.kv_in_dim, self.internal_dim)
        self.v_proj = nn.Linear(self.kv_in_dim, self.internal_dim)
        self.out_proj = nn.Linear(self.internal_dim, embedding_dim)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, heads, N, C / heads)."""
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def project_q(self, q: torch.Tensor) -> torch.Tensor:
        """(B, N, D) -> (B, heads, N, internal / heads)."""
        return self._split_heads(self.q_proj(q))

    def project_k(self, k: torch.Tensor) -> torch.Tensor:
        """(B, N, kv_in_dim) -> (B, heads, N, internal / heads)."""
        return self._split_heads(self.k_proj(k))

    def project_v(self, v: torch.Tensor) -> torch.Tensor:
        """(B, N, kv_in_dim) -> (B, heads, N, internal / heads)."""
        return self._split_heads(self.v_proj(v))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Projected heads -> (B, Nq, D). Batch dims of size 1 are broadcast to q's batch."""
        batch = max(q.shape[0], k.shape[0])
        if q.shape[0] != batch:
            q = q.expand(batch, -1, -1, -1)
        if k.shape[0] != batch:
            k = k.expand(batch, -1, -1, -1)
            v = v.expand(batch, -1, -1, -1)
        # Same maths as softmax(q kᵀ / √d) v; the fused kernel avoids materialising the
        # (4096 × tokens) attention matrix in the image-to-token direction.
        out = F.scaled_dot_product_attention(q, k, v)
        b, h, n, c = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, h * c))

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.attend(self.project_q(q), self.project_k(k), self.project_v(v))

    # Cross-attention between a few prompt tokens (N ≈ 5-10) and many image tokens (HW = 4096).
    # Projecting the image side (HW × D × D/2 per projection) dominates the decoder; by
    # associativity those projections can be folded into the few-token side instead, which
    # halves the work of each cross-attention. Same maths as ``forward``, summed in another order.
    # Folded, each image token meets heads × N vectors instead of one internal-width projection:
    # it pays while heads × N < internal width (N < 16 tokens here: up to ~10 clicks and a box).

    def _folding_pays(self, num_tokens: int) -> bool:
        return self.num_heads * num_tokens < self.internal_dim

    def _head_weights(self, linear: nn.Linear) -> torch.Tensor:
        """A projection's weight (internal, in) split by head: (heads, internal / heads, in)."""
        return linear.weight.reshape(self.num_heads, -1, linear.weight.shape[1])

    def tokens_to_image(self, q: torch.Tensor, image_k: torch.Tensor, image_v: torch.Tensor) -> torch.Tensor:
        """``forward(q, image_k, image_v)`` for few queries: q (B, N, D); image_k, image_v
        (B or 1, HW, kv_in_dim) -> (B, N, D).

        Scores qₕ·(Wₖₕ x + bₖₕ) = (Wₖₕᵀ qₕ)·x + qₕ·bₖₕ, and the last term is the same for every
        key, so softmax drops it; values Σ pᵢ(Wᵥₕ xᵢ + bᵥₕ) = Wᵥₕ(Σ pᵢ xᵢ) + bᵥₕ as Σ pᵢ = 1.
        """
        if not self._folding_pays(q.shape[1]):
            return self.forward(q, image_k, image_v)
        qh = self.project_q(q)  # (B, h, N, c)
        b, h, n, c = qh.shape
        q_in = (qh @ self._head_weights(self.k_proj)) * c**-0.5  # (B, h, N, kv_in_dim)
        probs = torch.softmax(q_in.reshape(b, h * n, -1) @ image_k.transpose(-1, -2), dim=-1)
        mixed = (probs @ image_v).view(b, h, n, -1)  # (B, h, N, kv_in_dim)
        v_heads = self._head_weights(self.v_proj)  # (h, c, kv_in_dim)
        out = mixed @ v_heads.transpose(1, 2) + self.v_proj.bias.view(h, 1, c)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, h * c))

    def image_to_tokens(
        self,
        token_k: torch.Tensor,
        token_v: torch.Tensor,
        residual: torch.Tensor,
        image_q: torch.Tensor | None = None,
        projected_image_q: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``residual + forward(image_q, token_k, token_v)`` for many queries over few keys:
        token_k, token_v (B, N, kv_in_dim); residual (B, HW, D); the image queries either raw,
        image_q (B or 1, HW, D), or already projected, projected_image_q (B or 1, heads, HW, c)
        -> (B, HW, D).

        The output projection is folded into the N values (out = Σₕ Pₕ (Vₕ Wₒₕᵀ + bₒ / heads), as
        each head's probabilities sum to 1), raw queries meet the keys through Wqₕᵀ kₕ, a (D × N)
        matrix per head, and the residual is added by the same fused product.
        """
        kh = self.project_k(token_k)  # (B, h, N, c)
        vh = self.project_v(token_v)
        if not self._folding_pays(token_k.shape[1]):
            if projected_image_q is None:
                if image_q is None:
                    raise ValueError("give image_q or projected_image_q")
                projected_image_q = self.project_q(image_q)
            return residual + self.attend(projected_image_q, kh, vh)
        b, h, n, c = kh.shape
        scale = c**-0.5
        out_heads = self.out_proj.weight.t().reshape(h, c, -1)  # (h, c, D)
        values = (vh @ out_heads + self.out_proj.bias / h).reshape(b, h * n, -1)  # (B, h·N, D)
        # Scores are laid out (B, h, N, HW): softmax over N then runs along contiguous HW rows
        # (over a last axis of only N it is several times slower).
        if projected_image_q is not None:
            scores = (kh @ projected_image_q.transpose(-1, -2)) * scale  # (B, h, N, HW)
        elif image_q is not None:
            q_heads = self._head_weights(self.q_proj)  # (h, c, D)
            keys_in = (kh @ q_heads) * scale  # (B, h, N, D)
            bias = (kh @ self.q_proj.bias.view(h, c, 1)) * scale  # (B, h, N, 1)
            image_t = image_q.expand(b, -1, -1).transpose(1, 2)  # (B, D, HW), a view
            scores = torch.baddbmm(bias.reshape(b, h * n, 1), keys_in.reshape(b, h * n, -1), image_t)
            scores = scores.view(b, h, n, -1)
        else:
            raise ValueError("give image_q or projected_image_q")
        probs = torch.softmax(scores, dim=2).reshape(b, h * n, -1).transpose(1, 2)  # (B, HW, h·N)
        return torch.baddbmm(residual, probs, values)


@dataclass(frozen=True)
class ImageSide:
    """The prompt-independent part of the first two-way block, for one image (batch 1).

    In the first block the image tokens have not been updated yet, so the token-to-image keys and
    values and the image-to-token queries depend only on the image: computing them once per image
    removes 3 of the 10 (4096 × D) projections from every later prompt.
    """

    keys: torch.Tensor  # (1, HW, D) image tokens (image embedding + dense prompt)
    key_pe: torch.Tensor  # (1, HW, D)
    token_to_image_k: torch.Tensor  # (1, heads, HW, c)
    token_to_image_v: torch.Tensor  # (1, heads, HW, c)
    image_to_token_q: torch.Tensor  # (1, heads, HW, c)


class TwoWayAttentionBlock(nn.Module):
    """Self-attention of tokens, tokens→image cross-attention, token MLP, image→tokens cross-attention.

    queries: (B, Nq, D), keys: (B, HW, D) with their positional encodings of the same shapes.
    """

    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int = 2048,
        activation: type[nn.Module] = nn.ReLU,
        attention_downsample_rate: int = 2,
        skip_first_layer_pe: bool = False,
        mlp_naming: MlpNaming = "lin",
    ) -> None:
        super().__init__()
        self.self_attn = Attention(embedding_dim, num_heads)
        self.norm1 = nn.LayerNorm(embedding_dim)
        self.cross_attn_token_to_image = Attention(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.norm2 = nn.LayerNorm(embedding_dim)
        self.mlp: nn.Module
        if mlp_naming == "lin":
            self.mlp = MLPBlock(embedding_dim, mlp_dim, activation)
        elif mlp_naming == "layers":
            self.mlp = MLP(embedding_dim, mlp_dim, embedding_dim, num_layers=2, activation=activation)
        else:
            raise ValueError(f"mlp_naming must be 'lin' or 'layers', got {mlp_naming!r}")
        self.norm3 = nn.LayerNorm(embedding_dim)
        self.norm4 = nn.LayerNorm(embedding_dim)
        self.cross_attn_image_to_token = Attention(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.skip_first_layer_pe = skip_first_layer_pe

    def precompute(self, keys: torch.Tensor, key_pe: torch.Tensor) -> ImageSide:
        """The image-only projections of this block for image tokens ``keys`` (1, HW, D)."""
        k = keys + key_pe
        return ImageSide(
            keys=keys,
            key_pe=key_pe,
            token_to_image_k=self.cross_attn_token_to_image.project_k(k),
            token_to_image_v=self.cross_attn_token_to_image.project_v(keys),
            image_to_token_q=self.cross_attn_image_to_token.project_q(k),
        )

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        query_pe: torch.Tensor,
        key_pe: torch.Tensor,
        image_side: ImageSide | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``image_side`` (from :meth:`precompute` on the same ``keys``) skips the image-only projections."""
        if self.skip_first_layer_pe:
            # The first block replaces the queries (no residual): they are the raw prompt tokens.
            queries = self.self_attn(q=queries, k=queries, v=queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q=q, k=q, v=queries)
        queries = self.norm1(queries)

        q = queries + query_pe
        t2i = self.cross_attn_token_to_image
        if image_side is None:
            image_in = keys + key_pe  # the token-to-image keys and, below, image-to-token queries
            attn = t2i.tokens_to_image(q, image_in, keys)
        else:
            attn = t2i.attend(t2i.project_q(q), image_side.token_to_image_k, image_side.token_to_image_v)
        queries = self.norm2(queries + attn)

        queries = self.norm3(queries + self.mlp(queries))

        q = queries + query_pe
        i2t = self.cross_attn_image_to_token
        if image_side is None:
            updated = i2t.image_to_tokens(q, queries, keys, image_q=image_in)
        else:
            updated = i2t.image_to_tokens(q, queries, keys, projected_image_q=image_side.image_to_token_q)
        keys = self.norm4(updated)
        return queries, keys


def _as_tokens(*maps: torch.Tensor) -> list[torch.Tensor]:
    """(B, D, h, w) maps -> contiguous (B, h·w, D) token tensors.

    Contiguous on purpose: the image tokens and their positional encoding are read by several
    element-wise ops and fused products per prompt, and with one operand a transposed view each
    of those runs about 3× slower (4 MB of strided reads); one copy per image is cheaper.
    """
    return [m.flatten(2).transpose(1, 2).contiguous() for m in maps]


class TwoWayTransformer(nn.Module):
    """``depth`` two-way blocks followed by a final token→image attention.

    image_embedding: (B, D, h, w); image_pe: (B, D, h, w); point_embedding: (B, Nq, D).
    Returns queries (B, Nq, D) and image tokens (B, h·w, D).
    """

    def __init__(
        self,
        depth: int,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        activation: type[nn.Module] = nn.ReLU,
        attention_downsample_rate: int = 2,
        mlp_naming: MlpNaming = "lin",
    ) -> None:
        super().__init__()
        self.depth = depth
        self.embedding_dim = embedding_dim
        self.num_heads = num_heads
        self.mlp_dim = mlp_dim
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(
                embedding_dim=embedding_dim,
                num_heads=num_heads,
                mlp_dim=mlp_dim,
                activation=activation,
                attention_downsample_rate=attention_downsample_rate,
                skip_first_layer_pe=(i == 0),
                mlp_naming=mlp_naming,
            )
            for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def precompute(self, image_embedding: torch.Tensor, image_pe: torch.Tensor) -> ImageSide:
        """Prompt-independent work for one image: image_embedding, image_pe (1, D, h, w)."""
        return self.layers[0].precompute(*_as_tokens(image_embedding, image_pe))

    def forward(
        self,
        image_embedding: torch.Tensor | None,
        image_pe: torch.Tensor | None,
        point_embedding: torch.Tensor,
        image_side: ImageSide | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """With ``image_side`` (from :meth:`precompute`) the image arguments are not used."""
        if image_side is not None:
            keys, key_pe = image_side.keys, image_side.key_pe
        elif image_embedding is not None and image_pe is not None:
            keys, key_pe = _as_tokens(image_embedding, image_pe)
        else:
            raise ValueError("give image_embedding and image_pe, or image_side")
        queries = point_embedding
        for i, layer in enumerate(self.layers):
            queries, keys = layer(
                queries=queries,
                keys=keys,
                query_pe=point_embedding,
                key_pe=key_pe,
                image_side=image_side if i == 0 else None,
            )
        q = queries + point_embedding
        attn = self.final_attn_token_to_image.tokens_to_image(q, keys + key_pe, keys)
        queries = self.norm_final_attn(queries + attn)
        return queries, keys
