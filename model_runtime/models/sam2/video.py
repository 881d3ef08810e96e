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

Tensor conventions: features (B, C, 64, 64) with B objects; masks at 1024² are "high-res", the
decoder's 256² logits are "low-res"; video-resolution outputs are (H, W) numpy arrays.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from model_runtime.api import PromptError
from model_runtime.models.common.upscaling_head import SkipFeatures
from model_runtime.models.sam2.frame_sources import FrameSource, VideoError, open_frames
from model_runtime.models.sam2.memory_attention import MemoryInputs, ProjectedMemory
from model_runtime.models.sam2.network import Sam2Network
from model_runtime.models.sam2.position_encoding import sine_position_encoding
from model_runtime.models.sam2.video_features import (
    FrameFeatures,
    SharedEmbeddings,
    as_embedding,
    encode_frame,
    from_embedding,
)

NO_OBJ_SCORE = -1024.0  # logits of an object judged absent (the official placeholder)
MASK_LOGIT_CLAMP = 32.0  # previous logits fed back with a correction are clamped (official)
MASK_AS_OUTPUT_SCALE, MASK_AS_OUTPUT_BIAS = 20.0, -10.0  # a mask prompt becomes ±10 logits
BOX_LABELS = (2, 3)

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
class FrameOutput:
    """One object's result on one frame.

    pred_masks (1, 1, 256, 256) low-res logits; obj_ptr (1, 256); object_score (1, 1) logit;
    maskmem (1, 64, 64, 64) bfloat16 memory features (None until encoded); projected: the
    memory's cross-attention keys/values, computed the first time another frame reads it.
    """

    pred_masks: torch.Tensor
    obj_ptr: torch.Tensor
    object_score: torch.Tensor
    maskmem: torch.Tensor | None = None
    projected: ProjectedMemory | None = None

    def nbytes(self) -> int:
        total = sum(t.element_size() * t.nelement() for t in (self.pred_masks, self.obj_ptr))
        if self.maskmem is not None:
            total += self.maskmem.element_size() * self.maskmem.nelement()
        if self.projected is not None:
            total += self.projected.nbytes()
        return total


@dataclass
class ObjectTrack:
    """Everything one object id holds. ``points[frame]`` = (coords (1, P, 2) in model input
    pixels, labels (1, P) int32); ``masks[frame]`` = (1, 1, 1024, 1024) float 0/1 mask prompt;
    ``tracked[frame]`` = whether that frame was last tracked in reverse."""

    obj_id: int
    points: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    masks: dict[int, torch.Tensor] = field(default_factory=dict)
    cond: dict[int, FrameOutput] = field(default_factory=dict)
    non_cond: dict[int, FrameOutput] = field(default_factory=dict)
    temp_cond: dict[int, FrameOutput] = field(default_factory=dict)
    temp_non_cond: dict[int, FrameOutput] = field(default_factory=dict)
    tracked: dict[int, bool] = field(default_factory=dict)

    def latest(self, frame: int) -> FrameOutput | None:
        """The most recent output on ``frame``: a new prompt's result first, then tracking's."""
        for store in (self.temp_cond, self.temp_non_cond, self.cond, self.non_cond):
            if frame in store:
                return store[frame]
        return None

    def nbytes(self) -> int:
        stores = (self.cond, self.non_cond, self.temp_cond, self.temp_non_cond)
        total = sum(out.nbytes() for store in stores for out in store.values())
        total += sum(m.element_size() * m.nelement() for m in self.masks.values())
        return total


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


