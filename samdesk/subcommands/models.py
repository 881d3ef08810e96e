"""``samdesk models list|download NAME|path NAME|add FILE``: the model files on this machine."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

# model_runtime (and so torch) is imported inside the handlers: building the CLI parser must
# stay quick for every other subcommand.
ENV_MODELS_DIR = "SAMDESK_MODELS_DIR"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list, download and add model checkpoints",
        description="Manage model checkpoints. Nothing is ever downloaded unless you ask here "
        f"(or in the GUI's model manager). Files live in ${ENV_MODELS_DIR} or the user cache.",
    )
    parser.add_argument("--dir", help=f"models folder (default: ${ENV_MODELS_DIR} or the user cache)")
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="official models and what is installed").set_defaults(func=_list)
    get = sub.add_parser("download", help="download an official checkpoint and verify its sha256")
    get.add_argument("name", metavar="NAME", help="registry name, e.g. sam2.1_hiera_tiny")
    get.set_defaults(func=_download)
    where = sub.add_parser("path", help="print where an installed model's file is")
    where.add_argument("name", metavar="NAME")
    where.set_defaults(func=_path)
    add = sub.add_parser("add", help="install a checkpoint file you already have")
    add.add_argument("file", metavar="FILE")
    add.add_argument("--link", action="store_true", help="link to FILE instead of copying it")
    add.set_defaults(func=_add)


def _fail(message: object) -> int:
    print(f"samdesk models: error: {message}", file=sys.stderr)
    return 1


def _list(args: argparse.Namespace) -> int:
    from model_runtime import download as dl
    from model_runtime import registry

    folder = dl.models_dir(args.dir)
    installed = {m.name: m for m in dl.installed(folder)}
    rows = [("NAME", "FAMILY", "SIZE", "CPU ENCODE", "STATUS", "DESCRIPTION")]
    rows.append(("classical", "classical", "-", registry.FAST, "built in", "GrabCut; no download"))
    for spec in registry.REGISTRY:
        if spec.name in installed:
            status = "installed" + ("" if spec.verifiable else " (unverified)")
        else:
            status = "available" if spec.downloadable else "manual download"
        rows.append((spec.name, spec.family, _megabytes(spec.size), spec.cpu_encode_cost, status,
                     spec.description))
    for model in installed.values():
        if registry.find(model.name) is None:
            size = _megabytes(model.path.stat().st_size)
            rows.append((model.name, "?", size, "?", "custom", str(model.path)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    print(f"\nmodels folder: {folder}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from model_runtime import download as dl
    from model_runtime import registry
    from model_runtime.checkpoints import CheckpointError

    bar = ProgressBar(args.name, sys.stderr)
    try:
        result = dl.download(registry.get(args.name), args.dir, progress=bar)
    except KeyboardInterrupt:
        bar.finish()
        print(f"cancelled; run `samdesk models download {args.name}` again to resume", file=sys.stderr)
        return 130
    except (dl.DownloadError, CheckpointError, registry.UnknownModelError) as exc:
        bar.finish()
        return _fail(exc)
    bar.finish()
    note = "sha256 verified" if result.verification == dl.VERIFIED else "unverified: no official sha256 known"
    print(f"{result.path} ({note})")
    return 0


def _path(args: argparse.Namespace) -> int:
    from model_runtime import download as dl
    from model_runtime import registry
    from model_runtime.checkpoints import CheckpointError

    try:
        print(dl.resolve(args.name, args.dir))
    except (CheckpointError, registry.UnknownModelError) as exc:
        return _fail(exc)
    return 0


def _add(args: argparse.Namespace) -> int:
    from model_runtime import download as dl
    from model_runtime.checkpoints import CheckpointError

    try:
        result = dl.add(args.file, args.dir, link=args.link)
    except (dl.DownloadError, CheckpointError, OSError) as exc:
        return _fail(exc)
    print(f"added {result.name} ({result.family}, {result.verification}): {result.path}")
    return 0


def _megabytes(size: int | None) -> str:
    return "?" if size is None else f"{size / 1e6:.0f} MB"


class ProgressBar:
    """A one-line text progress bar, redrawn in place when the whole percentage changes."""

    def __init__(self, label: str, stream: TextIO, width: int = 30):
        self.label = label
        self.stream = stream
        self.width = width
        self._last: tuple[int, int] | None = None

    def __call__(self, done: int, total: int | None) -> None:
        if total:
            percent = min(100, done * 100 // total)
            key = (percent, 0)
            filled = self.width * percent // 100
            text = (f"\r{self.label} {percent:3d}% [{'#' * filled}{' ' * (self.width - filled)}] "
                    f"{done / 1e6:.1f}/{total / 1e6:.1f} MB")
        else:
            key = (-1, done >> 22)  # unknown size: redraw every 4 MiB
            text = f"\r{self.label} {done / 1e6:.1f} MB"
        if key != self._last:
            self._last = key
            self.stream.write(text)
            self.stream.flush()

    def finish(self) -> None:
        if self._last is not None:
            self.stream.write("\n")
            self.stream.flush()
