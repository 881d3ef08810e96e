"""Test-only SAM 3 oracle: the official ``sam3`` package (PyPI 0.1.4) made to import and run on a
CPU-only machine.

What the official code needs that a CPU-only test machine lacks, and what is done instead:
- ``sam3.model.edt`` imports ``triton`` at module level (a GPU-only Euclidean distance
  transform used by the video tracker): it is replaced by a module whose function raises.
- ``import torchvision`` needs the ``torchvision::nms`` schema (``tests.oracles`` does that).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

import tests.oracles  # noqa: F401  (torchvision shim before the official package imports it)


def _edt_unavailable(data: Any) -> Any:
    raise NotImplementedError("the official triton EDT kernel is GPU-only (test oracle shim)")


def import_official() -> types.ModuleType:
    """Import ``sam3`` (and its model builder) with the CPU shims in place; returns ``sam3``."""
    try:
        importlib.import_module("triton")
    except ImportError:
        if "sam3.model.edt" not in sys.modules:
            edt = types.ModuleType("sam3.model.edt")
            edt.edt_triton = _edt_unavailable  # type: ignore[attr-defined]
            sys.modules["sam3.model.edt"] = edt
    import sam3
    import sam3.model_builder  # noqa: F401

    return sam3
