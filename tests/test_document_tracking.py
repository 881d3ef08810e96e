"""Where tracked frames land in the document (Qt-free): the user's masks are keyframes and are
never overwritten, tracked frames are "propagated" and replaced by the next run, and a whole
run, delivered frame by frame, is one undo step."""

from __future__ import annotations

import copy

import numpy as np

from samdesk.document import Document, RemoveCategory, RemoveObject, SetFrame, masks
from samdesk.document.model import (
    AnnotationObject,
    Category,
    FrameAnnotation,
    MediaItem,
    MediaKind,
    Project,
    Provenance,
    TrackedFrom,
    TrackerAbsence,
)
from samdesk.document.tracking import TrackingRun, keyframes

H, W = 12, 16


def box(x0: int, x1: int) -> masks.Rle:
    mask = np.zeros((H, W), bool)
    mask[2:8, x0:x1] = True
    return masks.encode(mask)


EMPTY = masks.encode(np.zeros((H, W), bool))


# The objects the runs below were started from: 3 has since been locked, 4 is on another video,
# 99 has since been deleted.
STARTED_FROM = frozenset({1, 2, 3, 4, 99})


def run(**kwargs) -> TrackingRun:
    return TrackingRun(1, STARTED_FROM, model_id="m", **kwargs)


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
        next_ids={"category": 2, "media": 3, "object": 5},
        categories=[Category(1, "bird", (0, 0, 255))],
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
    doc.execute(run().frame_command(doc.project, 3, tracked))
    obj1, obj2, obj3, obj4 = doc.project.objects
    assert obj1.frames[3].rle == box(1, 5) and obj1.frames[3].provenance is Provenance.PROPAGATED
    assert obj1.frames[3].model_id == "m"
    assert obj2.frames[3].rle == box(9, 13)
    assert 3 not in obj3.frames  # locked
    assert 3 not in obj4.frames  # another video's object
    assert len(doc.project.objects) == 4  # 99, deleted since the run started, stays deleted
    # The user's own masks on a frame win over the tracker's.
    assert run().frame_command(doc.project, 0, {1: box(5, 9)}) is None
    assert run().frame_command(doc.project, 2, {2: box(0, 1)}) is None


def test_an_object_gone_from_a_frame_loses_only_its_propagated_mask_there():
    doc = video_document()
    doc.execute(run().frame_command(doc.project, 3, {1: EMPTY}))
    assert 3 not in doc.project.objects[0].frames
    doc.undo()
    assert doc.project.objects[0].frames[3].rle == box(2, 6)


def test_where_the_tracker_finds_the_object_gone_the_absence_is_recorded_until_it_is_found_again():
    doc = video_document()
    obj = doc.project.objects[0]
    one_run = run(keyframes=keyframes(doc.project, 1), start_frame=0)
    doc.execute(one_run.frame_command(doc.project, 3, {1: box(1, 5)}, {1: -2.5}))  # score <= 0
    doc.execute(one_run.frame_command(doc.project, 7, {1: EMPTY}, {1: -8.0}))
    assert 3 not in obj.frames and 7 not in obj.frames
    assert obj.absent[3] == TrackerAbsence(-2.5, TrackedFrom(0, masks.digest(box(0, 4))), "m")
    assert obj.absent[7].object_score == -8.0 and obj.absent[7].tracked_from.frame == 5
    # The same verdict again changes nothing; a user's mask is never marked absent.
    assert one_run.frame_command(doc.project, 7, {1: EMPTY}, {1: -8.0}) is None
    assert one_run.frame_command(doc.project, 5, {1: EMPTY}, {1: -8.0}) is None
    # A later run that finds it there again replaces the absence with the mask.
    doc.execute(run().frame_command(doc.project, 7, {1: box(3, 7)}, {1: 4.0}))
    assert 7 not in obj.absent and obj.frames[7].object_score == 4.0
    doc.undo()
    assert obj.absent[7].object_score == -8.0 and 7 not in obj.frames
    doc.undo()
    assert obj.absent == {} and obj.frames[3].rle == box(2, 6)


