"""samdesk's model runtime: our own PyTorch SAM implementations and the worker that runs them.

Qt-free and document-free: anyone can script it::

    from model_runtime import load_model
    model = load_model("sam2.1_hiera_tiny.pt", device="cpu")
    emb = model.encode_image(rgb_uint8)
    pred = model.predict(emb, points=[[420, 310]], labels=[1])
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from model_runtime.api import ImageEmbedding, ImageModel, ModelInfo, Prediction, PromptError
from model_runtime.checkpoints import (
    MOBILESAM,
    SAM1,
    SAM2,
    SAM2_1,
    SAM3,
    CheckpointError,
    detect_family,
    read_state_dict,
)

__all__ = [
    "CheckpointError",
    "ImageEmbedding",
    "ImageModel",
    "ModelInfo",
    "Prediction",
    "PromptError",
    "load_model",
]

# family -> "module:function(state_dict, *, family, path, device) -> ImageModel"; imported lazily
# so that loading one family never imports the others.
_FAMILY_BUILDERS = {
    SAM1: "model_runtime.models.sam1.model:from_state_dict",
    MOBILESAM: "model_runtime.models.sam1.model:from_state_dict",
    SAM2: "model_runtime.models.sam2.model:from_state_dict",
    SAM2_1: "model_runtime.models.sam2.model:from_state_dict",
}

CLASSICAL = "classical"


def load_model(source: str | os.PathLike[str], device: str | None = None) -> ImageModel:
    """Load a model from an official checkpoint file, or ``"classical"`` for the GrabCut default.

    The family and size are detected from the file's keys and tensor shapes, not its name.
    ``device``: "cpu", "cuda", "mps", or None for the best available.
    """
    if str(source) == CLASSICAL:
        from model_runtime.models.classical.grabcut import GrabCutModel

        return GrabCutModel()
    path = Path(source)
    state_dict = read_state_dict(path)
    family = detect_family(state_dict)
    if family is None:
        sample = list(state_dict)[:5]
        raise CheckpointError(path, f"not a known SAM checkpoint (first keys: {sample})")
    if family == SAM3:
        raise CheckpointError(path, "SAM 3 checkpoints are not supported yet", family)
    module_name, func_name = _FAMILY_BUILDERS[family].split(":")
    builder = getattr(importlib.import_module(module_name), func_name)
    return builder(state_dict, family=family, path=path, device=device)