class _FeatureCache:
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
    ) -> None:
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
        self._cache = _FeatureCache(self.config.feature_cache_bytes)
        c = network.config
        self._image_size = c.image_size
        self._num_maskmem = c.num_maskmem
        with torch.no_grad():
            self._dense_pe = network.sam_prompt_encoder.get_dense_pe()
            side = c.image_size // c.backbone_stride
            pos = sine_position_encoding(c.mem_dim, (side, side), device)
            self._mem_pos = pos.flatten(2).transpose(1, 2)  # (1, HW, mem_dim)

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
        coords, labels_t = self._point_inputs(points, labels, box)
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

    def _point_inputs(self, points, labels, box) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts -> model-input coordinates (1, P, 2) and labels (1, P): box corners first."""
        if (points is None) != (labels is None):
            raise PromptError("points and labels must be given together")
        if points is None and box is None:
            raise PromptError("a prompt needs points, a box or a mask")
        parts_xy: list[np.ndarray] = []
        parts_lab: list[np.ndarray] = []
        if box is not None:
            box_arr = np.asarray(box, dtype=np.float32).reshape(-1)
            if box_arr.shape != (4,) or not np.isfinite(box_arr).all():
                raise PromptError(f"box must be 4 finite numbers x0, y0, x1, y1, got {box!r}")
            parts_xy.append(box_arr.reshape(2, 2))
            parts_lab.append(np.asarray(BOX_LABELS, dtype=np.int32))
        if points is not None:
            pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
            lab = np.asarray(labels, dtype=np.int32).reshape(-1)
            if len(pts) != len(lab):
                raise PromptError(f"{len(pts)} points but {len(lab)} labels")
            if not np.isfinite(pts).all():
                raise PromptError("points contain NaN or infinity")
            if not np.isin(lab, (0, 1)).all():
                raise PromptError(f"point labels must be 0 or 1, got {sorted(set(lab.tolist()))}")
            parts_xy.append(pts)
            parts_lab.append(lab)
        xy = torch.from_numpy(np.concatenate(parts_xy))[None]
        h, w = self.frame_size
        # Official order of operations: divide by (W, H), then scale to the model input size.
        coords = (xy / torch.tensor([w, h])) * self._image_size
        lab_t = torch.from_numpy(np.concatenate(parts_lab))[None]
        return coords.to(self.device), lab_t.to(self.device)

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
                        out.maskmem = self._encode_memory(feats, high_res, out.object_score, from_prompt=True)
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
            feats = encode_frame(self.network, self.frames.read(frame), self.device)
            if self.shared is not None:
                self.shared.put(frame, as_embedding(feats, self.network, self.model_id, self.frame_size))
        self._cache.put(frame, feats)
        return feats

    def _infer(
        self,
        frame: int,
        tracks: list[ObjectTrack],
        *,
        is_init: bool,
        reverse: bool,
        encode_memory: bool,
        points: tuple[torch.Tensor, torch.Tensor] | None = None,
        mask: torch.Tensor | None = None,
        prev_logits: torch.Tensor | None = None,
    ) -> list[FrameOutput]:
        """Run the tracker on ``frame`` for ``tracks`` (batched). Prompts only with one track."""
        feats = self._features(frame)
        net = self.network
        b = len(tracks)
        high_res = feats.skips
        if mask is not None and net.config.use_mask_input_as_output_without_sam:
            low_res, high_res_masks, obj_ptr, score = self._mask_as_output(feats, high_res, mask)
        else:
            if is_init and net.config.directly_add_no_mem_embed:
                pix = feats.s16 + net.no_mem_embed.view(1, -1, 1, 1)
                pix = pix.expand(b, -1, -1, -1)
            else:
                pix = self._condition_on_memory(frame, tracks, feats, reverse)
            multimask = self._use_multimask(is_init, points)
            low_res, high_res_masks, obj_ptr, score = self._sam_heads(
                pix, high_res, points, prev_logits if mask is None else mask, multimask
            )
        maskmem = None
        if encode_memory:
            maskmem = self._encode_memory(feats, high_res_masks, score, from_prompt=points is not None)
        return [
            FrameOutput(
                pred_masks=low_res[i : i + 1],
                obj_ptr=obj_ptr[i : i + 1],
                object_score=score[i : i + 1],
                maskmem=None if maskmem is None else maskmem[i : i + 1],
            )
            for i in range(b)
        ]

    def _use_multimask(self, is_init: bool, points: tuple[torch.Tensor, torch.Tensor] | None) -> bool:
        c = self.network.config
        num_pts = 0 if points is None else points[1].shape[1]
        return (
            c.multimask_output_in_sam
            and (is_init or c.multimask_output_for_tracking)
            and c.multimask_min_pt_num <= num_pts <= c.multimask_max_pt_num
        )

    def _sam_heads(
        self,
        pix: torch.Tensor,
        high_res: SkipFeatures,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        mask_input: torch.Tensor | None,
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """pix (B, 256, 64, 64) -> best low-res (B, 1, 256, 256), high-res (B, 1, 1024, 1024)
        logits, object pointers (B, 256) and object-score logits (B, 1)."""
        net = self.network
        b = pix.shape[0]
        if points is None:
            coords = torch.zeros(b, 1, 2, device=pix.device)
            labels = -torch.ones(b, 1, dtype=torch.int32, device=pix.device)
        else:
            coords, labels = points
        if mask_input is not None:
            prompt_size = net.sam_prompt_encoder.mask_input_size
            if tuple(mask_input.shape[-2:]) != tuple(prompt_size):
                mask_input = F.interpolate(
                    mask_input.float(), size=prompt_size, mode="bilinear", align_corners=False, antialias=True
                )
        sparse, dense = net.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=mask_input)
        out = net.sam_mask_decoder(
            image_embeddings=pix,
            image_pe=self._dense_pe,
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
            repeat_image=False,
            high_res_features=high_res,
        )
        score = out.object_score_logits
        present = score > 0
        low_multi = torch.where(present[:, None, None], out.masks, NO_OBJ_SCORE).float()
        high_multi = F.interpolate(
            low_multi, size=(self._image_size,) * 2, mode="bilinear", align_corners=False
        )
        token = out.sam_tokens[:, 0]
        if multimask:
            best = torch.argmax(out.iou, dim=-1)
            rows = torch.arange(b, device=pix.device)
            low_res = low_multi[rows, best].unsqueeze(1)
            high_res_masks = high_multi[rows, best].unsqueeze(1)
            if out.sam_tokens.shape[1] > 1:
                token = out.sam_tokens[rows, best]
        else:
            low_res, high_res_masks = low_multi, high_multi
        obj_ptr = self._gate_pointer(net.obj_ptr_proj(token), present.float())
        return low_res, high_res_masks, obj_ptr, score

    def _gate_pointer(self, obj_ptr: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Absent objects get the learned ``no_obj_ptr`` (fixed: the pointer itself is zeroed)."""
        net = self.network
        if net.config.fixed_no_obj_ptr:
            obj_ptr = present * obj_ptr
        return obj_ptr + (1 - present) * net.no_obj_ptr

    def _mask_as_output(
        self, feats: FrameFeatures, high_res: SkipFeatures, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """A mask prompt is taken as the output (±10 logits); the pointer still comes from the
        decoder, prompted by the downsampled mask on the frame's raw features."""
        net = self.network
        high_res_masks = mask * MASK_AS_OUTPUT_SCALE + MASK_AS_OUTPUT_BIAS
        low_res = F.interpolate(
            high_res_masks, size=(high_res_masks.shape[-2] // 4, high_res_masks.shape[-1] // 4),
            mode="bilinear", align_corners=False, antialias=True,
        )
        _, _, obj_ptr, _ = self._sam_heads(feats.s16, high_res, None, net.mask_downsample(mask), False)
        present = torch.any(mask.flatten(1) > 0.0, dim=1)[:, None].float()
        score = MASK_AS_OUTPUT_SCALE * present + MASK_AS_OUTPUT_BIAS
        # _sam_heads gated the pointer by the decoder's own score; the official code gates again
        # by the mask's presence, on top (a pointer of an absent object gets no_obj_ptr twice).
        obj_ptr = self._gate_pointer(obj_ptr, present)
        return low_res, high_res_masks, obj_ptr, score

    def _encode_memory(
        self, feats: FrameFeatures, high_res_masks: torch.Tensor, score: torch.Tensor, from_prompt: bool
    ) -> torch.Tensor:
        """-> (B, 64, 64, 64) bfloat16 memory features (stored rounded, like the official code)."""
        net = self.network
        c = net.config
        b = high_res_masks.shape[0]
        # binarize_mask_from_pts_for_mem_enc: a prompted frame's memory encodes what the user saw.
        probs = (high_res_masks > 0).float() if from_prompt else torch.sigmoid(high_res_masks)
        if c.sigmoid_scale_for_mem_enc != 1.0:
            probs = probs * c.sigmoid_scale_for_mem_enc
        if c.sigmoid_bias_for_mem_enc != 0.0:
            probs = probs + c.sigmoid_bias_for_mem_enc
        mem, _ = net.memory_encoder(feats.s16.expand(b, -1, -1, -1), probs, skip_mask_sigmoid=True)
        if c.no_obj_embed_spatial:
            absent = 1 - (score > 0).float()
            mem = mem + absent[..., None, None] * net.no_obj_embed_spatial[..., None, None]
        return mem.to(torch.bfloat16)

    # -- memory bank ------------------------------------------------------------------------------

    def _condition_on_memory(
        self, frame: int, tracks: list[ObjectTrack], feats: FrameFeatures, reverse: bool
    ) -> torch.Tensor:
        """-> (B, 256, 64, 64) features of ``frame`` conditioned on each track's memory bank."""
        net = self.network
        curr = feats.s16.flatten(2).transpose(1, 2)  # (1, HW, C)
        curr_pos = feats.pos16.flatten(2).transpose(1, 2)
        banks = [self._memory_inputs(frame, t, reverse) for t in tracks]
        # Objects whose banks have the same layout run in one batch.
        groups: dict[tuple[int, int], list[int]] = {}
        for i, bank in enumerate(banks):
            groups.setdefault((len(bank.frames), bank.ptrs.shape[1]), []).append(i)
        out = torch.empty(len(tracks), *curr.shape[1:], dtype=curr.dtype, device=curr.device)
        for members in groups.values():
            batch = [banks[i] for i in members]
            result = net.memory_attention.forward_banks(curr.expand(len(members), -1, -1), curr_pos, batch)
            out[members] = result
        b, hw, c = out.shape
        side = feats.s16.shape[-1]
        return out.transpose(1, 2).reshape(b, c, hw // side, side)

    def _memory_inputs(self, frame: int, track: ObjectTrack, reverse: bool) -> MemoryInputs:
        """The track's memory bank as seen from ``frame``: conditioning frames (t_pos 0), then
        up to ``num_maskmem - 1`` previous frames (t_pos 1 = the farthest), then object pointers."""
        net = self.network
        n = self._num_maskmem
        if not track.cond:
            raise RuntimeError(f"object {track.obj_id} has no conditioning frame")
        entries: list[tuple[int, FrameOutput]] = [(0, out) for out in track.cond.values()]
        for t_pos in range(1, n):
            t_rel = n - t_pos
            prev = frame + t_rel if reverse else frame - t_rel
            out = track.non_cond.get(prev)
            if out is not None:
                entries.append((t_pos, out))
        frames: list[ProjectedMemory] = []
        tpos_rows: list[torch.Tensor] = []
        for t_pos, out in entries:
            if out.maskmem is None:
                raise RuntimeError(f"object {track.obj_id}: a memory frame was never encoded")
            if out.projected is None:
                feats = out.maskmem.flatten(2).transpose(1, 2)  # (1, HW, mem_dim)
                out.projected = net.memory_attention.project_memory(feats, self._mem_pos)
            frames.append(out.projected)
            tpos_rows.append(net.maskmem_tpos_enc[n - t_pos - 1].reshape(-1))
        tpos = torch.stack(tpos_rows)
        ptrs, ptrs_pos = self._pointer_tokens(frame, track, reverse)
        return MemoryInputs(frames, tpos, ptrs, ptrs_pos)

    def _pointer_tokens(
        self, frame: int, track: ObjectTrack, reverse: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Object pointers of conditioning frames (not in the future) and of up to 15 previous
        frames, split into mem_dim-wide tokens: (1, P·C/mem_dim, mem_dim) and their encoding."""
        net = self.network
        c = net.config
        hidden, mem_dim = c.hidden_dim, c.mem_dim
        max_ptrs = min(self.num_frames, c.max_obj_ptrs_in_encoder)
        sign = -1 if reverse else 1
        pairs: list[tuple[int, torch.Tensor]] = []
        for t, out in track.cond.items():
            if c.only_obj_ptrs_in_the_past_for_eval and (t < frame if reverse else t > frame):
                continue
            pos = (frame - t) * sign if c.use_signed_tpos_enc_to_obj_ptrs else abs(frame - t)
            pairs.append((pos, out.obj_ptr))
        for t_diff in range(1, max_ptrs):
            t = frame + t_diff if reverse else frame - t_diff
            if t < 0 or t >= self.num_frames:
                break
            out = track.non_cond.get(t)
            if out is not None:
                pairs.append((t_diff, out.obj_ptr))
        if not pairs:
            empty = torch.zeros(1, 0, mem_dim, device=self.device)
            return empty, empty
        ptrs = torch.stack([p for _, p in pairs], dim=0)  # (P, 1, C)
        if c.add_tpos_enc_to_obj_ptrs:
            t_diff_max = max_ptrs - 1
            tpos_dim = hidden if c.proj_tpos_enc_in_obj_ptrs else mem_dim
            positions = torch.tensor([p for p, _ in pairs], device=self.device)
            pos = sine_1d(positions / t_diff_max, tpos_dim)
            if c.proj_tpos_enc_in_obj_ptrs:
                pos = net.obj_ptr_tpos_proj(pos)
            pos = pos.unsqueeze(1)  # (P, 1, mem_dim)
        else:
            pos = ptrs.new_zeros(len(pairs), 1, mem_dim)
        if mem_dim < hidden:
            split = hidden // mem_dim
            ptrs = ptrs.reshape(-1, 1, split, mem_dim).permute(0, 2, 1, 3).flatten(0, 1)
            pos = pos.repeat_interleave(split, dim=0)
        return ptrs.transpose(0, 1), pos.transpose(0, 1)


def sine_1d(positions: torch.Tensor, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """(P,) positions -> (P, dim): [sin(p / T^(2⌊i/2⌋/(dim/2))) ..., cos(...) ...] (sin half first)."""
    half = dim // 2
    dim_t = torch.arange(half, dtype=torch.float32, device=positions.device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / half)
    emb = positions.unsqueeze(-1) / dim_t
    return torch.cat([emb.sin(), emb.cos()], dim=-1)
