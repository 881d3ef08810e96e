"""Project files: one JSON file ``*.samdesk.json`` per project, saved atomically, loaded strictly.

Saving never leaves a half-written project behind: the bytes go to a temporary file in the same
folder, are flushed to disk, and replace the old file in one ``os.replace`` (atomic on POSIX and
Windows); the folder is then synced so the rename itself survives a power cut. A crash at any
moment leaves either the old or the new file.

Loading checks every field before building anything and reports the first problem as a
:class:`ProjectFileError` naming the file and the JSON location. It never writes to the file.
Media files that are not where the project says are *reported* (``LoadedProject.missing_media``),
not dropped: the user relocates them (``samdesk.document.relocate``).

The JSON form itself (records to JSON and back, every field checked) is ``project_json.py``; the
format is described in ``docs/project-format.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from samdesk.document.files import TEMP_SUFFIX, write_new_file
from samdesk.document.json_fields import Invalid
from samdesk.document.media_files import media_present
from samdesk.document.model import MediaItem, Project
from samdesk.document.project_json import check_consistency, project_from_json, project_to_json

# Temporary files of interrupted saves older than this are removed by the next save.
_STALE_TEMP_S = 3600.0


class ProjectFileError(Exception):
    """A project file that cannot be read or written; ``str()`` names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ProjectChangedOnDisk(ProjectFileError):
    """The project file was changed on disk (by another window or program) since this document
    read or wrote it; saving would overwrite that change, so the user must be asked first."""


@dataclass(frozen=True)
class FileStamp:
    """A project file as samdesk last read or wrote it: size, modification time and content hash.

    A later save compares it with the file on disk (:func:`changed_on_disk`): the size and time
    make the check cheap, the hash makes it exact (a file rewritten with the same bytes, or only
    touched, has not changed; one rewritten within the same clock tick has).
    """

    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, stat: os.stat_result, content: bytes) -> FileStamp:
        """The stamp of a file whose status was ``stat`` and bytes ``content``. Take the status
        before reading (a change in between then shows as a change, never hides as none)."""
        return cls(stat.st_size, stat.st_mtime_ns, hashlib.sha256(content).hexdigest())


def changed_on_disk(path: str | Path, stamp: FileStamp) -> bool:
    """Whether the file at ``path`` differs from ``stamp`` (a file since deleted has not changed:
    saving then overwrites nobody's work)."""
    path = Path(path)
    try:
        stat = path.stat()
        if (stat.st_size, stat.st_mtime_ns) == (stamp.size, stamp.mtime_ns):
            return False
        return hashlib.sha256(path.read_bytes()).hexdigest() != stamp.sha256
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: ask rather than overwrite


@dataclass
class LoadedProject:
    """A loaded project and what the user should be told about it. ``stamp``: the file as read,
    for :func:`save_project`'s ``expected``."""

    project: Project
    path: Path
    missing_media: list[MediaItem] = field(default_factory=list)
    # Harmless inconsistencies fixed while loading (e.g. an id counter behind the ids in use).
    repairs: list[str] = field(default_factory=list)
    stamp: FileStamp | None = None  # None only for results built by hand


# --- saving ---------------------------------------------------------------------------------


def save_project(project: Project, path: str | Path, *, expected: FileStamp | None = None) -> FileStamp:
    """Write ``project`` to ``path`` atomically (temp file + fsync + ``os.replace`` + folder fsync);
    returns the written file's stamp.

    Raises :class:`ProjectFileError` when the project is inconsistent (a mask that does not fit
    its media, a reference to a removed category: a file that would not load again), cannot be
    encoded (a setting that is not JSON) or the file cannot be written; the previous file is
    then untouched. With ``expected`` (the stamp from loading or the last save), a file changed
    on disk since then raises :class:`ProjectChangedOnDisk` instead of being overwritten.
    """
    path = Path(path).absolute()
    try:
        check_consistency(project.categories, project.media, project.objects)
    except Invalid as exc:
        # Writing it would produce a file that cannot be opened again; keep the last good one.
        raise ProjectFileError(path, f"cannot save: the project is inconsistent: {exc}") from exc
    try:
        data = project_to_json(project, path.parent)
        payload = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        encoded = payload.encode("utf-8")  # a lone surrogate (from a file name, say) fails here
    except (TypeError, ValueError) as exc:
        problem = f"cannot save: the project holds a value JSON cannot store ({exc})"
        raise ProjectFileError(path, problem) from exc
    if expected is not None and changed_on_disk(path, expected):
        raise ProjectChangedOnDisk(
            path, "changed on disk since it was opened (by another window or program); not overwritten"
        )
    try:
        return FileStamp.of(atomic_write_bytes(path, encoded), encoded)
    except OSError as exc:
        raise ProjectFileError(path, f"cannot save: {exc.strerror or exc}") from exc


