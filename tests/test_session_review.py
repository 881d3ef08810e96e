"""Reviewing proposed instances without a display (samdesk/session/review.py, instances.py,
find_all.py): the threshold, rejecting, duplicates, accepting in one undo step, refining by
clicks, and batch results kept in the project."""

from __future__ import annotations

import numpy as np
import pytest

from model_runtime.api import Instances, Prompts
from samdesk.document import AddCategory, AddMedia, AddObjects, Document, MediaItem, MediaKind, NewObject
from samdesk.document import masks as rle
from samdesk.labelling.store import LabellingRecord, PendingResult
from samdesk.session import AnnotationController
from samdesk.session.find_all import FindAllQuery, answer_groups, category_for, remember, split_phrases
from samdesk.session.instances import InstanceGroup, crop_iou
from samdesk.session.review import Review
from tests.ui_doubles import RecordingService

W, H = 120, 80


@pytest.fixture
def session() -> tuple[AnnotationController, Review, Document]:
    doc = Document()
    doc.execute(AddMedia(MediaItem(0, MediaKind.IMAGE, "/data/a.jpg", W, H)))
    doc.execute(AddMedia(MediaItem(0, MediaKind.IMAGE, "/data/b.jpg", W, H)))
    controller = AnnotationController(doc, RecordingService())
    controller.set_media(doc.project.media[0].id)
    doc.history.clear()
    return controller, Review(controller), doc


def rects(*boxes: tuple[int, int, int, int], scores: tuple[float, ...], phrase: str) -> Instances:
    """One instance per (x0, y0, x1, y1) rectangle, with ``scores``: the pool of an answer."""
    masks = np.zeros((len(boxes), H, W), bool)
    for mask, (x0, y0, x1, y1) in zip(masks, boxes, strict=True):
        mask[y0:y1, x0:x1] = True
    return Instances(masks, np.array(boxes, np.float32), np.array(scores, np.float32), phrase=phrase)


CARS = rects((5, 5, 25, 25), (30, 5, 50, 25), (60, 5, 80, 25), scores=(0.9, 0.7, 0.4), phrase="car")
PEOPLE = rects((5, 40, 25, 70), (40, 40, 60, 70), scores=(0.8, 0.3), phrase="person")


def find(doc: Document, text: str, answers, threshold=0.5) -> tuple[FindAllQuery, list[InstanceGroup]]:
    query = FindAllQuery.of(text, threshold=threshold)
    return query, answer_groups(doc.project, query, answers)


def test_phrases_history_and_categories(session) -> None:
    _, _, doc = session
    assert split_phrases(" car;  person ;;car; red  car ") == ("car", "person", "red car")
    assert remember(["person", "car; person"], "car ;person") == ["car; person", "person"]
    assert remember(["a"], " ; ") == ["a"]
    doc.execute(AddCategory("Car", (1, 2, 3)))
    car = doc.project.category_by_name("Car").id
    assert category_for(doc.project, "car") == car and category_for(doc.project, "person") is None
    query = FindAllQuery.of("car; person")
    assert query.prompts().text == ("car", "person") and FindAllQuery.of("car").prompts().text == "car"


def test_the_threshold_refilters_without_the_model_and_colours_stay(session) -> None:
    controller, review, doc = session
    query, groups = find(doc, "car; person", [CARS.above(0.5), PEOPLE.above(0.5)])
    proposal = review.propose(groups, "sam3-test", query.prompts(), query.threshold)
    assert proposal.counts() == [("car", 2, 0), ("person", 1, 0)]
    colours = {key: proposal.color_index(key) for key in proposal.shown()}
    review.set_threshold(0.2)
    assert proposal.counts() == [("car", 3, 0), ("person", 2, 0)] and len(controller.pending_instances) == 5
    assert all(proposal.color_index(key) == c for key, c in colours.items())
    review.set_threshold(0.85)
    assert proposal.shown() == [(0, 0)]
    review.set_min_area(500)  # every rectangle is 400 or 600 pixels: only the people are as big
    review.set_threshold(0.0)
    assert proposal.shown() == [(1, 0), (1, 1)]


def test_accept_all_is_one_undo_step_into_each_phrase_category(session) -> None:
    controller, review, doc = session
    doc.execute(AddCategory("Person", (9, 9, 9)))
    doc.history.clear()
    query, groups = find(doc, "car; person", [CARS.above(0.5), PEOPLE.above(0.5)])
    review.propose(groups, "sam3-test", query.prompts(), query.threshold)
    controller.add_point(40, 15, positive=False)  # right click on the second car: rejected
    assert controller.pending_instances.shown() == [(0, 0), (1, 0)]
    accepted = review.accept_all()
    project = doc.project
    assert controller.pending_instances is None and len(accepted.object_ids) == 2
    car, person = project.category_by_name("car"), project.category_by_name("Person")
    assert car is not None  # made from the phrase, in the same step
    first, second = (project.object(i) for i in accepted.object_ids)
    assert (first.category_id, second.category_id) == (car.id, person.id)
    assert rle.decode(first.frames[0].rle)[5:25, 5:25].all() and first.frames[0].score == pytest.approx(0.9)
    assert first.frames[0].prompts == Prompts(text="car") and first.frames[0].model_id == "sam3-test"
    assert second.frames[0].prompts == Prompts(text="person")
    doc.undo()
    assert project.objects == [] and project.category_by_name("car") is None
    assert project.category_by_name("Person") is not None and not doc.history.can_undo


