"""On a CUDA GPU (issue 22): ours against the official code on the device, the runtime's device
placement and caches, and a real out-of-memory error. Skipped where CUDA is absent (CI); run
them on a GPU machine with ``pytest -m gpu tests/test_gpu.py``.

Precision, as each model decides on CUDA (``ModelInfo.compute_dtype``): SAM 1 and MobileSAM
float32; SAM 2's image encoder and SAM 3 under bf16 autocast, compared with the official code
under the same autocast (as its README and notebooks run it on a GPU) with looser bounds than
the float32 rows, and forced to float32 with the float32 bounds of the CPU parity suites.
"""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytestmark = [pytest.mark.gpu, pytest.mark.oracle]

CUDA = "cuda"
# (mask IoU, score tolerance): the CPU suites' for float32, looser where both sides run bf16.
EXACT = (0.999, 1e-3)
BF16 = (0.97, 0.03)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _photo(media_dir: Path) -> np.ndarray:
    return np.array(Image.open(media_dir / "truck.jpg").convert("RGB"))


def _clicks(image: np.ndarray) -> list[dict[str, np.ndarray]]:
    h, w = image.shape[:2]
    return [
        {"points": np.array([[0.45 * w, 0.55 * h]], np.float32), "labels": np.array([1])},
        {
            "points": np.array([[0.45 * w, 0.55 * h], [0.2 * w, 0.3 * h]], np.float32),
            "labels": np.array([1, 0]),
        },
        {"box": np.array([0.1 * w, 0.2 * h, 0.8 * w, 0.9 * h], np.float32)},
    ]


def _compare(ours, official_predictor, image: np.ndarray, bounds: tuple[float, float], autocast: bool):
    """Every prompt of :func:`_clicks` on both; the official side under bf16 autocast or none."""
    iou_min, score_tol = bounds
    embedding = ours.encode_image(image)
    context = torch.autocast(CUDA, dtype=torch.bfloat16, enabled=autocast)
    with torch.inference_mode(), context:
        official_predictor.set_image(image)
    for prompt in _clicks(image):
        mine = ours.predict(embedding, multimask=True, **prompt)
        kwargs = {
            "point_coords": prompt.get("points"),
            "point_labels": prompt.get("labels"),
            "box": prompt.get("box"),
        }
        with torch.inference_mode(), context:
            masks, scores, _ = official_predictor.predict(multimask_output=True, **kwargs)
        np.testing.assert_allclose(mine.scores, scores, atol=score_tol)
        for k in range(len(masks)):
            assert _iou(np.asarray(mine.masks[k]), masks[k]) >= iou_min, f"mask {k} of {prompt}"


@pytest.mark.parametrize("variant", ["vit_b", "vit_t"], ids=["sam1_vit_b", "mobilesam"])
def test_sam1_and_mobilesam_on_cuda_match_the_official_code(variant, tmp_path, media_dir):
    from model_runtime import load_model
    from tests.oracles import sam1

    ckpt = sam1.make_sam1_checkpoint(tmp_path, variant, seed=0)
    ours = load_model(ckpt, device=CUDA)
    assert ours.info.device.startswith(CUDA) and ours.info.compute_dtype == "float32"
    official = sam1.official_predictor(ckpt, variant)
    official.model.to(CUDA)
    _compare(ours, official, _photo(media_dir), EXACT, autocast=False)


@pytest.mark.parametrize("encoder_dtype", ["bfloat16", "float32"])
def test_sam2_on_cuda_matches_the_official_code_in_each_precision(encoder_dtype, tmp_path, media_dir):
    from model_runtime.checkpoints import read_state_dict
    from model_runtime.models.sam2.model import Sam2ImageModel, from_state_dict
    from tests.oracles import sam2

    ckpt = sam2.make_checkpoint("sam2.1", "hiera_t", tmp_path / "sam2.1_hiera_tiny.pt", seed=1)
    default = from_state_dict(read_state_dict(ckpt), family="sam2.1", path=ckpt, device=CUDA)
    assert default.info.compute_dtype == ("bfloat16" if torch.cuda.is_bf16_supported() else "float32")
    ours = Sam2ImageModel(default.network, torch.device(CUDA), str(ckpt), encoder_dtype=encoder_dtype)
    official = sam2.make_predictor("sam2.1", "hiera_t", ckpt)
    official.model.to(CUDA)  # the predictor's device is its model's
    reduced = encoder_dtype == "bfloat16"
    _compare(ours, official, _photo(media_dir), BF16 if reduced else EXACT, autocast=reduced)


