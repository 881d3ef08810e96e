"""Working on masks as runs, without decoding them to full images.

A COCO RLE lists alternating background/foreground run lengths in column-major order. Writers
that paint many objects into one label image, or crop one object, need only its foreground runs:
a 1080p object has a few hundred, while a full decode touches two million pixels.

Column-major order is the row-major order of the transposed image, so painters work on a (W, H)
array (``labels.T`` of the (H, W) result) whose flat index is the RLE's pixel index.
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from samdesk.document.masks import Rle, counts_to_runs
from samdesk.io.common import DatasetError


def foreground_runs(rle: Rle) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) int64 (N,), of the foreground runs as column-major flat pixel indices."""
    counts = rle["counts"]
    runs = counts_to_runs(counts if isinstance(counts, str) else counts.decode("ascii"))
    if runs is None:
        raise DatasetError(f"malformed RLE counts {str(counts)[:40]!r}")
    ends = np.cumsum(runs)
    return (ends - runs)[1::2], ends[1::2]


def paint(flat: np.ndarray, rle: Rle, value: int) -> int:
    """Set the object's pixels in ``flat`` (the (W, H) label array, raveled) to ``value``;
    returns how many of them already held another label (overlap)."""
    index = pixel_indices(rle)
    overlap = int(np.count_nonzero(flat[index]))
    flat[index] = value
    return overlap


def pixel_indices(rle: Rle) -> np.ndarray:
    """Column-major flat indices (int64, (area,)) of the object's pixels, ascending.

    One vectorised expansion of the runs: for typical objects cheaper than a Python loop over
    hundreds of runs, and far cheaper than decoding the whole image.
    """
    starts, ends = foreground_runs(rle)
    lengths = ends - starts
    # Position k of the output lies in run r; its index is starts[r] + (k - first output of run r).
    run_offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return run_offsets + np.arange(int(lengths.sum()), dtype=np.int64)


def decode_crop(rle: Rle, margin: int = 0) -> tuple[np.ndarray, int, int]:
    """The mask inside its bounding box grown by ``margin`` (clipped to the image):
    (bool (h, w) C-order crop, x0, y0). Empty mask -> a (0, 0) crop at (0, 0)."""
    height, width = (int(v) for v in rle["size"])
    starts, ends = foreground_runs(rle)
    if starts.size == 0:
        return np.zeros((0, 0), bool), 0, 0
    # A run may wrap into the next column; its first and last pixels bound it either way.
    first_col, last_col = int(starts[0] // height), int((ends[-1] - 1) // height)
    wraps = (ends - 1) // height != starts // height
    rows_lo = np.where(wraps, 0, starts % height)
    rows_hi = np.where(wraps, height - 1, (ends - 1) % height)
    x0, x1 = max(first_col - margin, 0), min(last_col + 1 + margin, width)
    y0, y1 = max(int(rows_lo.min()) - margin, 0), min(int(rows_hi.max()) + 1 + margin, height)
    columns = np.zeros((x1 - x0, height), np.uint8)
    columns.reshape(-1)[pixel_indices(rle) - x0 * height] = 1
    return np.ascontiguousarray(columns[:, y0:y1].T).astype(bool), x0, y0


def label_rles(labels: np.ndarray) -> dict[int, Rle]:
    """int (H, W) label image -> {label: compressed RLE of ``labels == label``} for labels > 0.

    One pass over the pixels in RLE (column-major) order finds every run of equal labels, so the
    cost is that of one decode whatever the number of labels: a 16-bit PNG may hold 65535 of
    them, and comparing the image against each in turn would take hours at 1080p. The RLEs are
    exactly what :func:`samdesk.document.masks.encode` gives for each label's mask.
    """
    height, width = labels.shape
    flat = np.ascontiguousarray(labels.T).reshape(-1)
    total = flat.size
    if total == 0:
        return {}
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [total]))
    values = flat[starts]
    keep = values > 0
    starts, ends, values = starts[keep], ends[keep], values[keep]
    order = np.argsort(values, kind="stable")  # each label's runs stay in pixel order
    starts, ends, values = starts[order], ends[order], values[order]
    out: dict[int, Rle] = {}
    for group in np.split(np.arange(values.size), np.flatnonzero(np.diff(values)) + 1):
        if group.size == 0:
            continue
        s, e = starts[group], ends[group]
        counts = np.empty(2 * s.size + 1, np.int64)
        counts[0] = s[0]
        counts[1::2] = e - s
        counts[2:-1:2] = s[1:] - e[:-1]
        counts[-1] = total - e[-1]
        if counts[-1] == 0:
            counts = counts[:-1]  # pycocotools ends on the last run, never on an empty one
        coco = mask_utils.frPyObjects({"size": [height, width], "counts": counts.tolist()}, height, width)
        out[int(values[group[0]])] = {"size": [height, width], "counts": coco["counts"].decode("ascii")}
    return out
