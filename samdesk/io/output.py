"""Where an export writes, and what it must never touch.

An export writes every file to a temporary name beside its target; only when all of them are
written does :meth:`ExportOutput.commit` rename them into place. A failed or cancelled export
(:meth:`ExportOutput.discard`) removes its temporary files and the folders it created, so it
changes nothing, not even with ``overwrite``. On the way it refuses:

* a target that is (or resolves to) the project file, any ``*.samdesk.json`` project, or one of the
  project's media files — with or without ``overwrite`` (:class:`ProtectedOutput`);
* a target that already exists and was not written by this export, unless ``overwrite``
  (:class:`OutputExists`); replacing a file renames over its directory entry, so a symbolic link
  there is replaced, never written through;
* two files of one export with the same target (:func:`unique_stems` keeps names apart).

Usage (:func:`start_export` is how exporters begin: the output, then what they write)::

    start = start_export(project, out, options, folder=True, kind=MediaKind.IMAGE, other_kind="...")
    with start.output as output:
        output.write_bytes(output.path("instances/dog.png"), data)
    # all files are in place here; an exception inside the block left nothing behind
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType

from samdesk.document.files import PROJECT_SUFFIX, TEMP_SUFFIX, write_new_file
from samdesk.document.model import Category, MediaKind, Project
from samdesk.io.common import (
    DatasetError,
    ExportOptions,
    ExportResult,
    SelectedMedia,
    Warnings,
    exportable,
    select,
)

# The warning for media whose exported files got a longer name (see unique_stems).
SAME_STEM = "same name as another medium but for the extension; its files keep the extension"


class OutputExists(DatasetError):
    """A file the export would write is already there and ``overwrite`` was not given."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"{path} already exists; an export replaces no existing file unless told to (--overwrite)"
        )


class ProtectedOutput(DatasetError):
    """The export would write over the project or one of its media files: never allowed."""


def protected_paths(project: Project, project_file: Path | None) -> dict[str, str]:
    """What no export may write: ``{path: why}`` for the project file and every media file, each
    both as its directory entry and as the file it resolves to."""
    out: dict[str, str] = {}
    entries = [(Path(m.path), "one of the project's media") for m in project.media]
    if project_file is not None:
        entries.append((Path(project_file), "the project file"))
    for path, why in entries:
        for key in (_entry(path), _resolved(path)):
            out.setdefault(key, why)
    return out


def open_output(project: Project, out: Path, options: ExportOptions, *, folder: bool) -> ExportOutput:
    """The :class:`ExportOutput` of exporting ``project`` to ``out`` with ``options``."""
    protected = protected_paths(project, options.project_file)
    return ExportOutput(out, folder=folder, protected=protected, overwrite=options.overwrite)


@dataclass
class ExportStart:
    """What every exporter begins with (:func:`start_export`)."""

    result: ExportResult
    output: ExportOutput
    categories: list[Category]  # the exported categories, in project order
    selected: list[SelectedMedia]  # the media the format writes

    @property
    def names(self) -> dict[int, str]:
        """Category id -> name, for the exported categories."""
        return {c.id: c.name for c in self.categories}


def start_export(
    project: Project,
    out: Path,
    options: ExportOptions,
    *,
    folder: bool,
    kind: MediaKind | None,
    other_kind: str,
) -> ExportStart:
    """Begin exporting ``project`` to ``out``: the output is checked first (never the project or its
    media), then the media and categories ``options`` select, less the media a format of ``kind``
    cannot hold (each warned about as ``other_kind``) and those whose file is missing."""
    result = ExportResult()
    output = open_output(project, out, options, folder=folder)
    categories, selected = select(project, options)
    return ExportStart(result, output, categories, exportable(selected, kind, other_kind, result))


def unique_stems(names: list[str], keep_suffix: str, warnings: Warnings, shown: str = "{}") -> list[str]:
    """Each file name without its suffix (``"sub/dog.jpg"`` -> ``"sub/dog"``), made unique.

    Names whose stems collide (case-insensitively, for case-insensitive file systems) keep their
    suffix, joined by ``keep_suffix``: ``"dog.jpg"`` and ``"dog.png"`` become ``"dog.jpg"`` and
    ``"dog.png"`` with ``keep_suffix="."``, ``"dog_jpg"`` and ``"dog_png"`` with ``"_"``. Anything
    still colliding after that is numbered (``"dog_jpg~2"``), first come first served. Each changed
    name is reported in ``warnings`` as ``name -> shown.format(stem)``.
    """
    plain = [str(PurePosixPath(n).with_suffix("")) if PurePosixPath(n).suffix else n for n in names]
    count = Counter(s.casefold() for s in plain)
    stems = []
    for name, stem in zip(names, plain, strict=True):
        pure = PurePosixPath(name)
        if count[stem.casefold()] > 1 and pure.suffix:
            stem = str(pure.with_name(pure.stem + keep_suffix + pure.suffix[1:]))
        stems.append(stem)
    taken: set[str] = set()
    for i, stem in enumerate(stems):
        number, candidate = 2, stem
        while candidate.casefold() in taken:
            candidate, number = f"{stem}~{number}", number + 1
        stems[i] = candidate
        taken.add(candidate.casefold())
    for name, stem, old in zip(names, stems, plain, strict=True):
        if stem != old:
            warnings.add(SAME_STEM, f"{name} -> {shown.format(stem)}")
    return stems