def test_sam3_on_cuda_under_bf16_autocast_finds_what_the_official_code_finds(tmp_path, media_dir):
    from model_runtime import load_model
    from tests.oracles import sam3_official as oracle

    path = oracle.make_checkpoint(tmp_path / "sam3.pt", seed=0)
    ours = load_model(path, device=CUDA)
    assert ours.info.compute_dtype == "bfloat16"
    official = oracle.load_official(path).to(CUDA)
    from sam3.model.sam3_image_processor import Sam3Processor

    processor = Sam3Processor(official, device=CUDA, confidence_threshold=0.5)
    image = _photo(media_dir)
    with torch.inference_mode(), torch.autocast(CUDA, dtype=torch.bfloat16):
        state = processor.set_image(Image.fromarray(image))
        state = processor.set_text_prompt(state=state, prompt="red car")
    from model_runtime.api import Prompts

    found = ours.find_all(ours.encode_image(image), Prompts(text="red car"), threshold=0.5)
    official_scores = np.sort(state["scores"].float().cpu().numpy())[::-1]
    ours_scores = np.sort(found.scores)[::-1]
    assert abs(len(ours_scores) - len(official_scores)) <= max(1, len(official_scores) // 10)
    n = min(len(ours_scores), len(official_scores))
    np.testing.assert_allclose(ours_scores[:n], official_scores[:n], atol=BF16[1])


def test_the_runtime_keeps_embeddings_on_the_device_and_reads_the_disk_cache_onto_it(tmp_path, media_dir):
    from model_runtime.runtime import EmbeddingKey, Runtime, RuntimeConfig
    from tests.oracles import sam1

    ckpt = sam1.make_sam1_checkpoint(tmp_path, "vit_t", seed=0)
    image = _photo(media_dir)
    config = RuntimeConfig(disk_cache_dir=tmp_path / "cache")
    for expected_source in ("computed", "disk"):
        with Runtime(config) as rt:
            info = rt.load_model(str(ckpt)).result(300)  # "auto": CUDA here
            assert info.device.startswith(CUDA)
            assert rt.encode("photo", 0, lambda: image).result(300).source == expected_source
            embedding = rt.memory_cache.get(EmbeddingKey("photo", 0, info.model_id))
            devices = {t.device.type for t in embedding.features.values() if isinstance(t, torch.Tensor)}
            assert devices == {CUDA}


def test_a_real_cuda_out_of_memory_error_falls_back_to_the_cpu(tmp_path, media_dir):
    """An encode that asks for more memory than the GPU has: freed, tried again, then the same
    checkpoint is loaded on the CPU and the next encode is answered there."""
    from model_runtime import load_model
    from model_runtime.runtime import ModelOutOfMemoryError, Runtime, RuntimeConfig
    from tests.oracles import sam1

    ckpt = sam1.make_sam1_checkpoint(tmp_path, "vit_t", seed=0)
    too_much = 2 * torch.cuda.get_device_properties(0).total_memory

    def loader(source, device):
        model = load_model(source, device=device)
        if str(model.info.device).startswith(CUDA):
            encode = model.encode_image

            def greedy_encode(image):
                torch.empty(too_much, dtype=torch.uint8, device=CUDA)
                return encode(image)

            model.encode_image = greedy_encode
        return model

    image = _photo(media_dir)
    with Runtime(RuntimeConfig(disk_cache=False), loader=loader) as rt:
        rt.load_model(str(ckpt), CUDA).result(300)
        with pytest.raises(ModelOutOfMemoryError, match="being loaded on the CPU"):
            rt.encode("photo", 0, lambda: image).result(300)
        assert rt.encode("photo", 0, lambda: image).result(600).source == "computed"
        assert rt.model_info.device == "cpu"
    gc.collect()
    torch.cuda.empty_cache()
