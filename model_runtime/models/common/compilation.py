"""Optional ``torch.compile`` of a model's heavy modules (``--compile``, issue 22).

A model lists what is worth compiling (``compilable_modules()``: its image encoder, and SAM 2's
memory attention); :func:`compile_model` compiles them in place (``nn.Module.compile``: the
weights, their names and the model id do not change) and :func:`warm_up` runs one encode and one
click so that the compilation happens then, on the runtime's background thread during the model
load, and never under the user's first click. The mask decoders are not compiled: they run per
click with prompts of changing shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

WARM_UP_SIZE = (64, 64)  # (H, W): every model resizes to its fixed input size, so shapes match


@dataclass(frozen=True)
class CompileOptions:
    """``torch.compile``'s choices. ``backend`` "inductor" generates kernels (minutes on a CPU);
    "eager" only traces (tests). ``dynamic`` None lets torch decide per module; memory
    attention's input length grows with the memory bank, so it is compiled with dynamic shapes."""

    backend: str = "inductor"
    mode: str | None = None


def compilable_modules(model: Any) -> dict[str, tuple[nn.Module, bool]]:
    """name -> (module, dynamic shapes?) of what ``model`` offers to compile; {} if nothing."""
    offer = getattr(model, "compilable_modules", None)
    return dict(offer()) if callable(offer) else {}


def compile_model(model: Any, options: CompileOptions | None = None) -> list[str]:
    """Compile ``model``'s modules in place; -> their names (empty: nothing to compile)."""
    options = options or CompileOptions()
    names = []
    for name, (module, dynamic) in compilable_modules(model).items():
        if getattr(module, "_compiled_call_impl", None) is None:
            module.compile(backend=options.backend, mode=options.mode, dynamic=dynamic)
        names.append(name)
    return names


def is_compiled(module: nn.Module) -> bool:
    return getattr(module, "_compiled_call_impl", None) is not None


def warm_up(model: Any) -> None:
    """One encode of a small grey image and, for a click model, one click on it: compiles what
    the first real image and click would otherwise wait for."""
    image = np.full((*WARM_UP_SIZE, 3), 128, dtype=np.uint8)
    embedding = model.encode_image(image)
    if callable(getattr(model, "predict", None)) and model.info.can("click"):
        h, w = WARM_UP_SIZE
        model.predict(embedding, points=np.array([[w / 2, h / 2]], np.float32), labels=np.array([1]))
