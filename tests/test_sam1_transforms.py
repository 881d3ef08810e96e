"""SAM 1 pre-processing is bit-identical to the official SamPredictor's; the masks equal its
post-processing up to float32 rounding at logits within rounding of 0."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import tests.oracles  # noqa: F401  (torchvision shim before any official package)
from model_runtime.models.common.mask_upsampling import sam1_plan, upsample_masks
from model_runtime.models.sam1 import transforms

pytestmark = pytest.mark.oracle

SIZES = [(1200, 1800), (534, 800), (800, 534), (1024, 1024), (37, 61), (2000, 3)]


@pytest.fixture(scope="module")
def official() -> SimpleNamespace:
    pytest.importorskip("segment_anything")
    from segment_anything.modeling import Sam
    from segment_anything.utils.transforms import ResizeLongestSide

    # The official pre/post-processing methods only read these attributes of the model.
    fake_model = SimpleNamespace(
        pixel_mean=torch.tensor(transforms.PIXEL_MEAN).view(-1, 1, 1),
        pixel_std=torch.tensor(transforms.PIXEL_STD).view(-1, 1, 1),
        image_encoder=SimpleNamespace(img_size=1024),
    )
    return SimpleNamespace(
        resize=ResizeLongestSide(1024),
        preprocess=lambda x: Sam.preprocess(fake_model, x),
        postprocess=lambda m, i, o: Sam.postprocess_masks(fake_model, m, i, o),
    )


def _images(media_dir: Path) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    photos = [np.asarray(Image.open(media_dir / n).convert("RGB")) for n in ("truck.jpg", "dog.jpg")]
    return photos + [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in SIZES[2:]]


def test_resize_and_normalise_match_official(official: SimpleNamespace, media_dir: Path) -> None:
    for image in _images(media_dir):
        ref = official.resize.apply_image(image)
        ours = transforms.resize_image(image)
        assert ours.shape == ref.shape
        assert np.array_equal(ours, ref), image.shape
        ref_input = official.preprocess(torch.as_tensor(ref).permute(2, 0, 1).contiguous()[None])
        assert torch.equal(transforms.image_to_input(ours), ref_input)


@pytest.mark.parametrize("masks", [1, 3])
@pytest.mark.parametrize("original", SIZES)
def test_masks_equal_official_postprocessing(
    official: SimpleNamespace, original: tuple[int, int], masks: int
) -> None:
    # Noisy logits (the full-interpolation path) and a smooth disc (the exact path).
    input_size = transforms.resized_shape(*original)
    noisy = torch.randn((1, masks, 256, 256), generator=torch.Generator().manual_seed(1)) * 3
    y, x = torch.meshgrid(torch.arange(256.0), torch.arange(256.0), indexing="ij")
    disc = (50 - torch.sqrt((y - 90) ** 2 + (x - 120) ** 2)).expand(1, masks, 256, 256)
    plan = sam1_plan((256, 256), input_size, original)
    for low_res in (noisy, disc):
        ref = official.postprocess(low_res, input_size, original)[0]
        ours = upsample_masks(low_res[0], plan)
        assert ours.shape == tuple(ref.shape)
        differ = ours != (ref > 0).numpy()
        # Only where the official float32 value is within rounding of 0 (see test_mask_upsampling).
        assert (ref.numpy()[differ].__abs__() <= 1e-5 * float(low_res.abs().max())).all()
        assert int(differ.sum()) <= 8


def test_coordinates_scale_like_official(official: SimpleNamespace) -> None:
    coords = np.array([[0.0, 0.0], [1799.0, 1199.0], [433.7, 12.25]])
    for original in SIZES:
        input_size = transforms.resized_shape(*original)
        ref = official.resize.apply_coords(coords, original).astype(np.float32)
        assert np.array_equal(transforms.scale_coords(coords, original, input_size), ref)
