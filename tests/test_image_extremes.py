"""Images of extreme aspect ratio (1×5000, 5000×1, 2×5000) encode and answer a click with
every model family: the resize to the model's input never rounds a side down to 0 pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tests.oracles  # noqa: F401  (torchvision shim before the official packages)
from model_runtime import load_model
from model_runtime.api import ImageModel
from model_runtime.models.sam1 import transforms as sam1_transforms
from tests.tiny_models import save_mobile_sam_checkpoint, small_sam2_model

SHAPES = [(1, 5000), (5000, 1), (2, 5000), (3, 2000), (1, 1)]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ImageModel]:
    mobile = save_mobile_sam_checkpoint(tmp_path_factory.mktemp("mobile") / "mobile_sam.pt")
    return {
        "grabcut": load_model("classical"),
        "mobilesam": load_model(mobile, device="cpu"),
        "sam2.1": small_sam2_model(),
    }


@pytest.mark.parametrize("family", ["grabcut", "mobilesam", "sam2.1"])
def test_extreme_aspect_ratios_encode_and_predict(models: dict[str, ImageModel], family: str) -> None:
    model = models[family]
    rng = np.random.default_rng(0)
    for height, width in SHAPES:
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        embedding = model.encode_image(image)
        prediction = model.predict(
            embedding, points=np.array([[width - 1, height - 1]], dtype=np.float64), labels=np.array([1])
        )
        assert prediction.masks.shape[-2:] == (height, width), (family, height, width)
        assert prediction.masks[0].shape == (height, width)


@pytest.mark.parametrize(
    ("size", "resized"),
    [((1, 5000), (1, 1024)), ((5000, 1), (1024, 1)), ((2, 5000), (1, 1024)), ((534, 800), (684, 1024))],
)
def test_sam1_resize_keeps_at_least_one_pixel(size: tuple[int, int], resized: tuple[int, int]) -> None:
    assert sam1_transforms.resized_shape(*size) == resized


@pytest.mark.slow
def test_sam1_vit_b_encodes_a_one_pixel_high_image(tmp_path_factory: pytest.TempPathFactory) -> None:
    pytest.importorskip("segment_anything")
    from tests.oracles.sam1 import cached_checkpoint

    model = load_model(cached_checkpoint(tmp_path_factory, "vit_b"), device="cpu")
    embedding = model.encode_image(np.full((1, 5000, 3), 128, dtype=np.uint8))
    assert embedding.input_size == (1, 1024)
    prediction = model.predict(embedding, points=np.array([[10.0, 0.0]]), labels=np.array([1]))
    assert prediction.masks[0].shape == (1, 5000)


def test_mobile_sam_fixture_file_is_a_real_layout(tmp_path: Path) -> None:
    """The fixture's MobileSAM file is loaded strictly, so the family above is the real one."""
    path = save_mobile_sam_checkpoint(tmp_path / "mobile_sam.pt")
    assert load_model(path, device="cpu").info.family == "mobilesam"
