"""The timeline's lanes and the review queue, without Qt: what each frame of an object's lane
shows (keyframe, tracked, absent, stale) and which frames the review queue sends the user to."""

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
from samdesk.document.tracking import TrackingRun, keyframes
from samdesk.session.lanes import Mark, binned, object_marks, runs, stale_frames
from samdesk.session.review_queue import ReviewScorer, next_suspect

H, W = 40, 60


def square(x: int, y: int = 10, size: int = 12) -> masks.Rle:
    mask = np.zeros((H, W), bool)
    mask[y : y + size, x : x + size] = True
    return masks.encode(mask)


EMPTY = masks.encode(np.zeros((H, W), bool))


def tracked_video(frame_count: int = 30) -> tuple[Document, AnnotationObject]:
    """One object keyframed on frame 0, tracked by a run through frame 20: a square moving right
    one pixel a frame, found gone on frames 21-23."""
    obj = AnnotationObject(1, 1, frames={0: FrameAnnotation(square(0), Provenance.MODEL)})
    project = Project(media=[MediaItem(1, MediaKind.VIDEO, "/v.mp4", W, H, frame_count=frame_count)],
                      objects=[obj])
    doc = Document(project)
    run = TrackingRun(1, frozenset({1}), model_id="m", keyframes=keyframes(project, 1), start_frame=0)
    for frame in range(1, 21):
        doc.execute(run.frame_command(project, frame, {1: square(frame)}, {1: 8.0}))
    for frame in (21, 22, 23):
        doc.execute(run.frame_command(project, frame, {1: EMPTY}, {1: -6.0}))
    return doc, obj


def test_a_lane_shows_keyframes_tracked_and_absent_frames():
    _, obj = tracked_video()
    marks = object_marks(obj, 30)
    expected = [(0, 1, Mark.KEYFRAME), (1, 21, Mark.TRACKED), (21, 24, Mark.ABSENT), (24, 30, Mark.NONE)]
    assert runs(marks) == expected
    assert stale_frames(obj) == []


def test_a_correction_makes_the_frames_after_it_stale_until_tracked_again():
    doc, obj = tracked_video()
    # The user corrects frame 10: frames 11-23, carried from frame 0 across it, are now stale;
    # frames 1-9 still came straight from frame 0.
    doc.execute(SetFrame(1, 10, FrameAnnotation(square(12), Provenance.EDITED)))
    assert stale_frames(obj) == list(range(11, 24))
    marks = object_marks(obj, 30)
    assert runs(marks) == [
        (0, 1, Mark.KEYFRAME), (1, 10, Mark.TRACKED), (10, 11, Mark.KEYFRAME),
        (11, 21, Mark.STALE_TRACKED), (21, 24, Mark.STALE_ABSENT), (24, 30, Mark.NONE),
    ]
    # Tracking from the correction replaces frames 11-15: those are fresh again.
    run = TrackingRun(1, frozenset({1}), keyframes=keyframes(doc.project, 1), start_frame=10)
    for frame in range(11, 16):
        doc.execute(run.frame_command(doc.project, frame, {1: square(frame + 2)}, {1: 8.0}))
    assert stale_frames(obj) == list(range(16, 24))
    # Changing the keyframe a frame came from makes it stale too; undoing that change, fresh.
    doc.execute(SetFrame(1, 0, FrameAnnotation(square(1), Provenance.EDITED)))
    assert stale_frames(obj) == list(range(1, 10)) + list(range(16, 24))
    doc.undo()
    assert stale_frames(obj) == list(range(16, 24))


def test_zoomed_out_every_keyframe_stays_visible():
    marks = np.full(10_000, Mark.TRACKED, np.uint8)
    marks[4_321] = Mark.KEYFRAME
    marks[9_000:9_500] = Mark.ABSENT
    columns = binned(marks, 0, 10_000 / 800, 800)
    assert columns.shape == (800,)
    assert np.flatnonzero(columns == Mark.KEYFRAME).tolist() == [int(4_321 / 12.5)]
    assert (columns[720:760] == Mark.ABSENT).all() and columns[0] == Mark.TRACKED
    # Zoomed in, a frame spans several columns; past the last frame there is nothing.
    near = binned(marks, 4_320, 0.25, 12)
    assert near.tolist() == [Mark.TRACKED] * 4 + [Mark.KEYFRAME] * 4 + [Mark.TRACKED] * 4
    assert binned(marks, 9_998, 1, 4).tolist() == [Mark.TRACKED, Mark.TRACKED, Mark.NONE, Mark.NONE]


def test_the_review_queue_sends_the_user_to_the_bad_frames_first():
    doc, obj = tracked_video()
    run = TrackingRun(1, frozenset({1}), keyframes=keyframes(doc.project, 1), start_frame=0)
    # Known bad frames: on 7 the mask jumps away and back (a flicker), on 14 it is half the
    # size, on 17 the tracker is unsure; the others move smoothly.
    doc.execute(run.frame_command(doc.project, 7, {1: square(40)}, {1: 8.0}))
    doc.execute(run.frame_command(doc.project, 14, {1: square(14, size=8)}, {1: 8.0}))
    doc.execute(run.frame_command(doc.project, 17, {1: square(17)}, {1: 0.2}))
    ranked = ReviewScorer().suspects([obj])
    order = [s.frame for s in ranked]
    # The bad frames, the worst first; not their good neighbours, nor anything smooth.
    assert order == [7, 17, 14, 21], [(s.frame, round(s.suspicion, 2), s.reason) for s in ranked]
    reasons = {s.frame: s.reason for s in ranked}
    assert "flicker" in reasons[7] and "unsure" in reasons[17] and "lost" in reasons[21]
    assert reasons[14].startswith("area ×0.45")
    assert ranked[0].object_id == 1 and 0 < ranked[-1].suspicion <= ranked[0].suspicion <= 1
    # Reviewed or already visited frames are skipped.
    first = next_suspect(ranked, reviewed=set(), visited=set())
    assert first is not None and first.frame == 7
    second = next_suspect(ranked, reviewed={7}, visited={order[1]})
    assert second is not None and second.frame == order[2]
    assert next_suspect(ranked, reviewed=set(order), visited=set()) is None


def test_the_most_suspicious_object_names_a_frame():
    doc, obj = tracked_video()
    other = AnnotationObject(2, 1, frames={0: FrameAnnotation(square(30, y=20), Provenance.MODEL)})
    doc.project.objects.append(other)
    run = TrackingRun(1, frozenset({2}), keyframes=keyframes(doc.project, 1), start_frame=0)
    for frame in range(1, 6):
        score = 0.1 if frame == 3 else 9.0
        doc.execute(run.frame_command(doc.project, frame, {2: square(30, y=20)}, {2: score}))
    ranked = ReviewScorer().suspects([obj, other])
    assert [(s.frame, s.object_id) for s in ranked if s.frame == 3] == [(3, 2)]
