"""The objects a SAM 3 video session tracks, and one frame of the official detect-and-track loop.

:class:`ObjectTracks` holds the tracked groups (``track_group.py``), the next free id, each
object's detection score and what the planner remembers (hot start, last occlusion), and runs
one frame with the detector (:meth:`ObjectTracks.step`, official ``_det_track_one_frame``):

1. every group advances one frame from its memory (no memory encoded yet);
2. detections are associated with the tracks (``planner.associate``); new ids for the new ones;
3. hot start retires spurious young objects; confident detections re-prompt their tracks;
4. recently occluded overlaps are suppressed and every track's memory of the frame is encoded
   from its final mask, overlaps resolved across all objects;
5. the new detections become one new group, prompted with their masks.

Masks here are the tracker's and the detector's low-res logits (N, 288, 288); the session turns
them into video-resolution outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from model_runtime.models.sam3.planner import (
    Hotstart,
    PlannerConfig,
    associate,
    confident_matches,
    fill_holes,
    suppress_recently_occluded,
    suppress_shrunk,
)
from model_runtime.models.sam3.track_group import TrackGroup
from model_runtime.models.sam3.tracker import Sam3Tracker, TrackerFrame
from model_runtime.models.sam3.video_detection import FrameDetections

REMOVED_SCORE = -1e4  # official score of an object hot start removed

FrameProvider = Callable[[int], TrackerFrame]


@dataclass
class DetectedFrame:
    """One frame of :meth:`ObjectTracks.step`: ``ids`` the objects tracked into the frame (group
    order) with ``masks`` (N, 288, 288) logits after suppression and ``scores`` (N,) presence
    logits; ``new_ids`` the objects the detector started there, with ``new_masks`` (K, 1, 288,
    288) hole-filled detector logits and ``new_scores`` their detection scores; ``removed``
    every object hot start has removed so far."""

    ids: list[int]
    masks: torch.Tensor
    scores: torch.Tensor
    new_ids: list[int]
    new_masks: torch.Tensor
    new_scores: list[float]
    removed: set[int]


class ObjectTracks:
    """Tracked objects (module docstring). ``features(frame)`` gives a frame's tracker features."""

    def __init__(
        self,
        tracker: Sam3Tracker,
        num_frames: int,
        frame_size: tuple[int, int],
        planner: PlannerConfig,
        features: FrameProvider,
    ) -> None:
        self.tracker = tracker
        self.num_frames = num_frames
        self.frame_size = frame_size
        self.planner = planner
        self.features = features
        self.groups: list[TrackGroup] = []
        self.max_obj_id = -1
        self.scores: dict[int, float] = {}  # obj id -> detection score (1.0 for a clicked object)
        self.hotstart = Hotstart()
        self.last_occluded: dict[int, int] = {}

    # -- objects --------------------------------------------------------------------------------

    @property
    def object_ids(self) -> list[int]:
        return [o for g in self.groups for o in g.obj_ids]

    def group_of(self, obj_id: int) -> TrackGroup | None:
        return next((g for g in self.groups if obj_id in g.obj_ids), None)

    def new_group(self, obj_id: int) -> TrackGroup:
        """An empty group for a clicked new object ``obj_id`` (the id is taken)."""
        group = TrackGroup(self.tracker, self.num_frames, self.frame_size)
        self.groups.append(group)
        self.max_obj_id = max(self.max_obj_id, obj_id)
        return group

    def remove(self, obj_id: int) -> None:
        """Forget ``obj_id`` (KeyError naming the known ids when it is not tracked)."""
        group = self.group_of(obj_id)
        if group is None:
            raise KeyError(f"unknown object id {obj_id}; known: {self.object_ids}")
        group.remove_object(obj_id)
        if not group.obj_ids:
            self.groups.remove(group)
        self.scores.pop(obj_id, None)

    def evict(self, frame: int, radius: int, groups: list[TrackGroup] | None = None) -> None:
        for group in self.groups if groups is None else groups:
            group.evict(frame, radius)

    def nbytes(self) -> int:
        """Bytes held by the objects' state (memories, pointers, low-res masks)."""
        return sum(g.nbytes() for g in self.groups)

    # -- one frame ------------------------------------------------------------------------------

    def step(self, frame: int, reverse: bool, detections: FrameDetections) -> DetectedFrame:
        """One frame with the detector (module docstring)."""
        planner = self.planner
        ids, trk_masks, trk_scores = self.track(self.groups, frame, reverse, encode_memory=False)
        trk_ids = np.array(ids, dtype=np.int64)
        found = associate(detections.masks, detections.scores, trk_masks, trk_ids, planner)
        new_dets = found.new_dets
        room = planner.max_num_objects - len(ids)
        if len(new_dets) > room:
            order = np.argsort(detections.scores[new_dets])[::-1]
            new_dets = new_dets[order[: max(room, 0)]]
        new_ids = self.max_obj_id + 1 + np.arange(len(new_dets))
        removed = self.hotstart.update(frame, reverse, new_ids, found, planner)
        reprompt = confident_matches(frame, found, trk_ids, trk_scores, planner)
        if reprompt:
            self._reprompt(frame, detections, reprompt)
        if ids:
            if planner.occlusion_overlap_thresh > 0.0:
                trk_masks, self.last_occluded = suppress_recently_occluded(
                    trk_masks,
                    ids,
                    self.last_occluded,
                    removed,
                    frame,
                    reverse,
                    planner.occlusion_overlap_thresh,
                )
            self._update_memories(frame, trk_masks)
        else:
            self.last_occluded = {}
        new_scores = [float(detections.scores[det]) for det in new_dets.tolist()]
        for obj_id, score in zip(new_ids.tolist(), new_scores, strict=True):
            self.scores[obj_id] = score
            self.max_obj_id = max(self.max_obj_id, obj_id)
        for obj_id in removed:
            self.scores[obj_id] = REMOVED_SCORE
            self.last_occluded.pop(obj_id, None)
        chosen = torch.from_numpy(new_dets)
        if len(new_dets):
            self._add_detected(frame, new_ids.tolist(), detections.masks[chosen])
        for obj_id in removed:
            group = self.group_of(obj_id)
            if group is not None:
                group.remove_object(obj_id)
                if not group.obj_ids:
                    self.groups.remove(group)
        fresh = fill_holes(detections.masks[chosen][:, None], planner.fill_hole_area)
        return DetectedFrame(
            ids, trk_masks, trk_scores, new_ids.tolist(), fresh, new_scores, set(self.hotstart.removed)
        )

    def track(
        self, groups: list[TrackGroup], frame: int, reverse: bool, encode_memory: bool
    ) -> tuple[list[int], torch.Tensor, torch.Tensor]:
        """Advance each of ``groups`` one frame -> ids, hole-filled low-res logits (N, 288, 288),
        presence logits (N,)."""
        ids: list[int] = []
        masks, scores = [], []
        for group in groups:
            if not group.obj_ids:
                continue
            low, score = group.track(frame, reverse, self.features, encode_memory)
            ids += group.obj_ids
            masks.append(low[:, 0])
            scores.append(score[:, 0])
        side = self.tracker.config.low_res_size
        device = self.tracker.memory.no_obj_ptr.device
        if not ids:
            return ids, torch.zeros(0, side, side, device=device), torch.zeros(0, device=device)
        filled = fill_holes(torch.cat(masks)[:, None], self.planner.fill_hole_area)[:, 0]
        return ids, filled, torch.cat(scores)

    def _reprompt(self, frame: int, detections: FrameDetections, matches: dict[int, int]) -> None:
        """Re-prompt tracks with their confident detection's mask (official ``_recondition_masklets``)."""
        size = self.tracker.config.input_mask_size
        feats = self.features(frame)
        touched: list[TrackGroup] = []
        for obj_id, det in matches.items():
            mask = (
                F.interpolate(
                    detections.masks[det][None, None], size=(size, size), mode="bilinear", align_corners=False
                )[0, 0]
                > 0
            )
            group = self.group_of(obj_id)
            if group is None:
                continue
            group.add_mask(frame, obj_id, mask, feats)
            if group not in touched:
                touched.append(group)
        for group in sorted(touched, key=self.groups.index):
            group.preflight(self.features)

    def _update_memories(self, frame: int, low_res: torch.Tensor) -> None:
        """Re-encode every tracked object's memory of ``frame`` from its final mask (N, 288, 288),
        overlaps resolved across all objects (official ``_tracker_update_memories``)."""
        size = self.tracker.config.input_mask_size
        high = F.interpolate(low_res[:, None], size=(size, size), mode="bilinear", align_corners=False)
        high = suppress_shrunk(high)
        scores = torch.where((high > 0).any(dim=(-1, -2)), 10.0, -10.0)
        feats = self.features(frame)
        start = 0
        for group in self.groups:
            count = len(group.obj_ids)
            if count == 0:
                continue
            part = slice(start, start + count)
            group.set_memory(
                frame, self.tracker.encode_memory(feats, high[part], scores[part], binarize=False)
            )
            start += count

    def _add_detected(self, frame: int, obj_ids: list[int], masks: torch.Tensor) -> None:
        """New objects from detections (N, 288, 288) logits: one new group (official
        ``_tracker_add_new_objects``)."""
        size = self.tracker.config.input_mask_size
        binary = (
            F.interpolate(masks[:, None], size=(size, size), mode="bilinear", align_corners=False)[:, 0] > 0
        )
        group = TrackGroup(self.tracker, self.num_frames, self.frame_size)
        feats = self.features(frame)
        for obj_id, mask in zip(obj_ids, binary, strict=True):
            group.add_mask(frame, obj_id, mask, feats)
        group.preflight(self.features)
        self.groups.append(group)
