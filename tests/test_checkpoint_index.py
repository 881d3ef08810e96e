"""A checkpoint cut short: its surviving index still names every tensor and the ones lost."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model_runtime import load_model
from model_runtime.checkpoint_index import truncated_contents
from model_runtime.checkpoints import CheckpointError


def _state_dict() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {
        "image_encoder.patch_embed.proj.weight": torch.randn(64, 3, 16, 16, generator=gen),
        "image_encoder.blocks.0.norm1.weight": torch.randn(64, generator=gen),
        "image_encoder.blocks.0.attn.qkv.weight": torch.randn(192, 64, generator=gen),
        "mask_decoder.iou_token.weight": torch.randn(1, 64, generator=gen).to(torch.float64),
        "prompt_encoder.flags": torch.arange(10),
        "mask_decoder.complex": torch.randn(8, 4, generator=gen).to(torch.complex64),
    }


def _cut(source: Path, target: Path, keep: int) -> Path:
    target.write_bytes(source.read_bytes()[:keep])
    return target


def test_a_complete_file_lacks_nothing(tmp_path: Path) -> None:
    state = _state_dict()
    path = tmp_path / "full.pth"
    torch.save(state, path)
    contents = truncated_contents(path)
    assert contents is not None
    assert contents.names == tuple(state) and not contents.missing
    assert contents.size == path.stat().st_size and contents.needed <= contents.size


@pytest.mark.parametrize("fraction", [0.95, 0.6, 0.3])
def test_the_lost_tensors_are_the_ones_whose_data_was_cut(tmp_path: Path, fraction: float) -> None:
    state = _state_dict()
    path = tmp_path / "full.pth"
    torch.save(state, path)
    cut = _cut(path, tmp_path / "cut.pth", int(path.stat().st_size * fraction))
    contents = truncated_contents(cut)
    assert contents is not None and contents.missing
    names = list(state)
    first_lost = min(names.index(n) for n in contents.missing)
    assert contents.missing == frozenset(names[first_lost:])  # data is written in index order
    with pytest.raises(CheckpointError, match=f"truncated: .* {len(contents.missing)} of 6 tensors"):
        load_model(cut, device="cpu")


def test_files_without_a_readable_index_give_none(tmp_path: Path) -> None:
    path = tmp_path / "full.pth"
    torch.save(_state_dict(), path)
    assert truncated_contents(_cut(path, tmp_path / "tiny.pth", 40)) is None
    (tmp_path / "text.pth").write_text("not a checkpoint")
    assert truncated_contents(tmp_path / "text.pth") is None
    assert truncated_contents(tmp_path / "absent.pth") is None


def test_an_index_that_would_run_code_is_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple:
            return (print, ("ran",))

    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(3), "evil": Evil()}, path)
    assert truncated_contents(path) is None
