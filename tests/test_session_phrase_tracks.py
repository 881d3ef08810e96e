"""Tracking a phrase, the session's side (Qt-free): the range a run covers, which document
object each tracker id became, and what a correction re-tracks."""

from __future__ import annotations

import numpy as np
import pytest

from model_runtime.api import Prompts
from samdesk.document import Document, RemoveObject, masks
from samdesk.document.model import (
    AnnotationObject,
    FrameAnnotation,
    MediaItem,
    MediaKind,
    Project,
    Provenance,
)
from samdesk.session.phrase_tracks import (
    NothingToRetrack,
    PhraseTracks,
    TrackRange,
    plan_retrack,
    range_arguments,
)

H, W = 8, 10


def rle(x0: int, x1: int) -> masks.Rle:
    mask = np.zeros((H, W), bool)
    mask[1:6, x0:x1] = True
    return masks.encode(mask)


def test_ranges_become_directions_and_frame_counts() -> None:
    assert range_arguments(TrackRange.WHOLE, 0, 10) == ("forward", None)
    assert range_arguments(TrackRange.WHOLE, 4, 10) == ("both", None)
    assert range_arguments(TrackRange.FROM_HERE, 4, 10) == ("forward", None)
    assert range_arguments(TrackRange.FRAMES, 4, 10, 3) == ("forward", 3)
    assert range_arguments(TrackRange.FRAMES, 8, 10, 30) == ("forward", 2)  # no further than the end
    with pytest.raises(ValueError, match="at least one"):
        range_arguments(TrackRange.FRAMES, 4, 10, 0)
    with pytest.raises(ValueError, match="outside"):
        range_arguments(TrackRange.FROM_HERE, 10, 10)


def document() -> Document:
    tracked = FrameAnnotation(rle(0, 3), Provenance.PROPAGATED)
    clicked = FrameAnnotation(rle(1, 4), Provenance.MODEL, prompts=Prompts(points=[(2.0, 3.0)], labels=[1]))
    project = Project(
        media=[MediaItem(1, MediaKind.VIDEO, "/v/clip.mp4", W, H, frame_count=10)],
        objects=[
            AnnotationObject(1, 1, frames={
                0: tracked, 3: clicked, 7: FrameAnnotation(rle(2, 5), Provenance.EDITED)
            }),
            AnnotationObject(2, 1, frames={0: tracked}, locked=True),
        ],
        next_ids={"category": 1, "media": 2, "object": 3},
    )
    return Document(project)


def test_a_correction_re_tracks_from_its_frame_to_the_next_one_with_its_clicks() -> None:
    project = document().project
    plan = plan_retrack(project, 1, 3)
    assert (plan.object_id, plan.frame, plan.max_frames) == (1, 3, 4)  # frames 3..6: 7 is the user's
    assert plan.keyframe.rle == rle(1, 4) and plan.clicks == Prompts(points=[(2.0, 3.0)], labels=[1])
    last = plan_retrack(project, 1, 7)
    assert last.max_frames == 3 and last.clicks is None  # edited by hand: the mask is the correction
    with pytest.raises(NothingToRetrack, match="Correct the instance on this frame"):
        plan_retrack(project, 1, 0)  # a tracked frame is no correction
    with pytest.raises(NothingToRetrack, match="Select"):
        plan_retrack(project, None, 3)
    with pytest.raises(NothingToRetrack, match="locked"):
        plan_retrack(project, 2, 0)


def test_tracker_ids_follow_their_objects_until_deleted_and_come_back_with_undo() -> None:
    doc = document()
    tracks = PhraseTracks(media_id=1)
    tracks.start("cat")
    tracks.add({5: doc.project.object(1), 6: doc.project.object(2)})
    assert tracks.tracker_id(doc.project, 1) == 5 and tracks.tracker_id(doc.project, 3) is None
    doc.execute(RemoveObject(2))
    assert tracks.gone(doc.project) == [6] and tracks.tracker_id(doc.project, 2) is None
    doc.undo()
    assert tracks.gone(doc.project) == [] and tracks.tracker_id(doc.project, 2) == 6
    tracks.take([6])
    assert list(tracks.objects) == [5]
    tracks.start("dog")  # a new phrase: the session starts over
    assert tracks.objects == {} and tracks.phrase == "dog"
