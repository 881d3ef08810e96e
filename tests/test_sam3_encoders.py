"""SAM 3's encoders (pre-processing, ViT, necks, text) against the official ``sam3`` modules.

The official modules are built at reduced width with the official classes and random weights
(tests/oracles/sam3_official.py); ours load the same weights from the ``sam3.pt`` layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from model_runtime.models.sam3.features import NeckFeatures, TextFeatures, VisionFeatures


@pytest.mark.oracle
@pytest.mark.parametrize("hw", [(288, 288), (144, 144), (72, 72), (5, 7)])
def test_grid_position_encoding_equals_official(hw: tuple[int, int]) -> None:
    from tests.oracles.sam3_official import import_official

    import_official()
    from sam3.model.position_encoding import PositionEmbeddingSine

    official = PositionEmbeddingSine(num_pos_feats=256, normalize=True, temperature=10000)
    levels = [torch.randn(2, 256, *hw)]
    ours = NeckFeatures(backbone_fpn=levels).vision_pos_enc[0]
    expected = official(levels[0])
    assert ours.shape == expected.shape == (2, 256, *hw)
    assert torch.equal(ours, expected)


@pytest.mark.oracle
def test_box_and_point_encodings_equal_official() -> None:
    from tests.oracles.sam3_official import import_official

    import_official()
    from sam3.model.position_encoding import PositionEmbeddingSine

    from model_runtime.models.sam3.position_encoding import encode_boxes, encode_points

    official = PositionEmbeddingSine(num_pos_feats=256, normalize=True, temperature=10000)
    gen = torch.Generator().manual_seed(0)
    cx, cy, w, h = torch.rand(4, 9, generator=gen)
    assert torch.equal(encode_boxes(cx, cy, w, h, 256), official.encode_boxes(cx, cy, w, h))
    x, y = torch.rand(2, 3, 5, generator=gen)
    labels = torch.randint(0, 2, (3, 5), generator=gen).float()
    assert torch.equal(encode_points(x, y, labels, 256), official.encode_points(x, y, labels))


def test_vision_features_name_the_official_keys_and_count_bytes() -> None:
    fpn = [torch.zeros(1, 8, 16, 16), torch.zeros(1, 8, 8, 8), torch.zeros(1, 8, 4, 4)]
    tracker = NeckFeatures(backbone_fpn=[t.clone() for t in fpn])
    features = VisionFeatures(backbone_fpn=fpn, sam2_backbone_out=tracker)
    assert features.vision_features is fpn[-1]
    assert [p.shape for p in features.vision_pos_enc] == [f.shape for f in fpn]
    per_neck = 4 * 8 * (16 * 16 + 8 * 8 + 4 * 4)
    assert tracker.nbytes() == per_neck
    assert features.nbytes() == 2 * per_neck  # position encodings are derived, not counted


def test_text_features_select_and_concat_are_inverse() -> None:
    gen = torch.Generator().manual_seed(0)
    features = TextFeatures(
        language_features=torch.randn(32, 3, 16, generator=gen),
        language_mask=torch.rand(3, 32, generator=gen) > 0.5,
        language_embeds=torch.randn(32, 3, 24, generator=gen),
    )
    parts = [features.select(i) for i in range(3)]
    assert all(p.batch_size == 1 for p in parts)
    assert torch.equal(parts[-1].language_features, features.select(-1).language_features)
    joined = TextFeatures.concat(parts)
    for name in ("language_features", "language_mask", "language_embeds"):
        assert torch.equal(getattr(joined, name), getattr(features, name))
    with pytest.raises(IndexError):
        features.select(3)
    with pytest.raises(ValueError):
        TextFeatures.concat([])


def _official_processor_transform(image: np.ndarray) -> torch.Tensor:
    from tests.oracles.sam3_official import import_official

    import_official()
    from sam3.model.sam3_image_processor import Sam3Processor
    from torchvision.transforms import v2

    processor = Sam3Processor(model=None, device="cpu")
    return processor.transform(v2.functional.to_image(image)).unsqueeze(0)


@pytest.mark.oracle
@pytest.mark.parametrize("name", ["truck.jpg", "dog.jpg", "groceries.jpg", "cars.jpg"])
def test_preprocessing_is_bit_exact_on_real_photos(name: str, media_dir: Path) -> None:
    from model_runtime.models.sam3.transforms import preprocess_image

    image = np.array(Image.open(media_dir / name).convert("RGB"))
    expected = _official_processor_transform(image)
    ours = preprocess_image(image)
    assert ours.dtype == expected.dtype == torch.float32
    assert ours.shape == expected.shape == (1, 3, 1008, 1008)
    assert torch.equal(ours, expected)


@pytest.mark.oracle
@pytest.mark.parametrize("hw", [(1, 1), (7, 3000), (1008, 1008), (1500, 20)])
def test_preprocessing_is_bit_exact_on_odd_sizes(hw: tuple[int, int]) -> None:
    from model_runtime.models.sam3.transforms import preprocess_image

    image = np.random.default_rng(hw[0] * 7 + hw[1]).integers(0, 256, (*hw, 3), dtype=np.uint8)
    assert torch.equal(preprocess_image(image), _official_processor_transform(image))


def test_the_float_branch_rounds_back_to_uint8_levels() -> None:
    from model_runtime.models.sam3.transforms import resize_uint8

    image = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    native = resize_uint8(image, 32, native_uint8=True)
    via_float = resize_uint8(image, 32, native_uint8=False)
    assert native.dtype == via_float.dtype == torch.uint8
    assert (native.int() - via_float.int()).abs().max() <= 1


TOKENIZER_PHRASES = [
    "red car", "yellow school bus", "  Dog's   TAIL ", "café crème brûlée", "日本語のテキスト",
    "naïve résumé", "emoji 🐶🚗!!", "&amp;lt;b&amp;gt; html", "<start_of_text> hi <end_of_text>",
    "1234567890 numbers 3.14", "don't can't we'll I'd", "a " * 40, "supercalifragilisticexpialidocious " * 5,
    "“quoted” ‘text’ ﬁne ｆｕｌｌ", "\tnew\nline\r\n", "", "visual", "Straße ǅemal İstanbul", "x" * 200,
    "ÃƒÂ©mojibake Ã©", "!", "a.b,c;d", "Zoë's 2nd-hand bike (blue)", "Ελληνικά κείμενα", "русский текст",
    "مرحبا", "हिन्दी", "한국어 텍스트",
]


@pytest.mark.oracle
def test_tokenizer_matches_official_on_many_phrases() -> None:
    from tests.oracles.sam3_official import import_official, vocabulary_path

    import_official()
    from sam3.model.tokenizer_ve import SimpleTokenizer

    from model_runtime.models.sam3.tokenizer import Tokenizer

    official = SimpleTokenizer(bpe_path=vocabulary_path())
    ours = Tokenizer()
    assert ours.vocab_size == official.vocab_size == 49408
    for phrase in TOKENIZER_PHRASES:
        assert ours.encode(phrase) == official.encode(phrase), phrase
    with pytest.warns(UserWarning) as caught:
        tokens = ours(TOKENIZER_PHRASES)
    assert torch.equal(tokens.ids, official(TOKENIZER_PHRASES, context_length=32))
    long = [i for i, p in enumerate(TOKENIZER_PHRASES) if len(official.encode(p)) > 30]
    assert [i for i, cut in enumerate(tokens.truncated) if cut] == long and len(long) >= 3
    assert len(caught) == len(long) and "reads only the first 30" in str(caught[0].message)
    assert all(row[(row != 0).sum() - 1] == ours.eot_id for row in tokens.ids)  # EOT last, then zeros
    assert ours.decode(ours.encode("red car")).strip() == "red car"


# --- the encoders against the official modules, reduced width ---------------------------------


@dataclass
class Pair:
    official: Any  # the official Sam3Image (with its interactive predictor), checkpoint loaded
    ours: Any  # our Sam3Encoders from the same file
    path: Path
    state_dict: dict[str, torch.Tensor]


@pytest.fixture(scope="module")
def reduced(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    from model_runtime.checkpoints import read_state_dict
    from model_runtime.models.sam3.checkpoint import load_encoders
    from tests.oracles import sam3_official as oracle

    path = oracle.make_checkpoint(tmp_path_factory.mktemp("sam3") / "sam3.pt", seed=3)
    state_dict = read_state_dict(path)
    return Pair(oracle.load_official(path), load_encoders(state_dict, path), path, state_dict)


def _close(ours: torch.Tensor, expected: torch.Tensor, rel: float = 1e-5) -> None:
    assert ours.shape == expected.shape
    scale = expected.abs().max().item()
    assert scale > 0
    err = (ours - expected).abs().max().item()
    assert err <= rel * scale, f"max error {err:.3g} against a scale of {scale:.3g}"


@pytest.fixture(scope="module")
def truck_pixels(media_dir: Path) -> tuple[np.ndarray, torch.Tensor]:
    from model_runtime.models.sam3.transforms import preprocess_image

    image = np.array(Image.open(media_dir / "truck.jpg").convert("RGB"))
    return image, preprocess_image(image)


@pytest.mark.oracle
def test_detected_sizes_match_the_reduced_official_build(reduced: Pair) -> None:
    cfg = reduced.ours.config
    assert (cfg.vit.embed_dim, cfg.vit.depth, cfg.vit.num_heads, cfg.vit.mlp_dim) == (64, 4, 2, 296)
    assert (cfg.vit.global_blocks, cfg.vit.window_size, cfg.vit.grid) == ((1, 3), 24, 72)
    assert cfg.vit.pretrain_grid == 24
    assert (cfg.neck.d_model, cfg.neck.used_scales, cfg.neck.with_tracker) == (32, (4.0, 2.0, 1.0), True)
    assert cfg.text is not None and (cfg.text.width, cfg.text.layers, cfg.text.context_length) == (64, 2, 32)


@pytest.mark.oracle
def test_vit_matches_official(reduced: Pair, truck_pixels: tuple[np.ndarray, torch.Tensor]) -> None:
    _, pixels = truck_pixels
    with torch.inference_mode():
        expected = reduced.official.backbone.vision_backbone.trunk(pixels)[-1]
        ours = reduced.ours.vision_backbone.trunk(pixels)
    _close(ours, expected)


@pytest.mark.oracle
def test_both_necks_and_position_encodings_match_official(
    reduced: Pair, truck_pixels: tuple[np.ndarray, torch.Tensor]
) -> None:
    image, pixels = truck_pixels
    with torch.inference_mode():
        expected = reduced.official.backbone.forward_image(pixels)
        ours = reduced.ours.encode_image(image)
    assert len(ours.backbone_fpn) == len(expected["backbone_fpn"]) == 3
    for mine, theirs in zip(ours.backbone_fpn, expected["backbone_fpn"], strict=True):
        _close(mine, theirs)
    for mine, theirs in zip(ours.vision_pos_enc, expected["vision_pos_enc"], strict=True):
        assert torch.equal(mine, theirs)
    _close(ours.vision_features, expected["vision_features"])
    tracker, official_tracker = ours.sam2_backbone_out, expected["sam2_backbone_out"]
    assert tracker is not None
    for mine, theirs in zip(tracker.backbone_fpn, official_tracker["backbone_fpn"], strict=True):
        _close(mine, theirs)
    for mine, theirs in zip(tracker.vision_pos_enc, official_tracker["vision_pos_enc"], strict=True):
        assert torch.equal(mine, theirs)


@pytest.mark.oracle
def test_tracker_levels_with_the_decoder_projections_match_official_set_image(
    reduced: Pair, truck_pixels: tuple[np.ndarray, torch.Tensor]
) -> None:
    from tests.oracles import sam3_official as oracle

    image, pixels = truck_pixels
    state = oracle.processor(reduced.official).set_image(Image.fromarray(image))
    decoder = reduced.official.inst_interactive_predictor.model.sam_mask_decoder
    with torch.inference_mode():
        ours = reduced.ours.vision_backbone(pixels, tracker_heads=(decoder.conv_s0, decoder.conv_s1))
    assert ours.sam2_backbone_out is not None
    expected = state["backbone_out"]["sam2_backbone_out"]["backbone_fpn"]
    assert [t.shape[1] for t in ours.sam2_backbone_out.backbone_fpn] == [4, 8, 32]
    for mine, theirs in zip(ours.sam2_backbone_out.backbone_fpn, expected, strict=True):
        _close(mine, theirs)


PHRASES = ["yellow school bus", "dog", "visual", "a " * 40, "café crème", "<start_of_text>x", "!"]


@pytest.mark.oracle
def test_text_features_and_mask_match_official(reduced: Pair) -> None:
    with pytest.warns(UserWarning, match="SAM 3 reads only the first 30"):
        reduced.ours.clear_text_cache()
        ours = reduced.ours.forward_text(PHRASES)
    with torch.inference_mode():
        expected = reduced.official.backbone.forward_text(PHRASES, device="cpu")
    assert ours.language_features.shape == (32, len(PHRASES), 32)
    _close(ours.language_features, expected["language_features"])
    assert torch.equal(ours.language_mask, expected["language_mask"])
    assert torch.equal(ours.language_embeds, expected["language_embeds"])


@pytest.mark.oracle
def test_cached_phrases_give_the_same_features_alone_or_batched(reduced: Pair) -> None:
    encoders = reduced.ours
    encoders.clear_text_cache()
    batch = encoders.forward_text(["red car", "dog", "red car"])
    alone = encoders.forward_text(["dog"])
    assert torch.equal(batch.select(1).language_features, alone.language_features)
    assert torch.equal(batch.select(0).language_features, batch.select(2).language_features)
    encoders.clear_text_cache()
    fresh = encoders.forward_text(["dog"])
    _close(fresh.language_features, alone.language_features, rel=1e-6)


@pytest.mark.oracle
@pytest.mark.parametrize("grid", [30, 20])
def test_vit_with_padded_windows_matches_official(grid: int) -> None:
    """A token grid that is not a multiple of the window (30 = 24 + 6 padded; 20 < 24)."""
    from tests.oracles.sam3_official import import_official

    import_official()
    from sam3.model.vitdet import ViT as OfficialViT

    from model_runtime.models.sam3.config import detect_vit
    from model_runtime.models.sam3.vit import ViT

    torch.manual_seed(grid)
    official = OfficialViT(
        img_size=14 * grid, pretrain_img_size=336, patch_size=14, embed_dim=32, depth=3, num_heads=2,
        mlp_ratio=4.625, norm_layer="LayerNorm", drop_path_rate=0.1, global_att_blocks=(1, 2),
        rel_pos_blocks=(), use_rope=True, use_interp_rope=True, window_size=24, pretrain_use_cls_token=True,
        retain_cls_token=False, ln_pre=True, ln_post=False, bias_patch_embed=False, use_abs_pos=True,
        tile_abs_pos=True,
    ).eval()
    state = {f"detector.backbone.vision_backbone.trunk.{k}": v for k, v in official.state_dict().items()}
    config = detect_vit(state)
    assert (config.grid, config.window_size, config.global_blocks) == (grid, 24, (1, 2))
    ours = ViT(config).eval()
    ours.load_state_dict(official.state_dict())
    x = torch.randn(1, 3, 14 * grid, 14 * grid)
    with torch.inference_mode():
        _close(ours(x), official(x)[-1])


# --- reading sam3.pt ------------------------------------------------------------------------


@pytest.mark.oracle
def test_reduced_builder_is_the_official_architecture_at_full_size() -> None:
    """The oracle's builder (sizes as parameters) at the released sizes gives exactly the keys,
    shapes and dtypes of the official ``build_sam3_image_model``: 1,156 detector + 309 tracker."""
    from tests.oracles import sam3_official as oracle

    mirror = oracle.file_layout_shapes(lambda: oracle.build_official(oracle.full_spec()))
    official = oracle.file_layout_shapes(oracle.build_official_released)
    assert mirror == official
    assert sum(k.startswith("detector.") for k in official) == 1156
    assert sum(k.startswith("tracker.") for k in official) == 309


@pytest.mark.oracle
def test_loading_uses_the_files_tensors_without_copies(reduced: Pair) -> None:
    trunk = reduced.ours.vision_backbone.trunk
    key = "detector.backbone.vision_backbone.trunk.blocks.0.mlp.fc1.weight"
    assert trunk.blocks[0].mlp.fc1.weight.data_ptr() == reduced.state_dict[key].data_ptr()
    assert not any(p.requires_grad for p in reduced.ours.parameters())
    assert not any(t.is_meta for t in reduced.ours.state_dict().values())


@pytest.mark.oracle
@pytest.mark.parametrize(
    ("dropped", "part"),
    [
        ("detector.backbone.language_backbone.", "no text encoder"),
        ("tracker.", "no tracker"),
        ("detector.backbone.vision_backbone.sam2_convs.", "no tracker"),
        ("detector.backbone.vision_backbone.trunk.", "no image encoder"),
    ],
)
def test_a_partial_file_names_the_missing_part(reduced: Pair, dropped: str, part: str) -> None:
    from model_runtime.checkpoints import SAM3, CheckpointError, detect_family
    from model_runtime.models.sam3.checkpoint import load_encoders

    partial = {k: v for k, v in reduced.state_dict.items() if not k.startswith(dropped)}
    assert detect_family(partial) == SAM3
    with pytest.raises(CheckpointError, match=part) as caught:
        load_encoders(partial, reduced.path)
    assert str(reduced.path) in str(caught.value) and "download it again" in str(caught.value)


@pytest.mark.oracle
def test_the_text_encoder_or_the_tracker_neck_can_be_left_out(reduced: Pair) -> None:
    from model_runtime.models.sam3.checkpoint import load_encoders

    no_text = {k: v for k, v in reduced.state_dict.items() if "language_backbone" not in k}
    clicks_only = load_encoders(no_text, reduced.path, with_text=False)
    assert clicks_only.language_backbone is None
    with pytest.raises(RuntimeError, match="without its text encoder"):
        clicks_only.forward_text(["dog"])
    concepts_only = load_encoders(reduced.state_dict, reduced.path, with_tracker=False)
    assert concepts_only.vision_backbone.sam2_convs is None
    image = np.zeros((20, 30, 3), dtype=np.uint8)
    assert concepts_only.encode_image(image).sam2_backbone_out is None


@pytest.mark.oracle
def test_a_tensor_of_the_wrong_shape_is_named(reduced: Pair) -> None:
    from model_runtime.checkpoints import CheckpointError
    from model_runtime.models.sam3.checkpoint import load_encoders

    key = "detector.backbone.vision_backbone.convs.1.conv_3x3.weight"
    broken = dict(reduced.state_dict)
    broken[key] = torch.zeros(32, 16, 3, 3)
    with pytest.raises(CheckpointError, match="convs.1.conv_3x3.weight"):
        load_encoders(broken, reduced.path)
    no_table = {k: v for k, v in reduced.state_dict.items() if not k.endswith("blocks.2.attn.freqs_cis")}
    with pytest.raises(CheckpointError, match="blocks.2.attn.freqs_cis"):
        load_encoders(no_table, reduced.path)


@pytest.mark.oracle
@pytest.mark.parametrize(("fraction", "parts"), [(0.995, ["tracker"]), (0.5, ["text encoder", "tracker"])])
def test_a_file_cut_short_names_the_parts_it_lost(
    reduced: Pair, tmp_path: Path, fraction: float, parts: list[str]
) -> None:
    from model_runtime import load_model
    from model_runtime.checkpoints import CheckpointError

    data = reduced.path.read_bytes()
    cut = tmp_path / "sam3.pt"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CheckpointError, match="truncated: the SAM 3 file has") as caught:
        load_model(cut, device="cpu")
    message = str(caught.value)
    assert all(part in message for part in parts), message
    assert "image encoder" not in message and "download it again" in message


# --- the released sizes (make test-slow) ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.oracle
def test_released_size_encoders_match_official(media_dir: Path) -> None:
    """ViT-L/14 + both necks + the 24-layer text encoder at the released sizes, on the official
    random init (made informative), ours sharing the very same tensors (~3.5 GB in all)."""
    from model_runtime.checkpoints import load_strict
    from model_runtime.models.sam3.checkpoint import encoder_state_dict
    from model_runtime.models.sam3.config import detect_encoder_config
    from model_runtime.models.sam3.encoders import Sam3Encoders
    from model_runtime.models.sam3.transforms import preprocess_image
    from tests.oracles import sam3_official as oracle

    oracle.import_official()
    from sam3.model.vl_combiner import SAM3VLBackbone

    torch.manual_seed(0)
    spec = oracle.full_spec()
    official = SAM3VLBackbone(
        visual=oracle._vision_backbone(spec), text=oracle._text_encoder(spec), scalp=1
    ).eval()
    state = oracle.perturb({f"detector.backbone.{k}": v for k, v in official.state_dict().items()}, seed=0)
    official.load_state_dict({k[len("detector.backbone.") :]: v for k, v in state.items()}, assign=True)
    config = detect_encoder_config(state)
    vit = config.vit
    assert (vit.depth, vit.embed_dim, vit.num_heads, vit.mlp_dim) == (32, 1024, 16, 4736)
    assert config.vit.global_blocks == (7, 15, 23, 31) and config.text is not None
    assert (config.text.layers, config.text.width, config.neck.d_model) == (24, 1024, 256)
    with torch.device("meta"):
        ours = Sam3Encoders(config)
    load_strict(ours, encoder_state_dict(state, config), "released", "sam3", assign=True)
    ours.eval()

    image = np.array(Image.open(media_dir / "dog.jpg").convert("RGB"))
    with torch.inference_mode():
        expected = official.forward_image(preprocess_image(image))
        mine = ours.encode_image(image)
        for a, b in zip(mine.backbone_fpn, expected["backbone_fpn"], strict=True):
            _close(a, b, rel=1e-4)
        assert mine.sam2_backbone_out is not None
        tracker = expected["sam2_backbone_out"]["backbone_fpn"]
        for a, b in zip(mine.sam2_backbone_out.backbone_fpn, tracker, strict=True):
            _close(a, b, rel=1e-4)
        del expected, mine
        text = official.forward_text(PHRASES, device="cpu")
    ours.clear_text_cache()
    with pytest.warns(UserWarning):
        features = ours.forward_text(PHRASES)
    _close(features.language_features, text["language_features"], rel=1e-4)
    assert torch.equal(features.language_mask, text["language_mask"])


def test_preprocessing_takes_a_read_only_image_without_warnings() -> None:
    import warnings

    from model_runtime.models.sam3.transforms import preprocess_image

    image = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    frozen = image.copy()
    frozen.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(preprocess_image(frozen, 64), preprocess_image(image, 64))
