"""Masks as COCO RLE: the compact form masks take in the document, in files and across layers.

pycocotools wants Fortran-ordered uint8 arrays; everything else in samdesk uses C-ordered bool
arrays. This module is the one place that converts between them.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np
from pycocotools import mask as mask_utils


class Rle(TypedDict):
    """Compressed COCO RLE: ``size`` is [height, width], ``counts`` an ASCII string."""

    size: list[int]
    counts: str


def encode(mask: np.ndarray) -> Rle:
    """bool/uint8 (H, W) -> compressed RLE with ``counts`` as str (JSON-ready)."""
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8, copy=False)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def decode(rle: Rle) -> np.ndarray:
    """Compressed (str or bytes counts) or uncompressed (list counts) RLE -> bool (H, W), C order."""
    h, w = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, list):
        coco_rle = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    else:
        coco_rle = {"size": [h, w], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    return np.ascontiguousarray(mask_utils.decode(coco_rle).astype(bool))


def decode_box(rle: Rle) -> tuple[np.ndarray, tuple[int, int]] | None:
    """The mask cropped to its bounding box: bool (h, w), C order, and its top-left (x0, y0) in
    the full image; None for an empty mask. Equal to ``decode(rle)[y0:y0+h, x0:x0+w]``.

    Only the bounding box is expanded, straight from the runs, so showing a small object of a
    large photo costs a small fraction of :func:`decode`: for segment everything's objects on an
    1800×1200 image, ~0.1 ms of CPU instead of ~3 ms each (the masks of ``bench/add_objects.py``).
    """
    height = int(rle["size"][0])
    counts = rle["counts"]
    runs = counts_to_runs(counts if isinstance(counts, str) else bytes(counts).decode("ascii"))
    if runs is None:
        raise ValueError("not a valid compressed RLE mask")
    ends = np.cumsum(runs)
    starts = ends - runs
    # Runs alternate background, foreground, background, ... starting with background.
    starts, ends = starts[1::2], ends[1::2]
    keep = ends > starts
    starts, ends = starts[keep], ends[keep]
    if not len(starts):
        return None
    x0, x1 = int(starts[0]) // height, int(ends[-1] - 1) // height + 1
    columns, rows, last_rows = starts // height, starts % height, (ends - 1) % height
    wraps = not (columns == (ends - 1) // height).all()
    # Lay the runs out column by column over the rows y0..y1 only, or over whole columns when a
    # run wraps from one column's bottom into the next one's top (the mask touches both image
    # borders), and expand them with one repeat of alternating background/foreground values.
    y0, y1 = (0, height) if wraps else (int(rows.min()), int(last_rows.max()) + 1)
    rows_kept = y1 - y0
    first = (columns - x0) * rows_kept + (rows - y0)  # where each run starts in that layout
    bounds = np.empty(2 * len(first) + 2, dtype=np.int64)
    bounds[0], bounds[-1] = 0, (x1 - x0) * rows_kept
    bounds[1:-1:2] = first
    bounds[2:-1:2] = first + (ends - starts)
    values = np.zeros(len(bounds) - 1, dtype=bool)
    values[1::2] = True
    crop = np.repeat(values, np.diff(bounds)).reshape(x1 - x0, rows_kept).T
    if wraps:
        covered = np.flatnonzero(crop.any(axis=1))
        y0 = int(covered[0])
        crop = crop[y0 : int(covered[-1]) + 1]
    return np.ascontiguousarray(crop), (x0, y0)


def digest(rle: Rle) -> str:
    """A short fingerprint of a mask (size and runs): equal masks, equal digests."""
    import hashlib

    counts = rle["counts"]
    data = counts.encode("ascii") if isinstance(counts, str) else bytes(counts)
    size = f"{int(rle['size'][0])}x{int(rle['size'][1])}:".encode()
    return hashlib.sha1(size + data, usedforsecurity=False).hexdigest()[:16]


def iou(a: Rle, b: Rle) -> float:
    """Intersection over union of two masks of the same size, on their runs (no decoding);
    1.0 for two empty masks."""
    area_a, area_b = area(a), area(b)
    if area_a == 0 and area_b == 0:
        return 1.0
    if area_a == 0 or area_b == 0:
        return 0.0
    return float(mask_utils.iou([_to_coco(a)], [_to_coco(b)], [0])[0][0])


def area(rle: Rle) -> int:
    return int(mask_utils.area(_to_coco(rle)))


def bbox(rle: Rle) -> tuple[float, float, float, float]:
    """COCO bbox (x, y, width, height) of the mask; zeros for an empty mask."""
    x, y, w, h = mask_utils.toBbox(_to_coco(rle)).tolist()
    return float(x), float(y), float(w), float(h)


def is_valid(rle: object) -> bool:
    """True when ``rle`` is a well-formed compressed RLE dict (used by loaders before decoding).

    Checked entirely in Python/numpy, without handing the string to pycocotools: its C parser
    reads past the end of a string that stops mid-number and trusts the run lengths, so a
    malformed file must be rejected before it gets there. Well-formed means: ``size`` is two
    non-negative ints, ``counts`` parses as the COCO LEB128-like encoding, and the runs are
    non-negative and sum to exactly ``height * width``.
    """
    if not isinstance(rle, dict) or set(rle) != {"size", "counts"}:
        return False
    size, counts = rle["size"], rle["counts"]
    if not (isinstance(size, list) and len(size) == 2):
        return False
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size):
        return False
    if not isinstance(counts, str) or not counts.isascii():
        return False
    if len(counts) <= _SHORT_COUNTS:
        short = _runs_python(counts)
        return short is not None and min(short, default=0) >= 0 and sum(short) == size[0] * size[1]
    runs = counts_to_runs(counts)
    return runs is not None and bool((runs >= 0).all()) and int(runs.sum()) == size[0] * size[1]


# One run length takes at most this many characters (5 bits each): 7 give 35 bits, more than
# any real image's pixel count; longer groups are malformed and would overflow int64 arithmetic.
_MAX_CHARS_PER_RUN = 7
# Bound on the counts string so that summing the runs cannot overflow int64 (2**35 * 2**27 < 2**63).
_MAX_COUNTS_CHARS = 1 << 27


# Below this length a plain loop beats numpy's per-call overhead (most masks of small objects).
_SHORT_COUNTS = 256


def _runs_python(counts: str) -> list[int] | None:
    """The same parse as :func:`counts_to_runs`, one character at a time."""
    runs: list[int] = []
    value = shift = length = 0
    for char in counts:
        c = ord(char) - 48
        if not 0 <= c <= 63:
            return None
        value |= (c & 0x1F) << shift
        shift += 5
        length += 1
        if length > _MAX_CHARS_PER_RUN:
            return None
        if c & 0x20:
            continue
        if c & 0x10:
            value -= 1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
        value = shift = length = 0
    return None if length else runs


def counts_to_runs(counts: str) -> np.ndarray | None:
    """Parse a compressed COCO ``counts`` string into its run lengths (int64, (N,)); None if malformed.

    Each run is a group of characters ``48 + 6-bit value``: 5 data bits (least significant
    group first), bit 0x20 set on all but the group's last character, bit 0x10 of the last one
    the sign. From the fourth run on, the value is a delta to the run two before.
    """
    if not counts:
        return np.zeros(0, dtype=np.int64)
    if len(counts) > _MAX_COUNTS_CHARS:
        return None
    if len(counts) <= _SHORT_COUNTS:
        runs = _runs_python(counts)
        return None if runs is None else np.asarray(runs, dtype=np.int64)
    chars = np.frombuffer(counts.encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    if chars.min() < 0 or chars.max() > 63:
        return None
    more = (chars & 0x20) != 0
    if more[-1]:
        return None  # the string stops in the middle of a number
    ends = np.flatnonzero(~more)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > _MAX_CHARS_PER_RUN:
        return None
    position = np.arange(len(chars)) - np.repeat(starts, lengths)  # index of the char in its group
    values = np.add.reduceat((chars & 0x1F) << (5 * position), starts)
    negative = (chars[ends] & 0x10) != 0
    values = np.where(negative, values - (np.int64(1) << (5 * lengths)), values)
    # runs[i] = values[i] + runs[i - 2] for i >= 3: a running sum over each parity from there.
    runs = values.copy()
    for parity_start in (1, 2):
        tail = runs[parity_start::2]
        if len(tail) > 1:
            runs[parity_start::2] = np.cumsum(tail)
    return runs


def _to_coco(rle: Rle) -> dict:
    counts = rle["counts"]
    raw = counts.encode("ascii") if isinstance(counts, str) else counts
    return {"size": list(rle["size"]), "counts": raw}


# --- masks of small objects on large images ------------------------------------------------------
# An object usually covers a small part of its image: encoding it from its bounding box (as
# decode_box decodes it) means adding a thousand proposed objects does not cost a thousand
# full-size masks.


def encode_box(crop: np.ndarray, origin: tuple[int, int], size: tuple[int, int]) -> Rle:
    """:func:`encode` of a (height, width) ``size`` mask that is ``crop`` (bool (h, w)) at
    ``origin`` (x0, y0) and empty elsewhere, the same string, in O(height × w) instead of
    O(height × width)."""
    height, width = (int(v) for v in size)
    x0, y0 = (int(v) for v in origin)
    h, w = crop.shape
    if x0 < 0 or y0 < 0 or x0 + w > width or y0 + h > height:
        raise ValueError(f"a {w}×{h} box at ({x0}, {y0}) is outside the {width}×{height} image")
    columns = np.zeros((height, w), dtype=np.uint8, order="F")
    columns[y0 : y0 + h] = crop
    sub = mask_utils.encode(columns)  # the runs of columns x0 .. x0 + w - 1, column-major
    runs = counts_to_runs(sub["counts"].decode("ascii"))
    assert runs is not None
    counts = runs.tolist()
    counts[0] += x0 * height  # the empty columns before the box
    after = (width - x0 - w) * height  # and after it
    if len(counts) % 2:  # the last run is of zeros
        counts[-1] += after
    elif after:
        counts.append(after)
    coco = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    return {"size": [height, width], "counts": coco["counts"].decode("ascii")}
