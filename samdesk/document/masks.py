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


def area(rle: Rle) -> int:
    return int(mask_utils.area(_to_coco(rle)))


def bbox(rle: Rle) -> tuple[float, float, float, float]:
    """COCO bbox (x, y, width, height) of the mask; zeros for an empty mask."""
    x, y, w, h = mask_utils.toBbox(_to_coco(rle)).tolist()
    return float(x), float(y), float(w), float(h)


def is_valid(rle: object) -> bool:
    """True when ``rle`` is a well-formed compressed RLE dict (used by loaders before decoding)."""
    if not isinstance(rle, dict) or set(rle) != {"size", "counts"}:
        return False
    size, counts = rle["size"], rle["counts"]
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v >= 0 for v in size)):
        return False
    if not isinstance(counts, str) or not counts.isascii():
        return False
    try:
        decoded_area = mask_utils.area(_to_coco(rle))
    except Exception:
        return False
    return 0 <= int(decoded_area) <= size[0] * size[1]


def _to_coco(rle: Rle) -> dict:
    counts = rle["counts"]
    return {
        "size": list(rle["size"]),
        "counts": counts.encode("ascii") if isinstance(counts, str) else counts,
    }
