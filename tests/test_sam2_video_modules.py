"""Memory attention, memory encoder and RoPE against the official SAM 2 modules (random weights)."""

from __future__ import annotations

import pytest
import torch

import tests.oracles  # noqa: F401  (torchvision shim before the official package)
from model_runtime.models.sam2.memory_attention import MemoryAttention, MemoryInputs
from model_runtime.models.sam2.memory_encoder import MemoryEncoder
from model_runtime.models.sam2.position_encoding import sine_position_encoding

pytestmark = pytest.mark.oracle


def _perturb(module: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))


def _official_memory_attention():
    from sam2.modeling.memory_attention import MemoryAttention as Off
    from sam2.modeling.memory_attention import MemoryAttentionLayer
    from sam2.modeling.sam.transformer import RoPEAttention

    def rope(**kw):
        return RoPEAttention(rope_theta=10000.0, feat_sizes=(64, 64), embedding_dim=256, num_heads=1,
                             downsample_rate=1, dropout=0.1, **kw)

    layer = MemoryAttentionLayer(activation="relu", cross_attention=rope(rope_k_repeat=True, kv_in_dim=64),
                                 d_model=256, dim_feedforward=2048, dropout=0.1, pos_enc_at_attn=False,
                                 pos_enc_at_cross_attn_keys=True, pos_enc_at_cross_attn_queries=False,
                                 self_attention=rope())
    return Off(d_model=256, pos_enc_at_input=True, layer=layer, num_layers=4).eval()


def _official_memory_encoder():
    from sam2.modeling.memory_encoder import CXBlock, Fuser, MaskDownSampler
    from sam2.modeling.memory_encoder import MemoryEncoder as Off
    from sam2.modeling.position_encoding import PositionEmbeddingSine

    return Off(out_dim=64, mask_downsampler=MaskDownSampler(kernel_size=3, stride=2, padding=1),
               fuser=Fuser(CXBlock(dim=256, kernel_size=7, padding=3, layer_scale_init_value=1e-6), 2),
               position_encoding=PositionEmbeddingSine(num_pos_feats=64)).eval()


@torch.no_grad()
def test_memory_attention_matches_official_with_cached_projections():
    torch.manual_seed(0)
    official = _official_memory_attention()
    _perturb(official, 1)
    ours = MemoryAttention().eval()
    ours.load_state_dict(official.state_dict(), strict=True)

    hw, b = 64 * 64, 1
    curr = torch.randn(hw, b, 256)
    curr_pos = torch.randn(hw, b, 256)
    frames = [torch.randn(b, 64, 64, 64).bfloat16().float() for _ in range(3)]
    spatial = sine_position_encoding(64, (64, 64)).flatten(2).permute(2, 0, 1)  # (HW, 1, 64)
    tpos = torch.randn(3, 64)
    ptrs = torch.randn(8, b, 64)
    ptrs_pos = torch.randn(8, b, 64)

    mem = torch.cat([f.flatten(2).permute(2, 0, 1) for f in frames] + [ptrs])
    mem_pos = torch.cat([spatial + tpos[i] for i in range(3)] + [ptrs_pos])
    expected = official(curr=curr, memory=mem, curr_pos=curr_pos, memory_pos=mem_pos, num_obj_ptr_tokens=8)

    sp = spatial.permute(1, 0, 2)
    projected = [ours.project_memory(f.flatten(2).transpose(1, 2), sp) for f in frames]
    got = ours.forward_banks(curr.transpose(0, 1), curr_pos.transpose(0, 1),
                             [MemoryInputs(projected, tpos, ptrs.transpose(0, 1), ptrs_pos.transpose(0, 1))])
    diff = (got.transpose(0, 1) - expected).abs().max().item()
    assert diff < 1e-4 * expected.abs().max().item(), diff
    # The uncached reference path (official interface) agrees too.
    reference = ours(curr, mem, curr_pos, mem_pos, num_obj_ptr_tokens=8)
    torch.testing.assert_close(reference, expected, atol=1e-4, rtol=1e-4)


@torch.no_grad()
def test_memory_encoder_matches_official():
    torch.manual_seed(0)
    official = _official_memory_encoder()
    _perturb(official, 2)
    ours = MemoryEncoder().eval()
    ours.load_state_dict(official.state_dict(), strict=True)
    pix = torch.randn(2, 256, 64, 64)
    mask = torch.rand(2, 1, 1024, 1024)
    out = official(pix, mask, skip_mask_sigmoid=True)
    got, pos = ours(pix, mask, skip_mask_sigmoid=True)
    torch.testing.assert_close(got, out["vision_features"], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(pos, out["vision_pos_enc"][0][:1])
