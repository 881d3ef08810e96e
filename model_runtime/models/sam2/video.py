"""SAM 2 video sessions: prompts on any frame, propagation forward and backward, many objects.

Same results as the official ``SAM2VideoPredictor`` (with ``add_all_frames_to_correct_as_cond``:
a correction on an already tracked frame becomes a conditioning frame), organised for a desktop
app rather than a benchmark:

- frames are decoded lazily and their image features kept in a byte-bounded LRU cache, and
  optionally shared with the clicks on the same frames (``SharedEmbeddings``, the runtime's
  embedding cache: see ``video_features``);
- each object keeps only what its memory bank can still use: its conditioning frames, and the
  non-conditioning frames within ``retain_radius`` frames of the last frame processed (the
  memory bank reads 6 frames back, object pointers 15), so the state does not grow with the video;
- every memory frame's cross-attention keys are projected once and kept
  (:meth:`MemoryAttention.project_memory`), instead of once per frame that reads them; values
  are not projected at all (the attention mixes the raw 64-channel memory, ADR 0005);
- all objects that need inference on a frame share one image encoding and run batched through
  the mask decoder and memory encoder (and through memory attention when their banks have the
  same size);
- propagation is a generator: the caller stops it between frames and reads progress from it.

This module is the session's bookkeeping (prompts, which frames run in which order, what is
kept); the network's work on one frame is ``tracker.py`` (:class:`FrameTracker`).

Tensor conventions as in ``tracker.py``; video-resolution outputs are (H, W) numpy arrays.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from model_runtime.api import PromptError
from model_runtime.models.common.video_prompts import point_inputs
from model_runtime.models.sam2.frame_sources import FrameSource, VideoError, open_frames
from model_runtime.models.sam2.network import Sam2Network
from model_runtime.models.sam2.tracker import FrameOutput, FrameTracker, ObjectTrack
from model_runtime.models.sam2.video_features import (
    FrameFeatures,
    SharedEmbeddings,
    as_embedding,
    from_embedding,
)

MASK_LOGIT_CLAMP = 32.0  # previous logits fed back with a correction are clamped (official)

__all__ = [
    "FrameFeatures", "PropagationStep", "SharedEmbeddings", "VideoConfig", "VideoError", "VideoSession",
]


@dataclass(frozen=True)
class VideoConfig:
    """Session options. The defaults keep a tiny model's session under ~1 GB for any length."""

    feature_cache_bytes: int = 512 * 2**20  # decoded-and-encoded frames kept for re-use
    retain_radius: int = 32  # non-conditioning outputs kept within this many frames of the last
    add_all_frames_to_correct_as_cond: bool = True


@dataclass
class PropagationStep:
    """One propagated frame. masks: obj_id -> bool (H, W); logits: obj_id -> float32 (H, W) at
    video resolution; object_scores: obj_id -> presence logit (> 0: present). ``done``/``total``:
    frames finished in this propagation call, out of how many it will visit."""

    frame_index: int
    masks: dict[int, np.ndarray]
    logits: dict[int, np.ndarray]
    object_scores: dict[int, float]
    done: int
    total: int


