"""Autosave for crash recovery, without Qt: the GUI calls :meth:`RecoveryManager.tick` from a timer.

While the document has unsaved changes, ``tick`` writes them (atomically, in the project format)
to a recovery file:

* beside a saved project: ``.<name>.samdesk.json.recovery`` in the project's folder, so relative
  media paths resolve the same way;
* for a project never saved: ``<user data dir>/samdesk/recovery/untitled-<session>.samdesk.json.recovery``.

The project file itself is never touched. The recovery file is deleted once the document is
clean again (saved) and on a clean exit (:meth:`RecoveryManager.close`). After a crash it stays,
and :func:`find_recovery` tells the GUI, when the project is opened again, that a recovery file
newer than the project exists so it can offer to restore it.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from samdesk.document.commands import Document
from samdesk.document.persistence import (
    PROJECT_SUFFIX,
    LoadResult,
    ProjectFileError,
    load_project,
    save_project,
)

RECOVERY_SUFFIX = ".recovery"


def recovery_path_for(project_path: str | Path) -> Path:
    """Where the recovery file of a saved project lives: hidden, beside it."""
    project_path = Path(project_path).absolute()
    return project_path.with_name(f".{project_path.name}{RECOVERY_SUFFIX}")


def default_recovery_dir() -> Path:
    """Recovery files of projects that were never saved."""
    return Path(platformdirs.user_data_dir("samdesk")) / "recovery"


@dataclass(frozen=True)
class RecoveryInfo:
    """A recovery file found on disk. ``project_path`` is None for a never-saved project."""

    path: Path
    modified: float  # seconds since the epoch
    project_path: Path | None


def find_recovery(project_path: str | Path) -> RecoveryInfo | None:
    """The recovery file of ``project_path`` if it is newer than the project (or the project is gone).

    An older recovery file is stale (the project was saved after it) and is not offered.
    """
    project_path = Path(project_path).absolute()
    recovery = recovery_path_for(project_path)
    try:
        modified = recovery.stat().st_mtime
    except OSError:
        return None
    try:
        if project_path.stat().st_mtime >= modified:
            return None
    except FileNotFoundError:
        pass
    return RecoveryInfo(recovery, modified, project_path)


def find_unsaved_recoveries(recovery_dir: str | Path | None = None) -> list[RecoveryInfo]:
    """Recovery files of never-saved projects left by earlier sessions, newest first."""
    folder = Path(recovery_dir) if recovery_dir is not None else default_recovery_dir()
    found = []
    for path in folder.glob(f"*{PROJECT_SUFFIX}{RECOVERY_SUFFIX}"):
        with contextlib.suppress(OSError):
            found.append(RecoveryInfo(path, path.stat().st_mtime, None))
    return sorted(found, key=lambda info: info.modified, reverse=True)


def restore_recovery(document: Document, info: RecoveryInfo) -> LoadResult:
    """Load a recovery file into ``document``: the project path stays the original, and the
    document is dirty because what it holds is not what the project file holds.

    Raises :class:`ProjectFileError` if the recovery file is damaged; the document is then unchanged.
    """
    result = load_project(info.path)
    document.replace_project(result.project, info.project_path, dirty=True)
    return result


def discard_recovery(info: RecoveryInfo) -> None:
    """The user declined to restore: remove the file so it is not offered again."""
    info.path.unlink(missing_ok=True)


class RecoveryManager:
    """Writes the document's unsaved state to a recovery file at most every ``interval_s``."""

    def __init__(
        self,
        document: Document,
        interval_s: float = 60.0,
        *,
        recovery_dir: str | Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.document = document
        self.interval_s = interval_s
        self._recovery_dir = Path(recovery_dir) if recovery_dir is not None else default_recovery_dir()
        self._clock = clock
        # Unique per session so two running instances never share an untitled recovery file.
        self._session = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._written_path: Path | None = None
        self._written_revision: int | None = None
        self._last_write: float | None = None
        self.last_error: str | None = None

    @property
    def interval_ms(self) -> int:
        """For the GUI's timer."""
        return max(1, int(self.interval_s * 1000))

    @property
    def recovery_path(self) -> Path:
        """Where the next autosave goes (follows the document through Save As)."""
        if self.document.path is not None:
            return recovery_path_for(self.document.path)
        return self._recovery_dir / f"untitled-{self._session}{PROJECT_SUFFIX}{RECOVERY_SUFFIX}"

    def adopt(self, info: RecoveryInfo) -> None:
        """Take over a restored recovery file: it is replaced by this session's autosaves and
        deleted with them, instead of lingering under an earlier session's name."""
        self._written_path = info.path
        self._written_revision = None

    def tick(self) -> Path | None:
        """Autosave if due. Returns the file written, or None. Never raises: a failed autosave
        (disk full, folder read-only) is kept in ``last_error`` and retried on the next tick."""
        if not self.document.dirty:
            self.discard()
            return None
        target = self.recovery_path
        if self._written_revision == self.document.revision and self._written_path == target:
            return None
        now = self._clock()
        if self._last_write is not None and now - self._last_write < self.interval_s:
            return None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            save_project(self.document.project, target)
        except (ProjectFileError, OSError) as exc:
            self.last_error = str(exc)
            return None
        if self._written_path is not None and self._written_path != target:
            self._written_path.unlink(missing_ok=True)  # the project was saved under a new name
        self._written_path = target
        self._written_revision = self.document.revision
        self._last_write = now
        self.last_error = None
        return target

    def discard(self) -> None:
        """Delete the recovery file this manager wrote (after a save, or when closing cleanly).

        Only its own file: a recovery file left by a crashed session stays until the user decides.
        """
        if self._written_path is not None:
            with contextlib.suppress(OSError):
                self._written_path.unlink(missing_ok=True)
        self._written_path = None
        self._written_revision = None

    def close(self) -> None:
        """Clean exit (the user saved or chose not to): no recovery file must outlive the session."""
        self.discard()
