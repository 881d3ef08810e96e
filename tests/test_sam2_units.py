"""Unit tests of the SAM 2 package: configs and size detection, strict loading errors, and the
pieces whose numerics must equal the official code (pre-processing, sine encodings, the
single-mask stability fall-back, mask upsampling)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model_runtime.api import Capability, ImageEmbedding, PromptError
from model_runtime.checkpoints import CheckpointError
from model_runtime.models.sam2.config import HIERA_CONFIGS, detect_variant, make_config
from model_runtime.models.sam2.hiera import window_partition, window_unpartition
from model_runtime.models.sam2.mask_decoder import MaskDecoder, MaskDecoderConfig
from model_runtime.models.sam2.model import LOW_RES_CLAMP, Sam2ImageModel, from_state_dict
from model_runtime.models.sam2.network import Sam2Network
from model_runtime.models.sam2.position_encoding import sine_position_encoding
from model_runtime.models.sam2.transforms import preprocess_image
from tests import oracles as _oracles  # noqa: F401  (torchvision shim before any oracle import)

# Official key and parameter counts of the released SAM 2.1 files (REFERENCE-FACTS).
OFFICIAL_21 = {
    "hiera_t": (471, 39.0),
    "hiera_s": (519, 46.1),
    "hiera_b+": (615, 80.9),
    "hiera_l": (903, 224.4),
}


def _meta_state_dict(family: str, variant: str) -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        return Sam2Network(make_config(family, variant)).state_dict()


@pytest.mark.parametrize("variant", list(HIERA_CONFIGS))
@pytest.mark.parametrize("family", ["sam2", "sam2.1"])
def test_layout_matches_official_counts_and_size_is_detected(family: str, variant: str) -> None:
    sd = _meta_state_dict(family, variant)
    keys, params_m = OFFICIAL_21[variant]
    # SAM 2.0 lacks no_obj_embed_spatial and obj_ptr_tpos_proj.{weight,bias}.
    assert len(sd) == (keys if family == "sam2.1" else keys - 3)
    if family == "sam2.1":
        assert round(sum(t.numel() for t in sd.values()) / 1e6, 1) == params_m
    assert detect_variant(sd) == variant


def test_detect_variant_rejects_unknown_sizes() -> None:
    sd = _meta_state_dict("sam2.1", "hiera_t")
    assert detect_variant({k: v for k, v in sd.items() if "blocks.11." not in k}) is None
    assert detect_variant({}) is None


def test_strict_load_names_the_file_and_the_problem(tmp_path: Path) -> None:
    torch.manual_seed(0)
    sd = Sam2Network(make_config("sam2.1", "hiera_t")).state_dict()
    path = tmp_path / "broken.pt"
    missing = {k: v for k, v in sd.items() if not k.startswith("memory_encoder.fuser")}
    with pytest.raises(CheckpointError, match="missing keys") as err:
        from_state_dict(missing, family="sam2.1", path=path, device="cpu")
    assert "broken.pt" in str(err.value)
    extra = dict(sd, **{"sam_mask_decoder.bogus": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="unexpected keys"):
        from_state_dict(extra, family="sam2.1", path=path, device="cpu")
    resized = dict(sd, no_mem_embed=torch.zeros(1, 1, 128))
    with pytest.raises(CheckpointError, match="shapes"):
        from_state_dict(resized, family="sam2.1", path=path, device="cpu")
    odd = dict(sd, **{"image_encoder.trunk.patch_embed.proj.weight": torch.zeros(80, 3, 7, 7)})
    with pytest.raises(CheckpointError, match="unknown Hiera size"):
        from_state_dict(odd, family="sam2.1", path=path, device="cpu")


def test_window_partition_round_trip_with_padding() -> None:
    x = torch.randn(2, 13, 10, 5)
    windows, padded = window_partition(x, 4)
    assert windows.shape == (2 * 4 * 3, 4, 4, 5)
    assert padded == (16, 12)
    assert torch.equal(window_unpartition(windows, 4, padded, (13, 10)), x)


@pytest.fixture(scope="module")
def tiny_model() -> Sam2ImageModel:
    torch.manual_seed(0)
    network = Sam2Network(make_config("sam2.1", "hiera_t"))
    return Sam2ImageModel(network, torch.device("cpu"))


def test_sam2_declares_clicks_video_and_everything(tiny_model: Sam2ImageModel) -> None:
    assert tiny_model.info.capabilities == {Capability.CLICK, Capability.VIDEO, Capability.EVERYTHING}


def test_predict_rejects_foreign_embeddings_and_empty_prompts(tiny_model: Sam2ImageModel) -> None:
    foreign = ImageEmbedding(model_id="sam1-vit_b", original_size=(10, 10), input_size=(1024, 1024))
    with pytest.raises(ValueError, match="sam1-vit_b"):
        tiny_model.predict(foreign, points=np.array([[1, 1]]), labels=np.array([1]))
    own = ImageEmbedding(model_id=tiny_model.info.model_id, original_size=(10, 10), input_size=(1024, 1024))
    with pytest.raises(PromptError):
        tiny_model.predict(own)


def test_predict_masks_are_the_official_upsampling_of_the_decoder_logits(
    tiny_model: Sam2ImageModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The decoder is replaced by known logits (beyond the ±32 clamp, with exact zeros) so this
    # checks predict's post-processing alone: the official F.interpolate to the image size, > 0,
    # on the *unclamped* logits (clamping first could flip signs between large values).
    torch.manual_seed(0)
    y, x = torch.meshgrid(torch.arange(256.0), torch.arange(256.0), indexing="ij")
    smooth = 60 - torch.sqrt((y - 100) ** 2 + (x - 150) ** 2)  # −150 .. 60
    low = torch.stack([smooth, -smooth, torch.randn(256, 256) * 3])[None]
    low[0, 2, 100:120, 50:60] = 0.0  # exact zeros must stay False
    scores = torch.tensor([[0.5, 0.25, 0.125]])
    monkeypatch.setattr(tiny_model, "_decode", lambda *args: (low, scores))
    for size in [(1200, 1800), (37, 61)]:
        model_id = tiny_model.info.model_id
        embedding = ImageEmbedding(model_id=model_id, original_size=size, input_size=(1024, 1024))
        pred = tiny_model.predict(embedding, points=np.array([[1, 1]]), labels=np.array([1]))
        ref = F.interpolate(low, size, mode="bilinear", align_corners=False)[0]
        differ = pred.masks != (ref > 0).numpy()
        # Only where the official float32 value is within rounding of 0 (see test_mask_upsampling).
        assert (ref.numpy()[differ].__abs__() <= 1e-5 * float(low.abs().max())).all()
        assert int(differ.sum()) <= 8
        assert all(m.dtype == np.bool_ and m.flags.c_contiguous for m in pred.masks)
        assert np.array_equal(pred.low_res_logits, low[0].clamp(-LOW_RES_CLAMP, LOW_RES_CLAMP).numpy())
        assert np.array_equal(pred.scores, scores[0].numpy())


def test_decoder_image_side_is_contiguous_even_from_an_older_cache(tiny_model: Sam2ImageModel) -> None:
    # Disk-cache entries written before the fix hold transposed views; predicting from them
    # must not pay the strided-access cost (~10 ms per click) on every prompt.
    heads = torch.randn(1, 4, 4096, 16)
    features = {
        "decoder_keys": torch.randn(1, 256, 64, 64).flatten(2).transpose(1, 2),
        "decoder_t2i_k": heads,
        "decoder_t2i_v": heads,
        "decoder_i2t_q": heads,
    }
    side = tiny_model._image_side(features)
    assert side is not None
    assert side.keys.is_contiguous() and side.key_pe.is_contiguous()
    assert torch.equal(side.keys, features["decoder_keys"])


def test_encode_rejects_bad_images(tiny_model: Sam2ImageModel) -> None:
    with pytest.raises(ValueError, match="uint8"):
        tiny_model.encode_image(np.zeros((8, 8, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="RGB"):
        tiny_model.encode_image(np.zeros((8, 8), dtype=np.uint8))


# --- numerics against the official code ---------------------------------------------------


@pytest.mark.oracle
def test_preprocess_equals_torchvision(media_dir: Path) -> None:
    from PIL import Image
    from sam2.utils.transforms import SAM2Transforms

    official = SAM2Transforms(resolution=1024, mask_threshold=0.0)
    rng = np.random.default_rng(0)
    images = [np.array(Image.open(media_dir / "dog.jpg").convert("RGB"))]
    sizes = [(1500, 700, 3), (300, 301, 3), (1, 5000, 3), (5000, 1, 3)]
    images += [rng.integers(0, 256, size=s, dtype=np.uint8) for s in sizes]
    for image in images:
        assert torch.equal(preprocess_image(image), official(image)[None])


@pytest.mark.oracle
def test_sine_position_encoding_equals_official() -> None:
    from sam2.modeling.position_encoding import PositionEmbeddingSine

    for feats, hw in [(256, (64, 64)), (256, (128, 128)), (64, (64, 64)), (64, (17, 23))]:
        ref = PositionEmbeddingSine(num_pos_feats=feats, normalize=True)(torch.zeros(1, 1, *hw))
        assert torch.equal(sine_position_encoding(feats, hw), ref)


@pytest.mark.oracle
def test_single_mask_stability_fallback_equals_official() -> None:
    """Unstable single-mask outputs fall back to the best multimask candidate, per batch row."""
    from sam2.modeling.sam.mask_decoder import MaskDecoder as OfficialDecoder
    from sam2.modeling.sam.transformer import TwoWayTransformer

    official = OfficialDecoder(
        transformer_dim=256,
        transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
        dynamic_multimask_via_stability=True,
    ).eval()
    ours = MaskDecoder(MaskDecoderConfig()).eval()
    torch.manual_seed(0)
    logits = torch.randn(4, 4, 256, 256)
    logits[0, 0] = 5.0  # stable single mask: kept
    logits[2, 0] = torch.linspace(-0.04, 0.04, 256 * 256).view(256, 256)  # all within ±δ: unstable
    iou = torch.rand(4, 4)
    ref_masks, ref_iou = official._dynamic_multimask_via_stability(logits, iou)
    masks, scores = ours._dynamic_multimask_via_stability(logits, iou)
    assert torch.equal(masks, ref_masks)
    assert torch.equal(scores, ref_iou)
    assert torch.equal(masks[0], logits[0, 0:1])  # kept
    assert not torch.equal(masks[2], logits[2, 0:1])  # fell back


@pytest.mark.oracle
def test_video_modules_forward_equals_official() -> None:
    """The memory encoder and memory attention (video path) compute what the official ones do,
    including RoPE on several memory frames and unrotated object-pointer tokens."""
    from tests.oracles import sam2 as oracle

    torch.manual_seed(0)
    official = oracle.build_official("sam2.1", "hiera_t")
    sd = oracle.perturb_state_dict(official.state_dict(), seed=3)
    official.load_state_dict(sd)
    ours = Sam2Network(make_config("sam2.1", "hiera_t")).eval()
    ours.load_state_dict(sd)

    pix_feat = torch.randn(1, 256, 64, 64)
    masks = torch.randn(1, 1, 1024, 1024) * 4
    with torch.no_grad():
        ref = official.memory_encoder(pix_feat, masks)
        feats, pos = ours.memory_encoder(pix_feat, masks)
    torch.testing.assert_close(feats, ref["vision_features"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pos, ref["vision_pos_enc"][0], atol=0, rtol=0)

    n_ptr = 16
    curr = torch.randn(4096, 1, 256)
    curr_pos = torch.randn(4096, 1, 256)
    memory = torch.randn(2 * 4096 + n_ptr, 1, 64)
    memory_pos = torch.randn(2 * 4096 + n_ptr, 1, 64)
    with torch.no_grad():
        ref_out = official.memory_attention(curr, memory, curr_pos, memory_pos, num_obj_ptr_tokens=n_ptr)
        out = ours.memory_attention(curr, memory, curr_pos, memory_pos, num_obj_ptr_tokens=n_ptr)
    torch.testing.assert_close(out, ref_out, atol=1e-4, rtol=1e-4)
