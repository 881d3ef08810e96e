"""SAM 3 video sessions: a noun phrase tracks every instance through a video with stable ids;
clicks add or correct single instances.

Same results as the official ``Sam3VideoPredictor`` (``Sam3VideoInferenceWithInstanceInteractivity``
at the released settings; parity in ``tests/test_sam3_video_parity.py``): per frame the backbone
runs once for detector and tracker, the detector finds the phrase's instances
(``video_detection.py``), each group of objects tracked together advances one frame
(``track_group.py``), and the planner (``video_tracks.py`` with the rules of ``planner.py``)
starts new objects, retires spurious ones (hot start: outputs held back ``hotstart_delay``
frames), re-prompts tracks with confident detections, suppresses overlaps and re-encodes the
memories. Organised for a desktop app (``docs/adr/0005-video-memory.md``, "SAM 3 video"):

- frames are decoded lazily; tracker features and detections live in byte-bounded caches
  (``frame_store.py``), output masks compressed and bounded; each group forgets the tracked
  frames its memory can no longer read (:meth:`TrackGroup.evict`), so memory stays flat;
- propagation is a generator (stop it between frames), with progress in every step, and
  :meth:`ConceptVideoSession.finish` ends a propagation early *keeping* the frames hot start
  still holds;
- after clicks, a propagation re-tracks only the corrected objects' groups, from the earliest
  corrected frame by default (the official default restarts at the phrase's frame).

Outputs are at video resolution: bool (H, W) masks by object id.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from model_runtime.api import PromptError, Prompts
from model_runtime.models.common.video_prompts import point_inputs
from model_runtime.models.sam2.frame_sources import FrameSource, VideoError, open_frames
from model_runtime.models.sam3.frame_store import FeatureCache, FrameEntry, OutputCache
from model_runtime.models.sam3.planner import PlannerConfig, fill_holes, non_overlapping_by_score
from model_runtime.models.sam3.track_group import TrackGroup
from model_runtime.models.sam3.tracker import TrackerFrame
from model_runtime.models.sam3.video_detection import FrameDetections, detect_frame
from model_runtime.models.sam3.video_history import FULL, PARTIAL, Action, next_propagation
from model_runtime.models.sam3.video_inputs import preprocess_video_frame
from model_runtime.models.sam3.video_prompts import mask_inputs
from model_runtime.models.sam3.video_tracks import ObjectTracks

if TYPE_CHECKING:
    from model_runtime.models.sam3.model import Sam3Model

__all__ = ["ConceptPropagationStep", "ConceptVideoConfig", "ConceptVideoSession", "VideoError"]


@dataclass(frozen=True)
class ConceptVideoConfig:
    """Session options: the planner's settings and the session's memory bounds."""

    planner: PlannerConfig = field(default_factory=PlannerConfig)
    feature_cache_bytes: int = 512 * 2**20  # tracker features (~21 MB a frame at full size)
    output_cache_bytes: int = 64 * 2**20  # compressed output masks (a few KB per object-frame)
    retain_radius: int = 32  # tracked frames kept within this many frames of the last one


@dataclass
class ConceptPropagationStep:
    """One frame's result. masks: obj id -> bool (H, W); scores: obj id -> the object's score
    (its detection score when the phrase found it, 1.0 for an object given by clicks);
    object_scores: obj id -> presence logit of the tracker on this frame; new_ids: objects shown
    for the first time in this session; lost_ids: objects shown on the previous step and not on
    this one. ``done``/``total``: frames processed in this call out of how many it will visit."""

    frame_index: int
    masks: dict[int, np.ndarray]
    scores: dict[int, float]
    object_scores: dict[int, float]
    new_ids: list[int]
    lost_ids: list[int]
    done: int = 0
    total: int = 0


@dataclass
class _FrameResult:
    """A processed frame before post-processing: masks at video resolution (bool (1, H, W) tensors)."""

    frame: int
    masks: dict[int, torch.Tensor]
    removed: set[int] = field(default_factory=set)


class ConceptVideoSession:
    """A video whose instances of a phrase (and clicked objects) are tracked. Create with
    ``model.open_video(source)``."""

    def __init__(
        self,
        model: Sam3Model,
        source: str | os.PathLike[str] | Sequence[np.ndarray] | np.ndarray | FrameSource,
        config: ConceptVideoConfig | None = None,
    ) -> None:
        if model.tracker is None:
            raise PromptError(f"{model.info.display_name} was loaded without its video tracker")
        self.model = model
        self.tracker = model.tracker
        self.device = model.device
        self.config = config or ConceptVideoConfig()
        self.frames = open_frames(source)
        self._owns_frames = self.frames is not source
        self._closed = False
        self.num_frames = len(self.frames)
        if self.num_frames == 0:
            raise VideoError("the video has no frames")
        self.frame_size: tuple[int, int] = tuple(self.frames.frame_size)  # type: ignore[assignment]
        self._features = FeatureCache(self.config.feature_cache_bytes)
        self._outputs = OutputCache(self.config.output_cache_bytes, self.frame_size)
        self._finish_requested = False
        self._reset_state()

    def _reset_state(self) -> None:
        self._phrase: str | None = None
        self._tracks = ObjectTracks(
            self.tracker, self.num_frames, self.frame_size, self.config.planner, self._tracker_frame
        )
        self._history: list[Action] = []
        self._output_frames: set[int] = set()
        self._seen: set[int] = set()
        self._shown: set[int] = set()
        self._corrected_frames: list[int] = []
        self._outputs.clear()
        self._features.forget_detections()

    # -- public API -----------------------------------------------------------------------------

    @property
    def object_ids(self) -> list[int]:
        return self._tracks.object_ids

    @property
    def phrase(self) -> str | None:
        return self._phrase

    @torch.no_grad()
    def add_concept(self, frame_index: int, prompts: Prompts) -> dict[int, np.ndarray]:
        """Find the phrase's instances on ``frame_index``; they become objects with new ids and
        the phrase is looked for on every frame tracked from now on. A concept starts the
        session over (as the official predictor does): earlier objects are forgotten.
        Returns the instances found there: obj id -> bool (H, W)."""
        self._check_frame(frame_index)
        if not isinstance(prompts, Prompts):
            raise PromptError(f"add_concept takes a Prompts value, got {type(prompts).__name__}")
        if prompts.exemplars:
            raise PromptError("exemplar boxes are not supported on videos yet: give a noun phrase")
        phrases = [p for p in prompts.phrases if p.strip()]
        if len(phrases) != 1:
            raise PromptError("give one noun phrase to track (e.g. Prompts(text='person'))")
        self._reset_state()
        self._phrase = phrases[0]
        result = self._full_step(frame_index, reverse=False)
        self._output_frames.add(frame_index)
        self._outputs.write(frame_index, _as_numpy(result.masks))
        masks = self._postprocess(result, hidden=set())
        self._seen.update(masks)
        self._shown = set(masks)
        return masks

    @torch.no_grad()
    def add_prompt(
        self,
        frame_index: int,
        obj_id: int,
        points: np.ndarray | Sequence[Sequence[float]] | None = None,
        labels: np.ndarray | Sequence[int] | None = None,
        box: np.ndarray | Sequence[float] | None = None,
        mask: np.ndarray | None = None,
    ) -> dict[int, np.ndarray]:
        """Correct ``obj_id`` on ``frame_index`` (or add it, for a new id) with clicks (points
        (N, 2) pixel x, y with labels (N,) 1 = foreground, 0 = background), a box (x0, y0, x1, y1),
        or a mask bool (H, W), replacing its earlier prompt there. The next propagation re-tracks
        the corrected objects. Returns every shown object's mask on that frame."""
        self._check_frame(frame_index)
        obj_id = int(obj_id)
        if mask is not None and (points is not None or labels is not None or box is not None):
            raise PromptError("a mask prompt cannot be combined with points or a box")
        # Bad prompts are refused before anything changes.
        if mask is not None:
            mask_prompt, video_mask = mask_inputs(mask, self.tracker.config.input_mask_size, self.frame_size)
        else:
            coords, point_labels = point_inputs(
                points, labels, box, self.frame_size, self.tracker.config.image_size
            )
        feats = self._frame(frame_index).tracker
        tracks = self._tracks
        group = tracks.group_of(obj_id)
        is_new = group is None
        if group is None:
            group = tracks.new_group(obj_id)
        self._history.append(Action("add" if is_new else "refine", frame_index, [obj_id]))
        tracks.scores[obj_id] = 1.0
        self._outputs.entry(frame_index).tracker_scores[obj_id] = 1.0
        tracks.hotstart.forget(obj_id)
        if mask is not None:
            group.add_mask(frame_index, obj_id, mask_prompt.to(self.device), feats)
            low = video_mask
        else:
            low_res = group.add_points(
                frame_index, obj_id, coords.to(self.device), point_labels.to(self.device), feats
            )
            video = F.interpolate(low_res, size=self.frame_size, mode="bilinear", align_corners=False)
            low = fill_holes(video, self.config.planner.fill_hole_area)[0] > 0
        group.preflight(self._tracker_frame)
        if not is_new:
            self._clear_detector_frames(group, obj_id, frame_index)
        self._corrected_frames.append(frame_index)
        cached = self._outputs.get(frame_index)
        masks = {o: torch.from_numpy(m)[None] for o, m in (cached.masks() if cached else {}).items()}
        masks[obj_id] = low
        result = _FrameResult(frame_index, masks)
        self._outputs.write(frame_index, _as_numpy(masks))
        return self._postprocess(result, hidden=set())

    def remove_object(self, obj_id: int) -> None:
        """Forget an object and everything tracked for it; its id is not reused."""
        self._check_open()
        self._tracks.remove(int(obj_id))
        self._history.append(Action("remove", None, [int(obj_id)]))
        self._outputs.drop_object(int(obj_id))

    def reset(self) -> None:
        """Forget the phrase, every object and prompt (cached frame features are kept)."""
        self._check_open()
        self._reset_state()

    def finish(self) -> None:
        """Ask a running propagation to end after the frame in progress, as if its range ended
        there: the frames hot start still holds come out too (thread-safe; a flag)."""
        self._finish_requested = True

    def propagate(
        self, start_frame: int | None = None, direction: str = "forward", max_frames: int | None = None
    ) -> Iterator[ConceptPropagationStep]:
        """Track through the video, one step per frame released.

        direction: "forward" (from ``start_frame`` on), "backward" (the frames before
        ``start_frame``, nearest first) or "both" (forward, then backward). start_frame: default
        the phrase's frame, or after clicks the earliest corrected frame. max_frames: at most
        this many frames per direction. Stop early by closing the generator (frames hot start
        still holds are lost) or with :meth:`finish` (they come out)."""
        if direction not in ("forward", "backward", "both"):
            raise ValueError(f"direction must be 'forward', 'backward' or 'both', got {direction!r}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, got {max_frames}")
        self._check_open()
        if not self._tracks.groups and self._phrase is None:
            raise PromptError("nothing to track: add a phrase (add_concept) or an object (add_prompt) first")
        self._finish_requested = False
        passes = [False, True] if direction == "both" else [direction == "backward"]
        orders = []
        for reverse in passes:
            kind, obj_ids = self._next_propagation()
            start = self._start_frame(start_frame, kind)
            orders.append((reverse, kind, obj_ids, self._order(start, reverse, max_frames)))
            self._history.append(Action(kind, start_frame, obj_ids))
        total = sum(len(order) for *_, order in orders)
        offset = 0
        for reverse, kind, obj_ids, order in orders:
            if kind == FULL:
                steps = self._propagate_full(order, reverse)
            elif kind == PARTIAL:
                steps = self._propagate_partial(order, reverse, obj_ids or [])
            else:
                steps = self._fetch(order)
            for step in steps:
                step.done, step.total = offset + step.done, total
                yield step
            offset += len(order)
        self._corrected_frames.clear()

    def close(self) -> None:
        """Free the objects' memory, the caches and the frame reader; unusable afterwards."""
        if self._closed:
            return
        self._closed = True
        self._tracks.groups.clear()
        self._features.clear()
        self._outputs.clear()
        if self._owns_frames:
            self.frames.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> ConceptVideoSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def state_nbytes(self) -> int:
        """Bytes held by the tracked objects' state (memories, pointers, low-res masks)."""
        return self._tracks.nbytes()

    @property
    def cache_nbytes(self) -> int:
        return self._features.nbytes + self._outputs.nbytes

    # -- frames ---------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise VideoError("this video session was closed")

    def _check_frame(self, frame_index: int) -> None:
        self._check_open()
        if not isinstance(frame_index, (int, np.integer)) or not 0 <= frame_index < self.num_frames:
            raise IndexError(f"frame {frame_index} is outside the video (0..{self.num_frames - 1})")

    def _frame(self, frame: int, with_detections: bool = False) -> FrameEntry:
        """The frame's cached work; the backbone runs (once, for detector and tracker) if the
        tracker features, or the phrase's detections when asked for, are missing."""
        self._check_open()
        entry = self._features.get(frame)
        phrase = self._phrase
        need_detections = with_detections and phrase is not None
        if entry is not None and (not need_detections or phrase in entry.detections):
            return entry
        model = self.model
        pixels = preprocess_video_frame(self.frames.read(frame), model.info.image_size).to(self.device)
        model.encoders.release_text_pages()
        vision = model.encoders.vision_backbone(pixels, with_tracker=True, tracker_heads=())
        if entry is None:
            assert vision.sam2_backbone_out is not None
            entry = FrameEntry(self.tracker.frame_features(vision.sam2_backbone_out.backbone_fpn))
        if need_detections:
            assert phrase is not None and model.detector is not None
            image = model.detector.prepare_image(vision.backbone_fpn)
            planner = self.config.planner
            text = model.encoders.forward_text([phrase])
            entry.detections[phrase] = detect_frame(
                model.detector, image, text, planner.score_threshold_detection, planner.det_nms_thresh
            )
        self._features.put(frame, entry)
        return entry

    def _tracker_frame(self, frame: int) -> TrackerFrame:
        return self._frame(frame).tracker

    def _detections(self, frame: int) -> FrameDetections:
        side = self.tracker.config.low_res_size
        if self._phrase is None:
            return FrameDetections.empty(side, self.device)
        return self._frame(frame, with_detections=True).detections[self._phrase]

    # -- one frame with the detector (official _det_track_one_frame) ----------------------------

    def _full_step(self, frame: int, reverse: bool) -> _FrameResult:
        step = self._tracks.step(frame, reverse, self._detections(frame))
        scores = self._outputs.entry(frame).tracker_scores
        scores.update(zip(step.new_ids, step.new_scores, strict=True))
        masks = dict(zip(step.ids, self._to_video(step.masks[:, None]), strict=True))
        masks.update(zip(step.new_ids, self._to_video(step.new_masks), strict=True))
        scores.update(zip(step.ids, step.scores.sigmoid().tolist(), strict=True))
        self._tracks.evict(frame, self.config.retain_radius)
        return _FrameResult(frame, masks, step.removed)

    def _to_video(self, low_res: torch.Tensor) -> list[torch.Tensor]:
        """(N, 1, h, w) logits -> N bool (1, H, W) masks at video resolution."""
        if low_res.shape[0] == 0:
            return []
        video = F.interpolate(low_res.float(), size=self.frame_size, mode="bilinear", align_corners=False) > 0
        return list(video)

    # -- clicks ---------------------------------------------------------------------------------

    def _clear_detector_frames(self, group: TrackGroup, obj_id: int, frame: int) -> None:
        """A click makes the detector's mask prompts of that object within the removal window
        stop conditioning (official ``clear_detector_added_cond_frame_in_tracker``)."""
        window = self.config.planner.refinement_window
        frames = [
            f for f in group.mask_frames[obj_id] if f not in group.points[obj_id] and abs(f - frame) <= window
        ]
        for f in frames:
            for other in list(group.obj_ids):
                group.clear_prompts(f, other)

    # -- propagation ----------------------------------------------------------------------------

    def _next_propagation(self) -> tuple[str, list[int] | None]:
        return next_propagation(self._history, self._phrase is not None, self.object_ids, self.num_frames)

    def _start_frame(self, start_frame: int | None, kind: str) -> int:
        if start_frame is not None:
            self._check_frame(start_frame)
            return int(start_frame)
        if kind == PARTIAL and self._corrected_frames:
            return min(self._corrected_frames)
        if self._output_frames:
            return min(self._output_frames)
        prompted = [
            f for g in self._tracks.groups for o in g.obj_ids for f in (*g.points[o], *g.mask_frames[o])
        ]
        if not prompted:
            raise PromptError("no frame has a prompt: give start_frame")
        return min(prompted)

    def _order(self, start: int, reverse: bool, max_frames: int | None) -> list[int]:
        """Frames of one pass (official order: backward starts before ``start``)."""
        count = self.num_frames if max_frames is None else max_frames
        if reverse:
            return list(range(start - 1, max(start - 1 - count, -1), -1))
        return list(range(start, min(start + count, self.num_frames)))

    def _propagate_full(self, order: list[int], reverse: bool) -> Iterator[ConceptPropagationStep]:
        delay = self.config.planner.hotstart_delay
        held: list[_FrameResult] = []
        removed: set[int] = set()
        done = 0
        for frame in order:
            if self._finish_requested:
                break
            self._check_open()
            result = self._full_step(frame, reverse)
            self._output_frames.add(frame)
            self._outputs.write(frame, _as_numpy(result.masks))
            done += 1
            if delay <= 0:
                yield self._step(result, set(), done)
                continue
            held.append(result)
            removed |= result.removed
            if frame == order[-1]:
                release, held = held, []
            elif len(held) >= delay:
                release, held = held[:1], held[1:]
            else:
                continue
            for item in release:
                yield self._step(item, removed, done)
        for item in held:  # finished early: the range ends here
            yield self._step(item, removed, done)

    def _step(self, result: _FrameResult, hidden: set[int], done: int) -> ConceptPropagationStep:
        masks = self._postprocess(result, hidden)
        kept = {o: m for o, m in result.masks.items() if o not in hidden}
        self._outputs.write(result.frame, _as_numpy(kept))
        return self._make_step(result.frame, masks, done)

    def _make_step(self, frame: int, masks: dict[int, np.ndarray], done: int) -> ConceptPropagationStep:
        tracker_scores = self._outputs.entry(frame).tracker_scores
        new = [o for o in masks if o not in self._seen]
        lost = [o for o in sorted(self._shown) if o not in masks]
        self._seen.update(masks)
        self._shown = set(masks)
        return ConceptPropagationStep(
            frame,
            masks,
            {o: float(self._tracks.scores.get(o, 0.0)) for o in masks},
            {o: _logit(tracker_scores.get(o, 0.0)) for o in masks},
            new,
            lost,
            done,
        )

    def _propagate_partial(
        self, order: list[int], reverse: bool, obj_ids: list[int]
    ) -> Iterator[ConceptPropagationStep]:
        """Re-track the groups of ``obj_ids`` only; other objects keep their outputs (official
        ``propagation_partial``)."""
        groups = [g for g in self._tracks.groups if set(obj_ids) & set(g.obj_ids)]
        for group in groups:
            group.preflight(self._tracker_frame)
        for done, frame in enumerate(order, start=1):
            if self._finish_requested:
                break
            self._check_open()
            ids, low, scores = self._tracks.track(groups, frame, reverse, encode_memory=True)
            refined = [o for o in obj_ids if o in ids]
            entry = self._outputs.entry(frame)
            for o in refined:
                entry.tracker_scores[o] = float(scores[ids.index(o)])
            cached = entry.masks()
            masks = {o: torch.from_numpy(m)[None] for o, m in cached.items()}
            rows = [ids.index(o) for o in refined]
            masks.update(zip(refined, self._to_video(low[rows][:, None]), strict=True))
            self._tracks.evict(frame, self.config.retain_radius, groups)
            result = _FrameResult(frame, masks)
            self._outputs.write(frame, _as_numpy(masks))
            yield self._make_step(frame, self._postprocess(result, hidden=set()), done)

    def _fetch(self, order: list[int]) -> Iterator[ConceptPropagationStep]:
        """Replay the stored outputs (official ``propagation_fetch``)."""
        for done, frame in enumerate(order, start=1):
            self._check_open()
            cached = self._outputs.get(frame)
            masks = {o: torch.from_numpy(m)[None] for o, m in (cached.masks() if cached else {}).items()}
            yield self._make_step(frame, self._postprocess(_FrameResult(frame, masks), hidden=set()), done)

    def _postprocess(self, result: _FrameResult, hidden: set[int]) -> dict[int, np.ndarray]:
        """Shown objects: non-empty, not hidden, one object per pixel by tracker score (official
        ``_postprocess_output``) -> obj id -> bool (H, W)."""
        ids = sorted(o for o, m in result.masks.items() if o not in hidden and bool(m.any()))
        if not ids:
            return {}
        masks = torch.cat([result.masks[o] for o in ids])
        if len(ids) > 1:
            scores = self._outputs.entry(result.frame).tracker_scores
            probs = torch.tensor([scores.get(o, 0.0) for o in ids], dtype=torch.float32)
            masks = non_overlapping_by_score(masks, probs)
        return {o: masks[i].cpu().numpy() for i, o in enumerate(ids)}


def _as_numpy(masks: dict[int, torch.Tensor]) -> dict[int, np.ndarray]:
    return {o: m.reshape(m.shape[-2:]).cpu().numpy() for o, m in masks.items()}


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))