def test_each_tracked_frame_names_the_keyframe_it_was_carried_from():
    doc = video_document()
    obj = doc.project.objects[0]  # keyframes on 0 and 5
    given = keyframes(doc.project, 1)
    forward = run(keyframes=given, start_frame=2)
    for frame in (2, 4, 6, 9):
        doc.execute(forward.frame_command(doc.project, frame, {1: box(1, 5)}, {1: 3.0}))
    digests = {0: masks.digest(box(0, 4)), 5: masks.digest(box(4, 8))}
    assert {f: obj.frames[f].tracked_from for f in (2, 4, 6, 9)} == {
        2: TrackedFrom(0, digests[0]), 4: TrackedFrom(0, digests[0]),
        6: TrackedFrom(5, digests[5]), 9: TrackedFrom(5, digests[5]),
    }
    backward = run(keyframes=given, start_frame=9)  # frames below the start came from above
    for frame in (4, 1):
        doc.execute(backward.frame_command(doc.project, frame, {1: box(1, 5)}, {1: 3.0}))
    assert obj.frames[4].tracked_from.frame == 5 and obj.frames[1].tracked_from.frame == 5
    assert obj.frames[4].object_score == 3.0 and obj.frames[4].provenance is Provenance.PROPAGATED


def test_a_run_delivered_frame_by_frame_is_one_undo_step():
    doc = video_document()
    before = {f: a.rle for f, a in doc.project.objects[0].frames.items()}
    one_run = run()
    for frame in (1, 2, 3, 4):
        doc.execute(one_run.frame_command(doc.project, frame, {1: box(frame, frame + 4)}))
    assert sorted(doc.project.objects[0].frames) == [0, 1, 2, 3, 4, 5]
    assert doc.history.undo_text == "track objects"
    assert doc.undo()
    assert {f: a.rle for f, a in doc.project.objects[0].frames.items()} == before
    assert not doc.history.can_undo
    assert doc.redo()
    assert sorted(doc.project.objects[0].frames) == [0, 1, 2, 3, 4, 5]


def test_other_edits_and_other_runs_are_steps_of_their_own():
    doc = video_document()
    run_a, run_b = run(), run()
    doc.execute(run_a.frame_command(doc.project, 1, {1: box(1, 5)}))
    doc.execute(SetFrame(2, 6, FrameAnnotation(box(0, 3), Provenance.MANUAL)))
    doc.execute(run_a.frame_command(doc.project, 2, {1: box(2, 6)}))
    doc.execute(run_b.frame_command(doc.project, 7, {1: box(3, 7)}))
    steps = 0
    while doc.undo():
        steps += 1
    assert steps == 4


def test_saving_mid_run_then_receiving_more_frames_leaves_the_document_dirty():
    doc = video_document()
    run_a = run()
    doc.execute(run_a.frame_command(doc.project, 1, {1: box(1, 5)}))
    doc.mark_saved("/tmp/p.samdesk.json")
    assert not doc.dirty
    doc.execute(run_a.frame_command(doc.project, 2, {1: box(2, 6)}))
    assert doc.dirty


def test_after_an_undo_a_late_frame_starts_a_new_step_instead_of_reviving_the_undone_one():
    doc = video_document()
    run_a = run()
    doc.execute(run_a.frame_command(doc.project, 1, {1: box(1, 5)}))
    doc.undo()
    doc.execute(run_a.frame_command(doc.project, 2, {1: box(2, 6)}))
    assert 1 not in doc.project.objects[0].frames and 2 in doc.project.objects[0].frames
    assert doc.undo() and not doc.history.can_undo


def test_objects_the_tracker_creates_mid_run_become_document_objects_in_the_runs_undo_step():
    """Issue 14, bug 2: a tracked id the run did not start from is an object the tracker found
    (SAM 3 concept tracking does this); it was skipped, so the object vanished."""
    doc = video_document()
    before = copy.deepcopy(doc.project.objects)
    concept = TrackingRun(1, frozenset({1}), model_id="m", category_id=1, name="bird")
    doc.execute(concept.frame_command(doc.project, 3, {1: box(1, 5), 77: EMPTY}))
    assert len(doc.project.objects) == 4  # an object starts on its first non-empty frame
    # 2 was not among the run's objects either: the tracker's 2 is a new object, not this one.
    doc.execute(concept.frame_command(doc.project, 4, {1: box(2, 6), 77: box(9, 13), 2: box(0, 3)}))
    doc.execute(concept.frame_command(doc.project, 5, {77: box(10, 14)}))
    created = doc.project.objects[4:]
    assert [(o.media_id, o.category_id, o.name) for o in created] == [(1, 1, "bird")] * 2
    bird, other = created
    assert bird.id == 5 and other.id == 6  # ids from the project's counter, never the tracker's
    assert {f: a.rle for f, a in bird.frames.items()} == {4: box(9, 13), 5: box(10, 14)}
    assert all(a.provenance is Provenance.PROPAGATED and a.model_id == "m" for a in bird.frames.values())
    assert other.frames[4].rle == box(0, 3) and doc.project.object(2).frames[4].rle == EMPTY
    # One undo step takes back the run with the objects it created; redo brings them back
    # with their ids, and later frames of the run still land on them.
    assert doc.history.undo_text == "track objects"
    assert doc.undo() and not doc.history.can_undo
    assert doc.project.objects == before
    assert doc.redo() and [o.id for o in doc.project.objects[4:]] == [5, 6]
    doc.execute(concept.frame_command(doc.project, 6, {77: box(11, 15)}))
    assert sorted(doc.project.object(5).frames) == [4, 5, 6] and len(doc.project.objects) == 6


