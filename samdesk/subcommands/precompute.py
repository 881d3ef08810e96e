"""``samdesk precompute DIR_OR_PROJECT --model NAME_OR_PATH``: fill the embedding disk cache.

Encodes every image of a folder, an image file, or a project's media ahead of time so that the
GUI answers the first click on each at once. It runs the very job the GUI uses
(:func:`model_runtime.runtime.work.precompute.encode_many`) on a :class:`~model_runtime.runtime.Runtime`,
keyed by the same content hash as the document, so the GUI finds the entries. ``--ray [ADDRESS]``
encodes on a Ray cluster instead, and writes the embeddings that stream back into this machine's
cache (docs/scale-out.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

from samdesk.document import file_content_hash
from samdesk.document.files import PROJECT_SUFFIX
from samdesk.subcommands._device import add_device_option

if TYPE_CHECKING:  # the runtime (and torch) is imported only when the command runs
    from model_runtime.runtime import RuntimeConfig
    from model_runtime.runtime.scheduler import ModelLoader
    from samdesk.labelling.cluster import ClusterConfig



def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "precompute",
        help="compute image embeddings ahead of time into the disk cache",
        description="Encode every image of a folder (recursively), an image file or a "
        f"{PROJECT_SUFFIX} project with a model, storing the embeddings in the disk cache the GUI reads.",
    )
    parser.add_argument("target", metavar="DIR_OR_PROJECT", help="folder, image file or project file")
    parser.add_argument(
        "--model", required=True, metavar="NAME_OR_PATH", help="checkpoint file or 'classical'"
    )
    add_device_option(parser)
    parser.add_argument("--cache-dir", default=None, help="embedding cache folder (default: the user cache)")
    parser.add_argument(
        "--cache-size-gb", type=float, default=None, help="disk cache bound in GB (default: the runtime's)"
    )
    from samdesk.subcommands.label import add_ray_arguments

    add_ray_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, loader: ModelLoader | None = None) -> int:
    """The command; ``loader(source, device)`` replaces ``model_runtime.load_model`` (tests)."""
    from model_runtime.runtime import RuntimeConfig
    from model_runtime.runtime.cache import DEFAULT_DISK_BYTES

    try:
        paths, skipped = collect_images(Path(args.target))
    except ValueError as exc:
        print(f"samdesk precompute: {exc}", file=sys.stderr)
        return 2
    for path, why in skipped:
        print(f"skipping {path}: {why}", file=sys.stderr)
    if not paths:
        print(f"samdesk precompute: no images found in {args.target}", file=sys.stderr)
        return 1
    config = RuntimeConfig(
        # A batch run with no clicks to make way for: it keeps its share of a busy machine.
        background_idle=False,
        disk_cache_dir=args.cache_dir,
        disk_cache_bytes=int(args.cache_size_gb * 1e9) if args.cache_size_gb else DEFAULT_DISK_BYTES,
    )
    if getattr(args, "ray", None) is not None:
        from samdesk.subcommands.label import cluster_config

        return precompute_on_ray(paths, args.model, config, cluster_config(args, loader), sys.stderr)
    return precompute(paths, args.model, args.device, config, sys.stderr, loader)


def precompute(
    paths: list[Path],
    model: str,
    device: str | None,
    config: RuntimeConfig,
    out: TextIO,
    loader: ModelLoader | None = None,
) -> int:
    """Encode ``paths`` into the disk cache, drawing a progress bar on ``out``; the exit code.
    ``loader`` replaces ``model_runtime.load_model`` (tests)."""
    from model_runtime.runtime import Callbacks, EncodeItem, Runtime, encode_many

    runtime = Runtime(config, loader=loader)
    try:
        try:
            info = runtime.load_model(model, device).result()
        except Exception as exc:
            print(f"samdesk precompute: cannot load model {model}: {_reason(exc)}", file=out)
            return 2
        print(f"encoding {len(paths)} images with {info.display_name} on {info.device}", file=out)
        items, unreadable = [], []
        for path in paths:
            try:
                items.append(EncodeItem(file_content_hash(path), 0, _image_reader(path), label=str(path)))
            except OSError as exc:  # vanished, unreadable, a folder: reported with the failures
                unreadable.append((str(path), f"cannot read the file ({exc.strerror or _reason(exc)})"))
        bar = _ProgressBar(out, [p.name for p in paths])
        handle = runtime.run_job(
            encode_many(items), name="precompute", callbacks=Callbacks(on_progress=bar.update)
        )
        try:
            while not handle.wait(0.5):
                pass
        except KeyboardInterrupt:
            handle.cancel()
            bar.finish()
            print("interrupted: the images encoded so far stay cached", file=out)
            return 130
        bar.finish()
        summary = handle.result()
    finally:
        runtime.close()
    failed = unreadable + summary.failed
    print(
        f"done: {summary.computed} computed, {summary.cached} already cached, {len(failed)} failed",
        file=out,
    )
    for label, message in failed:
        print(f"  failed: {label}: {message}", file=out)
    return 1 if failed else 0


def _reason(exc: BaseException) -> str:
    """The exception's message, or its type when it has none (``MemoryError()``)."""
    return str(exc) or type(exc).__name__


