"""A group of objects the SAM 3 tracker carries together through a video.

The official video model keeps one tracker state (a ``Sam3TrackerPredictor`` inference state)
per set of objects added together — the detections that first appear on one frame, or one
clicked object — and tracks each state's objects as one batch: they share conditioning frames
and the memory bank's frame layout, and a prompt on one of them makes that frame a conditioning
frame of the whole group (its other objects contribute their masks there, kept apart by a
non-overlap rule when the memory is encoded). :class:`TrackGroup` is that state, with the
official rules (``add_new_mask``, ``add_new_points``, ``propagate_in_video_preflight``,
``propagate_in_video`` one frame at a time, ``clear_all_points_in_frame``, ``remove_object``,
SAM2Long's memory-frame selection), kept bounded (:meth:`TrackGroup.evict`).

Stores: ``outputs`` the batched results per frame (``cond``: conditioning frames, ``non_cond``:
tracked frames); ``per_object`` each object's view of them (they diverge where the official code
lets them: clearing around a prompt touches only the per-object views); ``temp`` the results of
prompts not yet folded into ``outputs`` (a propagation does it first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from model_runtime.models.sam2.memory_attention import MemoryInputs, ProjectedMemory
from model_runtime.models.sam3.tracker import NO_OBJ_SCORE, Sam3Tracker, TrackerFrame

COND, NON_COND = "cond", "non_cond"
MASK_LOGIT_CLAMP = 32.0  # previous logits fed back with new clicks are clamped (official)
MAX_PROMPT_POINTS = 16  # more clicks: the first 8 and the last 8 (official max_point_num_in_prompt_enc)

FrameProvider = Callable[[int], TrackerFrame]


@dataclass
class GroupOutput:
    """The group's result on one frame, batched over its B objects.

    pred_masks (B, 1, 288, 288) low-res logits; obj_ptr (B, C); score (B, 1) presence logits;
    iou_score (B,) or (B, 1) (as the official code has it); maskmem (B, M, 72, 72) bfloat16 or
    None until encoded; eff_iou_score: the frame's worth as memory (SAM2Long), or None for
    results that were not tracked (prompted frames)."""

    pred_masks: torch.Tensor
    obj_ptr: torch.Tensor
    score: torch.Tensor
    iou_score: torch.Tensor
    maskmem: torch.Tensor | None = None
    eff_iou_score: float | None = None

    def nbytes(self) -> int:
        tensors = [self.pred_masks, self.obj_ptr]
        if self.maskmem is not None:
            tensors.append(self.maskmem)
        return sum(t.element_size() * t.nelement() for t in tensors)

    def rows(self, keep: list[int]) -> GroupOutput:
        return GroupOutput(
            self.pred_masks[keep],
            self.obj_ptr[keep],
            self.score[keep],
            self.iou_score[keep],
            None if self.maskmem is None else self.maskmem[keep],
            self.eff_iou_score,
        )


@dataclass
class ObjectOutput:
    """One object's result on one frame (views into a :class:`GroupOutput`, or a prompt's
    result): pred_masks (1, 1, 288, 288) or None for a mask prompt, whose mask is ``video_res``
    (1, 1, H, W) ±1024 logits at video resolution."""

    pred_masks: torch.Tensor | None
    obj_ptr: torch.Tensor
    score: torch.Tensor
    iou_score: torch.Tensor
    video_res: torch.Tensor | None = None


def memory_score(score: torch.Tensor, iou_score: torch.Tensor) -> float:
    """SAM2Long's frame score: mean of (presence rescaled to [0, 1], 0 when absent) × IoU, with
    the official broadcasting of the two shapes."""
    norm = torch.where(score > 0, score.sigmoid() * 2 - 1, torch.zeros_like(score))
    return float((norm * iou_score).mean())


def non_overlapping(masks: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) logits: where objects overlap only the highest keeps its logit, the others
    are clamped to at most −10 (official ``_apply_non_overlapping_constraints``)."""
    if masks.shape[0] == 1:
        return masks
    winner = torch.argmax(masks, dim=0, keepdim=True)
    keep = winner == torch.arange(masks.shape[0], device=masks.device)[:, None, None, None]
    return torch.where(keep, masks, torch.clamp(masks, max=-10.0))