def test_a_created_object_the_user_deletes_mid_run_is_not_revived():
    doc = video_document()
    concept = run()
    doc.execute(concept.frame_command(doc.project, 3, {77: box(9, 13)}))
    created = doc.project.objects[-1].id
    doc.execute(RemoveObject(created))
    assert concept.frame_command(doc.project, 4, {77: box(9, 13)}) is None
    assert created not in {o.id for o in doc.project.objects}


def test_a_removed_category_is_not_given_to_created_objects():
    doc = video_document()
    doc.execute(RemoveCategory(1))
    doc.execute(run(category_id=1).frame_command(doc.project, 3, {77: box(9, 13)}))
    assert doc.project.objects[-1].category_id is None


def test_two_tracks_of_one_thing_merge_into_one_track_without_gaps():
    """A phrase run may give one thing two ids (lost as 5, found again as 6): merging them keeps
    each frame's mask and drops the absences the other track covers, in one undo step."""
    from samdesk.document import merge_objects

    doc = video_document()
    concept = TrackingRun(1, frozenset(), model_id="m", category_id=1, name="bird")
    doc.execute(concept.frame_command(doc.project, 0, {70: box(0, 4), 71: EMPTY}))
    doc.execute(concept.frame_command(doc.project, 1, {70: EMPTY, 71: box(1, 5)}))
    doc.execute(concept.frame_command(doc.project, 2, {70: EMPTY, 71: EMPTY}))
    first, second = (concept.created_objects[i] for i in (70, 71))
    assert sorted(first.absent) == [1, 2] and sorted(second.absent) == [2]
    before = copy.deepcopy(doc.project.objects)
    doc.execute(merge_objects(doc.project, [first.id, second.id]))
    merged = doc.project.object(first.id)
    assert {f: a.rle for f, a in merged.frames.items()} == {0: box(0, 4), 1: box(1, 5)}
    assert sorted(merged.absent) == [2]  # gone on frame 2 in both tracks: still absent
    assert second.id not in {o.id for o in doc.project.objects}
    assert doc.undo() and doc.project.objects == before


def test_a_run_makes_its_category_with_its_first_change_and_removes_objects_left_empty():
    """A phrase run's category lands with its first object (nothing found: no category), and an
    object whose every frame the tracker took back again is removed when the run ends."""
    from samdesk.document import AddCategory

    doc = video_document()
    add = AddCategory("cat", (1, 2, 3), category_id=doc.project.allocate_id("category"))
    concept = TrackingRun(1, frozenset(), model_id="m", category_id=add.category_id, name="cat",
                          first_commands=[add])
    assert concept.frame_command(doc.project, 0, {70: EMPTY}) is None
    assert doc.project.category_by_name("cat") is None
    doc.execute(concept.frame_command(doc.project, 0, {70: box(0, 4), 71: box(8, 12)}))
    assert doc.project.category_by_name("cat").id == add.category_id
    doc.execute(concept.frame_command(doc.project, 0, {70: box(0, 5), 71: EMPTY}))
    doc.execute(concept.end_command(doc.project))
    created = concept.created_objects
    assert [o.id for o in doc.project.objects if o.category_id == add.category_id] == [created[70].id]
    assert concept.end_command(doc.project) is None
    assert doc.history.steps() == ["track objects"]
    assert doc.undo() and doc.project.category_by_name("cat") is None
    assert not any(o.category_id == add.category_id for o in doc.project.objects)
