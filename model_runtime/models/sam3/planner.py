"""SAM 3 video's planner: which detections become new objects, which objects are retired, and the
mask clean-ups between the detector, the tracker and the output (the official
``Sam3VideoBase`` heuristics, at its released settings by default).

Per frame, given the detector's kept detections and the tracker's masks of the objects it
carries (all low-res 288² logits):

1. association (:func:`associate`): mask IoU of every detection with every track; a detection
   is new when it scores ≥ ``new_det_thresh`` and overlaps no track by ≥ ``assoc_iou_thresh``;
   a non-empty track overlapping no detection is unmatched;
2. hot start (:meth:`Hotstart.update`): an object that first appeared less than ``hotstart_delay``
   frames ago is removed once it has been unmatched on ``hotstart_unmatch_thresh`` frames, or
   has shared a detection with an older object on ``hotstart_dup_thresh`` frames; outputs are
   held back ``hotstart_delay`` frames so a removed object never shows;
3. re-prompting: every ``recondition_every_nth_frame`` frames a track gets the detection's mask
   as a new prompt when that detection is confident (≥ 0.8), overlaps it by ≥ 0.8, and the
   track's presence logit is > 0.8 (:func:`confident_matches`);
4. overlaps: of two tracks overlapping by ≥ the occlusion threshold, the one occluded more
   recently is suppressed (:func:`suppress_recently_occluded`); before the memories are
   encoded, a mask that would lose most of its area to the others is suppressed
   (:func:`suppress_shrunk`).

Mask tools: :func:`fill_holes` (small holes filled, small specks removed), :func:`mask_iou`,
:func:`nms`, :func:`non_overlapping_by_score` (the output rule: one object per pixel).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from model_runtime.models.sam3.track_group import non_overlapping

HIGH_CONF = 0.8  # re-prompting: detection score and track presence logit above this
HIGH_IOU = 0.8  # re-prompting: detection-track IoU at least this
NEVER_OCCLUDED = -1
ALWAYS_OCCLUDED = 100000  # "occluded" marker of an object removed by hot start
SUPPRESSED_LOGIT = -10.0
SHRINK_RATIO = 0.3  # a mask keeping less than this share of its area under non-overlap is suppressed


@dataclass(frozen=True)
class PlannerConfig:
    """The planner's settings; defaults are the released model's (``build_sam3_video_model``)."""

    score_threshold_detection: float = 0.5
    det_nms_thresh: float = 0.1
    assoc_iou_thresh: float = 0.1
    trk_assoc_iou_thresh: float = 0.5
    new_det_thresh: float = 0.7
    hotstart_delay: int = 15
    hotstart_unmatch_thresh: int = 8
    hotstart_dup_thresh: int = 8
    init_trk_keep_alive: int = 30
    max_trk_keep_alive: int = 30
    min_trk_keep_alive: int = -1
    occlusion_overlap_thresh: float = 0.7  # suppress_overlapping_based_on_recent_occlusion_threshold
    fill_hole_area: int = 16
    recondition_every_nth_frame: int = 16
    # A click on an object stops the mask prompts of that object's group within this many frames
    # of the click from conditioning (official ``refinement_detector_cond_frame_removal_window``
    # of ``Sam3VideoInferenceWithInstanceInteractivity``; its own setting, not the re-prompting
    # period, although both are 16 in the released model).
    refinement_window: int = 16
    max_num_objects: int = 10000

    def __post_init__(self) -> None:
        if self.hotstart_delay > 0 and (
            self.hotstart_unmatch_thresh > self.hotstart_delay
            or self.hotstart_dup_thresh > self.hotstart_delay
        ):
            raise ValueError("hot-start thresholds cannot exceed the hot-start delay")


# -- mask tools ----------------------------------------------------------------------------------


def _component_areas(binary: np.ndarray) -> np.ndarray:
    """(H, W) bool -> per pixel the area of its 8-connected component (0 outside)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    areas = stats[:, cv2.CC_STAT_AREA].astype(np.int64)
    areas[0] = 0
    return areas[labels]


