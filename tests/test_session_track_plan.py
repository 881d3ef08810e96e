"""What a tracking run will do, decided before it starts (Qt-free): each object to its own next
keyframe, a number of frames, or the end; only the selected objects; never locked ones."""

from __future__ import annotations

import numpy as np
import pytest

from samdesk.document import masks
from samdesk.document.model import (
    AnnotationObject,
    FrameAnnotation,
    MediaItem,
    MediaKind,
    Project,
    Provenance,
)
from samdesk.session.track_plan import Extent, NothingToTrack, TrackScope, plan_tracking

H, W = 8, 8
MASK = masks.encode(np.ones((H, W), bool))


def obj(object_id: int, keys: list[int], tracked: list[int] = (), locked: bool = False) -> AnnotationObject:
    frames = {k: FrameAnnotation(MASK, Provenance.MANUAL) for k in keys}
    frames.update({t: FrameAnnotation(MASK, Provenance.PROPAGATED) for t in tracked})
    return AnnotationObject(object_id, 1, frames=frames, name=f"o{object_id}", locked=locked)


def project(*objects: AnnotationObject) -> Project:
    video = MediaItem(1, MediaKind.VIDEO, "/v.mp4", W, H, frame_count=100)
    return Project(media=[video], objects=list(objects))


def given(plan) -> list[tuple[int, int]]:
    return [(k.object_id, k.frame) for k in plan.keyframes]


def test_from_here_each_object_goes_to_its_own_next_keyframe():
    p = project(obj(1, [0, 20, 60], tracked=list(range(21, 60))), obj(2, [5, 40]), obj(3, [70]))
    # Unasked, only the object corrected on this frame: 1, to the frame before its next keyframe.
    plan = plan_tracking(p, 1, 20, TrackScope("forward"))
    assert plan.ranges == {1: (20, 59)}
    assert plan.stop_when_lost and plan.start_frame == 20 and plan.direction == "forward"
    # The tracker gets the keyframes bounding the stretch, not every keyframe of the object.
    assert given(plan) == [(1, 20), (1, 60)]
    assert plan.skipped == ["o2 has no keyframe on this frame", "o3 has no keyframe on this frame"]
    # Selected objects each go to their own next keyframe: 2 from 20 to 39; 3 starts later: out.
    every = frozenset({1, 2, 3})
    plan = plan_tracking(p, 1, 20, TrackScope("forward", objects=every))
    assert plan.ranges == {1: (20, 59), 2: (20, 39)}
    assert given(plan) == [(1, 20), (1, 60), (2, 5), (2, 40)]
    assert plan.skipped == ["o3 has no keyframe at or before this frame"]
    back = plan_tracking(p, 1, 20, TrackScope("backward", objects=every))
    assert back.ranges == {1: (1, 20), 2: (6, 20), 3: (0, 20)}
    assert given(back) == [(1, 0), (1, 20), (2, 5), (2, 40), (3, 70)]
    both = plan_tracking(p, 1, 50, TrackScope("both", objects=every))
    assert both.ranges == {1: (21, 59), 2: (41, 99), 3: (0, 69)}


def test_a_number_of_frames_or_to_the_end():
    p = project(obj(1, [0, 20, 60]), obj(2, [90]))
    plan = plan_tracking(p, 1, 20, TrackScope("forward", Extent.FRAMES, frames=10))
    assert plan.ranges == {1: (20, 30)} and not plan.stop_when_lost
    assert given(plan) == [(1, 20), (1, 60)]
    assert plan_tracking(p, 1, 85, TrackScope("backward", Extent.FRAMES, frames=10)).ranges == {2: (75, 85)}
    end = plan_tracking(p, 1, 20, TrackScope("forward", Extent.END))
    assert end.ranges == {1: (20, 99)} and given(end) == [(1, 0), (1, 20), (1, 60)]
    assert plan_tracking(p, 1, 95, TrackScope("forward", Extent.FRAMES, frames=10)).ranges == {
        1: (95, 99), 2: (95, 99)
    }


def test_only_the_selected_objects_and_never_locked_ones():
    p = project(obj(1, [0]), obj(2, [0]), obj(3, [0], locked=True))
    assert plan_tracking(p, 1, 0, TrackScope(objects=frozenset({2}))).objects == {2}
    assert plan_tracking(p, 1, 0, TrackScope()).objects == {1, 2}
    assert plan_tracking(p, 1, 0, TrackScope(extent=Extent.END)).objects == {1, 2}
    with pytest.raises(NothingToTrack, match="o3 is locked"):
        plan_tracking(p, 1, 0, TrackScope(objects=frozenset({3})))


def test_requests_that_track_nothing_say_why():
    with pytest.raises(NothingToTrack, match="no objects"):
        plan_tracking(project(), 1, 0, TrackScope())
    p = project(obj(1, [10, 11]), obj(2, [], tracked=[3]))
    with pytest.raises(NothingToTrack, match="last frame"):
        plan_tracking(p, 1, 99, TrackScope("forward"))
    with pytest.raises(NothingToTrack, match="first frame"):
        plan_tracking(p, 1, 0, TrackScope("backward"))
    with pytest.raises(NothingToTrack, match="right beside"):
        plan_tracking(p, 1, 10, TrackScope("forward"))
    with pytest.raises(NothingToTrack, match="o1 has no keyframe on this frame"):
        plan_tracking(p, 1, 30, TrackScope("forward"))
    with pytest.raises(NothingToTrack, match="o2 has no mask yet"):
        plan_tracking(p, 1, 3, TrackScope(objects=frozenset({2})))
    with pytest.raises(ValueError):
        TrackScope("sideways")
    with pytest.raises(ValueError):
        TrackScope(extent=Extent.FRAMES, frames=0)
