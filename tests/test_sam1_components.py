"""The shared SAM components against both official families (SAM 1 and SAM 2 key layouts)."""

from __future__ import annotations

import pytest
import torch

import tests.oracles  # noqa: F401  (torchvision shim before any official package)
from model_runtime.models.common.prompt_encoder import PromptEncoder
from model_runtime.models.common.two_way_transformer import TwoWayTransformer

pytestmark = pytest.mark.oracle


def _perturb(module: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.state_dict().values():
            p.add_(0.1 * torch.randn(p.shape, generator=g))


def _official(family: str, name: str):
    pytest.importorskip("segment_anything")
    pytest.importorskip("sam2")

    if family == "sam1":
        from segment_anything.modeling import prompt_encoder, transformer
    else:
        from sam2.modeling.sam import prompt_encoder, transformer
    return getattr(prompt_encoder if name == "PromptEncoder" else transformer, name)


@pytest.mark.parametrize("family,naming", [("sam1", "lin"), ("sam2", "layers")])
def test_two_way_transformer_loads_and_matches(family: str, naming: str) -> None:
    ref = _official(family, "TwoWayTransformer")(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8).eval()
    _perturb(ref, 0)
    ours = TwoWayTransformer(2, 256, 8, 2048, mlp_naming=naming).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    g = torch.Generator().manual_seed(1)
    image = torch.randn((2, 256, 64, 64), generator=g)
    pe = torch.randn((2, 256, 64, 64), generator=g)
    tokens = torch.randn((2, 7, 256), generator=g)
    with torch.no_grad():
        for a, b in zip(ref(image, pe, tokens), ours(image, pe, tokens), strict=True):
            torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)


def test_wrong_mlp_naming_does_not_load() -> None:
    ref = _official("sam2", "TwoWayTransformer")(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8)
    with pytest.raises(RuntimeError, match="lin1"):
        TwoWayTransformer(2, 256, 8, 2048, mlp_naming="lin").load_state_dict(ref.state_dict(), strict=True)


@pytest.mark.parametrize("family", ["sam1", "sam2"])
def test_prompt_encoder_matches(family: str) -> None:
    ref = _official(family, "PromptEncoder")(256, (64, 64), (1024, 1024), 16).eval()
    _perturb(ref, 2)
    ours = PromptEncoder(256, (64, 64), (1024, 1024), 16).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    g = torch.Generator().manual_seed(3)
    points = torch.rand((2, 3, 2), generator=g) * 1000
    labels = torch.tensor([[1, 0, 1], [0, -1, 1]], dtype=torch.int)
    boxes = torch.tensor([[10.0, 20.0, 500.0, 700.0], [0.0, 0.0, 1023.0, 1023.0]])
    masks = torch.randn((2, 1, 256, 256), generator=g)
    cases = [((points, labels), None, None), ((points, labels), boxes, masks), (None, boxes, None)]
    cases.append((None, None, masks[:1]))
    if family == "sam2":  # SAM 2 feeds box corners as points labelled 2 and 3
        cases.append(((points, torch.tensor([[2, 3, 1], [1, 2, 3]], dtype=torch.int)), None, None))
    with torch.no_grad():
        for args in cases:
            for a, b in zip(ref(*args), ours(*args), strict=True):
                assert a.shape == b.shape
                torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours.get_dense_pe(), ref.get_dense_pe(), atol=1e-6, rtol=1e-6)