def atomic_write_bytes(path: Path, data: bytes) -> os.stat_result:
    """Replace ``path`` by ``data`` so that readers only ever see the old or the new content.
    Returns the new file's status as it was put in place (a rename keeps size and mtime)."""
    folder = path.parent
    temp = folder / f".{path.name}.{uuid.uuid4().hex[:12]}{TEMP_SUFFIX}"
    write_new_file(temp, data, durable=True)
    try:
        if path.exists():
            _copy_mode(path, temp)
        written = temp.stat()
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(folder)
    _remove_stale_temps(path)
    return written


def _copy_mode(source: Path, target: Path) -> None:
    with contextlib.suppress(OSError):  # permissions are a nicety; the data is what matters
        os.chmod(target, source.stat().st_mode & 0o7777)


def _fsync_folder(folder: Path) -> None:
    """Persist the rename itself. Not possible (nor needed) on Windows, where open() of a folder fails."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_stale_temps(path: Path) -> None:
    """Delete temp files that killed saves of this project left behind (old ones only: a temp
    file younger than the threshold may belong to a save still running in another process)."""
    now = time.time()
    for temp in path.parent.glob(f".{glob_escape(path.name)}.*{TEMP_SUFFIX}"):
        try:
            if now - temp.stat().st_mtime > _STALE_TEMP_S:
                temp.unlink()
        except OSError:
            pass


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


# --- loading --------------------------------------------------------------------------------


def load_project(path: str | Path) -> LoadedProject:
    """Read and validate a project file. Raises :class:`ProjectFileError`; never writes the file."""
    path = Path(path).absolute()
    try:
        status = path.stat()
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ProjectFileError(path, "no such file") from exc
    except IsADirectoryError as exc:
        raise ProjectFileError(path, "is a folder, not a project file") from exc
    except OSError as exc:
        raise ProjectFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    if not raw.strip():
        raise ProjectFileError(path, "the file is empty (not a samdesk project)")
    try:
        data = json.loads(raw.decode("utf-8-sig"), parse_constant=_reject_constant, parse_float=_finite_float)
    except UnicodeDecodeError as exc:
        raise ProjectFileError(path, f"not a text file (invalid UTF-8 at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        hint = " (the file is truncated)" if _is_truncation(exc) else ""
        # json's messages may end in "at" ("Unterminated string starting at"): say where once.
        problem = exc.msg.removesuffix(" at")
        raise ProjectFileError(
            path, f"not valid JSON{hint}: {problem} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise ProjectFileError(path, "not a samdesk project (JSON nested too deeply)") from exc
    except ValueError as exc:  # e.g. an integer literal longer than Python accepts
        raise ProjectFileError(path, f"not valid JSON: {exc}") from exc
    except MemoryError as exc:
        raise ProjectFileError(path, _too_large(len(raw))) from exc
    try:
        project, repairs = project_from_json(data, path.parent)
    except Invalid as exc:
        raise ProjectFileError(path, str(exc)) from exc
    except MemoryError as exc:  # e.g. validating a mask string of hundreds of megabytes
        raise ProjectFileError(path, _too_large(len(raw))) from exc
    missing = [m for m in project.media if not media_present(m.path)]
    stamp = FileStamp.of(status, raw)
    return LoadedProject(project=project, path=path, missing_media=missing, repairs=repairs, stamp=stamp)


# What may follow the point where a truncated file stopped: the start of a number or a literal.
_LITERAL_PREFIX = re.compile(
    r"-?[0-9.eE+-]*|t(r(ue?)?)?|f(a(l(se?)?)?)?|n(u(ll?)?)?|N(aN?)?|-?I(n(f(i(n(i(ty?)?)?)?)?)?)?"
)


def _is_truncation(exc: json.JSONDecodeError) -> bool:
    """Whether the JSON only lacks its end: the parser failed at the end of the text, inside a
    string that never closes, or at a number or literal cut short."""
    rest = exc.doc[exc.pos :].rstrip()
    if exc.msg.startswith("Unterminated string") or not rest:
        return True
    if exc.msg.startswith("Invalid \\uXXXX escape") or exc.msg.startswith("Invalid \\escape"):
        return len(rest) < 6  # a backslash escape cut short
    return _LITERAL_PREFIX.fullmatch(rest) is not None


def _too_large(size: int) -> str:
    return f"not enough memory to read it ({size / 1e6:.0f} MB; a project is normally a few MB)"


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed in a project file")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as inf, which could never be saved again
        raise ValueError(f"number {text[:40]} is out of range")
    return value
