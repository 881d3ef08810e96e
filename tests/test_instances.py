"""Two samdesk instances on one project: neither loses the other's work.

The second instance runs in a real child process, so process ids, start times and a crash
(``os._exit``) are real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from samdesk.document import Document, EditObject
from samdesk.document.instances import (
    STALE_AFTER_S,
    Instance,
    ProjectLock,
    _linux_start_time,
    lock_path_for,
    read_lock,
    this_host,
)
from samdesk.document.persistence import load_project, save_project
from samdesk.document.recovery import RecoveryManager, find_recoveries
from tests.document_factory import make_project
from tests.hostile.limits import REPO_ROOT

_NO_SUCH_PID = 1 << 22  # above any process id Linux hands out


def _running_other() -> Instance:
    """A running instance that is not this process: our parent process."""
    pid = os.getppid()
    return Instance(pid, _linux_start_time(pid) or 0, this_host())


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    path = tmp_path / "work.samdesk.json"
    save_project(make_project(tmp_path), path)
    return path


class SecondInstance:
    """Another samdesk process with ``path`` open: it renames object 2, autosaves, then waits
    until told to crash (exit without any clean-up)."""

    def __init__(self, path: Path) -> None:
        code = textwrap.dedent(f"""
            import os, sys
            from samdesk.document import Document, EditObject
            from samdesk.document.persistence import load_project
            from samdesk.document.recovery import RecoveryManager
            document = Document(load_project({str(path)!r}).project, {str(path)!r})
            manager = RecoveryManager(document, 0)
            document.execute(EditObject(2, name="second window's work"))
            print(manager.tick(), manager.instance.tag, flush=True)
            sys.stdin.readline()
            os._exit(9)
        """)
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert self.process.stdout is not None
        written, self.tag = self.process.stdout.readline().split()
        self.recovery = Path(written)

    def crash(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        assert self.process.wait(timeout=30) == 9


def test_a_clean_close_of_one_window_keeps_the_other_windows_autosave(project: Path) -> None:
    """Before: both windows autosaved to .work.samdesk.json.recovery; the first one's clean close
    deleted it, and after the second crashed its work was gone."""
    second = SecondInstance(project)
    try:
        document = Document(load_project(project).project, project)
        first = RecoveryManager(document, 0)
        holder = first.claim(project)  # the second window has the project open: warned
        assert holder is not None and holder.instance.tag == second.tag
        document.execute(EditObject(1, name="first window's edit"))
        mine = first.tick()
        assert mine is not None and mine != second.recovery
        assert find_recoveries(project, first.instance) == []  # the second one still runs
        first.close()  # the user closes the first window without saving
        assert not mine.exists() and second.recovery.exists()
    finally:
        second.crash()
    (offered,) = find_recoveries(project)
    assert offered.path == second.recovery and offered.owner is not None
    assert load_project(offered.path).project.object(2).name == "second window's work"
    assert read_lock(project) is None  # the crashed window's lock is stale, ignored


def test_the_lock_passes_to_the_other_window_when_the_first_closes(project: Path, tmp_path: Path) -> None:
    parent = Instance.current()  # this test process: running, and not the second window
    first = ProjectLock(parent)
    assert first.claim(project) is None
    assert json.loads(lock_path_for(project).read_text())["pid"] == os.getpid()

    other = _running_other()
    second_document = Document(load_project(project).project, project)
    second = RecoveryManager(second_document, 0, recovery_dir=tmp_path / "user", instance=other)
    holder = second.claim(project)
    assert holder is not None and holder.instance == parent
    second.tick()
    assert read_lock(project).instance == parent  # a running holder's lock is never taken

    first.release()
    assert read_lock(project) is None
    second.tick()  # the next tick takes it over
    assert read_lock(project).instance == other
    second.close()
    assert not lock_path_for(project).exists()


def test_a_stale_lock_is_taken_over(project: Path) -> None:
    stale = ProjectLock(Instance(_NO_SUCH_PID, 1, this_host()))
    assert stale.claim(project) is None  # then it crashed
    lock = ProjectLock(Instance.current())
    assert lock.claim(project) is None
    assert read_lock(project).instance == Instance.current()
    stale.release()  # a late release of the dead instance's never removes the new owner's lock
    assert read_lock(project).instance == Instance.current()


def test_a_lock_from_another_host_counts_while_it_is_fresh(project: Path) -> None:
    remote = Instance(1234, 5678, "another-host")
    assert ProjectLock(remote).claim(project) is None
    assert read_lock(project).instance == remote  # cannot ask its OS: fresh, so running
    old = time.time() - STALE_AFTER_S - 10
    os.utime(lock_path_for(project), (old, old))
    assert read_lock(project) is None  # not refreshed for long: its window is gone


def test_damaged_lock_files_inform_nothing(project: Path) -> None:
    for content in ("", "{", "[]", '{"pid": "x"}', "\x00" * 10):
        lock_path_for(project).write_text(content)
        assert read_lock(project) is None
        lock = ProjectLock(Instance.current())
        assert lock.claim(project) is None
        lock.release()


def test_instance_tags_round_trip() -> None:
    me = Instance.current()
    assert Instance.from_tag(me.tag) == me
    assert me.is_running(0.0)
    assert not Instance(_NO_SUCH_PID, 1, this_host()).is_running(time.time())
    for bad in ("", "12", "x-1@h", "1-2@", "1-2@bad host"):
        assert Instance.from_tag(bad) is None
