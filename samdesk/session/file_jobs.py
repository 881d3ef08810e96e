"""Work on files that runs on the runtime's background thread, never on the GUI thread.

Opening a file probes it and hashes all its bytes (a 2 GB video takes seconds); importing and
exporting a dataset reads or writes every mask. Each is a :class:`model_runtime.runtime.Job`
that needs no model, run with ``Runtime.run_job``: the GUI shows progress, stays responsive and
can cancel. These jobs never change the document: they hand back what the GUI thread then
applies as undoable commands.

- :func:`open_files`: one step per file; each opened file (or project) is a partial result
- :func:`export_dataset`, :func:`import_dataset`: one step that calls the format's exporter or
  importer, reporting its progress through ``report`` and stopping when cancelled
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_runtime.runtime import Job, JobContext, JobSteps, Priority
from samdesk.document import MediaItem, Project
from samdesk.document.files import PROJECT_SUFFIX
from samdesk.document.persistence import LoadedProject, load_project

Report = Callable[[int, int], None]  # (done, total), called on the background thread


def is_project_path(path: Path) -> bool:
    return path.name.endswith(PROJECT_SUFFIX)


def media_suffixes() -> frozenset[str]:
    """The image and video suffixes the app opens (model_runtime.media's, which the decoders
    use). Imported on demand: it pulls in PyAV, slow to import at start-up."""
    from model_runtime.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    return frozenset(IMAGE_SUFFIXES) | frozenset(VIDEO_SUFFIXES)


@dataclass(frozen=True)
class OpenedMedia:
    """A media file made into a document item (``id`` 0: ``AddMedia`` assigns it)."""

    item: MediaItem


@dataclass(frozen=True)
class OpenedProject:
    """A project file read and checked; the GUI makes it the document."""

    result: LoadedProject


@dataclass(frozen=True)
class OpenProblem:
    """A path that could not be opened; ``message`` names it and says why."""

    message: str


def absolute(path: str | Path) -> str:
    """A media item's path as the document has it (absolute, normalised, links kept)."""
    return os.path.abspath(path)


def open_files(paths: Sequence[str | Path], known: Collection[str] = ()) -> Job:
    """Open images, videos, folders of them and projects, in the order given.

    Step one lists the folders; then one step per file, each yielding ``(done, total, what)``
    with ``what`` an :class:`OpenedMedia`, :class:`OpenedProject` or :class:`OpenProblem` (a
    file that cannot be read is reported and the others still open). Files whose absolute
    path is in ``known`` (already in the document) are skipped. The result is the number of
    files looked at. The user waits for this, so it goes before prefetches.
    """
    paths = [Path(p).expanduser() for p in paths]
    known = frozenset(known)

    def steps(ctx: JobContext) -> JobSteps:
        suffixes = media_suffixes()
        todo: list[Path | OpenProblem] = []
        for path in paths:
            if is_project_path(path):
                todo.append(path)
            elif path.is_dir():
                todo += sorted(p for p in path.iterdir() if p.suffix.lower() in suffixes and p.is_file())
            elif not path.exists():
                todo.append(OpenProblem(f"{path}: no such file"))
            elif path.suffix.lower() in suffixes:
                todo.append(path)
            else:
                todo.append(OpenProblem(f"{path}: not an image, video, folder or {PROJECT_SUFFIX} project"))
        todo = [t for t in todo if isinstance(t, OpenProblem) or absolute(t) not in known]
        yield 0, len(todo)
        for done, target in enumerate(todo, start=1):
            yield done, len(todo), _open_one(target)
        return len(todo)

    return Job(steps, name="open files", priority=Priority.CURRENT, needs_model=False)


def _open_one(target: Path | OpenProblem) -> OpenedMedia | OpenedProject | OpenProblem:
    if isinstance(target, OpenProblem):
        return target
    from samdesk.document.media_files import media_item_from_path

    try:
        if is_project_path(target):
            return OpenedProject(load_project(target))
        return OpenedMedia(media_item_from_path(target))
    except Exception as exc:  # MediaError, ProjectFileError & co name the file: report, go on
        return OpenProblem(str(exc) or f"{target}: {type(exc).__name__}")


def export_dataset(
    name: str, project: Project, out: Path, report: Report, **options: object
) -> Job:
    """Export ``project`` (a clone: the user may keep editing) as format ``name`` into ``out``;
    the result is the format's ``ExportResult``. Raises ``Cancelled`` when cancelled."""
    from samdesk.io import formats

    def steps(ctx: JobContext) -> JobSteps:
        result = formats.run_export(name, project, out, report, lambda: ctx.cancelled, **options)
        yield 1, 1
        return result

    return Job(steps, name=f"export {name}", priority=Priority.CURRENT, needs_model=False)


def import_dataset(name: str, project: Project, path: Path, images_dir: Path, report: Report) -> Job:
    """Read dataset ``path`` (format ``name``, images under ``images_dir``) against ``project``
    (a clone, never changed); the result is the ``ImportResult`` whose ``command`` the GUI
    thread executes, as one undoable step."""
    from samdesk.io import formats

    importer = formats.IMPORT_FORMATS[name]

    def steps(ctx: JobContext) -> JobSteps:
        result: Any = importer(project, path, images_dir, report, lambda: ctx.cancelled)
        yield 1, 1
        return result

    return Job(steps, name=f"import {name}", priority=Priority.CURRENT, needs_model=False)


def find_moved_media(missing: Sequence[MediaItem], folder: Path) -> Job:
    """Look for ``missing`` media in ``folder`` and below, by name and content
    (:func:`samdesk.document.relocate.find_media_in_folder`: hashing may read gigabytes). The
    result is media id -> found path; the GUI thread relinks them as one undoable step."""
    from samdesk.document.relocate import find_media_in_folder

    wanted = list(missing)

    def steps(ctx: JobContext) -> JobSteps:
        found = find_media_in_folder(wanted, folder)
        yield 1, 1
        return found

    return Job(steps, name="find moved media", priority=Priority.CURRENT, needs_model=False)
