"""What a PyTorch zip checkpoint that was cut short still tells: its tensor names, and which of
them lost their data.

``torch.save`` writes a zip archive whose first record is the pickled index (``data.pkl``: the
state dict with every tensor replaced by a reference to a storage record), followed by one
record per storage (``data/0``, ``data/1``, ... in the index's order) and, last, the zip's
central directory. A download or copy that stopped early loses the central directory, so the
file can no longer be opened as a zip, but the index at its start usually survived. It is read
here without running any code (only the names the index needs are resolved, to inert stand-ins),
and the records are walked from the start of the file to see how far the data goes.

Used only to explain a checkpoint that failed to load (``loader.load_model``).
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_LOCAL_HEADER = b"PK\x03\x04"
_HEADER = struct.Struct("<IHHHHHIIIHH")  # signature ... name length, extra length (30 bytes)
_INDEX_READ_LIMIT = 64 << 20  # the index of a 1,465-tensor file is ~0.2 MB
_GAP_LIMIT = 4096  # bytes searched for the next record after one of unknown length
_ITEM_BYTES = {
    "FloatStorage": 4, "DoubleStorage": 8, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8,
    "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
    "ComplexFloatStorage": 8, "ComplexDoubleStorage": 16,
}  # fmt: skip


@dataclass(frozen=True)
class Contents:
    """names: every tensor name of the index, in order; missing: those whose data is cut off;
    size: the file's size in bytes; needed: the bytes the complete file would have at least."""

    names: tuple[str, ...]
    missing: frozenset[str]
    size: int
    needed: int


@dataclass(frozen=True)
class _Storage:
    key: str
    nbytes: int


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name


def _rebuild_tensor(storage: _Storage, *args: Any) -> _Storage:
    return storage


class _IndexReader(pickle.Unpickler):
    """Unpickles ``data.pkl`` into {name: _Storage}; refuses anything but a state dict's names."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) in (("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter")):
            return _rebuild_tensor
        if module == "torch" and name in _ITEM_BYTES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a plain state dict")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError("unexpected persistent id")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError("unexpected storage type")
        return _Storage(key, numel * _ITEM_BYTES[storage_type.name])


def _record(handle: Any, offset: int) -> tuple[str, int] | None:
    """The local-file header at ``offset``: (record name, offset of its data), or None."""
    handle.seek(offset)
    raw = handle.read(_HEADER.size)
    if len(raw) < _HEADER.size or raw[:4] != _LOCAL_HEADER:
        return None
    fields = _HEADER.unpack(raw)
    name_length, extra_length = fields[9], fields[10]
    name = handle.read(name_length).decode("utf-8", "replace")
    return name, offset + _HEADER.size + name_length + extra_length


def _next_record(handle: Any, start: int) -> int | None:
    """Offset of the first local-file header at or after ``start`` within a short gap."""
    handle.seek(start)
    window = handle.read(_GAP_LIMIT)
    found = window.find(_LOCAL_HEADER)
    return None if found < 0 else start + found


def _flatten(obj: Any) -> dict[str, _Storage]:
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        obj = obj["model"]
    if not isinstance(obj, Mapping):
        raise pickle.UnpicklingError("not a state dict")
    return {str(k): v for k, v in obj.items() if isinstance(v, _Storage)}


def truncated_contents(path: str | os.PathLike[str]) -> Contents | None:
    """For a zip checkpoint: its tensor names and the ones whose data the file lacks. None when
    the file is not such a checkpoint or its index itself is unreadable."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            first = _record(handle, 0)
            if first is None or not first[0].endswith("data.pkl"):
                return None
            prefix = first[0][: -len("data.pkl")]
            handle.seek(first[1])
            buffer = io.BytesIO(handle.read(_INDEX_READ_LIMIT))
            tensors = _flatten(_IndexReader(buffer).load())
            storages = {s.key: s.nbytes for s in tensors.values()}
            present: set[str] = set()
            offset: int | None = first[1] + buffer.tell()
            needed = offset
            while offset is not None:
                offset = _next_record(handle, offset)
                record = _record(handle, offset) if offset is not None else None
                if record is None:
                    break
                name, data = record
                key = name[len(prefix) + len("data/") :] if name.startswith(prefix + "data/") else None
                if key is not None and key in storages:
                    end = data + storages[key]
                    if end > size:
                        break
                    present.add(key)
                    offset = end
                else:
                    offset = data
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, KeyError, struct.error, TypeError):
        return None
    needed += sum(storages.values())
    missing = frozenset(name for name, storage in tensors.items() if storage.key not in present)
    return Contents(names=tuple(tensors), missing=missing, size=size, needed=needed)
