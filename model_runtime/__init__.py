"""samdesk's model runtime: our own PyTorch SAM implementations and the worker that runs them.

Qt-free and document-free: anyone can script it::

    from model_runtime import load_model
    model = load_model("sam2.1_hiera_tiny.pt", device="cpu")
    emb = model.encode_image(rgb_uint8)
    pred = model.predict(emb, points=[[420, 310]], labels=[1])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from model_runtime.api import ImageEmbedding, ImageModel, ModelInfo, Prediction, PromptError

if TYPE_CHECKING:
    from model_runtime.checkpoints import CheckpointError
    from model_runtime.loader import load_model

__all__ = [
    "CheckpointError",
    "ImageEmbedding",
    "ImageModel",
    "ModelInfo",
    "Prediction",
    "PromptError",
    "load_model",
]


def __getattr__(name: str) -> Any:
    # torch is imported only when a model is loaded: media reading, the document and the CLI's
    # --help must not pay seconds of torch import.
    if name == "load_model":
        from model_runtime.loader import load_model

        return load_model
    if name == "CheckpointError":
        from model_runtime.checkpoints import CheckpointError

        return CheckpointError
    raise AttributeError(f"module 'model_runtime' has no attribute {name!r}")
