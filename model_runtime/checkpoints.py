"""Reading official checkpoint files safely and telling which model family they hold.

Checkpoints are loaded with ``torch.load(..., weights_only=True)``: a file that would need to
run code to unpickle is refused. The family is detected from key names, never the file name;
the size variant is detected by each family's builder from tensor shapes.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

SAM1 = "sam1"
MOBILESAM = "mobilesam"
SAM2 = "sam2"
SAM2_1 = "sam2.1"
SAM3 = "sam3"


class CheckpointError(Exception):
    """A checkpoint that cannot be used. The message names the file and the problem."""

    def __init__(self, path: str | os.PathLike[str], problem: str, family: str | None = None):
        self.path = str(path)
        self.problem = problem
        self.family = family
        where = f"{self.path}" + (f" (detected family: {family})" if family else "")
        super().__init__(f"{where}: {problem}")


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Load a checkpoint's tensors on the CPU, unwrapping SAM 2's ``{"model": ...}`` container."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "file does not exist")
    if path.is_dir():
        raise CheckpointError(path, "is a folder, not a checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(path, "file is empty")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=_can_mmap(path))
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            path, f"refused: the file needs to run code to load, which samdesk never allows ({exc})"
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(path, f"truncated or not a PyTorch checkpoint ({exc})") from exc
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(path, f"holds a {type(obj).__name__}, not a state dict of tensors")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(path, f"entries that are not tensors: {bad[:5]}")
    return dict(obj)


def _can_mmap(path: Path) -> bool:
    # mmap avoids a second in-memory copy of multi-GB files; only the zip format supports it.
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def detect_family(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """Tell the model family from key names alone; None when no known family matches."""
    keys = state_dict.keys()
    if any(k.startswith("detector.") for k in keys) and any(k.startswith("tracker.") for k in keys):
        return SAM3
    if "image_encoder.trunk.patch_embed.proj.weight" in state_dict:
        # SAM 2.1 added the spatial no-object embedding and the temporal pointer projection.
        if "no_obj_embed_spatial" in state_dict or any(k.startswith("obj_ptr_tproj.") for k in keys):
            return SAM2_1
        return SAM2
    if "image_encoder.patch_embed.proj.weight" in state_dict and any(
        k.startswith("image_encoder.blocks.") for k in keys
    ):
        return SAM1
    if any(k.startswith("image_encoder.layers.") for k in keys) and any(
        k.startswith("mask_decoder.") for k in keys
    ):
        return MOBILESAM
    return None


def load_strict(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    path: str | os.PathLike[str],
    family: str,
    ignore_prefixes: tuple[str, ...] = (),
) -> None:
    """Copy weights into ``module``; any missing or unexpected key is a CheckpointError.

    ``ignore_prefixes`` lists keys the official file carries that inference never uses
    (e.g. MobileSAM's TinyViT classifier head); they are dropped, not silently accepted elsewhere.
    """
    filtered = {k: v for k, v in state_dict.items() if not k.startswith(ignore_prefixes)}
    own = module.state_dict()
    missing = [k for k in own if k not in filtered]
    unexpected = [k for k in filtered if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (first: {missing[:5]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (first: {unexpected[:5]})")
        raise CheckpointError(path, "does not match the architecture: " + "; ".join(parts), family)
    wrong_shape = [
        f"{k}: file {tuple(filtered[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if filtered[k].shape != own[k].shape
    ]
    if wrong_shape:
        raise CheckpointError(path, f"tensor shapes do not match: {wrong_shape[:5]}", family)
    module.load_state_dict(filtered, strict=True)