def precompute_on_ray(paths: list[Path], model: str, config: RuntimeConfig, cluster: ClusterConfig,
                      out: TextIO) -> int:
    """Encode ``paths`` on a Ray cluster into this machine's disk cache (the embeddings stream
    back; the workers need the model and the images at the same paths); the exit code."""
    from model_runtime.runtime import DiskEmbeddingCache
    from samdesk.labelling.cluster import RayMissing, encode_on_ray
    from samdesk.labelling.found import ModelUnusable

    writer = _CacheWriter(DiskEmbeddingCache(config.disk_cache_dir, config.disk_cache_bytes), paths, out)
    try:
        encode_on_ray(writer.keyed, model, cluster, writer.receive, writer.still_to_encode)
    except KeyboardInterrupt:
        writer.finish_bar()
        print("interrupted: the images encoded so far stay cached", file=out)
        return 130
    except (ModelUnusable, RayMissing) as exc:
        print(f"samdesk precompute: {exc}", file=out)
        return 2
    writer.finish_bar()
    print(f"done: {writer.computed} computed, {writer.cached} already cached, {len(writer.failed)} failed",
          file=out)
    for label, message in writer.failed:
        print(f"  failed: {label}: {message}", file=out)
    return 1 if writer.failed else 0


class _CacheWriter:
    """Writes the embeddings a cluster sends back into the disk cache, and counts."""

    def __init__(self, disk, paths: list[Path], out: TextIO) -> None:
        self.disk, self.out = disk, out
        self.keyed = [(file_content_hash(p), str(p)) for p in paths]
        self.names = {key: Path(path).name for key, path in self.keyed}
        self.computed = self.cached = 0
        self.failed: list[tuple[str, str]] = []
        self.bar: _ProgressBar | None = None

    def still_to_encode(self, info, workers: int) -> list[tuple[str, str]]:
        from model_runtime.runtime import EmbeddingKey

        cached = {k for k, _ in self.keyed if self.disk.path_for(EmbeddingKey(k, 0, info.model_id)).is_file()}
        todo = [(k, p) for k, p in self.keyed if k not in cached]
        self.cached = len(self.keyed) - len(todo)
        print(f"encoding {len(todo)} images ({self.cached} already cached) with {info.display_name} on "
              f"{workers} Ray workers", file=self.out)
        self.bar = _ProgressBar(self.out, [self.names[k] for k, _ in todo])
        return todo

    def receive(self, outcome) -> None:
        from model_runtime.runtime import EmbeddingKey

        name = self.names.get(outcome.media_key, outcome.media_key)
        if outcome.embedding is None:
            self.failed.append((name, outcome.error))
        elif self.disk.put(EmbeddingKey(outcome.media_key, 0, outcome.embedding.model_id), outcome.embedding):
            self.computed += 1
        else:
            self.failed.append((name, "could not write the cache entry"))
        if self.bar is not None:
            self.bar.update(0, self.computed + len(self.failed), None)

    def finish_bar(self) -> None:
        if self.bar is not None:
            self.bar.finish()


def collect_images(target: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The images to encode and the files skipped (with why). Raises ValueError for a bad target."""
    from model_runtime.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES  # imports av: not at CLI start-up

    if not target.exists():
        raise ValueError(f"{target} does not exist")
    if target.is_dir():
        files = sorted(p for p in target.rglob("*") if p.is_file())
    elif target.name.endswith(PROJECT_SUFFIX):
        files = _project_media(target)
    else:
        files = [target]
    images, skipped = [], []
    for path in files:
        suffix = path.suffix.lower()
        if path.is_dir():
            skipped.append((path, "a folder, not an image"))
        elif suffix in IMAGE_SUFFIXES:
            images.append(path)
        elif suffix in VIDEO_SUFFIXES:
            skipped.append((path, "videos are encoded frame by frame when opened or propagated"))
        elif not target.is_dir():
            skipped.append((path, "not an image"))
    return images, skipped


def _project_media(project: Path) -> list[Path]:
    # Only the media list is needed; paths inside project files are relative to the project.
    try:
        data = json.loads(project.read_text(encoding="utf-8"))
        media = data["media"]
        paths = [Path(entry["path"]) for entry in media]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{project}: not a readable samdesk project ({exc})") from exc
    resolved = [p if p.is_absolute() else project.parent / p for p in paths]
    missing = [str(p) for p in resolved if not p.exists()]
    if missing:
        raise ValueError(f"{project}: media files not found: {missing[:5]}")
    return resolved


def _image_reader(path: Path):
    def read() -> np.ndarray:
        from model_runtime.media import read_image

        # Decoded on the runtime's background thread, only if no cached embedding exists, by the
        # same reader the GUI uses (EXIF orientation applied), so the embeddings match.
        return read_image(path)

    return read


class _ProgressBar:
    """A one-line bar on a terminal; a line per tenth on anything else (logs, CI)."""

    def __init__(self, out: TextIO, names: list[str], width: int = 30):
        self.out, self.names, self.width = out, names, width
        self.tty = hasattr(out, "isatty") and out.isatty()
        self.start = time.monotonic()
        self._lock = threading.Lock()
        self._last_tenth = -1

    def update(self, _rid: int, done: int, total: int | None) -> None:
        total = total or len(self.names)
        with self._lock:
            elapsed = time.monotonic() - self.start
            name = self.names[done - 1] if 0 < done <= len(self.names) else ""
            if self.tty:
                filled = self.width * done // max(total, 1)
                bar = "#" * filled + "." * (self.width - filled)
                self.out.write(f"\r[{bar}] {done}/{total} {elapsed:6.1f}s {name[:40]:<40}")
                self.out.flush()
            elif (tenth := 10 * done // max(total, 1)) != self._last_tenth:
                self._last_tenth = tenth
                print(f"{done}/{total} ({elapsed:.1f}s) {name}", file=self.out)

    def finish(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()
