"""Autosave for crash recovery, without Qt: the GUI calls :meth:`RecoveryManager.tick` from a timer.

While the document has unsaved changes, ``tick`` writes them (atomically, in the project format)
to a recovery file of this instance (process id, start time and host in its name, see
:mod:`samdesk.document.instances`), so two windows on one project never share one:

* beside a saved project: ``.<name>.samdesk.json.<pid>-<start>@<host>.recovery`` in the
  project's folder, so relative media paths resolve the same way;
* for a project never saved: ``untitled-<pid>-<start>@<host>-<n>.samdesk.json.recovery`` in
  ``<user data dir>/samdesk/recovery/``.

The project file itself is never touched. An instance deletes its own recovery file once its
document is clean again (saved) and on a clean exit (:meth:`RecoveryManager.close`), never
another's. After a crash the file stays, and :func:`find_recoveries` lists, when the project is
opened again, every recovery file whose instance no longer runs, so the GUI can offer each.

The manager also holds the project's lock (:class:`~samdesk.document.instances.ProjectLock`)
while the document has that project open, so a second instance opening it is warned.
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
from samdesk.document.files import PROJECT_SUFFIX
from samdesk.document.instances import HEARTBEAT_S, Instance, LockHolder, ProjectLock
from samdesk.document.persistence import (
    LoadedProject,
    ProjectFileError,
    glob_escape,
    load_project,
    save_project,
)

RECOVERY_SUFFIX = ".recovery"


def recovery_path_for(project_path: str | Path, instance: Instance) -> Path:
    """Where ``instance`` autosaves a saved project: hidden, beside it."""
    project_path = Path(project_path).absolute()
    return project_path.with_name(f".{project_path.name}.{instance.tag}{RECOVERY_SUFFIX}")


def default_recovery_dir() -> Path:
    """Recovery files of projects that were never saved."""
    return Path(platformdirs.user_data_dir("samdesk")) / "recovery"


@dataclass(frozen=True)
class RecoveryInfo:
    """A recovery file found on disk, left by an instance that no longer runs.

    ``project_path`` is None for a never-saved project; ``owner`` None for a file of an older
    samdesk (one name per project); ``newer_than_project``: False when the project file was saved
    after it, by another window or program, which then does not hold this file's work.
    """

    path: Path
    modified: float  # seconds since the epoch: the last autosave (or sign of life) of its instance
    project_path: Path | None
    owner: Instance | None = None
    newer_than_project: bool = True


def find_recoveries(project_path: str | Path, me: Instance | None = None) -> list[RecoveryInfo]:
    """Recovery files of ``project_path`` whose instance no longer runs (never ``me``'s), newest first.

    Every one is offered, even one older than the project file: the save after it may have come
    from another window, which did not have this file's work.
    """
    project_path = Path(project_path).absolute()
    try:
        project_modified: float | None = project_path.stat().st_mtime
    except OSError:
        project_modified = None
    prefix = f".{project_path.name}."
    candidates = list(project_path.parent.glob(f"{glob_escape(prefix)}*{RECOVERY_SUFFIX}"))
    candidates.append(project_path.with_name(f".{project_path.name}{RECOVERY_SUFFIX}"))  # older samdesk
    found = []
    for path in candidates:
        tag = path.name[len(prefix) : -len(RECOVERY_SUFFIX)]
        info = _recovery_info(path, tag, project_path, project_modified, me)
        if info is not None:
            found.append(info)
    return sorted(found, key=lambda info: info.modified, reverse=True)


def find_unsaved_recoveries(
    recovery_dir: str | Path | None = None, me: Instance | None = None
) -> list[RecoveryInfo]:
    """Recovery files of never-saved projects whose instance no longer runs, newest first."""
    folder = Path(recovery_dir) if recovery_dir is not None else default_recovery_dir()
    found = []
    for path in folder.glob(f"untitled-*{PROJECT_SUFFIX}{RECOVERY_SUFFIX}"):
        tag = path.name[len("untitled-") : -len(PROJECT_SUFFIX + RECOVERY_SUFFIX)].rpartition("-")[0]
        info = _recovery_info(path, tag, None, None, me)
        if info is not None:
            found.append(info)
    return sorted(found, key=lambda info: info.modified, reverse=True)


def _recovery_info(
    path: Path, tag: str, project_path: Path | None, project_modified: float | None, me: Instance | None
) -> RecoveryInfo | None:
    """The file as a RecoveryInfo, or None when it is not to be offered (its instance runs)."""
    try:
        modified = path.stat().st_mtime
    except OSError:
        return None
    owner = Instance.from_tag(tag)  # None: a name of an older samdesk, whose owner is long gone
    if owner is not None and (owner == me or owner.is_running(modified)):
        return None
    newer = project_modified is None or modified > project_modified
    return RecoveryInfo(path, modified, project_path, owner, newer)


def restore_recovery(document: Document, info: RecoveryInfo) -> LoadedProject:
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
    """Writes the document's unsaved state to this instance's recovery file at most every
    ``interval_s``, and holds the lock of the project the document has open."""

    def __init__(
        self,
        document: Document,
        interval_s: float = 60.0,
        *,
        recovery_dir: str | Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        instance: Instance | None = None,
    ) -> None:
        self.document = document
        self.interval_s = interval_s
        self._recovery_dir = Path(recovery_dir) if recovery_dir is not None else default_recovery_dir()
        self._clock = clock
        self.instance = instance if instance is not None else Instance.current()
        self.lock = ProjectLock(self.instance)
        # Unique per manager too, so two windows of one process never share an untitled file.
        self._untitled = f"untitled-{self.instance.tag}-{uuid.uuid4().hex[:8]}"
        self._written_path: Path | None = None
        self._written_revision: int | None = None
        self._last_write: float | None = None
        self._last_heartbeat = 0.0
        self.last_error: str | None = None

    @property
    def interval_ms(self) -> int:
        """For the GUI's timer."""
        return max(1, int(self.interval_s * 1000))

    @property
    def recovery_path(self) -> Path:
        """Where the next autosave goes (follows the document through Save As)."""
        if self.document.path is not None:
            return recovery_path_for(self.document.path, self.instance)
        return self._recovery_dir / f"{self._untitled}{PROJECT_SUFFIX}{RECOVERY_SUFFIX}"

    def claim(self, project_path: str | Path) -> LockHolder | None:
        """Take the lock of a project just opened or saved; returns the other running instance
        that has it open (the GUI warns), else None. ``tick`` keeps claiming it after that."""
        return self.lock.claim(project_path)

    def adopt(self, info: RecoveryInfo) -> None:
        """Take over a restored recovery file: it is replaced by this instance's autosaves and
        deleted with them, instead of lingering under a dead instance's name."""
        self._written_path = info.path
        self._written_revision = None

    def tick(self) -> Path | None:
        """Autosave if due. Returns the file written, or None. Never raises: a failed autosave
        (disk full, folder read-only) is kept in ``last_error`` and retried on the next tick."""
        self._keep_lock()
        if not self.document.dirty:
            self.discard()
            return None
        target = self.recovery_path
        if self._written_revision == self.document.revision and self._written_path == target:
            if target.exists():
                self._heartbeat(target)
                return None
            self._written_revision = None  # someone removed it: write it again now
            self._last_write = None
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
            self._written_path.unlink(missing_ok=True)  # saved under a new name, or adopted
        self._written_path = target
        self._written_revision = self.document.revision
        self._last_write = now
        self._last_heartbeat = time.time()
        self.last_error = None
        return target

    def _keep_lock(self) -> None:
        if self.document.path is None:
            self.lock.release()
        elif self.lock.project_path != Path(self.document.path).absolute():
            self.lock.claim(self.document.path)  # taken over once the other instance lets go
        self.lock.refresh()

    def _heartbeat(self, target: Path) -> None:
        """Keep this instance's recovery file fresh: where the OS cannot say whether an instance
        runs, a file left unrefreshed for long is taken for a dead instance's."""
        now = time.time()
        if now - self._last_heartbeat >= HEARTBEAT_S:
            with contextlib.suppress(OSError):
                os.utime(target)
            self._last_heartbeat = now

    def discard(self) -> None:
        """Delete the recovery file this manager wrote (after a save, or when closing cleanly).

        Only its own file: a recovery file left by a crashed instance stays until the user decides.
        """
        if self._written_path is not None:
            with contextlib.suppress(OSError):
                self._written_path.unlink(missing_ok=True)
        self._written_path = None
        self._written_revision = None

    def close(self) -> None:
        """Clean exit (the user saved or chose not to): no recovery file or lock of this
        instance outlives it."""
        self.discard()
        self.lock.release()
