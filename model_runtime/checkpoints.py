"""Reading official checkpoint files safely and telling which model family they hold.

Checkpoints are loaded with ``torch.load(..., weights_only=True)``: a file that would need to
run code to unpickle is refused. The family is detected from key names, never the file name;
the size variant is detected by each family's builder from tensor shapes.
"""

from __future__ import annotations

import os
import pickle
import re
import struct
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
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
    """Load a checkpoint's tensors on the CPU, unwrapping SAM 2's ``{"model": ...}`` container.

    Every failure is a CheckpointError naming the file and saying what it is: missing, empty,
    another format (safetensors, ONNX, a zip archive, text, an image...), a pickle that would
    need to run code to load (refused), damaged or truncated, or not a dict of named tensors.
    """
    path = Path(path)
    kind = _identify(path)
    if kind.refused is not None:
        raise CheckpointError(path, kind.refused)
    try:
        with warnings.catch_warnings():
            # e.g. "Detected pickle protocol 67": a symptom of damage, reported below instead.
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=kind.name == _TORCH_ZIP)
    except MemoryError as exc:
        raise CheckpointError(
            path, "not enough free memory to read it (a damaged file can also claim huge tensors)"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - a hostile file can make the unpickler raise anything
        raise CheckpointError(path, _load_problem(kind, exc)) from exc
    return _tensors(path, obj)


def _tensors(path: Path, obj: object) -> dict[str, torch.Tensor]:
    """The ``{name: tensor}`` dict a loaded object holds; CheckpointError for anything else."""
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(path, f"holds a {type(obj).__name__}, not a state dict of tensors")
    not_text = [k for k in obj if not isinstance(k, str)]
    if not_text:
        raise CheckpointError(path, f"its keys are not text (first: {not_text[:5]}), so not a state dict")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(path, f"entries that are not tensors: {bad[:5]}")
    unusual = [k for k, v in obj.items() if v.layout != torch.strided or v.is_quantized]
    if unusual:
        raise CheckpointError(path, f"sparse or quantized tensors samdesk cannot use: {unusual[:5]}")
    return dict(obj)


# --- telling what a file is -------------------------------------------------------------------

_TORCH_ZIP = "PyTorch zip checkpoint"
_PICKLE = "pickle"  # PyTorch's legacy format, or a plain pickle
_OTHER = "other"
_HEAD_BYTES = 512


@dataclass(frozen=True)
class _FileKind:
    """What a file looks like from its first bytes. ``refused``: the whole problem, when the file
    is not worth handing to torch.load; ``looks_like``: a description for unknown formats."""

    name: str
    refused: str | None = None
    looks_like: str = ""
    protocol: int = 0  # of a pickle

    @property
    def failed(self) -> str:
        if self.name in (_TORCH_ZIP, _PICKLE):
            return "damaged or truncated PyTorch checkpoint"
        if self.looks_like:
            return f"not a PyTorch checkpoint: it looks like {self.looks_like}"
        return "not a PyTorch checkpoint (unknown format)"


_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x93NUMPY", "a NumPy array file"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (e.g. Keras weights)"),
)


