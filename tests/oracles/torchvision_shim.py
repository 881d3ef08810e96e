"""Make ``import torchvision`` work next to the CPU build of torch (test-only).

torchvision's CUDA wheel registers Python meta-kernels for ``torchvision::nms`` at import,
which fails with "operator torchvision::nms does not exist" because its C++ library could not
be loaded. Defining the op schemas first, with pure-torch kernels, lets the import succeed. The
oracles use torchvision's resize/normalise transforms, and the official automatic mask generators
its ``batched_nms`` (through ``_nms`` here, with the real kernel's semantics).
"""

from __future__ import annotations

import torch

_LIB: torch.library.Library | None = None


def _box_iou(boxes: torch.Tensor) -> torch.Tensor:
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    lt = torch.max(boxes[:, None, :2], boxes[None, :, :2])
    rb = torch.min(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    return inter / (area[:, None] + area[None, :] - inter)


def _nms(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    # torchvision's kernels sort with stable=True: ties keep their input order (the automatic mask
    # generators' cross-crop NMS scores whole crops alike, so the order of ties decides).
    order = scores.sort(descending=True, stable=True)[1]
    iou = _box_iou(dets[order].float())
    keep: list[int] = []
    suppressed = torch.zeros(len(order), dtype=torch.bool)
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > iou_threshold
    return order[torch.tensor(keep, dtype=torch.long)] if keep else order[:0]


def install() -> None:
    global _LIB
    if _LIB is not None:
        return
    if torch.version.cuda is not None:
        return  # a CUDA build of torch (a GPU machine): its own torchvision's C++ ops load
    try:
        torch.ops.torchvision.nms  # noqa: B018 - already registered (a working torchvision)
        return
    except (AttributeError, RuntimeError):
        pass
    _LIB = torch.library.Library("torchvision", "DEF")
    _LIB.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIB.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    for name in ("nms", "qnms"):
        _LIB.impl(name, _nms, "CPU")
        _LIB.impl(name, _nms, "Meta")


def enable_ops() -> None:
    """Let torchvision's Python wrappers (``torchvision.ops.nms``, ``batched_nms``) call the ops
    defined here: they refuse to run while its C++ library is missing (``_has_ops()`` False)."""
    install()
    if _LIB is None:
        return  # the real ops are there
    import torchvision.extension

    torchvision.extension._has_ops = lambda: True


install()
