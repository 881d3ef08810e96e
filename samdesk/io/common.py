"""What every dataset format shares: options, results, warnings, selection, progress and file helpers.

Exporters and importers take a :class:`~samdesk.document.model.Project`, never a file of ours, so
the GUI and the CLI run the same code. Long jobs report ``progress(done, total)`` and poll
``cancel()``; a cancelled job raises :class:`Cancelled`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from model_runtime.media import MediaError, MediaInfo, probe_media
from samdesk.document.media_files import frame_count_problem, media_present, size_problem
from samdesk.document.model import (
    AnnotationObject,
    Category,
    FrameAnnotation,
    MediaItem,
    MediaKind,
    MediaStatus,
    Project,
)

ProgressFn = Callable[[int, int], None]
CancelFn = Callable[[], bool]

# A box annotation (a box-only frame) in a format of pixels: it has none until segmented.
BOX_WITHOUT_PIXELS = "box annotation left out (it has no pixels: Tools ▸ Segment boxes gives it a mask)"
# The warning for a selected medium whose file is missing (listed in ExportResult.missing_media).
MISSING_MEDIA = "media file missing; left out of the export"
# The warning for an object whose category is not exported (it has none, or it was filtered out).
UNCATEGORISED = "object without a category skipped"
# Largest image side we accept from a dataset file. A declared 20000×20000 image would need 400 MB
# per decoded mask; real training images are far smaller, so this is almost surely a broken file.
MAX_IMAGE_SIDE = 16384


class DatasetError(ValueError):
    """A dataset file or folder cannot be read or written; the message names the file and the problem."""


class Cancelled(Exception):
    """The user cancelled a long export or import; nothing was applied to the document."""


@dataclass
class Warnings:
    """Counted warnings: one count per kind plus the first few concrete examples of each."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    max_examples: int = 3

    def add(self, kind: str, example: str = "", count: int = 1) -> None:
        """Count ``count`` more of ``kind`` (e.g. the specks one object lost), shown by ``example``."""
        self.counts[kind] = self.counts.get(kind, 0) + count
        shown = self.examples.setdefault(kind, [])
        if example and len(shown) < self.max_examples:
            shown.append(example)

    def __len__(self) -> int:
        return sum(self.counts.values())

    def lines(self, exclude: frozenset[str] = frozenset()) -> list[str]:
        """One human-readable line per kind (but those in ``exclude``), e.g.
        ``3 × object has holes (e.g. truck.jpg #2)``."""
        out = []
        for kind, count in self.counts.items():
            if kind in exclude:
                continue
            examples = self.examples.get(kind) or []
            suffix = f" (e.g. {', '.join(examples)})" if examples else ""
            out.append(f"{count} × {kind}{suffix}")
        return out


@dataclass
class ExportOptions:
    """Which part of a project to export and where its images live.

    ``images_root``: folder that image file names are written relative to; ``None`` uses the
    deepest folder holding every exported medium. ``overwrite``: replace files that already exist
    at the output (never the project or its media). ``project_file``: the project's own file,
    which the export refuses to write over (as it refuses every media file).
    ``include_unannotated``: also write the still images that have no (exported) object, no tag
    and are not marked done, as images with no objects; by default they are left out, since a dataset
    would teach "nothing here" from images nobody looked at (an image marked done with no
    objects is such a statement, and is written).
    """

    media_ids: set[int] | None = None
    category_ids: set[int] | None = None
    only_done: bool = False
    images_root: Path | None = None
    overwrite: bool = False
    project_file: Path | None = None
    include_unannotated: bool = False


@dataclass
class ExportResult:
    """What an export wrote. ``missing_media``: files of selected media that do not exist; those
    media were left out of the export (the rest was written). ``summary``: what a one-line
    summary must say beyond the counts (e.g. which frames of a video were exported).
    ``approximations``: every object the format holds only approximately, one line each
    (``"dog.jpg #17: ..."``), all of them, for the user to check."""

    files: list[Path] = field(default_factory=list)
    media: int = 0
    frames: int = 0
    annotations: int = 0
    warnings: Warnings = field(default_factory=Warnings)
    missing_media: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    approximations: list[str] = field(default_factory=list)


@dataclass
class SelectedMedia:
    """One exported medium: its objects (drawing order) and its frames (ascending)."""

    media: MediaItem
    objects: list[AnnotationObject]
    frames: list[int]


