"""The model contract's value types: Prompts, Instances, capabilities."""

from __future__ import annotations

import numpy as np
import pytest

from model_runtime.api import (
    Capability,
    Exemplar,
    Instances,
    ModelCapabilityError,
    ModelInfo,
    PromptError,
    Prompts,
    require_capability,
    validate_exemplar_box,
)


def test_prompts_normalise_arrays_to_tuples_and_hash() -> None:
    prompts = Prompts(points=np.array([[10, 20], [30.5, 40]]), labels=np.array([1, 0]), box=[1, 2, 3, 4])
    assert prompts.points == ((10.0, 20.0), (30.5, 40.0))
    assert prompts.labels == (1, 0)
    assert prompts.box == (1.0, 2.0, 3.0, 4.0)
    assert hash(prompts) == hash(Prompts(points=[(10, 20), (30.5, 40)], labels=[1, 0], box=(1, 2, 3, 4)))
    arrays = prompts.click_arrays()
    assert arrays["points"].dtype == np.float32 and arrays["points"].shape == (2, 2)
    assert arrays["labels"].dtype == np.int32 and arrays["box"].shape == (4,)
    assert arrays["mask_input"] is None
    assert prompts.has_click and not prompts.has_concept


def test_prompts_concepts_accept_pairs_and_several_phrases() -> None:
    prompts = Prompts(text="dog", exemplars=[((10, 20, 110, 140), True), ((5, 5, 9, 9), False)])
    assert prompts.exemplars == (Exemplar((10, 20, 110, 140), True), Exemplar((5, 5, 9, 9), False))
    assert prompts.phrases == ("dog",) and prompts.has_concept and not prompts.has_click
    several = Prompts(text=["car", "person"])
    assert several.text == ("car", "person") and several.phrases == ("car", "person")
    assert Prompts(exemplars=[((0, 0, 4, 4), True)]).phrases == ()
    assert Prompts().is_empty() and not Prompts(text="x").is_empty()


def test_mask_input_is_kept_but_not_compared() -> None:
    logits = np.ones((256, 256), dtype=np.float64)
    prompts = Prompts(points=[(1, 2)], labels=[1], mask_input=logits)
    assert prompts.mask_input.shape == (1, 256, 256) and prompts.mask_input.dtype == np.float32
    stored = prompts.without_mask_input()
    assert stored.mask_input is None and stored == prompts


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"points": [(1, 2)], "labels": []}, "1 points but 0 labels"),
        ({"points": [(np.nan, 2)], "labels": [1]}, "NaN"),
        ({"points": [(1, 2, 3)], "labels": [1]}, "(N, 2)"),
        ({"box": (1, 2, 3)}, "x0, y0, x1, y1"),
        ({"box": (1, 2, np.inf, 4)}, "NaN or infinity"),
        ({"mask_input": np.zeros((64, 64))}, "(1, 256, 256)"),
        ({"text": 5}, "phrase"),
        ({"exemplars": [(1, 2)]}, "exemplar box"),
        ({"exemplars": [5]}, "(box, positive)"),
    ],
)
def test_bad_prompts_are_refused_with_the_reason(kwargs: dict, message: str) -> None:
    with pytest.raises(PromptError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Prompts(**kwargs)


def test_exemplar_box_validation_against_the_image() -> None:
    validate_exemplar_box((10, 10, 20, 20), (100, 200))
    with pytest.raises(PromptError, match="zero area"):
        validate_exemplar_box((10, 10, 10, 20), (100, 200))
    with pytest.raises(PromptError, match="outside the 200×100 image"):
        validate_exemplar_box((250, 10, 260, 20), (100, 200))


def _instances(scores: list[float]) -> tuple[Instances, np.ndarray, list[int]]:
    rng = np.random.default_rng(0)
    masks = rng.random((len(scores), 6, 8)) > 0.5
    made: list[int] = []

    from model_runtime.candidate_masks import CandidateMasks

    def make(i: int) -> np.ndarray:
        made.append(i)
        return masks[i]

    boxes = np.arange(len(scores) * 4, dtype=np.float32).reshape(-1, 4)
    found = Instances(CandidateMasks(masks.shape, make), boxes, np.array(scores), presence=0.9, phrase="cat")
    return found, masks, made


def test_above_refilters_the_pool_without_making_masks() -> None:
    pool, masks, made = _instances([0.1, 0.6, 0.7, 0.2, 0.9])
    kept = pool.above(0.5)
    assert len(kept) == 3 and list(kept.pool_indices) == [1, 2, 4]
    assert kept.threshold == 0.5 and kept.presence == pytest.approx(0.9) and kept.phrase == "cat"
    assert made == []  # filtering never makes a mask
    looser = kept.above(0.15)  # from a filtered result, back through the pool
    assert list(looser.pool_indices) == [1, 2, 3, 4]
    np.testing.assert_array_equal(looser.boxes, pool.boxes[[1, 2, 3, 4]])
    np.testing.assert_array_equal(np.asarray(kept.masks), masks[[1, 2, 4]])
    assert sorted(made) == [1, 2, 4]
    assert len(pool.above(0.9)) == 0  # strictly above, as the official keep rule


def test_instances_check_lengths_and_empty() -> None:
    with pytest.raises(ValueError, match="3 masks but 2 scores"):
        Instances(np.zeros((3, 2, 2), bool), np.zeros((3, 4)), np.zeros(2))
    empty = Instances.empty((5, 7), presence=0.1)
    assert len(empty) == 0 and empty.image_size == (5, 7) and len(empty.above(0.0)) == 0


def test_capabilities_gate_requests_with_a_clear_error() -> None:
    info = ModelInfo("sam1", "vit_b", 1024, 1)
    assert info.can(Capability.CLICK) and not info.can(Capability.VIDEO)
    require_capability(info, Capability.CLICK, "answer a click")
    with pytest.raises(ModelCapabilityError, match="cannot track objects.*SAM 2"):
        require_capability(info, Capability.VIDEO, "track objects through a video")
