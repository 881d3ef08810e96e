"""What a tracking run will do, decided before it starts (Qt-free): which objects, from which
frame, in which direction, how far each one may go, and which keyframes condition the tracker.

The user asks with a :class:`TrackScope`:

- **to the next keyframe** ("Track from here", the correction): each object is tracked from the
  frame on screen until the frame before its next keyframe in that direction (its own: objects
  stop at different frames), or until the tracker finds it gone; frames beyond are left as they
  were (still marked stale when they are). The tracker is given the keyframes that bound that
  stretch: the nearest one at or behind the start and the one it stops at;
- **a number of frames** past the start, each object within the video, with the same keyframes;
- **to the end** (or the start, backward): every frame; the tracker gets every keyframe of the
  object, as the official predictor would.

``objects`` narrows a run to the selected objects; locked objects are never tracked, and an
object needs a keyframe on the side the run comes from (at or before the start going forward).
Without a selection, "to the next keyframe" tracks the objects with a keyframe on the start
frame (the ones just corrected there), the other extents every object of the video.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from enum import StrEnum

from samdesk.document.model import Project
from samdesk.document.tracking import Keyframe, object_keyframes
from samdesk.session.frame_numbers import frame_number

DIRECTIONS = ("forward", "backward", "both")


class Extent(StrEnum):
    NEXT_KEYFRAME = "next_keyframe"
    FRAMES = "frames"
    END = "end"


class NothingToTrack(ValueError):
    """The request cannot track anything; the message says why, for the user."""


@dataclass(frozen=True)
class TrackScope:
    direction: str = "forward"
    extent: Extent = Extent.NEXT_KEYFRAME
    frames: int = 0  # frames past the start, for Extent.FRAMES
    objects: frozenset[int] | None = None  # None: every object of the video

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {self.direction!r}")
        if self.extent is Extent.FRAMES and self.frames < 1:
            raise ValueError(f"track at least 1 frame, not {self.frames}")


@dataclass(frozen=True)
class TrackPlan:
    """``ranges``: object id -> (first, last) frame the run may change for it (the start
    included); ``keyframes``: what the tracker is given, by object then frame."""

    media_id: int
    start_frame: int
    direction: str
    keyframes: list[Keyframe]
    ranges: dict[int, tuple[int, int]]
    stop_when_lost: bool
    skipped: list[str] = field(default_factory=list)  # objects left out, and why

    @property
    def objects(self) -> frozenset[int]:
        return frozenset(self.ranges)

    @property
    def frames_to_track(self) -> int:
        """Frames the run may visit, the start frame included (progress before it begins)."""
        low = min(lo for lo, _ in self.ranges.values())
        high = max(hi for _, hi in self.ranges.values())
        return high - low + 1


def plan_tracking(project: Project, media_id: int, start: int, scope: TrackScope) -> TrackPlan:
    """The run ``scope`` asks for from frame ``start`` of video ``media_id``; raises
    :class:`NothingToTrack` with the reason when it would track nothing."""
    media = project.media_item(media_id)
    last = media.frame_count - 1
    forward = scope.direction in ("forward", "both")
    backward = scope.direction in ("backward", "both")
    if scope.direction == "forward" and start >= last:
        raise NothingToTrack(
            f"Frame {frame_number(start)} is the last frame: there is nothing after it to track."
        )
    if scope.direction == "backward" and start <= 0:
        raise NothingToTrack("This is the first frame: there is nothing before it to track.")
    ranges: dict[int, tuple[int, int]] = {}
    given: list[Keyframe] = []
    skipped: list[str] = []
    candidates = [o for o in project.objects_of(media_id) if scope.objects is None or o.id in scope.objects]
    for obj in candidates:
        name = obj.name or f"#{obj.id}"
        if obj.locked:
            skipped.append(f"{name} is locked")
            continue
        keys = object_keyframes(obj)
        # The tracker carries a mask away from a keyframe: there must be one on the side it comes from.
        behind = {
            "forward": [k for k in keys if k <= start],
            "backward": [k for k in keys if k >= start],
            "both": keys,
        }[scope.direction]
        if scope.objects is None and scope.extent is Extent.NEXT_KEYFRAME:
            behind = [k for k in behind if k == start]  # unasked, only what was corrected here
        if not behind:
            side = {"forward": "at or before", "backward": "at or after", "both": "on"}[scope.direction]
            if scope.objects is None and scope.extent is Extent.NEXT_KEYFRAME:
                side = "on"
            skipped.append(f"{name} has no keyframe {side} this frame" if keys else f"{name} has no mask yet")
            continue
        low, high = start, start
        if forward:
            high = _reach(keys, start, +1, scope, last)
        if backward:
            low = _reach(keys, start, -1, scope, last)
        ranges[obj.id] = (low, high)
        conditioning = _conditioning(keys, start, low, high, scope)
        given += [Keyframe(obj.id, k, obj.frames[k].rle) for k in conditioning]
    if not ranges:
        reason = "; ".join(skipped) if skipped else "there are no objects on this video yet"
        raise NothingToTrack(
            f"Nothing to track from here: {reason}. Give an object a mask on this frame (click it, "
            "draw it, or brush it), then track from there."
        )
    if all(lo == hi == start for lo, hi in ranges.values()):
        beside = f"Nothing to track from frame {frame_number(start)}: the next keyframe is right beside it."
        raise NothingToTrack(beside)
    return TrackPlan(
        media_id, start, scope.direction, given, ranges, scope.extent is Extent.NEXT_KEYFRAME, skipped
    )


def _reach(keys: list[int], start: int, step: int, scope: TrackScope, last: int) -> int:
    """The farthest frame an object may be tracked to from ``start`` in direction ``step``."""
    end = last if step > 0 else 0
    if scope.extent is Extent.FRAMES:
        return min(last, start + scope.frames) if step > 0 else max(0, start - scope.frames)
    if scope.extent is Extent.NEXT_KEYFRAME:
        if step > 0:
            after = bisect.bisect_right(keys, start)
            return keys[after] - 1 if after < len(keys) else end
        before = bisect.bisect_left(keys, start)
        return keys[before - 1] + 1 if before > 0 else end
    return end


def _conditioning(keys: list[int], start: int, low: int, high: int, scope: TrackScope) -> list[int]:
    """The keyframes the tracker gets for an object tracked over [low, high] from ``start``."""
    if scope.extent is Extent.END:
        return keys
    # Those in the stretch, and the nearest one beyond each end: the one the run stops at, and
    # behind the start the one it comes from (unless the start is a keyframe itself).
    inside = [k for k in keys if low <= k <= high]
    below = [k for k in keys if k < low][-1:]
    above = [k for k in keys if k > high][:1]
    if start in keys:
        if scope.direction == "forward":
            below = []
        elif scope.direction == "backward":
            above = []
    return below + inside + above