def _identify(path: Path) -> _FileKind:
    """Open ``path`` (CheckpointError if it cannot be) and tell what kind of file it is."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEAD_BYTES)
            size = os.fstat(handle.fileno()).st_size
    except FileNotFoundError:
        raise CheckpointError(path, "file does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(path, "is a folder, not a checkpoint file") from None
    except PermissionError:
        raise CheckpointError(path, "permission denied") from None
    except OSError as exc:
        raise CheckpointError(path, f"cannot be read ({exc.strerror or exc})") from exc
    if not head:
        raise CheckpointError(path, "file is empty")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _identify_zip(path)
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:  # pickle protocol 2-5
        return _FileKind(_PICKLE, protocol=head[1])
    if _is_safetensors(head, size):
        return _FileKind(_OTHER, refused="a safetensors file, not a PyTorch checkpoint; samdesk reads "
                         "the official .pt/.pth files")
    if _is_onnx(head):
        return _FileKind(_OTHER, refused="an ONNX model, not a PyTorch checkpoint; samdesk runs its own "
                         "PyTorch models from the official .pt/.pth files")
    return _FileKind(_OTHER, looks_like=_looks_like(head))


def _identify_zip(path: Path) -> _FileKind:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except Exception as exc:  # noqa: BLE001 - zipfile raises many types on damaged archives
        problem = f"truncated or damaged: its zip structure cannot be read ({_short(exc)})"
        return _FileKind(_OTHER, refused=problem)
    if any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
        return _FileKind(_TORCH_ZIP)
    return _FileKind(_OTHER, refused=f"a zip archive that is not a PyTorch checkpoint (it holds "
                     f"{', '.join(names[:3]) or 'nothing'}{', ...' if len(names) > 3 else ''})")


def _is_safetensors(head: bytes, size: int) -> bool:
    # An 8-byte little-endian header length, then the JSON header itself.
    if len(head) < 10 or head[8:9] != b"{":
        return False
    (length,) = struct.unpack("<Q", head[:8])
    return 2 <= length <= size - 8


def _is_onnx(head: bytes) -> bool:
    # A protobuf ModelProto starts with field 1 (ir_version, a small varint), then another field
    # of the model: producer_name, producer_version, domain, model_version, doc_string, graph,
    # opset_import.
    next_fields = b"\x12\x1a\x22\x28\x32\x3a\x42"
    return len(head) > 3 and head[0] == 0x08 and 1 <= head[1] <= 15 and head[2] in next_fields


def _looks_like(head: bytes) -> str:
    for magic, description in _MAGIC:
        if head.startswith(magic):
            return description
    if b"\x00" in head:
        return ""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut in two at the end
            return ""
        text = head[: exc.start].decode("utf-8")
    start = text.lstrip().lower()
    if start.startswith(("<!doctype html", "<html")):
        return "an HTML page, perhaps a web page saved instead of the file"
    if start.startswith("version https://git-lfs"):
        return "a Git LFS pointer: the real file was not downloaded"
    return "a text file"


# --- why torch.load failed -------------------------------------------------------------------

# How PyTorch's safe unpickler says that a file needs code to load (a function it would call).
_NEEDS_CODE = re.compile(
    r"GLOBAL (?P<name>\S+) (?:was not an allowed global|whose module)"
    r"|reduce for unrecognized function|Can only create new object|Can only build"
)


def _load_problem(kind: _FileKind, exc: BaseException) -> str:
    """The reason torch.load failed, as one line without PyTorch's advice to load it unsafely
    (``weights_only=False`` would run whatever code the file holds)."""
    found = _NEEDS_CODE.search(str(exc)) if isinstance(exc, pickle.UnpicklingError) else None
    if found:
        what = f" ({found.group('name')})" if found.group("name") else ""
        return f"refused: loading it would run code from the file{what}, which samdesk never does"
    if kind.name == _OTHER:
        return kind.failed  # what torch.load said about a text file or an image is noise
    if kind.name == _PICKLE and kind.protocol > 2:
        # PyTorch writes protocol 2, and its safe unpickler reads nothing newer.
        return (f"a Python pickle (protocol {kind.protocol}), not a PyTorch checkpoint; refused, "
                "because unpickling it could run code, which samdesk never does")
    return f"{kind.failed} ({_short(_unpickler_error(exc))})"


def _unpickler_error(exc: BaseException) -> BaseException:
    # torch.load replaces the unpickler's own error by a long message with advice ("raise ...
    # from None"); the original stays as the context.
    context = exc.__context__
    if isinstance(exc, pickle.UnpicklingError) and isinstance(context, Exception):
        return context
    return exc


def _short(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or "no details"
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}"


# Key prefixes of SAM 3's parts (image and text encoders, detector, tracker): no other family has them.
_SAM3_PARTS = (
    "detector.backbone.vision_backbone.",
    "detector.backbone.language_backbone.",
    "detector.transformer.",
    "tracker.sam_mask_decoder.",
    "tracker.sam_prompt_encoder.",
)


def detect_family(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """Tell the model family from key names alone; None when no known family matches."""
    keys = state_dict.keys()
    # SAM 3 as soon as one of its parts is there, so that its loader can say which are missing.
    if any(k.startswith(_SAM3_PARTS) for k in keys):
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
    assign: bool = False,
) -> None:
    """Copy weights into ``module``; any missing or unexpected key, a tensor of the wrong shape
    or kind, or a weight that is not finite (NaN, inf) is a CheckpointError naming it.

    ``ignore_prefixes`` lists keys the official file carries that inference never uses
    (e.g. MobileSAM's TinyViT classifier head); they are dropped, not silently accepted elsewhere.
    ``assign``: the module takes the given tensors themselves instead of copies (for a module
    built on the meta device over memory-mapped weights: no second copy is ever made).
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
    wrong_kind = [
        f"{k}: file {filtered[k].dtype} vs model {own[k].dtype}"
        for k in own
        if filtered[k].is_complex() != own[k].is_complex()
        or filtered[k].is_floating_point() != own[k].is_floating_point()
    ]
    if wrong_kind:
        raise CheckpointError(path, f"tensor types do not match: {wrong_kind[:5]}", family)
    for k in own:
        if filtered[k].is_floating_point():
            finite = torch.isfinite(filtered[k])
            if not bool(finite.all()):
                bad = int(finite.numel() - finite.sum())
                raise CheckpointError(
                    path, f"weights are not finite: {k} holds {bad} NaN or infinite values "
                    "(the file is damaged)", family
                )
    module.load_state_dict(filtered, strict=True, assign=assign)