def select_closest_cond_frames(
    frame: int, cond: dict[int, GroupOutput], max_frames: int
) -> tuple[dict[int, GroupOutput], dict[int, GroupOutput]]:
    """Up to ``max_frames`` conditioning frames nearest ``frame``: the closest before, the closest
    at or after, then the nearest others (official order) -> (selected, unselected)."""
    if max_frames == -1 or len(cond) <= max_frames:
        return cond, {}
    selected: dict[int, GroupOutput] = {}
    before = max((t for t in cond if t < frame), default=None)
    if before is not None:
        selected[before] = cond[before]
    after = min((t for t in cond if t >= frame), default=None)
    if after is not None:
        selected[after] = cond[after]
    rest = sorted((t for t in cond if t not in selected), key=lambda t: abs(t - frame))
    for t in rest[: max_frames - len(selected)]:
        selected[t] = cond[t]
    return selected, {t: v for t, v in cond.items() if t not in selected}


@dataclass
class TrackGroup:
    """Objects tracked together (module docstring). ``num_frames``/``video_size`` of the video."""

    tracker: Sam3Tracker
    num_frames: int
    video_size: tuple[int, int]
    obj_ids: list[int] = field(default_factory=list)
    points: dict[int, dict[int, tuple[torch.Tensor, torch.Tensor]]] = field(default_factory=dict)
    mask_frames: dict[int, set[int]] = field(default_factory=dict)
    outputs: dict[str, dict[int, GroupOutput]] = field(default_factory=lambda: {COND: {}, NON_COND: {}})
    per_object: dict[int, dict[str, dict[int, ObjectOutput]]] = field(default_factory=dict)
    temp: dict[int, dict[str, dict[int, ObjectOutput]]] = field(default_factory=dict)
    consolidated: dict[str, set[int]] = field(default_factory=lambda: {COND: set(), NON_COND: set()})
    tracked: dict[int, bool] = field(default_factory=dict)  # frame -> tracked in reverse
    tracking_started: bool = False

    # -- objects ------------------------------------------------------------------------------

    def index(self, obj_id: int) -> int:
        return self.obj_ids.index(obj_id)

    def _add_object(self, obj_id: int) -> None:
        if obj_id in self.obj_ids:
            return
        if self.tracking_started:
            raise RuntimeError(f"object {obj_id} cannot join a group that has started tracking")
        self.obj_ids.append(obj_id)
        self.points[obj_id] = {}
        self.mask_frames[obj_id] = set()
        self.per_object[obj_id] = {COND: {}, NON_COND: {}}
        self.temp[obj_id] = {COND: {}, NON_COND: {}}

    def _store_per_object(self, frame: int, out: GroupOutput, key: str) -> None:
        """Per-object views of ``out`` (official ``_add_output_per_object``)."""
        for row, obj_id in enumerate(self.obj_ids):
            self.per_object[obj_id][key][frame] = ObjectOutput(
                out.pred_masks[row : row + 1],
                out.obj_ptr[row : row + 1],
                out.score[row : row + 1],
                out.iou_score[row : row + 1],
            )

    # -- prompts ------------------------------------------------------------------------------

    def add_mask(self, frame: int, obj_id: int, mask: torch.Tensor, features: TrackerFrame) -> None:
        """A mask prompt: bool (1152, 1152) at the tracker's input-mask size (official ``add_new_mask``)."""
        self._add_object(obj_id)
        self.mask_frames[obj_id].add(frame)
        self.points[obj_id].pop(frame, None)
        mask_f = mask[None, None].float()
        video = F.interpolate(
            mask_f, size=self.video_size, mode="bilinear", align_corners=False, antialias=True
        )
        video_mask = video > 0.5
        heads = self.tracker.mask_as_output(features, mask_f)
        out = ObjectOutput(
            None,
            heads.obj_ptr,
            heads.score,
            heads.iou_score,
            video_res=torch.where(video_mask, -NO_OBJ_SCORE, NO_OBJ_SCORE),
        )
        self.temp[obj_id][COND][frame] = out  # a prompted frame always conditions (official)
        for other, stores in self.temp.items():
            previous = stores[COND].get(frame)
            if other != obj_id and previous is not None and previous.video_res is not None:
                previous.video_res = torch.where(video_mask, NO_OBJ_SCORE, previous.video_res)

    def add_points(
        self, frame: int, obj_id: int, coords: torch.Tensor, labels: torch.Tensor, features: TrackerFrame
    ) -> torch.Tensor:
        """Clicks (and box corners) in model-input coordinates (1, P, 2), labels (1, P), replacing
        the object's earlier prompt on ``frame`` (official ``add_new_points_or_box`` without the
        memory of other frames). Returns the object's low-res logits (1, 1, 288, 288)."""
        self._add_object(obj_id)
        if coords.shape[1] > MAX_PROMPT_POINTS:
            first, last = MAX_PROMPT_POINTS // 2, MAX_PROMPT_POINTS - MAX_PROMPT_POINTS // 2
            coords = torch.cat([coords[:, :first], coords[:, -last:]], dim=1)
            labels = torch.cat([labels[:, :first], labels[:, -last:]], dim=1)
        self.points[obj_id][frame] = (coords, labels)
        self.mask_frames[obj_id].discard(frame)
        views = self.per_object[obj_id]
        previous = self.temp[obj_id][COND].get(frame) or views[COND].get(frame) or views[NON_COND].get(frame)
        prev_logits = None
        if previous is not None and previous.pred_masks is not None:
            prev_logits = previous.pred_masks.clamp(-MASK_LOGIT_CLAMP, MASK_LOGIT_CLAMP)
        c = self.tracker.config
        # Multimask output on a first frame and (released setting) when tracking: by click count.
        multimask = c.multimask_min_pt_num <= labels.shape[1] <= c.multimask_max_pt_num
        pix = features.pix + self.tracker.head.no_mem_embed.view(1, -1, 1, 1)
        heads = self.tracker.sam_heads(
            pix, features.skips, (coords, labels), prev_logits, multimask, high_res=False
        )
        assert heads.low_res is not None
        self.temp[obj_id][COND][frame] = ObjectOutput(
            heads.low_res, heads.obj_ptr, heads.score, heads.iou_score
        )
        return heads.low_res

    # -- consolidation ------------------------------------------------------------------------

    def _consolidate(self, frame: int, key: str, features: FrameProvider) -> GroupOutput:
        """Fold every object's latest result on ``frame`` into one batched output and encode its
        memory (official ``_consolidate_temp_output_across_obj`` with ``run_mem_encoder``)."""
        tracker = self.tracker
        b = len(self.obj_ids)
        size = tracker.config.low_res_size
        ref = tracker.memory.no_obj_ptr
        masks = torch.full((b, 1, size, size), NO_OBJ_SCORE, dtype=torch.float32, device=ref.device)
        obj_ptr = torch.full((b, ref.shape[1]), NO_OBJ_SCORE, dtype=torch.float32, device=ref.device)
        score = torch.full((b, 1), 10.0, dtype=torch.float32, device=ref.device)
        iou_score = torch.zeros((b, 1), dtype=torch.float32, device=ref.device)
        for row, obj_id in enumerate(self.obj_ids):
            views = self.per_object[obj_id]
            out = self.temp[obj_id][key].get(frame) or views[COND].get(frame) or views[NON_COND].get(frame)
            if out is None:
                # An object with nothing on this frame: the pointer of an empty mask prompt, which
                # both presence gates turn into exactly ``no_obj_ptr``.
                obj_ptr[row : row + 1] = tracker.memory.no_obj_ptr
                continue
            if out.video_res is not None:
                masks[row : row + 1] = F.interpolate(
                    out.video_res, size=(size, size), mode="bilinear", align_corners=False, antialias=True
                )
            else:
                assert out.pred_masks is not None
                masks[row : row + 1] = out.pred_masks
            obj_ptr[row : row + 1] = out.obj_ptr
            score[row : row + 1] = out.score
            iou_score[row : row + 1] = out.iou_score.reshape(1, -1)[:, :1]
        image = tracker.config.image_size
        high_res = F.interpolate(masks, size=(image, image), mode="bilinear", align_corners=False)
        maskmem = tracker.encode_memory(features(frame), non_overlapping(high_res), score, binarize=True)
        return GroupOutput(masks, obj_ptr, score, iou_score, maskmem)

    def preflight(self, features: FrameProvider) -> None:
        """Fold the prompts' results into the stored outputs before tracking (official
        ``propagate_in_video_preflight`` with the memory encoder)."""
        self.tracking_started = True
        for key in (NON_COND, COND):
            frames = sorted({f for stores in self.temp.values() for f in stores[key]})
            self.consolidated[key].update(frames)
            for frame in frames:
                out = self._consolidate(frame, key, features)
                self.outputs[key][frame] = out
                self._store_per_object(frame, out, key)
                if len(self.obj_ids) <= 1:
                    self.clear_around(frame)
            for stores in self.temp.values():
                stores[key].clear()
        for frame in self.outputs[COND]:
            self.outputs[NON_COND].pop(frame, None)
        for views in self.per_object.values():
            for frame in views[COND]:
                views[NON_COND].pop(frame, None)
        self.consolidated[NON_COND] -= self.consolidated[COND]

    def clear_around(self, frame: int) -> None:
        """Forget the objects' own views of tracked frames near a prompted one (official
        ``_clear_non_cond_mem_around_input``; applied to single-object groups only)."""
        span = self.tracker.config.num_maskmem
        for views in self.per_object.values():
            for t in range(frame - span, frame + span + 1):
                views[NON_COND].pop(t, None)

    def clear_prompts(self, frame: int, obj_id: int) -> None:
        """Remove ``obj_id``'s prompt on ``frame``; a frame left without any prompt stops being a
        conditioning frame (official ``clear_all_points_in_frame``)."""
        self.points[obj_id].pop(frame, None)
        self.mask_frames[obj_id].discard(frame)
        for key in (COND, NON_COND):
            self.temp[obj_id][key].pop(frame, None)
        if any(frame in self.points[o] or frame in self.mask_frames[o] for o in self.obj_ids):
            return
        self.consolidated[COND].discard(frame)
        self.consolidated[NON_COND].discard(frame)
        out = self.outputs[COND].pop(frame, None)
        if out is not None:
            self.outputs[NON_COND][frame] = out
            self.tracked.pop(frame, None)
        for views in self.per_object.values():
            view = views[COND].pop(frame, None)
            if view is not None:
                views[NON_COND][frame] = view
        if not self.outputs[COND]:
            self._reset_tracking()

    def _reset_tracking(self) -> None:
        for obj_id in self.obj_ids:
            self.points[obj_id].clear()
            self.mask_frames[obj_id].clear()
            for stores in (self.per_object[obj_id], self.temp[obj_id]):
                stores[COND].clear()
                stores[NON_COND].clear()
        for key in (COND, NON_COND):
            self.outputs[key].clear()
            self.consolidated[key].clear()
        self.tracked.clear()
        self.tracking_started = False

    def remove_object(self, obj_id: int) -> None:
        """Drop ``obj_id`` from the group and from every stored frame (official ``remove_object``)."""
        if obj_id not in self.obj_ids:
            return
        if len(self.obj_ids) == 1:
            self._reset_tracking()
            self.obj_ids.clear()
            self.points.clear()
            self.mask_frames.clear()
            self.per_object.clear()
            self.temp.clear()
            return
        for frame in sorted(set(self.points[obj_id]) | self.mask_frames[obj_id]):
            self.clear_prompts(frame, obj_id)
        keep = [row for row, o in enumerate(self.obj_ids) if o != obj_id]
        self.obj_ids.remove(obj_id)
        for store in (self.points, self.mask_frames, self.per_object, self.temp):
            store.pop(obj_id, None)
        for key in (COND, NON_COND):
            for frame, out in list(self.outputs[key].items()):
                rows = out.rows(keep)
                rows.eff_iou_score = memory_score(rows.score, rows.iou_score)
                self.outputs[key][frame] = rows
                self._store_per_object(frame, rows, key)

    # -- tracking -----------------------------------------------------------------------------

    def track(
        self, frame: int, reverse: bool, features: FrameProvider, encode_memory: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame of official ``propagate_in_video`` (no preflight): a prompted frame gives its
        stored result, any other frame is tracked from memory. -> low-res logits (B, 1, 288, 288)
        and presence logits (B, 1)."""
        if not self.outputs[COND]:
            raise RuntimeError("this group has no conditioning frame: add a prompt first")
        if frame in self.consolidated[COND]:
            out = self.outputs[COND][frame]
            if len(self.obj_ids) <= 1:
                self.clear_around(frame)
            key = COND
        elif frame in self.consolidated[NON_COND]:
            out = self.outputs[NON_COND][frame]
            key = NON_COND
        else:
            out = self._track_frame(frame, reverse, features(frame), encode_memory)
            self.outputs[NON_COND][frame] = out
            key = NON_COND
        self._store_per_object(frame, out, key)
        self.tracked[frame] = reverse
        return out.pred_masks, out.score

    def _track_frame(
        self, frame: int, reverse: bool, features: TrackerFrame, encode_memory: bool
    ) -> GroupOutput:
        tracker = self.tracker
        b = len(self.obj_ids)
        pix = tracker.condition(features, self._memory_banks(frame, reverse))
        heads = tracker.sam_heads(pix, features.skips, None, None, multimask=True)
        assert heads.low_res is not None and heads.high_res is not None
        maskmem = None
        if encode_memory:
            maskmem = tracker.encode_memory(features, heads.high_res, heads.score, binarize=False)
        assert heads.low_res.shape[0] == b
        return GroupOutput(
            heads.low_res,
            heads.obj_ptr,
            heads.score,
            heads.iou_score,
            maskmem,
            memory_score(heads.score, heads.iou_score),
        )

    def set_memory(self, frame: int, maskmem: torch.Tensor) -> None:
        """Store a memory re-encoded for ``frame`` (the planner's ``_tracker_update_memories``)."""
        for key in (COND, NON_COND):
            out = self.outputs[key].get(frame)
            if out is not None:
                out.maskmem = maskmem
                self._store_per_object(frame, out, key)

    # -- the memory bank ----------------------------------------------------------------------

    def _frame_filter(self, frame: int, reverse: bool) -> list[int]:
        """SAM2Long's memory frames for ``frame``: the most recent tracked frames worth keeping
        (oldest first), and always the previous frame (official ``frame_filter``)."""
        if (frame == 0 and not reverse) or (frame == self.num_frames - 1 and reverse):
            return []
        c = self.tracker.config
        max_num = min(self.num_frames, c.max_obj_ptrs_in_encoder)
        non_cond = self.outputs[NON_COND]
        if not reverse:
            order, must = range(frame - 1, 0, -1), frame - 1
        else:
            order, must = range(frame + 1, self.num_frames), frame + 1
        valid: list[int] = []
        for t in order:
            out = non_cond.get(t)
            if out is None or out.eff_iou_score is None:
                continue
            if out.eff_iou_score > c.memory_selection_threshold:
                valid.insert(0, t)
            if len(valid) >= max_num - 1:
                break
        if must not in valid:
            valid.append(must)
        return valid

    def _memory_banks(self, frame: int, reverse: bool) -> list[MemoryInputs]:
        """Each object's memory bank for ``frame`` (official ``_prepare_memory_conditioned_features``
        with memory selection): selected conditioning frames, up to 6 selected tracked frames,
        then object pointers."""
        tracker = self.tracker
        c = tracker.config
        sign = -1 if reverse else 1
        selected, unselected = select_closest_cond_frames(
            frame, self.outputs[COND], c.max_cond_frames_in_attn
        )
        valid = self._frame_filter(frame, reverse)
        non_cond = self.outputs[NON_COND]
        entries: list[tuple[int, GroupOutput]] = [(0, out) for out in selected.values()]
        for t_pos in range(1, c.num_maskmem):
            t_rel = c.num_maskmem - t_pos
            if t_rel > len(valid):
                continue
            prev = valid[-t_rel]
            out = non_cond.get(prev) or unselected.get(prev)
            if out is not None:
                entries.append((t_pos, out))
        pointers: list[tuple[int, torch.Tensor]] = [
            ((frame - t) * sign, out.obj_ptr)
            for t, out in selected.items()
            if (t >= frame if reverse else t <= frame)
        ]
        max_ptrs = min(self.num_frames, c.max_obj_ptrs_in_encoder)
        for t_diff in range(1, max_ptrs):
            if t_diff >= len(valid):
                break
            t = valid[-t_diff]
            out = non_cond.get(t) or unselected.get(t)
            if out is not None:
                pointers.append((t_diff, out.obj_ptr))
        projected: list[ProjectedMemory] = []
        for _, out in entries:
            if out.maskmem is None:
                raise RuntimeError(f"frame memory of group {self.obj_ids} was never encoded")
            projected.append(tracker.project(out.maskmem))
        tpos = torch.stack([tracker.tpos_row(t_pos) for t_pos, _ in entries]) if entries else None
        b = len(self.obj_ids)
        if pointers:
            ptrs, ptrs_pos = tracker.pointer_tokens(pointers, self.num_frames)
        else:
            ref = tracker.memory.no_obj_ptr
            ptrs = ptrs_pos = ref.new_zeros(b, 0, c.mem_dim)
        banks = []
        for row in range(b):
            frames = [
                ProjectedMemory([k[row : row + 1] for k in p.keys], p.features[row : row + 1])
                for p in projected
            ]
            assert tpos is not None
            banks.append(MemoryInputs(frames, tpos, ptrs[row : row + 1], ptrs_pos[row : row + 1]))
        return banks

    # -- bounds -------------------------------------------------------------------------------

    def evict(self, frame: int, radius: int) -> None:
        """Forget what tracking from ``frame`` can no longer read: tracked frames farther than
        ``radius`` that are not among the 15 most recent memory-worthy frames on either side, and
        detector-made conditioning frames farther than ``radius`` that are not among the 4
        nearest. Prompted (clicked) frames stay."""
        c = self.tracker.config
        keep_worthy = c.max_obj_ptrs_in_encoder
        non_cond = self.outputs[NON_COND]
        far = [t for t in non_cond if abs(t - frame) > radius]
        if far:
            worthy = sorted(
                t
                for t, out in non_cond.items()
                if out.eff_iou_score is not None and out.eff_iou_score > c.memory_selection_threshold
            )
            before = [t for t in worthy if t < frame][-keep_worthy:]
            after = [t for t in worthy if t > frame][:keep_worthy]
            kept = set(before) | set(after)
            for t in far:
                if t not in kept:
                    self._forget(t, NON_COND)
        cond = self.outputs[COND]
        clicked = {f for o in self.obj_ids for f in self.points[o]}
        far_cond = [t for t in cond if abs(t - frame) > radius and t not in clicked]
        if far_cond:
            nearest, _ = select_closest_cond_frames(frame, cond, c.max_cond_frames_in_attn)
            for t in far_cond:
                if t not in nearest:
                    self._forget(t, COND)
        for views in self.per_object.values():
            for t in [t for t in views[NON_COND] if abs(t - frame) > radius and t not in non_cond]:
                del views[NON_COND][t]

    def _forget(self, frame: int, key: str) -> None:
        self.outputs[key].pop(frame, None)
        self.consolidated[key].discard(frame)
        for views in self.per_object.values():
            views[key].pop(frame, None)
        if key == COND:
            for o in self.obj_ids:
                self.mask_frames[o].discard(frame)

    def nbytes(self) -> int:
        return sum(out.nbytes() for store in self.outputs.values() for out in store.values())
