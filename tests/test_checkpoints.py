"""Bad checkpoint files give a CheckpointError naming the file and the problem; the SAM 1 family
and size come from the file's keys and shapes, never its name."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

import tests.oracles  # noqa: F401  (torchvision shim before any official package)
from model_runtime import CheckpointError, load_model
from model_runtime.checkpoints import MOBILESAM, SAM1


@pytest.fixture(scope="module")
def mobile_sam_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mobile_sam")
    from tests.oracles.sam1 import cached_checkpoint

    return cached_checkpoint(tmp_path_factory, "vit_t")


@pytest.fixture(scope="module")
def mobile_sam_state(mobile_sam_file: Path) -> dict[str, torch.Tensor]:
    return torch.load(mobile_sam_file, map_location="cpu", weights_only=True)


def _load_error(path: Path) -> CheckpointError:
    with pytest.raises(CheckpointError) as info:
        load_model(path, device="cpu")
    assert str(path) in str(info.value)
    return info.value


def test_truncated_file(tmp_path: Path, mobile_sam_file: Path) -> None:
    data = mobile_sam_file.read_bytes()
    path = tmp_path / "mobile_sam.pt"
    path.write_bytes(data[: len(data) // 2])
    assert "truncated" in _load_error(path).problem


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "sam_vit_b_01ec64.pth"
    path.write_bytes(b"")
    assert "empty" in _load_error(path).problem


class _RunsCode:
    """Unpickling this would call ``open(marker, "w")``: a file that needs code to load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("container", ["torch.save", "plain pickle"])
def test_pickle_with_code_is_refused(tmp_path: Path, container: str) -> None:
    marker = tmp_path / "code_ran"
    payload = {"image_encoder.patch_embed.proj.weight": torch.zeros(1), "evil": _RunsCode(marker)}
    path = tmp_path / "sam_vit_h_4b8939.pth"
    if container == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    error = _load_error(path)
    assert "refused" in error.problem or "not a PyTorch checkpoint" in error.problem
    assert not marker.exists(), "loading a checkpoint ran code from the file"


def test_foreign_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.bias": torch.zeros(10)}, path)
    error = _load_error(path)
    assert "not a known SAM checkpoint" in error.problem
    assert "conv1.weight" in error.problem


def test_missing_key_is_named(tmp_path: Path, mobile_sam_state: dict[str, torch.Tensor]) -> None:
    state = dict(mobile_sam_state)
    del state["mask_decoder.iou_token.weight"]
    path = tmp_path / "mobile_sam.pt"
    torch.save(state, path)
    error = _load_error(path)
    assert error.family == MOBILESAM
    assert "missing" in error.problem and "mask_decoder.iou_token.weight" in error.problem
    assert "unexpected" not in error.problem


def test_renamed_key_is_named_both_ways(tmp_path: Path, mobile_sam_state: dict[str, torch.Tensor]) -> None:
    state = dict(mobile_sam_state)
    state["prompt_encoder.no_mask_embeding.weight"] = state.pop("prompt_encoder.no_mask_embed.weight")
    path = tmp_path / "mobile_sam.pt"
    torch.save(state, path)
    error = _load_error(path)
    assert "missing" in error.problem and "prompt_encoder.no_mask_embed.weight" in error.problem
    assert "unexpected" in error.problem and "prompt_encoder.no_mask_embeding.weight" in error.problem
    assert f"detected family: {MOBILESAM}" in str(error)


def test_wrong_shape_is_named(tmp_path: Path, mobile_sam_state: dict[str, torch.Tensor]) -> None:
    state = dict(mobile_sam_state)
    state["mask_decoder.mask_tokens.weight"] = torch.zeros(5, 256)
    path = tmp_path / "mobile_sam.pt"
    torch.save(state, path)
    assert "mask_decoder.mask_tokens.weight" in _load_error(path).problem


def test_classifier_keys_are_the_only_ones_ignored(
    tmp_path: Path, mobile_sam_state: dict[str, torch.Tensor]
) -> None:
    """MobileSAM's unused classifier may be absent, but an extra key elsewhere is an error."""
    state = {k: v for k, v in mobile_sam_state.items() if ".head." not in k and "norm_head" not in k}
    assert len(state) < len(mobile_sam_state)
    path = tmp_path / "mobile_sam_no_head.pt"
    torch.save(state, path)
    assert load_model(path, device="cpu").info.family == MOBILESAM
    state["image_encoder.extra.weight"] = torch.zeros(1)
    torch.save(state, path)
    assert "image_encoder.extra.weight" in _load_error(path).problem


def test_mobile_sam_with_misleading_name(tmp_path: Path, mobile_sam_file: Path) -> None:
    path = tmp_path / "sam_vit_h_4b8939.pth"
    path.write_bytes(mobile_sam_file.read_bytes())
    info = load_model(path, device="cpu").info
    assert (info.family, info.variant) == (MOBILESAM, "tiny_vit_5m")
    assert info.source == str(path)


@pytest.mark.parametrize(
    "variant",
    ["vit_b", pytest.param("vit_l", marks=pytest.mark.slow), pytest.param("vit_h", marks=pytest.mark.slow)],
)
def test_vit_size_from_shapes_with_misleading_name(
    tmp_path_factory: pytest.TempPathFactory, variant: str
) -> None:
    pytest.importorskip("segment_anything")
    from tests.oracles.sam1 import cached_checkpoint

    source = cached_checkpoint(tmp_path_factory, variant)
    path = source.parent / "mobile_sam.pt"  # a name that says something else
    path.unlink(missing_ok=True)
    path.symlink_to(source)
    model = load_model(path, device="cpu")
    assert (model.info.family, model.info.variant) == (SAM1, variant)
    state = torch.load(source, map_location="cpu", weights_only=True, mmap=True)
    # Every tensor is a parameter except the prompt encoder's random-Fourier matrix (a buffer).
    assert model.info.parameter_count == sum(t.numel() for t in state.values()) - 2 * 128


def test_infinite_weight_is_named(tmp_path: Path, mobile_sam_state: dict[str, torch.Tensor]) -> None:
    state = dict(mobile_sam_state)
    weight = state["mask_decoder.iou_prediction_head.layers.0.weight"].clone()
    weight[3, 7] = float("inf")
    state["mask_decoder.iou_prediction_head.layers.0.weight"] = weight
    path = tmp_path / "mobile_sam.pt"
    torch.save(state, path)
    problem = _load_error(path).problem
    assert "not finite" in problem and "mask_decoder.iou_prediction_head.layers.0.weight" in problem
    assert "1 NaN or infinite" in problem


def test_integer_tensor_for_a_weight_is_named(
    tmp_path: Path, mobile_sam_state: dict[str, torch.Tensor]
) -> None:
    state = dict(mobile_sam_state)
    state["mask_decoder.iou_token.weight"] = torch.zeros(1, 256, dtype=torch.int64)
    path = tmp_path / "mobile_sam.pt"
    torch.save(state, path)
    problem = _load_error(path).problem
    assert "types do not match" in problem and "mask_decoder.iou_token.weight" in problem
