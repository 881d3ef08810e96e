"""The GrabCut backend on real photos: sensible masks from boxes and clicks, usable logits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import model_runtime
from model_runtime.api import Capability, ImageModel, PromptError
from model_runtime.models.classical.grabcut import GrabCutModel

TRUCK_BOX = np.array([80, 280, 1720, 850])  # the whole pick-up in truck.jpg (1800×1200)
HUB = (560, 740)  # rear wheel hub
WINDOW = (1000, 360)  # driver's side window


@pytest.fixture(scope="module")
def truck(media_dir) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(media_dir / "truck.jpg")), cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def model() -> GrabCutModel:
    return GrabCutModel()


@pytest.fixture(scope="module")
def embedding(model, truck):
    return model.encode_image(truck)


def _disc(shape: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 < radius**2


def test_load_model_classical_is_an_image_model():
    model = model_runtime.load_model("classical")
    assert isinstance(model, ImageModel)
    assert model.info.family == "classical"
    assert model.info.capabilities == {Capability.CLICK}
    assert "no download" in model.info.display_name and "GrabCut" in model.info.display_name


def test_box_gives_truck_mask(model, embedding, truck):
    pred = model.predict(embedding, box=TRUCK_BOX)
    assert pred.masks.shape == (3, 1200, 1800) and pred.masks.dtype == bool
    assert pred.scores.shape == (3,) and pred.low_res_logits.shape == (3, 256, 256)
    assert list(pred.scores) == sorted(pred.scores, reverse=True)
    assert np.all((pred.scores > 0) & (pred.scores < 1))
    mask = pred.masks[0]
    box = np.zeros(mask.shape, dtype=bool)
    box[280:850, 80:1720] = True
    inside = (mask & box).sum() / mask.sum()
    iou = (mask & box).sum() / (mask | box).sum()
    assert inside > 0.98
    assert 0.6 < iou < 0.95  # a truck fills much of its box, but not all of it
    # the bright wall above the bonnet (inside the box, right of the cab roof) is not truck
    assert not mask[300:330, 1500:1700].any()
    assert mask[500:600, 900:1100].all()  # the doors are


def test_negative_click_removes_region(model, embedding):
    before = model.predict(embedding, box=TRUCK_BOX).masks[0]
    after = model.predict(embedding, box=TRUCK_BOX, points=[HUB], labels=[0]).masks[0]
    hub = _disc(before.shape, HUB, 40)
    assert before[hub].mean() > 0.9
    assert after[hub].mean() < 0.2
    assert after.sum() < before.sum()


def test_single_click_gives_nested_candidates(model, embedding):
    pred = model.predict(embedding, points=[WINDOW], labels=[1])
    assert pred.masks.shape[0] == 3
    for mask in pred.masks:
        assert mask[WINDOW[1], WINDOW[0]]
    best = pred.masks[0]
    assert 0.002 < best.mean() < 0.5  # an object, not a speck and not the whole picture
    single = model.predict(embedding, points=[WINDOW], labels=[1], multimask=False)
    assert single.masks.shape == (1, 1200, 1800)


def test_low_res_logits_reproduce_mask_and_refine(model, embedding):
    pred = model.predict(embedding, box=TRUCK_BOX)
    logits = pred.low_res_logits[0]
    # the image occupies the top-left 256×171 of the grid; padding is confidently background
    assert (logits[175:, :] < 0).all()
    small = cv2.resize(pred.masks[0].astype(np.uint8), (256, 171), interpolation=cv2.INTER_AREA) > 0
    agreement = ((logits[:171] > 0) == small).mean()
    assert agreement > 0.97
    refined = model.predict(embedding, box=TRUCK_BOX, mask_input=pred.low_res_logits[:1])
    iou = (refined.masks[0] & pred.masks[0]).sum() / (refined.masks[0] | pred.masks[0]).sum()
    assert iou > 0.8
    alone = model.predict(embedding, mask_input=pred.low_res_logits[0])
    iou = (alone.masks[0] & pred.masks[0]).sum() / (alone.masks[0] | pred.masks[0]).sum()
    assert iou > 0.7


def test_small_image_and_dog_click(model, media_dir):
    dog = cv2.cvtColor(cv2.imread(str(media_dir / "dog.jpg")), cv2.COLOR_BGR2RGB)
    emb = model.encode_image(dog)
    pred = model.predict(emb, points=[[400, 300]], labels=[1])
    assert pred.masks.shape[1:] == dog.shape[:2]
    assert pred.masks[0][300, 400]


def test_bad_prompts_are_prompt_errors(model, embedding):
    with pytest.raises(PromptError):
        model.predict(embedding)
    with pytest.raises(PromptError):
        model.predict(embedding, points=[[10, 10]], labels=[0])  # only "not here"
    with pytest.raises(ValueError):
        model.encode_image(np.zeros((10, 10), dtype=np.uint8))


# Snug boxes in groceries.jpg (800×534) around objects whose colours match what surrounds them
# (a paper bag between paper bags, a seat headrest on a seat): GrabCut's first cut finds nothing.
SNUG_BOXES = {"bag": (507, 175, 585, 340), "headrest": (245, 95, 308, 135)}


@pytest.mark.parametrize("name", sorted(SNUG_BOXES))
def test_a_snug_box_never_comes_back_empty(model, media_dir, name):
    """Issue 18, defect 2: a box drawn snugly around an object gave an empty mask for every
    candidate (25 px more margin worked). GrabCut now pads the box itself and, failing that,
    seeds the box's centre, and the mask stays the boxed object's."""
    groceries = cv2.cvtColor(cv2.imread(str(media_dir / "groceries.jpg")), cv2.COLOR_BGR2RGB)
    emb = model.encode_image(groceries)
    x0, y0, x1, y1 = SNUG_BOXES[name]
    pred = model.predict(emb, box=np.array([x0, y0, x1, y1], float))
    for mask in pred.masks:
        assert mask.sum() > 0.4 * (x1 - x0) * (y1 - y0)
        inside = mask[max(0, y0 - 30) : y1 + 30, max(0, x0 - 30) : x1 + 30].sum()
        assert inside == mask.sum()  # the object, not the picture around it
    assert np.all(pred.scores > 0)


def test_the_same_prompt_gives_the_same_mask(model, embedding):
    """GrabCut's colour models start from a random k-means; seeded, a prompt's answer does not
    depend on what was asked before."""
    first = model.predict(embedding, box=TRUCK_BOX).masks
    model.predict(embedding, points=[WINDOW], labels=[1])
    assert np.array_equal(model.predict(embedding, box=TRUCK_BOX).masks, first)
