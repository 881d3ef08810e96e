"""Child-process side of ``tests/hostile/test_model_files.py``: run one entry point on many files.

Runs inside :func:`tests.hostile.limits.run_python` (bounded memory), so a hostile file that makes
an entry point allocate without bound fails there instead of in the test process. Each probe
prints one JSON line per file, flushed before the next file starts, so a crash (a segfault kills
the whole child) still tells which file caused it: its ``start`` line has no ``done`` line.

Entry points ("what"): ``read`` = ``read_state_dict``, ``load`` = ``load_model(..., "cpu")``,
``add`` = ``samdesk models --dir DIR add FILE`` through the CLI's ``main`` (stderr captured).
A result is ``ok``, ``refused`` (the entry point's own clear error: a CheckpointError, or exit
code 1 from the CLI) or ``escaped`` (any other exception reached the caller: a traceback).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import struct
import sys
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path


def _emit(**fields: object) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def _entry(what: str, models_root: Path | None) -> Callable[[Path, int], dict]:
    from model_runtime import CheckpointError, load_model
    from model_runtime.checkpoints import read_state_dict

    def call_model_api(function: Callable[[Path], object]) -> Callable[[Path, int], dict]:
        def run(path: Path, _index: int) -> dict:
            try:
                function(path)
            except CheckpointError as exc:
                return {"result": "refused", "message": str(exc)}
            except BaseException as exc:  # noqa: BLE001 - reporting what escaped is the point
                return {"result": "escaped", "type": type(exc).__name__, "message": str(exc),
                        "traceback": traceback.format_exc()}
            return {"result": "ok"}

        return run

    if what == "read":
        return call_model_api(read_state_dict)
    if what == "load":
        return call_model_api(lambda path: load_model(path, device="cpu"))
    if what == "add":
        from samdesk.cli import main

        assert models_root is not None

        def add(path: Path, index: int) -> dict:
            folder = models_root / str(index)
            err = io.StringIO()
            try:
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    code = main(["models", "--dir", str(folder), "add", str(path)])
            except BaseException as exc:  # noqa: BLE001
                return {"result": "escaped", "type": type(exc).__name__, "message": str(exc),
                        "traceback": traceback.format_exc(), "stderr": err.getvalue()}
            installed = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
            result = "ok" if code == 0 else "refused" if code == 1 else "escaped"
            return {"result": result, "code": code, "stderr": err.getvalue(), "installed": installed}

        return add
    raise ValueError(f"unknown entry point {what!r}")


def probe(whats: list[str], paths: list[str], models_root: str | None = None) -> None:
    """Run each entry point of ``whats`` on each of ``paths``; one JSON line per (entry, file)."""
    for what in whats:
        run = _entry(what, Path(models_root) if models_root else None)
        for index, name in enumerate(paths):
            _emit(start=f"{what} {name}")
            _emit(what=what, path=name, label=f"{what} {name}", **run(Path(name), index))


# --- mutations of real checkpoint layouts ------------------------------------------------------


def _zip_regions(path: Path) -> dict[str, list[tuple[int, int]]]:
    """Byte ranges [start, stop) of a PyTorch zip checkpoint's parts, by kind."""
    size = path.stat().st_size
    with zipfile.ZipFile(path) as archive, open(path, "rb") as raw:
        regions: dict[str, list[tuple[int, int]]] = {"pickle": [], "headers": [], "tensors": []}
        for info in archive.infolist():
            raw.seek(info.header_offset + 26)
            name_len, extra_len = struct.unpack("<HH", raw.read(4))
            data = info.header_offset + 30 + name_len + extra_len
            regions["headers"].append((info.header_offset, data))
            kind = "pickle" if info.filename.endswith("data.pkl") else "tensors"
            if info.file_size:
                regions[kind].append((data, data + info.file_size))
        regions["directory"] = [(archive.start_dir, size)]
    return regions


def _regions(path: Path) -> dict[str, list[tuple[int, int]]]:
    size = path.stat().st_size
    if zipfile.is_zipfile(path):
        regions = _zip_regions(path)
    else:  # the legacy format: pickles first, then the raw storages
        regions = {"pickle": [(0, min(size, 1 << 16))], "tensors": [(min(size, 1 << 16), size)]}
    regions["anywhere"] = [(0, size)]
    return regions


def _offset(ranges: list[tuple[int, int]], at: float) -> int:
    """The byte at fraction ``at`` of the ranges laid end to end."""
    total = sum(stop - start for start, stop in ranges)
    target = int(at * total)
    for start, stop in ranges:
        if target < stop - start:
            return start + target
        target -= stop - start
    return ranges[-1][1] - 1


def mutate(layouts: dict[str, str], mutations: list[dict], workdir: str) -> None:
    """``load_model`` on each mutation of each layout file; one JSON line per mutant.

    A mutation is ``{"kind": "flip", "region": R, "at": f, "bit": b}`` (flip bit ``b`` of the
    byte at fraction ``f`` of region ``R``: pickle, headers, directory, tensors or anywhere) or
    ``{"kind": "truncate", "at": f}`` (keep the first fraction ``f`` of the file).
    """
    run = _entry("load", None)
    work = Path(workdir)
    for layout, source in layouts.items():
        source_path = Path(source)
        regions = _regions(source_path)
        mutant = work / f"mutant-{layout}{source_path.suffix}"
        shutil.copyfile(source_path, mutant)
        for index, mutation in enumerate(mutations):
            label = f"{layout}: {json.dumps(mutation)}"
            _emit(start=label)
            if mutation["kind"] == "truncate":
                cut = work / f"cut-{layout}{source_path.suffix}"
                shutil.copyfile(source_path, cut)
                os.truncate(cut, int(mutation["at"] * source_path.stat().st_size))
                _emit(path=str(cut), label=label, **run(cut, index))
                cut.unlink()
                continue
            ranges = regions.get(mutation["region"]) or regions["anywhere"]
            offset = _offset(ranges, mutation["at"])
            with open(mutant, "r+b") as handle:
                handle.seek(offset)
                original = handle.read(1)[0]
                handle.seek(offset)
                handle.write(bytes([original ^ (1 << mutation["bit"])]))
            try:
                _emit(path=str(mutant), label=label, offset=offset, **run(mutant, index))
            finally:
                with open(mutant, "r+b") as handle:  # undo the flip for the next mutation
                    handle.seek(offset)
                    handle.write(bytes([original]))
        mutant.unlink()