class ExportOutput:
    """The files of one export: staged beside their targets, then put in place together.

    ``out``: the output file (``folder=False``) or folder; ``protected``: from
    :func:`protected_paths`; ``overwrite``: replace files that already exist.
    """

    def __init__(
        self, out: Path, *, folder: bool, protected: dict[str, str], overwrite: bool = False
    ) -> None:
        self.out = Path(os.path.abspath(out))
        self.folder = folder
        self.protected = protected
        self.overwrite = overwrite
        self._staged: dict[str, tuple[Path, Path]] = {}  # target entry -> (temp, target)
        self._created_folders: list[Path] = []
        self._refuse_protected(self.out)
        if folder and self.out.exists() and not self.out.is_dir():
            raise DatasetError(f"{self.out}: exists and is not a folder (this format writes a folder)")
        if not folder and self.out.is_dir():
            raise DatasetError(f"{self.out}: is a folder (this format writes one file)")

    # --- context: commit on success, discard on any exception -------------------------------

    def __enter__(self) -> ExportOutput:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()

    # --- writing ------------------------------------------------------------------------------

    def path(self, relative: str | None = None) -> Path:
        """The target of a file: ``out`` itself for one-file formats, else ``out / relative``."""
        if not self.folder:
            return self.out
        target = self.out / relative if relative else self.out
        if not _inside(target, self.out):
            raise DatasetError(f"{relative}: would be written outside the output folder {self.out}")
        return target

    def write_bytes(self, target: Path, data: bytes) -> None:
        temp = self._stage(target)
        write_new_file(temp, data, durable=False)

    def write_text(self, target: Path, text: str) -> None:
        self.write_bytes(target, text.encode("utf-8"))

    def write_json(self, target: Path, data: object) -> None:
        """Deterministic JSON (fixed key order, no spaces): the same project gives the same bytes."""
        self.write_text(target, json.dumps(data, separators=(",", ":"), ensure_ascii=False))

    def place_image(self, source: Path, target: Path, how: str) -> bool:
        """Put ``source`` at ``target`` as a symbolic link (``how="symlink"``, a copy where links
        are not allowed) or a copy. False when ``target`` already is that image (the images are
        where the dataset needs them): nothing is written then."""
        if os.path.lexists(target) and _same_file(source, target):
            return False
        temp = self._stage(target)
        if how == "symlink":
            try:
                os.symlink(os.path.realpath(source), temp)
                return True
            except OSError:  # no symlink rights (Windows without developer mode): copy instead
                pass
        shutil.copyfile(source, temp)
        shutil.copystat(source, temp)
        return True

    # --- finishing ----------------------------------------------------------------------------

    def commit(self) -> list[Path]:
        """Rename every staged file into place; the targets, in the order they were written."""
        done = []
        try:
            for temp, target in self._staged.values():
                os.replace(temp, target)
                done.append(target)
        except BaseException:
            for temp, _target in self._staged.values():
                temp.unlink(missing_ok=True)
            raise
        self._staged.clear()
        self._created_folders.clear()
        return done

    def discard(self) -> None:
        """Remove what this export created (staged files, then its folders if empty), nothing else."""
        for temp, _target in self._staged.values():
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
        self._staged.clear()
        for folder in reversed(self._created_folders):
            with contextlib.suppress(OSError):  # not empty: someone else put a file there meanwhile
                folder.rmdir()
        self._created_folders.clear()

    # --- guards -------------------------------------------------------------------------------

    def _stage(self, target: Path) -> Path:
        """Check ``target`` and return the temporary file to write it to."""
        target = Path(os.path.abspath(target))
        self._refuse_protected(target)
        key = _entry(target)
        if key in self._staged:
            raise DatasetError(f"{target}: two files of this export would both be written here")
        if os.path.lexists(target):
            if os.path.isdir(target) and not os.path.islink(target):
                raise DatasetError(f"{target}: is a folder; the export needs to write a file there")
            if not self.overwrite:
                raise OutputExists(target)
        self._make_folders(target.parent)
        temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}{TEMP_SUFFIX}")
        self._staged[key] = (temp, target)
        return temp

    def _refuse_protected(self, target: Path) -> None:
        for key in (_entry(target), _resolved(target)):
            why = self.protected.get(key)
            if why is not None:
                raise ProtectedOutput(f"{target}: is {why}; an export never writes over it")
        if target.name.endswith(PROJECT_SUFFIX) and os.path.lexists(target):
            raise ProtectedOutput(f"{target}: is a samdesk project; an export never writes over it")

    def _make_folders(self, folder: Path) -> None:
        missing = []
        while not os.path.isdir(folder):
            if os.path.islink(folder):
                raise DatasetError(f"{folder}: is a symbolic link that leads nowhere (missing or a loop)")
            if os.path.lexists(folder):
                raise DatasetError(f"{folder}: exists and is not a folder")
            missing.append(folder)
            if folder.parent == folder:
                break
            folder = folder.parent
        for path in reversed(missing):
            path.mkdir()
            self._created_folders.append(path)


def _entry(path: Path) -> str:
    """The directory entry ``path`` names: its folder resolved, its own name kept (a link there is
    the link, not what it points to)."""
    path = Path(os.path.abspath(path))
    return os.path.join(os.path.realpath(path.parent), path.name)


def _resolved(path: Path) -> str:
    return os.path.realpath(path)


def _inside(path: Path, folder: Path) -> bool:
    return os.path.normpath(path) == os.path.normpath(folder) or os.path.normpath(path).startswith(
        os.path.normpath(folder) + os.sep
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them is missing or a dangling link
        return False
