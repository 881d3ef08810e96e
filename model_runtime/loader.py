"""``load_model``: from a checkpoint file or a model name to one of our implementations."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from model_runtime.api import ImageModel
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

# family -> "module:function(state_dict, *, family, path, device) -> ImageModel"; imported lazily
# so that loading one family never imports the others.
_FAMILY_BUILDERS = {
    SAM1: "model_runtime.models.sam1.model:from_state_dict",
    MOBILESAM: "model_runtime.models.sam1.model:from_state_dict",
    SAM2: "model_runtime.models.sam2.model:from_state_dict",
    SAM2_1: "model_runtime.models.sam2.model:from_state_dict",
    SAM3: "model_runtime.models.sam3.model:from_state_dict",
}

CLASSICAL = "classical"


def load_model(source: str | os.PathLike[str], device: str | None = None) -> ImageModel:
    """Load a model from an official checkpoint file, an installed registry name such as
    ``"sam2.1_hiera_tiny"``, or ``"classical"`` for the GrabCut default.

    The family and size are detected from the file's keys and tensor shapes, not its name.
    ``device``: "cpu", "cuda", "mps", or None for the best available.
    """
    if str(source) == CLASSICAL:
        from model_runtime.models.classical.grabcut import GrabCutModel

        return GrabCutModel()
    path = Path(source)
    if not path.exists():  # a registry or custom model name: its installed file (or a clear error)
        from model_runtime.download import ModelNotInstalledError, resolve

        try:
            path = resolve(source)
        except ModelNotInstalledError:
            raise
        except CheckpointError as exc:
            return _load_with_plugins(str(source), device, exc)
    try:
        state_dict = _read_state_dict(path)
    except CheckpointError as exc:
        return _load_with_plugins(str(path), device, exc)
    family = detect_family(state_dict)
    if family is None:
        sample = list(state_dict)[:5]
        unknown = CheckpointError(path, f"not a known SAM checkpoint (first keys: {sample})")
        return _load_with_plugins(str(path), device, unknown)
    return _build(state_dict, family, path, device)


def check_model_file(path: str | os.PathLike[str]) -> str:
    """Load ``path`` exactly as :func:`load_model` would (strictly, on the CPU) and discard the
    model; return its family. CheckpointError when the file is not a usable built-in model."""
    state_dict = _read_state_dict(Path(path))
    family = detect_family(state_dict)
    if family is None:
        raise CheckpointError(path, f"not a known SAM checkpoint (first keys: {list(state_dict)[:5]})")
    _build(state_dict, family, Path(path), "cpu")
    return family


def _read_state_dict(path: Path) -> dict:
    """``read_state_dict``; a checkpoint cut short says which tensors (for SAM 3: which parts)
    it lost, when its index survived (``checkpoint_index``)."""
    try:
        return read_state_dict(path)
    except CheckpointError as exc:
        raise _explain_cut_short(path, exc) from exc


def _explain_cut_short(path: Path, error: CheckpointError) -> CheckpointError:
    from model_runtime.checkpoint_index import truncated_contents

    contents = truncated_contents(path)
    if contents is None or not contents.missing:
        return error
    family = detect_family(dict.fromkeys(contents.names))
    if family == SAM3:
        from model_runtime.models.sam3.checkpoint import describe_cut_short

        return CheckpointError(path, describe_cut_short(contents), family)
    lost = [name for name in contents.names if name in contents.missing]
    return CheckpointError(
        path,
        f"truncated: the file has {contents.size:,} of at least {contents.needed:,} bytes, "
        f"so {len(lost)} of {len(contents.names)} tensors have no data (first: {lost[:3]}); "
        "download it again",
        family,
    )


def _build(state_dict: dict, family: str, path: Path, device: str | None) -> ImageModel:
    """The family's builder on ``state_dict``; whatever a malformed file makes it raise becomes a
    CheckpointError naming the file."""
    if family not in _FAMILY_BUILDERS:
        raise CheckpointError(path, f"{family} checkpoints are not supported yet", family)
    module_name, func_name = _FAMILY_BUILDERS[family].split(":")
    builder = getattr(importlib.import_module(module_name), func_name)
    try:
        return builder(state_dict, family=family, path=path, device=device)
    except CheckpointError:
        raise
    except MemoryError as exc:
        raise CheckpointError(path, "not enough free memory to build the model", family) from exc
    except (KeyError, IndexError, ValueError, TypeError, AttributeError, RuntimeError) as exc:
        raise CheckpointError(path, f"cannot build the model from it ({_describe(exc)})", family) from exc


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}" if str(exc) else type(exc).__name__


def _load_with_plugins(source: str, device: str | None, error: CheckpointError) -> ImageModel:
    """No built-in family matched: offer the source to backend plugins, else raise ``error``."""
    from model_runtime.plugins import load_with_backends

    model, problems = load_with_backends(source, device)
    if model is not None:
        return model
    if problems:
        detail = f"{error.problem}; backend plugins failed: {'; '.join(problems)}"
        raise CheckpointError(error.path, detail, error.family) from error
    raise error
