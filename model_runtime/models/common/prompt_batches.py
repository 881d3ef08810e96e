"""Many prompt sets on one image in few decoder passes (``predict_batch``).

The decoder takes a batch of prompt sets whose tensors have the same shape: the same number of
clicks, a box or not, a mask input or not. :func:`shape_groups` splits a list of prompt sets into
such groups (in their original order within a group), each at most ``max_batch`` long so that
the decoder's temporaries stay bounded: each prompt set carries its own copy of the image
tokens through the two-way transformer and the upscaling head (SAM 2 also of the stride-4/8
skip features), about 18-20 MB per prompt set on the CPU (measured peak: 566 MB for 32 SAM 2.1
tiny prompts, 648 MB for 32 MobileSAM ones, 1.3 GB for 64 SAM 2.1 tiny ones). Groups of 32 keep
one call under ~0.7 GB; larger groups gained < 10 % per prompt (bench/predict_batch.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from model_runtime.models.common.heap_reuse import reusing_freed_memory
from model_runtime.prompts import Prompts

MAX_BATCH = 32


def shape_groups(prompts: Sequence[Prompts], max_batch: int = MAX_BATCH) -> list[list[int]]:
    """Indices of ``prompts`` grouped by tensor shape, each group at most ``max_batch`` long."""
    by_shape: dict[tuple[int, bool, bool], list[int]] = {}
    for i, p in enumerate(prompts):
        by_shape.setdefault((len(p.points), p.box is not None, p.mask_input is not None), []).append(i)
    return [indices[start:start + max_batch] for indices in by_shape.values()
            for start in range(0, len(indices), max_batch)]


def decode_click_groups(
    points: np.ndarray,
    multimask: bool,
    low_res_size: int,
    prompt_for: Callable[[np.ndarray, np.ndarray], Any],
    decode: Callable[[list[Any]], tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, np.ndarray]:
    """Single foreground clicks, points float (N, 2) -> low-res logits float32 (N, K, S, S) on
    the CPU and scores float32 (N, K), decoded ``MAX_BATCH`` at a time (``decode_clicks`` of
    both families): ``prompt_for(point (1, 2), labels (1,))`` makes one click's prompt tensors,
    ``decode(group)`` runs the decoder on a group of them. The groups reuse each other's freed
    heap pages."""
    one = np.ones(1, dtype=np.int64)
    logits, scores = [], []
    with reusing_freed_memory():
        for start in range(0, len(points), MAX_BATCH):
            chunk = points[start : start + MAX_BATCH]
            group = [prompt_for(np.asarray(p, np.float32)[None], one) for p in chunk]
            low_res, iou = decode(group)
            logits.append(low_res.float().cpu())
            scores.append(iou.float().cpu().numpy())
    if not logits:
        k = 3 if multimask else 1
        return torch.zeros((0, k, low_res_size, low_res_size)), np.zeros((0, k), np.float32)
    return torch.cat(logits), np.concatenate(scores)
