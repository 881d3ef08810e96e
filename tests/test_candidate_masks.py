"""CandidateMasks: K masks made on first read, once, whichever thread reads first."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from model_runtime.api import CandidateMasks, Prediction
from model_runtime.models.common.mask_upsampling import candidate_masks, sam1_plan, upsample_masks


class Maker:
    """make(i) -> a (4, 5) mask filled with i % 2, counting calls per index."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[int] = []
        self.gate = gate
        self.entered = threading.Event()

    def __call__(self, index: int) -> np.ndarray:
        self.calls.append(index)
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(20)
        return np.full((4, 5), index % 2, dtype=np.uint8)


def test_ready_masks_are_made_at_once_and_the_others_when_read() -> None:
    maker = Maker()
    masks = CandidateMasks((3, 4, 5), maker, ready=[1])
    assert maker.calls == [1]
    assert [masks.is_made(i) for i in range(3)] == [False, True, False]
    assert masks.shape == (3, 4, 5) and masks.dtype == np.bool_ and len(masks) == 3
    assert masks[-1].dtype == np.bool_ and not masks[-1].any()  # index 2, made now
    assert masks[1].all() and masks[2] is masks[-1]
    assert maker.calls == [1, 2]
    with pytest.raises(IndexError):
        masks[3]


def test_as_an_array_all_are_made_and_stacked() -> None:
    masks = CandidateMasks((3, 4, 5), Maker())
    stacked = np.asarray(masks)
    assert stacked.shape == (3, 4, 5) and stacked.dtype == np.bool_
    assert [bool(m.all()) for m in stacked] == [False, True, False]
    assert np.array_equal(np.asarray(masks, dtype=np.uint8), stacked.astype(np.uint8))
    assert np.asarray(CandidateMasks((0, 4, 5), Maker())).shape == (0, 4, 5)


def test_make_all_stops_when_asked_and_goes_on_later() -> None:
    maker = Maker()
    masks = CandidateMasks((3, 4, 5), maker, ready=[0])
    asked = []

    def stop() -> bool:
        asked.append(len(maker.calls))
        return len(maker.calls) >= 2

    assert not masks.make_all(stop=stop)
    assert maker.calls == [0, 1] and asked == [1, 2]
    assert masks.make_all() and maker.calls == [0, 1, 2]


def test_two_threads_reading_one_mask_make_it_once() -> None:
    gate = threading.Event()
    maker = Maker(gate)
    masks = CandidateMasks((2, 4, 5), maker)
    seen: list[np.ndarray] = []
    readers = [threading.Thread(target=lambda: seen.append(masks[1])) for _ in range(2)]
    for reader in readers:
        reader.start()
    assert maker.entered.wait(20)
    gate.set()
    for reader in readers:
        reader.join(20)
    assert maker.calls == [1] and len(seen) == 2 and seen[0] is seen[1]


def test_a_mask_of_the_wrong_size_is_refused() -> None:
    masks = CandidateMasks((1, 3, 3), Maker())
    with pytest.raises(ValueError, match=r"\(4, 5\)"):
        masks[0]


def test_arrays_given_to_a_prediction_are_wrapped() -> None:
    array = np.zeros((2, 4, 5), dtype=bool)
    array[1, 2, 3] = True
    pred = Prediction(masks=array, scores=np.zeros(2, np.float32), low_res_logits=np.zeros((2, 256, 256)))
    assert isinstance(pred.masks, CandidateMasks)
    assert all(pred.masks.is_made(i) for i in range(2)) and pred.masks[1][2, 3]
    assert CandidateMasks.of(array[0]).shape == (1, 4, 5)
    with pytest.raises(ValueError, match="K, H, W"):
        CandidateMasks.of(np.zeros(5))


def test_candidate_masks_make_the_best_first_and_equal_upsample_masks() -> None:
    g = torch.Generator().manual_seed(0)
    y, x = torch.meshgrid(torch.arange(256.0), torch.arange(256.0), indexing="ij")
    smooth = 40 - torch.sqrt((y - 90) ** 2 + (x - 140) ** 2)
    noise = torch.randn((256, 256), generator=g)
    low = torch.stack([smooth, -smooth, noise])
    plan = sam1_plan((256, 256), (683, 1024), (300, 450))
    masks = candidate_masks(low, plan, np.array([0.1, 0.9, 0.5], np.float32))
    assert [masks.is_made(i) for i in range(3)] == [False, True, False]
    low.fill_(0.0)  # the caller's tensor may be reused: the masks keep their own copy
    expected = upsample_masks(torch.stack([smooth, -smooth, noise]), plan)
    assert all(np.array_equal(masks[i], expected[i]) for i in range(3))
    with pytest.raises(ValueError, match="3 logit maps but 2 scores"):
        candidate_masks(low, plan, np.zeros(2, np.float32))


def test_packed_masks_read_back_equal_and_a_subset_shares_them() -> None:
    maker = Maker()
    masks = CandidateMasks((3, 4, 5), maker, packed=True)
    first = masks[1]
    assert first.dtype == np.bool_ and first.shape == (4, 5) and first.all()
    again = masks[1]
    assert np.array_equal(again, first) and again is not first  # unpacked afresh
    again[0, 0] = False
    assert masks[1].all()  # a reader's changes never reach the stored mask
    assert masks[1].shape == (4, 5) and not masks[2].any()
    assert masks._masks[1].nbytes == 3  # 20 bits
    subset = masks.subset([2, 0])
    inner = subset.subset([1])  # index 0 of the masks
    assert [subset.is_made(i) for i in range(2)] == [True, False] and not inner.is_made(0)
    assert not inner[0].any() and maker.calls == [1, 2, 0]
    assert subset.is_made(1) and masks.is_made(0) and subset.make_all()
    assert maker.calls == [1, 2, 0]  # made once, stored once, in the first object
    assert subset._masks == [None, None] and inner._masks == [None]
    with pytest.raises(IndexError):
        masks.subset([3])


def test_a_subset_of_byte_masks_returns_the_same_arrays() -> None:
    maker = Maker()
    masks = CandidateMasks((3, 4, 5), maker)
    subset = masks.subset(np.array([2, 1]))
    assert subset[0] is masks[2] and subset[-1] is masks[1] and maker.calls == [2, 1]
    assert repr(subset) == "CandidateMasks(shape=(2, 4, 5), made=2)"
