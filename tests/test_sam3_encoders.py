"""SAM 3's encoders (pre-processing, ViT, necks, text) against the official ``sam3`` modules.

The official modules are built at reduced width with the official classes and random weights
(tests/oracles/sam3_official.py); ours load the same weights from the ``sam3.pt`` layout.
"""

from __future__ import annotations

import pytest
import torch

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