def fill_holes(masks: torch.Tensor, max_area: int) -> torch.Tensor:
    """(N, 1, H, W) logits -> a copy where background regions of at most ``max_area`` pixels
    become 0.1, then foreground specks of at most min(``max_area``, half the mask's area) pixels
    become −0.1 (official ``fill_holes_in_mask_scores``, 8-connected)."""
    if max_area <= 0 or masks.shape[0] == 0:
        return masks
    out = masks.detach().to("cpu", torch.float32).clone()
    for i in range(out.shape[0]):
        plane = out[i, 0]
        background = (plane <= 0).numpy()
        small_bg = background & (_component_areas(background) <= max_area)
        plane[torch.from_numpy(small_bg)] = 0.1
        foreground = (plane > 0).numpy()
        limit = min(int(foreground.sum()) // 2, max_area)
        small_fg = foreground & (_component_areas(foreground) <= limit)
        plane[torch.from_numpy(small_fg)] = -0.1
    return out.to(masks.device)


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a (N, H, W), b (M, H, W) bool -> (N, M) IoU (0 for two empty masks)."""
    fa = a.flatten(1).float()
    fb = b.flatten(1).float()
    inter = fa @ fb.T  # exact: counts stay below 2^24 at 288²
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
    return inter / union.clamp(min=1)


def nms(
    probs: torch.Tensor, masks: torch.Tensor, prob_threshold: float, iou_threshold: float
) -> torch.Tensor:
    """probs (N,), mask logits (N, H, W) -> kept (N,) bool: above ``prob_threshold``, then greedy
    by score, dropping masks overlapping a kept one by more than ``iou_threshold``."""
    valid = probs > prob_threshold
    index = torch.nonzero(valid).flatten()
    keep = torch.zeros_like(valid)
    if index.numel() == 0:
        return keep
    ious = mask_iou(masks[index] > 0, masks[index] > 0).cpu().numpy()
    order = probs[index].float().cpu().numpy().argsort()[::-1]
    kept = []
    while order.size > 0:
        i = order.item(0)
        kept.append(i)
        order = order[np.where(ious[i, order[1:]] <= iou_threshold)[0] + 1]
    keep[index[kept]] = True
    return keep


def non_overlapping_by_score(masks: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """masks (N, H, W) bool, scores (N,) -> (N, H, W) bool where each pixel belongs to at most the
    highest-scoring object covering it (ties: the first) (official
    ``_apply_object_wise_non_overlapping_constraints`` with background 0)."""
    if masks.shape[0] <= 1:
        return masks
    flat = masks[:, None].float()
    single = torch.where(flat > 0, scores[:, None, None, None].to(flat), 0.0)
    winners = non_overlapping(single)
    return (torch.where(winners > 0, flat, torch.clamp(flat, max=0.0)) > 0)[:, 0]


# -- association ---------------------------------------------------------------------------------


@dataclass
class Association:
    """new_dets: indices of detections that become objects; unmatched: non-empty tracks no
    detection overlaps; empty: tracks with an empty mask; matches: detection index -> ids of the
    tracks it overlaps; confident: track id -> the one confident detection it overlaps most."""

    new_dets: np.ndarray
    unmatched: np.ndarray
    empty: np.ndarray
    matches: dict[int, np.ndarray]
    confident: dict[int, int]


def associate(
    det_masks: torch.Tensor,
    det_scores: np.ndarray,
    trk_masks: torch.Tensor,
    trk_ids: np.ndarray,
    config: PlannerConfig,
) -> Association:
    """det_masks (N, h, w), trk_masks (M, h, w) logits, det_scores (N,), trk_ids (M,) ->
    :class:`Association` (official ``_associate_det_trk``, many tracks may share a detection)."""
    none = np.array([], np.int64)
    if trk_masks.shape[0] == 0:
        return Association(np.arange(det_masks.shape[0]), none, none, {}, {})
    nonempty = (trk_masks > 0).flatten(1).any(dim=1).cpu().numpy()
    if det_masks.shape[0] == 0:
        return Association(none, trk_ids[nonempty], trk_ids[~nonempty], {}, {})
    if det_masks.shape[-2:] != trk_masks.shape[-2:]:
        raise ValueError(
            f"detections {tuple(det_masks.shape)} and tracks {tuple(trk_masks.shape)} differ in size"
        )
    ious = mask_iou(det_masks > 0, trk_masks > 0).cpu().numpy()
    matched = (ious >= config.trk_assoc_iou_thresh).any(axis=0)
    unmatched = trk_ids[np.logical_and(nonempty, ~matched)]
    overlaps = ious >= config.assoc_iou_thresh
    is_new = np.logical_and(det_scores >= config.new_det_thresh, ~overlaps.any(axis=1))
    best_track = np.argmax(ious, axis=1)
    high = (det_scores >= HIGH_CONF) & ~is_new & (np.max(ious, axis=1) >= HIGH_IOU)
    matches: dict[int, np.ndarray] = {}
    confident: dict[int, int] = {}
    for d in range(det_masks.shape[0]):
        matches[d] = trk_ids[overlaps[d]]
        if high[d]:
            confident[int(trk_ids[best_track[d]])] = d
    return Association(np.nonzero(is_new)[0], unmatched, trk_ids[~nonempty], matches, confident)


# -- hot start -----------------------------------------------------------------------------------


@dataclass
class Hotstart:
    """What hot start remembers per object (official ``rank0_metadata``), as counts."""

    first_frame: dict[int, int] = field(default_factory=dict)
    unmatched_frames: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    keep_alive: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    overlap_frames: defaultdict[tuple[int, int], int] = field(default_factory=lambda: defaultdict(int))
    removed: set[int] = field(default_factory=set)

    def update(
        self, frame: int, reverse: bool, new_ids: np.ndarray, found: Association, config: PlannerConfig
    ) -> set[int]:
        """Record this frame's matches; return the ids removed now (official ``_process_hotstart``)."""
        newly_removed: set[int] = set()
        horizon = frame + config.hotstart_delay if reverse else frame - config.hotstart_delay

        def within(obj_id: int) -> bool:
            first = self.first_frame[obj_id]
            return (first > horizon and not reverse) or (first < horizon and reverse)

        for obj_id in new_ids.tolist():
            self.first_frame.setdefault(obj_id, frame)
            self.keep_alive[obj_id] = config.init_trk_keep_alive
        matched = {int(o) for ids in found.matches.values() for o in ids.tolist()}
        for obj_id in matched:
            self.keep_alive[obj_id] = min(config.max_trk_keep_alive, self.keep_alive[obj_id] + 1)
        for obj_id in found.unmatched.tolist():
            self.unmatched_frames[obj_id] += 1
            self.keep_alive[obj_id] = max(config.min_trk_keep_alive, self.keep_alive[obj_id] - 1)
        for obj_id, count in self.unmatched_frames.items():
            if obj_id in self.removed or obj_id in newly_removed:
                continue
            if count >= config.hotstart_unmatch_thresh and within(obj_id):
                newly_removed.add(obj_id)
        for ids in found.matches.values():
            if len(ids) < 2:
                continue
            pick = min if not reverse else max
            first = pick(ids.tolist(), key=lambda o: self.first_frame[o])
            for obj_id in ids.tolist():
                if obj_id != first:
                    self.overlap_frames[(first, obj_id)] += 1
        for (_, obj_id), count in self.overlap_frames.items():
            if obj_id in self.removed or obj_id in newly_removed:
                continue
            if within(obj_id) and count >= config.hotstart_dup_thresh:
                newly_removed.add(obj_id)
        self.removed |= newly_removed
        return newly_removed

    def forget(self, obj_id: int) -> None:
        """A user prompt revives an object hot start removed (official ``add_tracker_new_points``)."""
        self.removed.discard(obj_id)


# -- overlaps ------------------------------------------------------------------------------------


def suppress_recently_occluded(
    masks: torch.Tensor,
    obj_ids: list[int],
    last_occluded: dict[int, int],
    newly_removed: set[int],
    frame: int,
    reverse: bool,
    threshold: float,
) -> tuple[torch.Tensor, dict[int, int]]:
    """masks (N, h, w) logits of the tracked objects -> the masks with suppressed objects at −10,
    and every object's new last-occluded frame (official
    ``_suppress_overlapping_based_on_recent_occlusion``): of two objects overlapping by ≥
    ``threshold``, the one occluded more recently (in tracking order) is suppressed, provided
    the other was occluded at some time."""
    binary = masks > 0
    n = masks.shape[0]
    previous = torch.tensor(
        [last_occluded.get(o, ALWAYS_OCCLUDED if o in newly_removed else NEVER_OCCLUDED) for o in obj_ids],
        dtype=torch.long,
    )
    suppress = torch.zeros(n, dtype=torch.bool)
    if n > 1:
        pairs = torch.triu(mask_iou(binary, binary).cpu() >= threshold, diagonal=1)
        later = torch.gt if not reverse else torch.lt
        col, row = previous[None, :], previous[:, None]
        suppress_i = pairs & later(row, col) & (col > NEVER_OCCLUDED)
        suppress_j = pairs & later(col, row) & (row > NEVER_OCCLUDED)
        suppress = suppress_i.any(dim=1) | suppress_j.any(dim=0)
    occluded = ~binary.flatten(1).any(dim=1).cpu() | suppress
    updated = previous.clone()
    updated[occluded] = frame
    out = masks.clone()
    out[suppress.to(masks.device)] = SUPPRESSED_LOGIT
    return out, {o: int(updated[i]) for i, o in enumerate(obj_ids)}


def suppress_shrunk(masks: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) logits: a mask keeping less than 30 % of its area once overlaps go to the
    highest logit is clamped to ≤ −10 (official ``_suppress_object_pw_area_shrinkage``)."""
    after = non_overlapping(masks)
    area_before = (masks > 0).sum(dim=(-1, -2)).clamp(min=1.0)
    area_after = (after > 0).sum(dim=(-1, -2))
    keep = (area_after / area_before) >= SHRINK_RATIO
    return torch.where(
        keep[..., None, None].expand_as(masks), masks, torch.clamp(masks, max=SUPPRESSED_LOGIT)
    )


def confident_matches(
    frame: int, found: Association, trk_ids: np.ndarray, trk_scores: torch.Tensor, config: PlannerConfig
) -> dict[int, int]:
    """Track id -> detection index to re-prompt the track with on this frame (periodic
    re-prompting; ``trk_scores`` are the tracks' presence logits)."""
    every = config.recondition_every_nth_frame
    if every <= 0 or frame % every != 0 or not found.confident:
        return {}
    index = {int(o): i for i, o in enumerate(trk_ids.tolist())}
    return {o: d for o, d in found.confident.items() if float(trk_scores[index[o]]) > HIGH_CONF}
