"""The annotation session without widgets: prompts, candidates, refinement, accept, edits, undo."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from model_runtime.api import Prompts
from samdesk.document import (
    AddCategory,
    AddMedia,
    AddObject,
    AnnotationObject,
    Document,
    FrameAnnotation,
    MediaItem,
    MediaKind,
    MediaStatus,
    Provenance,
)
from samdesk.document import masks as rle
from samdesk.document.tracking import keyframes
from samdesk.session import AnnotationController, mask_ops
from tests.ui_doubles import RecordingService, disc_masks

W, H = 200, 150


@pytest.fixture
def session() -> tuple[AnnotationController, RecordingService, Document]:
    doc = Document()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        doc.execute(AddMedia(MediaItem(0, MediaKind.IMAGE, f"/data/{name}", W, H)))
    cmd = AddCategory("dog", (255, 0, 0))
    doc.execute(cmd)
    service = RecordingService()
    controller = AnnotationController(doc, service)
    controller.set_media(doc.project.media[0].id)
    return controller, service, doc


def answer(controller: AnnotationController, service: RecordingService, index: int = -1) -> None:
    request_id, request = service.requests[index]
    controller.prediction_ready(request_id, *disc_masks(request))


def test_opening_an_image_prefetches_it_and_its_neighbours(session) -> None:
    controller, service, doc = session
    controller.set_media(doc.project.media[1].id)
    ids = [m.id for m in doc.project.media]
    assert service.prefetched[-1] == [ids[1], ids[2], ids[0]]


def test_first_click_asks_for_three_candidates_best_first_and_tab_cycles(session) -> None:
    controller, service, _ = session
    controller.add_point(100, 75, positive=True)
    _, request = service.requests[0]
    assert request.multimask and request.prompts.mask_input is None
    assert request.prompts.points == ((100, 75),) and request.prompts.labels == (1,)
    assert controller.waiting
    answer(controller, service)
    assert not controller.waiting
    cands = controller.pending.candidates
    assert cands.scores.tolist() == pytest.approx([0.9, 0.8, 0.7])  # sorted best first
    assert controller.pending.mask().sum() == disc_masks(request)[0][1].sum()  # the medium disc
    controller.cycle_candidate()
    assert controller.pending.candidates.selected == 1
    controller.select_candidate(2)
    assert controller.pending.mask().sum() == disc_masks(request)[0][0].sum()  # smallest disc


def test_refinement_click_sends_previous_logits_and_single_mask(session) -> None:
    controller, service, _ = session
    controller.add_point(100, 75, True)
    answer(controller, service)
    controller.select_candidate(1)  # score 0.8 -> original index 2 -> logits filled with 2.0
    controller.add_point(130, 75, False)
    _, request = service.requests[1]
    assert not request.multimask
    mask_input = request.prompts.mask_input
    assert mask_input.shape == (1, 256, 256) and float(mask_input[0, 0, 0]) == 2.0
    assert request.prompts.labels == (1, 0)


def test_box_and_clicks_combine(session) -> None:
    controller, service, _ = session
    controller.set_box(80, 100, 10, 20)
    controller.add_point(50, 50, True)
    _, request = service.requests[-1]
    assert request.prompts.box == (10, 20, 80, 100)
    assert request.prompts.points == ((50, 50),)


def test_stale_answers_are_dropped(session) -> None:
    controller, service, _ = session
    controller.add_point(20, 20, True)
    controller.add_point(150, 100, True)
    answer(controller, service, 0)  # the answer to the first click arrives late
    assert controller.pending.candidates is None and controller.waiting
    answer(controller, service, 1)
    assert controller.pending.mask()[100, 150]


def test_accept_creates_an_undoable_object_with_category_and_provenance(session) -> None:
    controller, service, doc = session
    media = controller.media
    controller.add_point(100, 75, True)
    answer(controller, service)
    object_id = controller.accept(category_id=1)
    obj = doc.project.object(object_id)
    frame = obj.frames[0]
    assert obj.category_id == 1 and frame.provenance == Provenance.MODEL
    assert frame.model_id == "double-disc" and frame.score == pytest.approx(0.9)
    assert frame.prompts.points == ((100.0, 75.0),)
    assert rle.decode(frame.rle)[75, 100]
    assert media.status == MediaStatus.IN_PROGRESS
    assert controller.pending is None and controller.selected_object == object_id
    assert controller.current_category == 1
    controller.undo()
    assert doc.project.objects == [] and media.status == MediaStatus.NEW
    controller.redo()
    assert doc.project.object(object_id).category_id == 1


def test_escape_discards_without_touching_the_document(session) -> None:
    controller, service, doc = session
    revision = doc.revision
    controller.add_point(100, 75, True)
    answer(controller, service)
    controller.discard()
    assert controller.pending is None and doc.revision == revision


def test_undo_takes_back_prompts_before_document_commands(session) -> None:
    controller, service, doc = session
    controller.add_point(100, 75, True)
    answer(controller, service)
    controller.add_point(110, 75, False)
    answer(controller, service)
    controller.undo()
    assert controller.pending.prompts.labels == (1,)
    assert controller.pending.candidates is not None  # the first answer comes back with it
    controller.redo()
    assert controller.pending.prompts.labels == (1, 0)
    controller.undo()
    controller.undo()
    assert controller.pending is None
    assert len(doc.project.categories) == 1  # nothing of the document was undone yet


def test_brush_on_selected_object_is_one_undo_step(session) -> None:
    controller, service, doc = session
    controller.add_point(100, 75, True)
    answer(controller, service)
    object_id = controller.accept(1)
    before = controller.object_mask(object_id).copy()
    assert controller.begin_stroke()
    controller.stroke_to((10, 10), (10, 10), 5, erase=False)
    controller.stroke_to((10, 10), (40, 10), 5, erase=False)
    assert controller.stroke_preview()[10, 25]
    controller.end_stroke(erase=False)
    after = controller.object_mask(object_id)
    assert after[10, 25] and not before[10, 25]
    assert doc.project.object(object_id).frames[0].provenance == Provenance.EDITED
    controller.undo()
    assert np.array_equal(controller.object_mask(object_id), before)


def test_eraser_on_pending_mask_marks_it_edited(session) -> None:
    controller, service, doc = session
    controller.add_point(100, 75, True)
    answer(controller, service)
    controller.begin_stroke()
    controller.stroke_to((100, 75), (100, 75), 8, erase=True)
    controller.end_stroke(erase=True)
    assert not controller.pending.mask()[75, 100]
    object_id = controller.accept(1)
    assert doc.project.object(object_id).frames[0].provenance == Provenance.EDITED


def test_brush_with_nothing_selected_starts_a_manual_object(session) -> None:
    controller, _, doc = session
    controller.begin_stroke()
    controller.stroke_to((50, 50), (60, 50), 4, erase=False)
    controller.end_stroke(erase=False)
    assert controller.pending.manual
    object_id = controller.accept(1)
    assert doc.project.object(object_id).frames[0].provenance == Provenance.MANUAL


def test_polygon_makes_a_manual_object_or_cuts_the_selected_one(session) -> None:
    controller, _, doc = session
    controller.add_polygon([(10, 10), (110, 10), (110, 110), (10, 110)], subtract=False)
    object_id = controller.accept(1)
    mask = controller.object_mask(object_id)
    assert mask[50, 50] and not mask[120, 120]
    controller.add_polygon([(40, 40), (60, 40), (60, 60), (40, 60)], subtract=True)
    assert not controller.object_mask(object_id)[50, 50]
    controller.cleanup_selected(fill=True)
    assert controller.object_mask(object_id)[50, 50]
    controller.undo()
    assert not controller.object_mask(object_id)[50, 50]


def test_merge_objects_unions_masks_in_one_step(session) -> None:
    controller, _, doc = session
    controller.add_polygon([(0, 0), (20, 0), (20, 20), (0, 20)], False)
    a = controller.accept(1)
    controller.select_object(None)
    controller.add_polygon([(50, 50), (70, 50), (70, 70), (50, 70)], False)
    b = controller.accept(1)
    merged = controller.merge_objects([a, b])
    assert merged == a and [o.id for o in doc.project.objects] == [a]
    mask = controller.object_mask(a)
    assert mask[10, 10] and mask[60, 60]
    controller.undo()
    assert [o.id for o in doc.project.objects] == [a, b]


def _square(x: int, y: int, size: int = 10) -> dict:
    mask = np.zeros((H, W), bool)
    mask[y : y + size, x : x + size] = True
    return rle.encode(mask)


def test_merging_keeps_each_frames_provenance_so_tracking_keyframes_do_not_change() -> None:
    """Issue 14, bug 1: a frame only one of the merged objects had keeps its annotation as it
    was; only frames both had become a union (a keyframe if either mask was the user's)."""
    doc = Document()
    doc.execute(AddMedia(MediaItem(0, MediaKind.VIDEO, "/data/clip.mp4", W, H, frame_count=8)))
    video = doc.project.media[0].id
    clicked = Prompts(points=[(5, 5)], labels=[1])
    kept = {
        0: FrameAnnotation(_square(0, 0), Provenance.MODEL, 0.9, clicked, "m"),
        2: FrameAnnotation(_square(0, 40), Provenance.PROPAGATED, model_id="m"),
    }
    other = {
        0: FrameAnnotation(_square(50, 0), Provenance.MANUAL),
        2: FrameAnnotation(_square(50, 40), Provenance.PROPAGATED, model_id="m"),
        3: FrameAnnotation(_square(50, 50), Provenance.MODEL, 0.8, Prompts(box=(50, 50, 60, 60)), "m"),
        4: FrameAnnotation(_square(60, 50), Provenance.PROPAGATED, model_id="m"),
    }
    doc.execute(AddObject(AnnotationObject(0, video, 1, copy.deepcopy(kept))))
    doc.execute(AddObject(AnnotationObject(0, video, 1, copy.deepcopy(other))))
    a, b = (o.id for o in doc.project.objects)
    controller = AnnotationController(doc, RecordingService())
    controller.set_media(video)
    before = copy.deepcopy(doc.project.objects)

    assert controller.merge_objects([b, a]) == a  # the first in drawing order is kept
    frames = doc.project.object(a).frames
    assert [o.id for o in doc.project.objects] == [a]
    assert frames[3] == other[3] and frames[4] == other[4]  # only b had them: as they were
    assert frames[0].provenance is Provenance.EDITED and frames[0].score is None
    assert frames[0].prompts == clicked  # the kept object's prompts describe its part
    assert frames[2].provenance is Provenance.PROPAGATED and frames[2].model_id == "m"
    for frame in (0, 2):
        union = rle.decode(kept[frame].rle) | rle.decode(other[frame].rle)
        assert np.array_equal(rle.decode(frames[frame].rle), union)
    # What the next tracking run starts from: the user's masks only, never the tracker's.
    assert [(k.object_id, k.frame) for k in keyframes(doc.project, video)] == [(a, 0), (a, 3)]
    controller.undo()
    assert doc.project.objects == before


def test_refine_selected_reopens_it_and_accept_updates_in_place(session) -> None:
    controller, service, doc = session
    controller.add_point(100, 75, True)
    answer(controller, service)
    object_id = controller.accept(1)
    controller.refine_selected()
    controller.add_point(160, 75, True)
    _, request = service.requests[-1]
    assert request.prompts.points == ((100, 75), (160, 75))
    assert request.prompts.mask_input is not None  # logits kept from the accepted answer
    answer(controller, service)
    assert controller.accept() == object_id
    assert len(doc.project.objects) == 1
    assert controller.object_mask(object_id)[75, 160]


def test_switching_image_discards_the_pending_object(session) -> None:
    controller, service, doc = session
    controller.add_point(100, 75, True)
    controller.set_media(controller.neighbour_id(+1))
    assert controller.pending is None
    answer(controller, service, 0)  # an answer for the old image arrives: ignored
    assert controller.pending is None


def test_no_model_reports_a_readable_error() -> None:
    doc = Document()
    from samdesk.document import AddMedia

    doc.execute(AddMedia(MediaItem(0, MediaKind.IMAGE, "/x.jpg", 10, 10)))
    controller = AnnotationController(doc, None)
    controller.set_media(doc.project.media[0].id)
    controller.add_point(1, 1, True)
    assert controller.error and "Model menu" in controller.error


def test_mask_ops_fill_holes_and_islands() -> None:
    mask = np.zeros((30, 30), bool)
    mask[5:25, 5:25] = True
    mask[10:15, 10:15] = False  # a hole
    mask[0, 0] = True  # an island of 1 px touching the border
    filled = mask_ops.fill_holes(mask)
    assert filled[12, 12] and filled[0, 0] and not filled[2, 2]
    cleaned = mask_ops.remove_small_islands(mask, 4)
    assert not cleaned[0, 0] and cleaned[6, 6]
    assert mask_ops.bounding_box(np.zeros((3, 3), bool)) is None
    assert mask_ops.bounding_box(mask) == (0, 0, 25, 25)


def test_superseded_requests_leave_nothing_behind(session) -> None:
    """Issue 14, bug 4: the runtime drops answers to superseded clicks, so the session must not
    keep anything per request until an answer comes (it kept a start time per click for ever)."""
    controller, service, _ = session
    for i in range(20):
        controller.add_point(10 + i, 20, positive=True)
    assert controller.requests_in_flight == {service.requests[-1][0]}
    answer(controller, service)
    assert controller.requests_in_flight == set() and controller.last_click_ms is not None
    controller.add_point(50, 50, True)
    controller.add_point(60, 60, False)
    controller.prediction_failed(service.requests[-1][0], "model error")
    assert controller.requests_in_flight == set() and not controller.waiting
    controller.add_point(70, 70, True)
    controller.discard()  # nothing waits for an answer once the pending object is gone
    assert controller.requests_in_flight == set()