def select(project: Project, options: ExportOptions) -> tuple[list[Category], list[SelectedMedia]]:
    """Apply ``options`` to ``project``: the exported categories (project order) and media.

    An object is exported when its medium is selected and, with a category filter, its category
    is in the filter. Frames: an image has frame 0; a video all its frames. With ``only_done``, an
    image only if it is marked done, a video only its done frames (all of them when it is done).
    A still image with no exported object that is not marked done is left out unless
    ``include_unannotated`` (:func:`unannotated_images` counts them).
    """
    if options.category_ids is None:
        categories = list(project.categories)
    else:
        unknown = options.category_ids - {c.id for c in project.categories}
        if unknown:
            raise DatasetError(f"unknown category ids {sorted(unknown)}")
        categories = [c for c in project.categories if c.id in options.category_ids]
    if options.media_ids is not None:
        unknown = options.media_ids - {m.id for m in project.media}
        if unknown:
            raise DatasetError(f"unknown media ids {sorted(unknown)}")
    by_media: dict[int, list[AnnotationObject]] = {}
    for obj in project.objects:
        if options.category_ids is not None and obj.category_id not in options.category_ids:
            continue
        by_media.setdefault(obj.media_id, []).append(obj)
    selected = []
    for item in project.media:
        if options.media_ids is not None and item.id not in options.media_ids:
            continue
        if _unannotated(item, bool(by_media.get(item.id)), options):
            continue
        frames = _frames(item, options.only_done)
        if not frames:
            continue
        selected.append(SelectedMedia(item, by_media.get(item.id, []), frames))
    return categories, selected


def _unannotated(item: MediaItem, has_objects: bool, options: ExportOptions) -> bool:
    return (
        not options.include_unannotated
        and item.kind != MediaKind.VIDEO
        and item.status != MediaStatus.DONE
        and not has_objects
        and not item.tags  # image-level tags annotate it too
    )


def unannotated_images(project: Project, options: ExportOptions) -> int:
    """How many selected still images :func:`select` leaves out as unannotated."""
    if options.include_unannotated:
        return 0
    annotated = {
        o.media_id
        for o in project.objects
        if options.category_ids is None or o.category_id in options.category_ids
    }
    return sum(
        1
        for m in project.media
        if (options.media_ids is None or m.id in options.media_ids)
        and (not options.only_done or m.status == MediaStatus.DONE)
        and _unannotated(m, m.id in annotated, options)
    )


def _frames(item: MediaItem, only_done: bool) -> list[int]:
    count = max(1, item.frame_count if item.kind == MediaKind.VIDEO else 1)
    problem = frame_count_problem(count)
    if problem is not None:  # a project built in memory, past the loader's check
        raise DatasetError(f"{item.path}: the project says {problem}")
    if not only_done or item.status == MediaStatus.DONE:
        return list(range(count))
    return sorted(f for f in item.done_frames if 0 <= f < count)


def exportable(
    selected: list[SelectedMedia], kind: MediaKind | None, other_kind: str, result: ExportResult
) -> list[SelectedMedia]:
    """The selected media a format writes, checked before anything is allocated or written.

    Media not of ``kind`` (``None``: any kind) are skipped with the warning ``other_kind``; media
    whose file is missing are skipped, warned about and listed in ``result.missing_media`` (an
    export that names files which are not there breaks the training that reads it). A declared
    size no real media can have is a :class:`DatasetError` naming the file and the limit; so is
    a selection whose every file is missing.
    """
    out = []
    for item in selected:
        media = item.media
        if kind is not None and media.kind != kind:
            result.warnings.add(other_kind, media.name)
            continue
        problem = size_problem(media.width, media.height)
        if problem is not None:
            raise DatasetError(f"{media.path}: the project says {problem}")
        if not media_present(media.path):
            result.missing_media.append(media.path)
            result.warnings.add(MISSING_MEDIA, media.path)
            continue
        out.append(item)
    if result.missing_media and not out:
        shown = ", ".join(result.missing_media[:3]) + (", ..." if len(result.missing_media) > 3 else "")
        raise DatasetError(f"nothing exported: the file of every selected medium is missing ({shown})")
    return out


def still_objects(
    item: SelectedMedia, categories: Container[int | None], result: ExportResult, name: str | None = None
) -> Iterator[tuple[AnnotationObject, FrameAnnotation, str]]:
    """The objects of the still image ``item`` that a format writes, in drawing order, as
    (object, its annotation, where): those with an annotation whose category is in ``categories``
    (the others are warned about as :data:`UNCATEGORISED`). ``where`` names the object in
    warnings: ``"dog.jpg #3"``, with ``name`` (default: the medium's name) before the ``#``."""
    shown = item.media.name if name is None else name
    for obj in item.objects:
        frame = obj.frames.get(0)
        if frame is None:
            continue
        where = f"{shown} #{obj.id}"
        if obj.category_id not in categories:
            result.warnings.add(UNCATEGORISED, where)
            continue
        yield obj, frame, where


@contextmanager
def out_of_memory_names(media: MediaItem) -> Iterator[None]:
    """Running out of memory while exporting ``media`` becomes a :class:`DatasetError` naming it."""
    try:
        yield
    except MemoryError:
        raise DatasetError(
            f"{media.path}: not enough memory to export its {media.width}x{media.height} masks"
        ) from None


def images_root(selected: list[SelectedMedia], root: Path | None) -> Path:
    """The folder exported file names are relative to (given, or the media's common folder)."""
    if root is not None:
        return Path(root).resolve()
    parents = [str(Path(s.media.path).resolve().parent) for s in selected]
    return Path(os.path.commonpath(parents)) if parents else Path.cwd()


