"""Where tracked frames land in the document (Qt-free): the user's masks are keyframes and are
never overwritten, tracked frames are "propagated" and replaced by the next run, and a whole
run, delivered frame by frame, is one undo step."""

from __future__ import annotations

import numpy as np

from samdesk.document import Document, SetFrame, masks
from samdesk.document.model import (
    AnnotationObject,
    FrameAnnotation,
    MediaItem,
    MediaKind,
    Project,
    Provenance,
)
from samdesk.document.tracking import keyframes, tracked_frame_command

H, W = 12, 16


def box(x0: int, x1: int) -> masks.Rle:
    mask = np.zeros((H, W), bool)
    mask[2:8, x0:x1] = True
    return masks.encode(mask)


EMPTY = masks.encode(np.zeros((H, W), bool))


def video_document() -> Document:
    project = Project(
        media=[
            MediaItem(1, MediaKind.VIDEO, "/v/clip.mp4", W, H, frame_count=10),
            MediaItem(2, MediaKind.VIDEO, "/v/other.mp4", W, H, frame_count=10),
        ],
        objects=[
            AnnotationObject(1, 1, frames={
                0: FrameAnnotation(box(0, 4), Provenance.MODEL),
                3: FrameAnnotation(box(2, 6), Provenance.PROPAGATED),
                5: FrameAnnotation(box(4, 8), Provenance.EDITED),
            }),
            AnnotationObject(2, 1, frames={2: FrameAnnotation(box(8, 12), Provenance.MANUAL),
                                           4: FrameAnnotation(EMPTY, Provenance.MANUAL)}),
            AnnotationObject(3, 1, frames={0: FrameAnnotation(box(0, 2), Provenance.MANUAL)}, locked=True),
            AnnotationObject(4, 2, frames={0: FrameAnnotation(box(0, 2), Provenance.MANUAL)}),
        ],
    )
    return Document(project)


def test_keyframes_are_the_users_own_non_empty_masks_on_unlocked_objects_of_the_video():
    doc = video_document()
    found = [(k.object_id, k.frame) for k in keyframes(doc.project, 1)]
    assert found == [(1, 0), (1, 5), (2, 2)]
    assert keyframes(doc.project, 1)[0].rle == box(0, 4)


def test_a_tracked_frame_fills_gaps_replaces_propagated_masks_and_keeps_the_users():
    doc = video_document()
    tracked = {1: box(1, 5), 2: box(9, 13), 3: box(0, 16), 4: box(0, 16), 99: box(0, 3)}
    doc.execute(tracked_frame_command(doc.project, 1, 3, tracked, model_id="m"))
    obj1, obj2, obj3, obj4 = doc.project.objects
    assert obj1.frames[3].rle == box(1, 5) and obj1.frames[3].provenance is Provenance.PROPAGATED
    assert obj1.frames[3].model_id == "m"
    assert obj2.frames[3].rle == box(9, 13)
    assert 3 not in obj3.frames  # locked
    assert 3 not in obj4.frames  # another video's object
    # The user's own masks on a frame win over the tracker's.
    assert tracked_frame_command(doc.project, 1, 0, {1: box(5, 9)}, model_id="m") is None
    assert tracked_frame_command(doc.project, 1, 2, {2: box(0, 1)}, model_id="m") is None


def test_an_object_gone_from_a_frame_loses_only_its_propagated_mask_there():
    doc = video_document()
    command = tracked_frame_command(doc.project, 1, 3, {1: EMPTY}, model_id="m")
    doc.execute(command)
    assert 3 not in doc.project.objects[0].frames
    assert tracked_frame_command(doc.project, 1, 7, {1: EMPTY}, model_id="m") is None
    doc.undo()
    assert doc.project.objects[0].frames[3].rle == box(2, 6)


def test_a_run_delivered_frame_by_frame_is_one_undo_step():
    doc = video_document()
    before = {f: a.rle for f, a in doc.project.objects[0].frames.items()}
    for frame in (1, 2, 3, 4):
        doc.execute(tracked_frame_command(doc.project, 1, frame, {1: box(frame, frame + 4)},
                                          model_id="m", merge_key=("track", 7)))
    assert sorted(doc.project.objects[0].frames) == [0, 1, 2, 3, 4, 5]
    assert doc.history.undo_text == "track objects"
    assert doc.undo()
    assert {f: a.rle for f, a in doc.project.objects[0].frames.items()} == before
    assert not doc.history.can_undo
    assert doc.redo()
    assert sorted(doc.project.objects[0].frames) == [0, 1, 2, 3, 4, 5]


def test_other_edits_and_other_runs_are_steps_of_their_own():
    doc = video_document()
    doc.execute(tracked_frame_command(doc.project, 1, 1, {1: box(1, 5)}, model_id="m", merge_key="a"))
    doc.execute(SetFrame(2, 6, FrameAnnotation(box(0, 3), Provenance.MANUAL)))
    doc.execute(tracked_frame_command(doc.project, 1, 2, {1: box(2, 6)}, model_id="m", merge_key="a"))
    doc.execute(tracked_frame_command(doc.project, 1, 7, {1: box(3, 7)}, model_id="m", merge_key="b"))
    steps = 0
    while doc.undo():
        steps += 1
    assert steps == 4


def test_saving_mid_run_then_receiving_more_frames_leaves_the_document_dirty():
    doc = video_document()
    doc.execute(tracked_frame_command(doc.project, 1, 1, {1: box(1, 5)}, model_id="m", merge_key="a"))
    doc.mark_saved("/tmp/p.samdesk.json")
    assert not doc.dirty
    doc.execute(tracked_frame_command(doc.project, 1, 2, {1: box(2, 6)}, model_id="m", merge_key="a"))
    assert doc.dirty


def test_after_an_undo_a_late_frame_starts_a_new_step_instead_of_reviving_the_undone_one():
    doc = video_document()
    doc.execute(tracked_frame_command(doc.project, 1, 1, {1: box(1, 5)}, model_id="m", merge_key="a"))
    doc.undo()
    doc.execute(tracked_frame_command(doc.project, 1, 2, {1: box(2, 6)}, model_id="m", merge_key="a"))
    assert 1 not in doc.project.objects[0].frames and 2 in doc.project.objects[0].frames
    assert doc.undo() and not doc.history.can_undo