class FeatureCache:
    """LRU of :class:`FrameFeatures` bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[int, FrameFeatures] = OrderedDict()
        self._bytes = 0

    def get(self, frame: int) -> FrameFeatures | None:
        item = self._items.get(frame)
        if item is not None:
            self._items.move_to_end(frame)
        return item

    def put(self, frame: int, features: FrameFeatures) -> None:
        if frame in self._items:
            self._bytes -= self._items.pop(frame).nbytes()
        self._items[frame] = features
        self._bytes += features.nbytes()
        # Always keep the newest entry, even if it alone exceeds the budget.
        while self._bytes > self.max_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._bytes -= old.nbytes()

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes


class VideoSession:
    """A video with objects to segment through it. Create with ``model.open_video(source)``."""

    def __init__(
        self,
        network: Sam2Network,
        device: torch.device,
        source: str | os.PathLike[str] | Sequence[np.ndarray] | np.ndarray | FrameSource,
        config: VideoConfig | None = None,
        shared: SharedEmbeddings | None = None,
        model_id: str = "",
        tracker: FrameTracker | None = None,
    ) -> None:
        """``tracker``: the network's work on one frame; by default :class:`FrameTracker` over
        ``network`` (tests give a stand-in that needs no weights)."""
        self.network = network
        self.device = device
        self.config = config or VideoConfig()
        # Frames encoded outside the session (clicked on) are read from ``shared``, and the
        # frames encoded here are put there (for the clicks after): embeddings of ``model_id``.
        self.shared = shared
        self.model_id = model_id
        self.frames = open_frames(source)
        # A reader opened here from a path is closed with the session; a frame source the
        # caller built stays theirs.
        self._owns_frames = self.frames is not source
        self._closed = False
        self.num_frames = len(self.frames)
        if self.num_frames == 0:
            raise VideoError("the video has no frames")
        self.frame_size: tuple[int, int] = tuple(self.frames.frame_size)  # type: ignore[assignment]
        self._objects: dict[int, ObjectTrack] = {}
        self._stopped: set[int] = set()  # objects whose propagation pass ended early
        self._cache = FeatureCache(self.config.feature_cache_bytes)
        self._image_size = network.config.image_size
        self.tracker = tracker or FrameTracker(network, device, self.num_frames)

    # -- public API -----------------------------------------------------------------------------

    @property
    def object_ids(self) -> list[int]:
        return list(self._objects)

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
        """Prompt ``obj_id`` on ``frame_index`` (replacing its earlier prompts on that frame).

        points (N, 2) pixel x, y with labels (N,) 1 = foreground, 0 = background; box (4,)
        x0, y0, x1, y1; or mask: bool (H, W) — a mask excludes points and box. Returns the
        masks of every object on that frame: obj_id -> bool (H, W).
        """
        self._check_frame(frame_index)
        obj_id = int(obj_id)
        if mask is not None:
            if points is not None or labels is not None or box is not None:
                raise PromptError("a mask prompt cannot be combined with points or a box")
            return self._add_mask(frame_index, obj_id, mask)
        coords, labels_t = point_inputs(points, labels, box, self.frame_size, self._image_size)
        coords, labels_t = coords.to(self.device), labels_t.to(self.device)
        track = self._objects.setdefault(obj_id, ObjectTrack(obj_id))
        track.points[frame_index] = (coords, labels_t)
        track.masks.pop(frame_index, None)
        is_init, reverse, is_cond = self._frame_role(track, frame_index)
        # The frame's previous logits are fed back with the new clicks (official lookup order).
        prev = (track.temp_cond if is_cond else track.temp_non_cond).get(frame_index)
        if prev is None:
            prev = track.cond.get(frame_index, track.non_cond.get(frame_index))
        prev_logits = None
        if prev is not None:
            prev_logits = prev.pred_masks.clamp(-MASK_LOGIT_CLAMP, MASK_LOGIT_CLAMP)
        out = self._infer(
            frame_index, [track], is_init=is_init, reverse=reverse,
            points=(coords, labels_t), prev_logits=prev_logits, encode_memory=False,
        )[0]
        self._store_temp(track, frame_index, out, is_cond)
        return self._frame_masks(frame_index)

    def remove_object(self, obj_id: int) -> None:
        """Forget an object and everything tracked for it."""
        self._track(obj_id)
        del self._objects[int(obj_id)]

    def clear_prompts(self, frame_index: int, obj_id: int | None = None) -> None:
        """Remove the prompts on ``frame_index`` of one object (or of all objects). The frame's
        result is kept as an ordinary tracked frame until the next propagation recomputes it."""
        self._check_frame(frame_index)
        tracks = [self._track(obj_id)] if obj_id is not None else list(self._objects.values())
        for track in tracks:
            track.points.pop(frame_index, None)
            track.masks.pop(frame_index, None)
            track.temp_cond.pop(frame_index, None)
            track.temp_non_cond.pop(frame_index, None)
            out = track.cond.pop(frame_index, None)
            if out is not None:
                track.non_cond[frame_index] = out
                track.tracked.pop(frame_index, None)

    def reset(self) -> None:
        """Forget every object and prompt (cached image features are kept)."""
        self._objects.clear()

    def propagate(
        self,
        start_frame: int | None = None,
        direction: str = "forward",
        max_frames: int | None = None,
        ranges: Mapping[int, tuple[int, int]] | None = None,
    ) -> Iterator[PropagationStep]:
        """Track every prompted object through the video, one frame per step.

        start_frame: default the earliest prompted frame. direction: "forward", "backward" or
        "both" (forward from ``start_frame``, then backward from the frame before it).
        max_frames: at most this many frames per direction (default: to the end of the video).
        ranges: obj_id -> (first, last) frames that object is tracked on (others: the whole
        pass); outside them it is neither computed nor reported, and a frame with no object to
        track is skipped. :meth:`stop_object` ends an object's pass early (it is lost).
        Stop early by closing or abandoning the generator; the session stays usable.
        """
        if direction not in ("forward", "backward", "both"):
            raise ValueError(f"direction must be 'forward', 'backward' or 'both', got {direction!r}")
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, got {max_frames}")
        self._check_open()
        with torch.no_grad():
            self._preflight()
        tracks = [t for t in self._objects.values() if t.cond]
        if not tracks:
            raise PromptError("no object has a prompt: add a prompt before propagating")
        if start_frame is None:
            start_frame = min(f for t in tracks for f in t.cond)
        self._check_frame(start_frame)
        limit = self.num_frames if max_frames is None else max_frames
        orders: list[tuple[list[int], bool]] = []
        if direction in ("forward", "both"):
            orders.append((list(range(start_frame, min(start_frame + limit, self.num_frames))), False))
        if direction == "backward":
            orders.append((list(range(start_frame, max(start_frame - limit, -1), -1)), True))
        if direction == "both":
            orders.append((list(range(start_frame - 1, max(start_frame - 1 - limit, -1), -1)), True))
        spans = {t.obj_id: (ranges or {}).get(t.obj_id, (0, self.num_frames - 1)) for t in tracks}

        def active(frame: int) -> list[ObjectTrack]:
            return [
                t for t in tracks
                if spans[t.obj_id][0] <= frame <= spans[t.obj_id][1] and t.obj_id not in self._stopped
            ]

        low, high = min(lo for lo, _ in spans.values()), max(hi for _, hi in spans.values())
        orders = [([f for f in order if low <= f <= high], reverse) for order, reverse in orders]
        total = sum(len(order) for order, _ in orders)
        done = 0
        for order, reverse in orders:
            self._stopped = set()  # a pass ended early for an object starts again in the next
            for frame in order:
                self._check_open()  # closed while propagating: stop here
                running = active(frame)
                if not running:
                    if all(t.obj_id in self._stopped for t in tracks):
                        break  # every object is lost on this side
                    continue
                with torch.no_grad():
                    step = self._propagate_frame(frame, running, reverse, start_frame)
                done += 1
                step.done, step.total = done, total
                yield step

    def stop_object(self, obj_id: int) -> None:
        """Track ``obj_id`` no further in the pass (direction) being propagated: it is lost, or
        the caller has what it needs. The next pass tracks it again."""
        self._track(obj_id)
        self._stopped.add(int(obj_id))

    def close(self) -> None:
        """Free the objects' memory, the cached frame features and the frame reader (a video
        file's decoder). The session is unusable afterwards; closing again does nothing."""
        if self._closed:
            return
        self._closed = True
        self._objects.clear()
        self._cache.clear()
        if self._owns_frames:
            self.frames.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> VideoSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def state_nbytes(self) -> int:
        """Bytes held by per-object state (memories, pointers, low-res masks, prompts)."""
        return sum(t.nbytes() for t in self._objects.values())

    @property
    def feature_cache_nbytes(self) -> int:
        return self._cache.nbytes

    # -- prompts ---------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise VideoError("this video session was closed")

    def _check_frame(self, frame_index: int) -> None:
        self._check_open()
        if not isinstance(frame_index, (int, np.integer)) or not 0 <= frame_index < self.num_frames:
            raise IndexError(f"frame {frame_index} is outside the video (0..{self.num_frames - 1})")

    def _track(self, obj_id: int | None) -> ObjectTrack:
        track = self._objects.get(int(obj_id)) if obj_id is not None else None
        if track is None:
            raise KeyError(f"unknown object id {obj_id}; known: {sorted(self._objects)}")
        return track

    def _frame_role(self, track: ObjectTrack, frame: int) -> tuple[bool, bool, bool]:
        """(is the first prompt on an untracked frame, tracked in reverse, becomes a conditioning
        frame) — a frame never tracked for this object starts a new masklet without memory."""
        is_init = frame not in track.tracked
        reverse = False if is_init else track.tracked[frame]
        is_cond = is_init or self.config.add_all_frames_to_correct_as_cond
        return is_init, reverse, is_cond

    def _store_temp(self, track: ObjectTrack, frame: int, out: FrameOutput, is_cond: bool) -> None:
        (track.temp_cond if is_cond else track.temp_non_cond)[frame] = out
        (track.temp_non_cond if is_cond else track.temp_cond).pop(frame, None)

    def _add_mask(self, frame: int, obj_id: int, mask: np.ndarray) -> dict[int, np.ndarray]:
        arr = np.asarray(mask)
        if arr.ndim != 2:
            raise PromptError(f"mask must be a 2-D (H, W) array, got shape {arr.shape}")
        m = torch.from_numpy(arr.astype(bool))[None, None].float().to(self.device)
        size = self._image_size
        if m.shape[-2:] != (size, size):
            m = F.interpolate(m, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
            m = (m >= 0.5).float()
        track = self._objects.setdefault(obj_id, ObjectTrack(obj_id))
        track.masks[frame] = m
        track.points.pop(frame, None)
        is_init, reverse, is_cond = self._frame_role(track, frame)
        out = self._infer(frame, [track], is_init=is_init, reverse=reverse, mask=m, encode_memory=False)[0]
        self._store_temp(track, frame, out, is_cond)
        return self._frame_masks(frame)

    def _frame_masks(self, frame: int) -> dict[int, np.ndarray]:
        """Every object's current mask on ``frame`` at video resolution (empty if none yet)."""
        h, w = self.frame_size
        result: dict[int, np.ndarray] = {}
        for obj_id, track in self._objects.items():
            out = track.latest(frame)
            if out is None:
                result[obj_id] = np.zeros((h, w), dtype=bool)
            else:
                result[obj_id] = self._to_video_res(out.pred_masks)[0, 0].cpu().numpy() > 0
        return result

    def _to_video_res(self, low_res: torch.Tensor) -> torch.Tensor:
        """(B, 1, 256, 256) -> (B, 1, H, W) float32 logits, bilinear (align_corners=False)."""
        return F.interpolate(low_res.float(), size=self.frame_size, mode="bilinear", align_corners=False)

    # -- propagation ---------------------------------------------------------------------------

    def _preflight(self) -> None:
        """Encode the memories of newly prompted frames and move them into the memory bank."""
        for track in self._objects.values():
            for temp, store in ((track.temp_non_cond, track.non_cond), (track.temp_cond, track.cond)):
                for frame, out in temp.items():
                    if out.maskmem is None:
                        high_res = F.interpolate(
                            out.pred_masks, size=(self._image_size,) * 2, mode="bilinear", align_corners=False
                        )
                        feats = self._features(frame)
                        out.maskmem = self.tracker.encode_memory(
                            feats, high_res, out.object_score, from_prompt=True
                        )
                        out.projected = None
                    store[frame] = out
                temp.clear()
            for frame in track.cond:
                track.non_cond.pop(frame, None)

    def _propagate_frame(
        self, frame: int, tracks: list[ObjectTrack], reverse: bool, start: int
    ) -> PropagationStep:
        to_run = [t for t in tracks if frame not in t.cond]
        if to_run:
            outs = self._infer(frame, to_run, is_init=False, reverse=reverse, encode_memory=True)
            for track, out in zip(to_run, outs, strict=True):
                track.non_cond[frame] = out
        masks, logits, scores = {}, {}, {}
        low = [(t.cond[frame] if frame in t.cond else t.non_cond[frame]) for t in tracks]
        video_res = self._to_video_res(torch.cat([o.pred_masks for o in low]))
        for track, out, full in zip(tracks, low, video_res, strict=True):
            track.tracked[frame] = reverse
            arr = full[0].cpu().numpy()
            logits[track.obj_id] = arr
            masks[track.obj_id] = arr > 0
            scores[track.obj_id] = float(out.object_score.reshape(-1)[0])
            self._evict(track, frame, start)
        return PropagationStep(frame, masks, logits, scores, 0, 0)

    def _evict(self, track: ObjectTrack, frame: int, start: int) -> None:
        """Drop non-conditioning outputs farther than ``retain_radius`` from ``frame``: the
        memory bank (6 frames back) and object pointers (15 back) cannot read them any more.
        Those near ``start`` stay too: the backward half of a "both" pass begins there."""
        radius = self.config.retain_radius
        far = [f for f in track.non_cond if abs(f - frame) > radius and abs(f - start) > radius]
        for f in far:
            del track.non_cond[f]

    # -- one frame -------------------------------------------------------------------------------

    def _features(self, frame: int) -> FrameFeatures:
        self._check_open()  # a propagation still running after close() stops here
        cached = self._cache.get(frame)
        if cached is not None:
            return cached
        kept = self.shared.get(frame) if self.shared is not None else None
        feats = from_embedding(kept, self.network, self.model_id) if kept is not None else None
        if feats is None:
            feats = self.tracker.encode_frame(self.frames.read(frame))
            if self.shared is not None:
                self.shared.put(frame, as_embedding(feats, self.network, self.model_id, self.frame_size))
        self._cache.put(frame, feats)
        return feats

    def _infer(self, frame: int, tracks: list[ObjectTrack], **prompts_and_role) -> list[FrameOutput]:
        """:meth:`FrameTracker.infer` on ``frame``'s (cached) features."""
        return self.tracker.infer(self._features(frame), frame, tracks, **prompts_and_role)