def relative_name(item: MediaItem, root: Path) -> str:
    """``item``'s path relative to ``root`` with forward slashes (what dataset files store)."""
    path = Path(item.path).resolve()
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        raise DatasetError(f"{item.path} is not inside the images root {root}") from None


def report(progress: ProgressFn | None, cancel: CancelFn | None, done: int, total: int) -> None:
    """Tell the caller how far we are, and stop if they asked us to."""
    if cancel is not None and cancel():
        raise Cancelled("cancelled")
    if progress is not None:
        progress(done, total)


def read_json(path: Path) -> object:
    """Parse a JSON dataset file; any failure becomes one clear :class:`DatasetError`."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    except RecursionError:
        raise DatasetError(f"{path}: not a dataset file (JSON nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise DatasetError(f"{path}: not valid JSON ({exc})") from None


def read_text(path: Path) -> str:
    """A UTF-8 text file of a dataset; any failure becomes one clear :class:`DatasetError`."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not a UTF-8 text file (invalid byte at position {exc.start})") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None


def walk_folders(root: Path, max_depth: int = 8) -> Iterator[tuple[Path, list[str]]]:
    """(folder, names of its files) for ``root`` and the folders below it, symlinked ones
    followed (datasets link their sequence folders), sorted, each real folder once (a link back
    up cannot loop), at most ``max_depth`` levels down."""
    seen: set[str] = set()

    def visit(folder: Path, depth: int) -> Iterator[tuple[Path, list[str]]]:
        real = os.path.realpath(folder)
        if real in seen:
            return
        seen.add(real)
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
                files = [e.name for e in entries if e.is_file()]
                folders = [Path(e.path) for e in entries if e.is_dir()]
        except OSError as exc:
            raise DatasetError(f"{folder}: cannot list the folder ({exc.strerror or exc})") from None
        yield folder, files
        if depth < max_depth:
            for child in folders:
                yield from visit(child, depth + 1)

    yield from visit(Path(root), 0)


def dataset_files(path: Path, suffix: str, kind: str) -> list[Path]:
    """The file ``path``, or every file ending in ``suffix`` (any case) in the folder ``path``
    and the folders below it (:func:`walk_folders`); a :class:`DatasetError` naming ``kind``
    ("labelme .json") when the folder has none, or when ``path`` is neither."""
    if path.is_dir():
        files = [f / n for f, names in walk_folders(path) for n in names if n.lower().endswith(suffix)]
        if not files:
            raise DatasetError(f"{path}: no {kind} files in this folder")
        return files
    if path.is_file():
        return [path]
    raise DatasetError(f"{path}: no such file or folder")


def dataset_file(path: Path, name: str) -> Path:
    """The file ``path``, or in the folder ``path`` the file ``name`` ("annotations.xml") or else
    its only file with the same suffix; a :class:`DatasetError` saying which when there is none."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise DatasetError(f"{path}: no such file or folder")
    if (path / name).is_file():
        return path / name
    suffix = Path(name).suffix
    found = sorted(p for p in path.glob(f"*{suffix}") if p.is_file())
    if len(found) != 1:
        raise DatasetError(f"{path}: expected {name} (or one {suffix} file) in this folder")
    return found[0]


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image as samdesk shows it (EXIF orientation applied), from its header."""
    info = media_info(path)
    if info.kind != "image":
        raise DatasetError(f"{path}: expected an image, found a {info.kind}")
    return info.width, info.height


def media_info(path: Path) -> MediaInfo:
    """Kind, size, frame count and fps as the rest of samdesk sees them (same probe as adding media)."""
    try:
        return probe_media(path)
    except MediaError as exc:
        raise DatasetError(str(exc)) from None


def check_size(width: int, height: int, where: str) -> None:
    """Refuse absurd declared sizes before any buffer of that size is allocated."""
    if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE):
        raise DatasetError(
            f"{where}: image size {width}×{height} is outside 1..{MAX_IMAGE_SIDE} pixels per side"
        )


# Colours for categories created by an import (the project picks its own for categories it makes).
_IMPORT_COLORS = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
]  # fmt: skip


def import_color(index: int) -> tuple[int, int, int]:
    return _IMPORT_COLORS[index % len(_IMPORT_COLORS)]


def video_info(path: Path) -> tuple[int, int, int, float | None]:
    """(width, height, frame_count, fps) of a video; frames counted as the video reader counts them."""
    info = media_info(path)
    if info.kind != "video":
        raise DatasetError(f"{path}: expected a video, found an {info.kind}")
    return info.width, info.height, info.frame_count, info.fps


def frame_masks(item: SelectedMedia) -> dict[int, list[tuple[int, AnnotationObject]]]:
    """For each selected frame, the (index, object) pairs that have a mask there.

    ``index`` is the object's 1-based position among the medium's exported objects: the value it
    gets in instance and palette PNGs (stable across a video's frames).
    """
    wanted = set(item.frames)
    out: dict[int, list[tuple[int, AnnotationObject]]] = {}
    for index, obj in enumerate(item.objects, start=1):
        for frame in obj.frames:
            if frame in wanted:
                out.setdefault(frame, []).append((index, obj))
    return out