def test_duplicates_are_not_accepted_unless_allowed(session) -> None:
    controller, review, doc = session
    mask = np.zeros((H, W), bool)
    mask[5:25, 6:25] = True  # the first car, one column short: IoU 0.95
    doc.execute(AddObjects([NewObject.from_mask(doc.project.media[0].id, mask)]))
    query, groups = find(doc, "car", CARS.above(0.5))
    proposal = review.propose(groups, None, query.prompts(), query.threshold)
    assert proposal.counts() == [("car", 2, 1)] and proposal.is_duplicate((0, 0))
    accepted = review.accept_above()
    assert accepted.keys == [(0, 1)] and len(doc.project.objects) == 2  # the user's object untouched
    assert proposal.shown() == [(0, 0)]  # still waiting, still a duplicate
    controller.add_point(10, 10, True)  # select it
    assert review.allow_selected() and not proposal.is_duplicate((0, 0))
    assert review.accept_all().keys == [(0, 0)] and len(doc.project.objects) == 3
    assert rle.decode(doc.project.objects[0].frames[0].rle).sum() == mask.sum()


def test_undoing_a_partial_accept_brings_its_instances_back(session) -> None:
    controller, review, doc = session
    query, groups = find(doc, "car", CARS.above(0.5))
    proposal = review.propose(groups, None, query.prompts(), query.threshold)
    controller.add_point(40, 15, True)
    assert proposal.selected == (0, 1)
    assert review.accept_selected().keys == [(0, 1)] and proposal.shown() == [(0, 0)]
    controller.undo()
    assert doc.project.objects == [] and proposal.shown() == [(0, 0), (0, 1)]
    controller.redo()
    assert proposal.shown() == [(0, 0)]


class RecordingRefiner:
    def __init__(self) -> None:
        self.requests = []

    def refine(self, request) -> int:
        self.requests.append(request)
        return len(self.requests)


def test_a_click_on_the_selected_instance_refines_it(session) -> None:
    controller, review, doc = session
    refiner = review.refiner = RecordingRefiner()
    query, groups = find(doc, "car", CARS.above(0.5))
    proposal = review.propose(groups, "sam3-test", query.prompts(), query.threshold)
    controller.add_point(10, 10, True)  # selects
    assert proposal.selected == (0, 0) and refiner.requests == []
    controller.add_point(12, 12, True)  # refines: the point and the instance's box
    controller.add_point(28, 15, False)  # outside it, while refining: a negative point
    assert [r.prompts.points for r in refiner.requests] == [((12, 12),), ((12, 12), (28, 15))]
    last = refiner.requests[-1]
    assert last.prompts.labels == (1, 0) and last.prompts.box == (5, 5, 25, 25) and not last.multimask
    grown = np.zeros((1, H, W), bool)
    grown[0, 5:30, 5:28] = True
    review.refine_ready(1, grown, np.array([0.5]))  # superseded: dropped
    assert proposal.area((0, 0)) == 400
    review.refine_ready(2, grown, np.array([0.95]))
    assert proposal.area((0, 0)) == 25 * 23 and proposal.score((0, 0)) == pytest.approx(0.95)
    review.accept_all()
    obj = doc.project.objects[0]
    assert obj.frames[0].prompts == Prompts(points=[(12, 12), (28, 15)], labels=[1, 0], box=(5, 5, 25, 25),
                                            text="car")
    assert rle.decode(obj.frames[0].rle).sum() == 25 * 23
    assert controller.pending is None  # no click ever started an object of its own


def test_a_click_beside_the_instances_starts_an_object_as_before(session) -> None:
    controller, review, doc = session
    query, groups = find(doc, "car", CARS.above(0.5))
    review.propose(groups, None, query.prompts(), query.threshold)
    controller.add_point(100, 70, True)
    assert controller.pending_instances is None and controller.pending is not None


def test_batch_results_in_the_project_are_reviewed_and_settled(session) -> None:
    controller, review, doc = session
    media = doc.project.media[0]
    found = [PendingResult("text:car", None, float(CARS.scores[i]), tuple(CARS.boxes[i].tolist()),
                           rle.encode(CARS.masks[i]), "sam3-test") for i in range(3)]
    record = LabellingRecord.of(doc.project).with_image(media.id, {}, found)
    from samdesk.document import SetSetting

    doc.execute(SetSetting("labelling", record))
    doc.history.clear()
    assert review.show_stored()
    proposal = controller.pending_instances
    assert proposal.stored and proposal.counts() == [("car", 3, 0)]
    controller.add_point(70, 10, False)  # rejects the third
    controller.add_point(10, 10, True)
    review.accept_selected()
    left = LabellingRecord.of(doc.project).pending(media.id)
    assert [r.box for r in left] == [found[1].box]  # the rejected one is settled too
    assert doc.project.objects[0].category_id == doc.project.category_by_name("car").id
    review.accept_all()
    assert LabellingRecord.of(doc.project).pending(media.id) == [] and len(doc.project.objects) == 2
    doc.undo()
    doc.undo()
    assert len(LabellingRecord.of(doc.project).pending(media.id)) == 3 and doc.project.objects == []


def test_crop_iou_matches_full_masks() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        a, b = rng.random((2, 30, 40)) < 0.5
        a[:5], b[:, :7] = False, False
        full = (a & b).sum() / (a | b).sum()

        def crop(mask):
            ys, xs = np.nonzero(mask)
            return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1], (int(xs.min()), int(ys.min()))

        assert crop_iou(crop(a), crop(b)) == pytest.approx(full)
