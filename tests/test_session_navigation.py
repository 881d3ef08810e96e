"""Navigation and proposed instances in the annotation session, without a display."""

from __future__ import annotations

import numpy as np
import pytest

from model_runtime.api import Instances
from samdesk.document import AddMedia, Document, MediaItem, MediaKind, MediaStatus, Provenance
from samdesk.document import masks as rle
from samdesk.session import AnnotationController
from tests.ui_doubles import RecordingService, disc_masks

W, H = 120, 80


@pytest.fixture
def session() -> tuple[AnnotationController, RecordingService, Document]:
    doc = Document()
    doc.execute(AddMedia(MediaItem(0, MediaKind.IMAGE, "/data/a.jpg", W, H)))
    doc.execute(AddMedia(MediaItem(0, MediaKind.VIDEO, "/data/clip.mp4", W, H, frame_count=10)))
    doc.execute(AddMedia(MediaItem(0, MediaKind.IMAGE, "/data/b.jpg", W, H)))
    service = RecordingService()
    controller = AnnotationController(doc, service)
    controller.set_media(doc.project.media[0].id)
    return controller, service, doc


def two_instances() -> Instances:
    masks = np.zeros((2, H, W), bool)
    masks[0, 10:30, 10:40] = True
    masks[1, 40:70, 60:110] = True
    return Instances(masks, np.array([[10, 10, 40, 30], [60, 40, 110, 70]]), np.array([0.9, 0.6]))


def test_a_video_comes_back_at_the_frame_it_was_left_at(session) -> None:
    controller, service, doc = session
    image, video, _ = doc.project.media
    changed: list[int] = []
    controller.frame_changed.append(lambda: changed.append(controller.frame))
    controller.set_media(video.id)
    assert controller.is_video and controller.frame == 0
    assert service.prefetched_frames[-1] == (video.id, [0, 1, 2])
    assert controller.set_frame(7) and changed == [7]
    assert service.prefetched_frames[-1] == (video.id, [7, 8, 6, 9])
    assert not controller.set_frame(7) and controller.set_frame(99) and controller.frame == 9
    controller.set_media(image.id)
    assert controller.frame == 0 and not controller.is_video
    controller.set_media(video.id)
    assert controller.frame == 9


def test_next_previous_and_annotated_frames(session) -> None:
    controller, _, doc = session
    image, video, last = doc.project.media
    assert controller.neighbour_id(+1) == video.id and controller.neighbour_id(-1) is None
    assert [m.id for m in controller.display_neighbours(video.id)] == [last.id, image.id]
    controller.set_media(video.id)
    for frame in (2, 5):
        controller.set_frame(frame)
        controller.add_polygon([(0, 0), (20, 0), (20, 20)], subtract=False)
        controller.accept(None)
        controller.select_object(None)
    assert controller.annotated_frames() == {2, 5}
    navigation = controller.navigation
    assert navigation.marked_frame(+1) is None and navigation.marked_frame(-1) == 2
    controller.set_frame(0)
    assert navigation.marked_frame(+1) == 2


def test_proposed_instances_are_accepted_together_in_one_undo_step(session) -> None:
    controller, service, doc = session
    shown: list[int] = []
    controller.pending_instances_changed.append(
        lambda: shown.append(len(controller.pending_instances or ()))
    )
    controller.add_point(20, 20, True)
    controller.set_pending_instances(two_instances(), model_id="sam3-test")
    assert controller.pending is None and controller.has_pending() and shown == [2]
    answer_id, request = service.requests[-1]
    controller.prediction_ready(answer_id, *disc_masks(request))  # the dropped click's answer
    assert controller.pending is None
    first_id = controller.accept(category_id=None)
    assert [o.id for o in doc.project.objects][:1] == [first_id] and len(doc.project.objects) == 2
    assert controller.pending_instances is None and shown == [2, 0]
    first, second = doc.project.objects
    assert rle.decode(first.frames[0].rle)[20, 20] and rle.decode(second.frames[0].rle)[50, 80]
    assert first.frames[0].provenance == Provenance.MODEL and first.frames[0].model_id == "sam3-test"
    assert [o.frames[0].score for o in (first, second)] == pytest.approx([0.9, 0.6])
    assert doc.project.media[0].status == MediaStatus.IN_PROGRESS
    controller.undo()
    assert doc.project.objects == [] and doc.project.media[0].status == MediaStatus.NEW


def test_proposed_instances_go_with_escape_a_click_or_another_image(session) -> None:
    controller, _, doc = session
    controller.set_pending_instances(two_instances())
    controller.discard()
    assert controller.pending_instances is None and doc.project.objects == []
    controller.set_pending_instances(two_instances())
    controller.add_point(5, 5, True)  # prompting starts one object instead
    assert controller.pending_instances is None and controller.pending is not None
    controller.set_pending_instances(two_instances())
    controller.set_media(controller.neighbour_id(+1))
    assert controller.pending_instances is None
