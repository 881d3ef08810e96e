"""Running samdesk instances, and the lock that tells one that another has a project open.

Two windows (processes) on one project must not lose each other's work, so files that belong to
one instance carry its identity: process id, start time and host (:class:`Instance`). The start
time tells a dead instance from a new process that got the same id; on Linux it comes from the
OS (``/proc``), so an instance that died is recognised at once. Where the OS cannot tell (other
systems, other hosts), an instance counts as running while its files are fresh: a running one
refreshes them every :data:`HEARTBEAT_S`, and after :data:`STALE_AFTER_S` without that it is taken
for dead.

The lock beside a project (``.<name>.samdesk.json.lock``, JSON with the owner) is advisory: it
never stops anyone from opening the project, it lets the second instance warn its user. A lock
whose owner no longer runs is stale and taken over. Qt-free.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from samdesk.document.files import write_new_file

HEARTBEAT_S = 60.0
STALE_AFTER_S = 600.0
LOCK_SUFFIX = ".lock"
# How an instance appears in file names: "<pid>-<start>@<host>".
_TAG = re.compile(r"(?P<pid>\d+)-(?P<started>\d+)@(?P<host>[A-Za-z0-9_.-]{1,64})")


@dataclass(frozen=True)
class Instance:
    """One samdesk process. ``started``: its start time in the OS's own units (Linux: clock
    ticks since boot), or where the OS does not say, when the instance was created (epoch s)."""

    pid: int
    started: int
    host: str

    @classmethod
    def current(cls) -> Instance:
        """This process (create it once, at start-up, and pass it around)."""
        pid = os.getpid()
        started = _linux_start_time(pid)
        return cls(pid, started if started is not None else int(time.time()), this_host())

    @property
    def tag(self) -> str:
        """For file names: ``<pid>-<started>@<host>``."""
        return f"{self.pid}-{self.started}@{self.host}"

    @classmethod
    def from_tag(cls, text: str) -> Instance | None:
        match = _TAG.fullmatch(text)
        if match is None:
            return None
        return cls(int(match["pid"]), int(match["started"]), match["host"])

    def is_running(self, refreshed: float) -> bool:
        """Whether this instance still runs; ``refreshed``: when a file it keeps fresh was last
        written (the only evidence for another host, or where the OS cannot tell)."""
        if self.host == this_host():
            verdict = _process_verdict(self)
            if verdict is not None:
                return verdict
        return time.time() - refreshed < STALE_AFTER_S


def this_host() -> str:
    """The host name as file names may hold it."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname() or "host")[:64]
    return name or "host"


def _linux_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or None (no such process, not Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    # Field 2 (the command name, in parentheses) may hold spaces or ')': count from the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 of the whole line
    except (IndexError, ValueError):
        return None


def _process_verdict(instance: Instance) -> bool | None:
    """Whether ``instance`` (on this host) runs: True/False when the OS can tell, else None."""
    if sys.platform.startswith("linux") and Path("/proc/self/stat").exists():
        return _linux_start_time(instance.pid) == instance.started
    if os.name == "posix":
        try:
            os.kill(instance.pid, 0)  # signal 0 only checks; never called on Windows, where it kills
        except ProcessLookupError:
            return False
        except OSError:
            return None  # exists but not ours to signal: the start time decides, via freshness
        return None  # a process with that id runs; whether it is the same one, freshness decides
    return None


# --- the project lock -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LockHolder:
    """An instance that has a project open, and since when (epoch seconds)."""

    instance: Instance
    opened: float


def lock_path_for(project_path: str | Path) -> Path:
    project_path = Path(project_path).absolute()
    return project_path.with_name(f".{project_path.name}{LOCK_SUFFIX}")


def read_lock(project_path: str | Path) -> LockHolder | None:
    """Who holds the lock of ``project_path`` and still runs; None when nobody (or a dead
    instance, or an unreadable lock file: the lock only ever informs)."""
    path = lock_path_for(project_path)
    try:
        refreshed = path.stat().st_mtime
        data = json.loads(path.read_text(encoding="utf-8"))
        owner = Instance(int(data["pid"]), int(data["started"]), str(data["host"]))
        holder = LockHolder(owner, float(data["opened"]))
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return None
    return holder if holder.instance.is_running(refreshed) else None


class ProjectLock:
    """This instance's claim on the project it has open: taken when free or stale, refreshed
    while held, released at the end; a live holder's lock is never touched."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.project_path: Path | None = None  # the project whose lock this instance holds
        self._refreshed = 0.0

    def claim(self, project_path: str | Path) -> LockHolder | None:
        """Take the lock of ``project_path`` (releasing one held on another project). Returns
        the other running instance that holds it, in which case it stays theirs."""
        project_path = Path(project_path).absolute()
        if project_path == self.project_path:
            return None
        self.release()
        data = {
            "pid": self.instance.pid,
            "started": self.instance.started,
            "host": self.instance.host,
            "opened": time.time(),
        }
        payload = json.dumps(data).encode("utf-8")
        path = lock_path_for(project_path)
        try:
            try:
                write_new_file(path, payload, durable=False)  # O_EXCL: two claims, one winner
            except FileExistsError:
                holder = read_lock(project_path)  # it may have been taken since
                if holder is not None and holder.instance != self.instance:
                    return holder
                temp = path.with_name(f"{path.name}.{self.instance.pid}.tmp")
                temp.unlink(missing_ok=True)
                write_new_file(temp, payload, durable=False)
                os.replace(temp, path)  # over a stale lock: its owner is gone
        except OSError:
            return None  # a read-only folder: no lock, and nothing to warn about
        self.project_path = project_path
        self._refreshed = time.time()
        return None

    def refresh(self) -> None:
        """Keep the lock fresh (see :data:`STALE_AFTER_S`); cheap, call it often."""
        now = time.time()
        if self.project_path is None or now - self._refreshed < HEARTBEAT_S:
            return
        with contextlib.suppress(OSError):
            os.utime(lock_path_for(self.project_path))
        self._refreshed = now

    def release(self) -> None:
        """Remove the lock if it is still this instance's."""
        if self.project_path is None:
            return
        path = lock_path_for(self.project_path)
        self.project_path = None
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            data = json.loads(path.read_text(encoding="utf-8"))
            if (data["pid"], data["started"], data["host"]) == (
                self.instance.pid,
                self.instance.started,
                self.instance.host,
            ):
                path.unlink()
