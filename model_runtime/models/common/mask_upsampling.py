"""Low-res mask logits -> bool masks at the image size, without interpolating every pixel.

The official predictors resize the (K, 256, 256) logits with bilinear interpolation
(``align_corners=False``) to the image size — SAM 2 in one step, SAM 1 in two (to 1024², crop
to the resized input, then to the original size) — and keep ``> 0``. Only the sign matters, and
bilinear interpolation makes every output pixel a convex combination of a small window of
low-res values (2×2 for one step; at most 3×3 for SAM 1's chain, because its first step upsamples
by 4 and two neighbouring mid-res pixels read at most three low-res rows). So wherever a window
is all positive the mask is True, wherever it is all non-positive it is False, and only pixels
whose window straddles zero (the object's border) need their interpolated value. Those are
evaluated exactly from the composed per-axis weights; when too many pixels straddle zero (noisy
logits), the plain interpolation is cheaper and is used instead.

Agreement with the official pipeline: identical except where the official float32 logit is
within rounding of zero (both compute the same convex combination; summation order differs).
Computation is on the CPU (inputs on another device are copied over; the masks are returned as a
host numpy array anyway).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from model_runtime.api import CandidateMasks

# A window counts as all-positive only above this, so that the official float32 value cannot
# underflow to 0: each step's larger weight is ≥ 1/2 and all terms are positive, so the result is
# ≥ 1/4 of the window's minimum (≥ 1/9 for the composed weights), far above float32's 1e-38.
POSITIVE_EPS = 1e-30
# Exact evaluations per batch: bounds the temporaries (about 20 bytes per evaluation) on huge
# images while keeping batches large enough that numpy's per-call overhead does not matter.
EVALUATIONS_PER_BATCH = 1 << 18
# Exact evaluations per output pixel above which interpolating everything is cheaper. Measured
# with ``bench/mask_upsampling.py --sweep`` (2 cores): the exact path (numpy) costs ~20-35 ns per
# evaluation plus the code expansion, the OpenCV fall-back ~0.8 ns per pixel; break-even is at
# ~0.01 of a pixel at 1800×1200 and ~0.045 at 4000×3000. Smooth masks of real objects need
# 0.008-0.03, so large photos (where it matters: 15 vs 33 ms) take the exact path and small
# ones lose at most a few ms either way.
MIXED_LIMIT = 0.02


@dataclass(frozen=True)
class Step:
    """One bilinear resize to ``size`` (H, W), then keep the top-left ``keep`` (h, w) if given."""

    size: tuple[int, int]
    keep: tuple[int, int] | None = None


@dataclass(frozen=True)
class AxisMap:
    """The composed interpolation along one axis: output i = Σ_a weights[i, a] · low[start[i] + a].

    start: int64 (out,), non-decreasing; weights: float32 (out, window), rows sum to 1, ≥ 0.
    first: int64 (cells + 1,), outputs with start == s are first[s] .. first[s + 1] − 1, where
    cells = low-res size − window + 1 (runs are empty where the map downsamples).
    Blocks cut every run into pieces of at most ``block`` outputs (edge runs are longer than the
    rest because of the clamp at 0; padding everything to them would waste work):
    block_first / block_len int64 (blocks,), and cell s owns blocks cell_block[s] .. cell_block[s + 1] − 1.
    """

    start: np.ndarray
    weights: np.ndarray
    first: np.ndarray
    block: int
    block_first: np.ndarray
    block_len: np.ndarray
    cell_block: np.ndarray

    @property
    def window(self) -> int:
        return int(self.weights.shape[1])


def _blocks(first: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Cut the runs given by ``first`` (cells + 1,) into blocks; see ``AxisMap``."""
    runs = np.diff(first)
    inner = runs[1:-1] if runs.size > 2 else runs
    block = max(1, int(inner.max()) if inner.size else 1)
    per_cell = -(-runs // block)  # ceil; 0 for empty runs
    cell_block = np.concatenate([[0], np.cumsum(per_cell)]).astype(np.int64)
    owner = np.repeat(np.arange(runs.size), per_cell)
    piece = np.arange(owner.size) - cell_block[owner]
    block_first = first[owner] + piece * block
    block_len = np.minimum(block, first[owner + 1] - block_first)
    return block, block_first.astype(np.int64), block_len.astype(np.int64), cell_block


def bilinear_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PyTorch's 1-D bilinear rule (align_corners=False, no antialias) for in_size -> out_size.

    Returns i0, i1 int64 (out,) and the weight of i1, float32 (out,) (i0 gets 1 − it). Computed in
    float32 like PyTorch's CPU kernel: src = (dst + 0.5)·(in/out) − 0.5, clamped at 0.
    """
    scale = np.float32(in_size) / np.float32(out_size)
    src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    src = np.maximum(src, np.float32(0.0))
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    lam = np.clip(src - i0.astype(np.float32), 0.0, 1.0).astype(np.float32)
    i1 = np.minimum(i0 + 1, in_size - 1)
    return i0, i1, lam


def _axis_map(low: int, sizes: Sequence[tuple[int, int | None]]) -> AxisMap:
    """Compose the 1-D steps (resize to n, then keep the first k) starting from ``low`` samples.

    Each step's output is a 2-tap combination of its input; composing keeps a sparse (out, taps)
    form with absolute low-res indices, then packs it into a window starting at the first tap.
    """
    n = low
    idx = np.arange(low, dtype=np.int64)[:, None]  # (n, taps): low-res indices per sample
    wts = np.ones((low, 1), dtype=np.float64)
    for size, keep in sizes:
        i0, i1, lam = bilinear_taps(n, size)
        lam64 = lam.astype(np.float64)[:, None]
        idx = np.concatenate([idx[i0], idx[i1]], axis=1)
        wts = np.concatenate([wts[i0] * (1.0 - lam64), wts[i1] * lam64], axis=1)
        n = size if keep is None else keep
        idx, wts = idx[:n], wts[:n]
    start = idx.min(axis=1)
    span = int((idx.max(axis=1) - start).max()) + 1 if n else 1
    window = min(span, low)
    start = np.minimum(start, low - window)  # at the far edge, shift the window back inside
    weights = np.zeros((n, window), dtype=np.float64)
    rows = np.broadcast_to(np.arange(n)[:, None], idx.shape)
    np.add.at(weights, (rows, idx - start[:, None]), wts)
    counts = np.bincount(start, minlength=low - window + 1)
    first = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    block, block_first, block_len, cell_block = _blocks(first)
    return AxisMap(
        start=start,
        weights=weights.astype(np.float32),
        first=first,
        block=block,
        block_first=block_first,
        block_len=block_len,
        cell_block=cell_block,
    )


@dataclass(frozen=True)
class Plan:
    """Precomputed per-axis maps for one chain of steps from a (n, m) low-res grid."""

    low_size: tuple[int, int]
    steps: tuple[Step, ...]
    rows: AxisMap
    cols: AxisMap

    @property
    def out_size(self) -> tuple[int, int]:
        return int(self.rows.start.shape[0]), int(self.cols.start.shape[0])


def make_plan(low_size: tuple[int, int], steps: Sequence[Step]) -> Plan:
    """Plan for low-res (n, m) logits resized through ``steps`` (last step: the image size)."""
    if not steps:
        raise ValueError("at least one resize step is needed")
    for step in steps:
        if min(step.size) < 1 or (step.keep is not None and min(step.keep) < 1):
            raise ValueError(f"sizes must be positive, got {step}")
        if step.keep is not None and (step.keep[0] > step.size[0] or step.keep[1] > step.size[1]):
            raise ValueError(f"crop {step.keep} is larger than the resized {step.size}")
    rows = _axis_map(low_size[0], [(s.size[0], None if s.keep is None else s.keep[0]) for s in steps])
    cols = _axis_map(low_size[1], [(s.size[1], None if s.keep is None else s.keep[1]) for s in steps])
    return Plan(low_size=(int(low_size[0]), int(low_size[1])), steps=tuple(steps), rows=rows, cols=cols)


# Plans are immutable and cost ~0.5-1 ms to build: one per image size is reused by every click.
@functools.lru_cache(maxsize=32)
def sam2_plan(low_size: tuple[int, int], original_size: tuple[int, int]) -> Plan:
    """SAM 2's post-processing: one bilinear resize to the original (H, W)."""
    return make_plan(low_size, [Step(original_size)])


@functools.lru_cache(maxsize=32)
def sam1_plan(
    low_size: tuple[int, int], input_size: tuple[int, int], original_size: tuple[int, int], size: int = 1024
) -> Plan:
    """SAM 1's post-processing: to ``size``², keep the resized input (h, w), to the original (H, W)."""
    return make_plan(low_size, [Step((size, size), keep=input_size), Step(original_size)])


def _needed_prefix(n: int, size: int, keep: int) -> int:
    """How many leading input samples suffice for the first ``keep`` outputs of an n -> size resize.

    Only when size = n · 2^j: resizing the first r samples to r · 2^j then has exactly the same
    scale (r / (r·2^j) = 2^−j is exact in float32), hence the same per-pixel arithmetic, and output
    i < keep reads input samples ≤ floor((keep − 1 + 0.5) / 2^j − 0.5) + 1. Otherwise all n.
    """
    factor = size // n
    if size % n or factor & (factor - 1):
        return n
    return min(n, -(-keep // factor) + 1)


def _interpolate_all(low: torch.Tensor, plan: Plan) -> np.ndarray:
    """(N, n, m) -> bool (N, H, W): every step interpolated in full (bar cropped-off parts), > 0.

    OpenCV's bilinear resize (same half-pixel rule as ``align_corners=False``) runs 3-4× faster
    than PyTorch's CPU kernel here, mask by mask, and thresholding into the result array avoids
    a bool temporary (measured: bench/mask_upsampling.py). It places source coordinates in double
    precision where PyTorch uses float32, so its values differ from the official ones by the
    official rounding (~1e-5 relative): signs can differ only within that of zero.
    A step followed by a crop only resizes the input rows / columns the crop needs
    (see _needed_prefix): up to 44 % less work in SAM 1's 1024² step for non-square images.
    """
    count = low.shape[0]
    height, width = plan.out_size
    out = np.empty((count, height, width), dtype=np.bool_)
    for i in range(count):
        np.greater(interpolate_logits(low[i].numpy(), plan), 0.0, out=out[i])
    return out


def interpolate_logits(low: np.ndarray, plan: Plan) -> np.ndarray:
    """float32 (n, m) logits -> float32 (H, W): every pixel of the ``plan.steps`` chain (OpenCV,
    see :func:`_interpolate_all`), for callers that compare one map with several thresholds."""
    x = low
    for step in plan.steps:
        size = step.size
        if step.keep is not None:
            rows = _needed_prefix(x.shape[-2], size[0], step.keep[0])
            cols = _needed_prefix(x.shape[-1], size[1], step.keep[1])
            size = (size[0] * rows // x.shape[-2], size[1] * cols // x.shape[-1])
            x = x[:rows, :cols]
        x = cv2.resize(np.ascontiguousarray(x), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        if step.keep is not None:
            x = x[: step.keep[0], : step.keep[1]]
    return x


def prefers_interpolation(low_res: torch.Tensor, plan: Plan, mixed_limit: float | None = None) -> bool:
    """Whether :func:`upsample_masks` would interpolate these (..., n, m) logits in full (too
    many pixels straddle zero: noisy logits) rather than take the exact sparse path."""
    low = _as_cpu_stack(low_res, plan)
    if low.shape[0] == 0:
        return False
    height, width = plan.out_size
    limit = (MIXED_LIMIT if mixed_limit is None else mixed_limit) * low.shape[0] * height * width
    st = _straddling(low.numpy(), plan, give_up_above=limit)
    return st is None or st.work > limit


def _window_codes(low: np.ndarray, wy: int, wx: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, n, m) float32 -> (all-positive, straddling) bool (N, n − wy + 1, m − wx + 1) per window.

    Separable AND / OR over shifted views: an order of magnitude cheaper here than min/max pooling.
    """
    above = low > POSITIVE_EPS
    some = low > 0
    n, m = low.shape[1:]
    all_pos = above[:, : n - wy + 1].copy()
    any_pos = some[:, : n - wy + 1].copy()
    for a in range(1, wy):
        all_pos &= above[:, a : n - wy + 1 + a]
        any_pos |= some[:, a : n - wy + 1 + a]
    pos = all_pos[:, :, : m - wx + 1].copy()
    anyp = any_pos[:, :, : m - wx + 1].copy()
    for b in range(1, wx):
        pos &= all_pos[:, :, b : m - wx + 1 + b]
        anyp |= any_pos[:, :, b : m - wx + 1 + b]
    return pos, anyp & ~pos


@dataclass(frozen=True)
class _Straddling:
    """Per-window codes and the blocks of output pixels that need exact evaluation.

    positive: bool (N, cells_r, cells_c), window all > 0; k, s, t: int64 (C,), the straddling
    windows; blocks_r, blocks_c: int64 (C,), how many row / column blocks each one covers;
    work: padded pixel evaluations the exact path would do.
    """

    positive: np.ndarray
    k: np.ndarray
    s: np.ndarray
    t: np.ndarray
    blocks_r: np.ndarray
    blocks_c: np.ndarray
    work: int


def _straddling(low: np.ndarray, plan: Plan, give_up_above: float = float("inf")) -> _Straddling | None:
    """Classify the windows of low (N, n, m) float32 for ``plan``.

    None as soon as the exact path would certainly need more than ``give_up_above`` evaluations:
    every straddling window some output uses costs at least one whole block, and counting them is
    much cheaper than listing them (which noisy logits would make the fall-back pay for).
    """
    rows, cols = plan.rows, plan.cols
    positive, mixed = _window_codes(low, rows.window, cols.window)
    used_r, used_c = np.diff(rows.cell_block) > 0, np.diff(cols.cell_block) > 0
    if not (used_r.all() and used_c.all()):
        mixed &= used_r[None, :, None] & used_c[None, None, :]
    if int(np.count_nonzero(mixed)) * rows.block * cols.block > give_up_above:
        return None
    k, s, t = np.nonzero(mixed)
    # Windows no output pixel uses (where a map downsamples) own no blocks and cost nothing.
    blocks_r = rows.cell_block[s + 1] - rows.cell_block[s]
    blocks_c = cols.cell_block[t + 1] - cols.cell_block[t]
    work = int((blocks_r * blocks_c).sum()) * rows.block * cols.block
    return _Straddling(positive, k, s, t, blocks_r, blocks_c, work)


def _as_cpu_stack(low_res: torch.Tensor, plan: Plan) -> torch.Tensor:
    """(..., n, m) on any device -> contiguous float32 (N, n, m) on the CPU."""
    if tuple(low_res.shape[-2:]) != plan.low_size:
        raise ValueError(f"logits are {tuple(low_res.shape[-2:])}, the plan expects {plan.low_size}")
    return low_res.detach().to("cpu", torch.float32).reshape(-1, *plan.low_size).contiguous()


def exact_work_fraction(low_res: torch.Tensor, plan: Plan) -> float:
    """Padded exact-path evaluations per output pixel for these (..., n, m) logits (0 = none).

    The quantity ``upsample_masks`` compares with ``mixed_limit``; exposed for the benchmark.
    """
    low = _as_cpu_stack(low_res, plan)
    height, width = plan.out_size
    straddling = _straddling(low.numpy(), plan)
    assert straddling is not None  # no limit given
    return straddling.work / max(1, low.shape[0] * height * width)


def upsample_masks(low_res: torch.Tensor, plan: Plan, mixed_limit: float | None = None) -> np.ndarray:
    """(..., n, m) logits -> bool (..., H, W) numpy: the ``plan.steps`` bilinear chain, then > 0.

    Pixels whose whole interpolation window is positive / non-positive are set from a per-window
    code; the rest are evaluated exactly. If the exact evaluations (padded to whole blocks)
    exceed ``mixed_limit`` per output pixel (noisy logits), everything is interpolated instead
    (same result, cheaper then); None means ``MIXED_LIMIT``. Works on the CPU whatever
    the input's device.
    """
    lead = tuple(low_res.shape[:-2])
    low_t = _as_cpu_stack(low_res, plan)
    low = low_t.numpy()
    height, width = plan.out_size
    if low.shape[0] == 0:
        return np.zeros((*lead, height, width), dtype=np.bool_)
    rows, cols = plan.rows, plan.cols
    if mixed_limit is None:
        mixed_limit = MIXED_LIMIT
    limit = mixed_limit * low.shape[0] * height * width
    st = _straddling(low, plan, give_up_above=limit)
    if st is None or st.work > limit:
        return _interpolate_all(low_t, plan).reshape(*lead, height, width)
    # Expand the per-window code to full size: repeat columns on the small grid, then gather
    # whole rows, so no per-element gather runs at full size.
    masks = np.repeat(st.positive, np.diff(cols.first), axis=2).take(rows.start, axis=1)
    if st.work:
        # One entry per block: its window (k, s, t) and its row / column block numbers.
        n_blocks = st.blocks_r * st.blocks_c
        cell = np.repeat(np.arange(st.k.size), n_blocks)
        within = np.arange(cell.size) - np.repeat(np.cumsum(n_blocks) - n_blocks, n_blocks)
        block_r = rows.cell_block[st.s[cell]] + within // st.blocks_c[cell]
        block_c = cols.cell_block[st.t[cell]] + within % st.blocks_c[cell]
        k, s, t = st.k[cell], st.s[cell], st.t[cell]
        batch = max(1, EVALUATIONS_PER_BATCH // (rows.block * cols.block))
        for i in range(0, cell.size, batch):
            part = slice(i, i + batch)
            _evaluate_blocks(low, plan, (k[part], s[part], t[part]), block_r[part], block_c[part], masks)
    return masks.reshape(*lead, height, width)


def candidate_masks(
    low_res: torch.Tensor, plan: Plan, scores: np.ndarray, make_best: bool = True
) -> CandidateMasks:
    """(K, n, m) logits -> the K masks of :func:`upsample_masks`, the best-scoring one made now
    (unless not ``make_best``) and the others when first read (see
    :class:`~model_runtime.api.CandidateMasks`)."""
    low = _as_cpu_stack(low_res, plan).clone()  # a caller may reuse the logits' memory
    if low.shape[0] != len(scores):
        raise ValueError(f"{low.shape[0]} logit maps but {len(scores)} scores")
    ready = [int(np.argmax(scores))] if len(scores) and make_best else []
    return CandidateMasks((low.shape[0], *plan.out_size), lambda i: upsample_masks(low[i], plan), ready)


def _evaluate_blocks(
    low: np.ndarray,
    plan: Plan,
    cells: tuple[np.ndarray, np.ndarray, np.ndarray],
    block_r: np.ndarray,
    block_c: np.ndarray,
    masks: np.ndarray,
) -> None:
    """Write the exact sign into ``masks`` (N, H, W) bool for the pixels of the given blocks.

    cells: int64 (B,) ×3, the (mask, window row, window col) each block belongs to; block_r /
    block_c: int64 (B,) block numbers on each axis. Blocks shorter than the axis' block size are
    padded by repeating their last row / column (same pixel, same value), so the scatter needs no
    validity mask.
    """
    rows, cols = plan.rows, plan.cols
    wy, wx = rows.window, cols.window
    k, s, t = cells
    pad_r = np.minimum(np.arange(rows.block)[None], (rows.block_len[block_r] - 1)[:, None])
    pad_c = np.minimum(np.arange(cols.block)[None], (cols.block_len[block_c] - 1)[:, None])
    out_r = rows.block_first[block_r][:, None] + pad_r  # (B, rows.block)
    out_c = cols.block_first[block_c][:, None] + pad_c  # (B, cols.block)
    # values[c, i, j] = Σ_a Σ_b wr[c, i, a] · low[k, s + a, t + b] · wc[c, j, b]
    wr = rows.weights[out_r]  # (B, rows.block, wy)
    wc = cols.weights[out_c]  # (B, cols.block, wx)
    across = np.zeros((k.size, wy, cols.block), dtype=np.float32)
    for a in range(wy):
        for b in range(wx):
            across[:, a] += low[k, s + a, t + b][:, None] * wc[:, :, b]
    values = wr[:, :, 0, None] * across[:, None, 0]
    for a in range(1, wy):
        values += wr[:, :, a, None] * across[:, None, a]
    height, width = masks.shape[1:]
    flat = (k[:, None, None] * height + out_r[:, :, None]) * width + out_c[:, None, :]
    masks.reshape(-1)[flat.reshape(-1)] = (values > 0).reshape(-1)
