"""The decoder's folded cross-attentions equal the plain ones (project every image token).

Folding moves the image-side projections onto the prompt tokens (see two_way_transformer); it is
used below 16 tokens and the plain path above, so both sides of that switch are checked.
"""

from __future__ import annotations

import pytest
import torch

from model_runtime.models.common.two_way_transformer import Attention, TwoWayTransformer


def _attention(seed: int) -> Attention:
    torch.manual_seed(seed)
    attn = Attention(256, 8, downsample_rate=2).eval()
    for p in attn.parameters():
        p.data.normal_(0, 0.05)  # non-zero biases too: they are where folding could go wrong
    return attn


@pytest.mark.parametrize("tokens", [3, 7, 15, 16, 40])
@torch.no_grad()
def test_tokens_to_image_equals_plain_attention(tokens: int) -> None:
    attn = _attention(0)
    q = torch.randn(2, tokens, 256)
    image_k, image_v = torch.randn(1, 4096, 256), torch.randn(1, 4096, 256)
    expected = attn(q, image_k.expand(2, -1, -1), image_v.expand(2, -1, -1))
    torch.testing.assert_close(attn.tokens_to_image(q, image_k, image_v), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("tokens", [3, 7, 15, 16, 40])
@torch.no_grad()
def test_image_to_tokens_equals_plain_attention_plus_residual(tokens: int) -> None:
    attn = _attention(1)
    image_q = torch.randn(1, 4096, 256)
    token_k, token_v = torch.randn(2, tokens, 256), torch.randn(2, tokens, 256)
    residual = torch.randn(2, 4096, 256)
    expected = residual + attn(image_q.expand(2, -1, -1), token_k, token_v)
    raw = attn.image_to_tokens(token_k, token_v, residual, image_q=image_q)
    projected = attn.image_to_tokens(token_k, token_v, residual, projected_image_q=attn.project_q(image_q))
    torch.testing.assert_close(raw, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(projected, expected, atol=1e-4, rtol=1e-4)


@torch.no_grad()
def test_image_tokens_are_kept_contiguous_for_the_per_prompt_work() -> None:
    # A transposed (B, HW, D) view of the (B, D, h, w) map made every prompt's decoder ~10 ms
    # slower on CPU (element-wise ops and fused products over strided rows).
    torch.manual_seed(0)
    transformer = TwoWayTransformer(depth=2, embedding_dim=32, num_heads=4, mlp_dim=64).eval()
    side = transformer.precompute(torch.randn(1, 32, 8, 8), torch.randn(1, 32, 8, 8))
    assert side.keys.is_contiguous() and side.key_pe.is_contiguous()
    assert side.keys.shape == side.key_pe.shape == (1, 64, 32)
