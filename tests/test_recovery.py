"""Autosave and crash recovery, one recovery file per instance (several windows on one project)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from samdesk.document import AddCategory, Document, EditObject
from samdesk.document.instances import Instance, this_host
from samdesk.document.persistence import load_project, save_project
from samdesk.document.recovery import (
    RecoveryInfo,
    RecoveryManager,
    discard_recovery,
    find_recoveries,
    find_unsaved_recoveries,
    recovery_path_for,
    restore_recovery,
)
from tests.document_factory import make_project

# Linux never hands out process ids above 2**22, and other systems have none this large either:
# an instance with such an id is one that no longer runs (a crashed window).
_NO_SUCH_PID = 1 << 22


def find_recovery(path: Path) -> RecoveryInfo | None:
    """The newest recovery file offered for ``path``, if any."""
    found = find_recoveries(path)
    return found[0] if found else None


def crashed(n: int = 0) -> Instance:
    """An instance that ran on this host and died."""
    return Instance(_NO_SUCH_PID + n, 1, this_host())


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def saved(tmp_path: Path) -> tuple[Document, Path]:
    path = tmp_path / "work.samdesk.json"
    project = make_project(tmp_path)
    save_project(project, path)
    document = Document(load_project(path).project, path)
    return document, path


def _age(path: Path, seconds: float) -> None:
    stat = path.stat()
    os.utime(path, (stat.st_atime - seconds, stat.st_mtime - seconds))


def test_recovery_file_beside_project(saved: tuple[Document, Path], tmp_path: Path) -> None:
    document, path = saved
    clock = FakeClock()
    instance = crashed()
    manager = RecoveryManager(document, 30, recovery_dir=tmp_path / "user", clock=clock, instance=instance)
    assert manager.tick() is None  # clean: nothing to protect
    assert manager.recovery_path == tmp_path / f".work.samdesk.json.{instance.tag}.recovery"

    project_bytes = path.read_bytes()
    document.execute(EditObject(1, name="renamed"))
    written = manager.tick()
    assert written == recovery_path_for(path, instance)
    assert load_project(written).project == document.project
    assert path.read_bytes() == project_bytes  # autosave never touches the project file
    assert document.dirty  # and does not count as saving

    # Nothing new: no rewrite. A change within the interval: waits for the interval.
    assert manager.tick() is None
    document.execute(EditObject(2, name="again"))
    assert manager.tick() is None
    clock.now += 31
    assert manager.tick() == written
    assert load_project(written).project.object(2).name == "again"


def test_clean_save_and_clean_exit_delete_the_recovery_file(saved: tuple[Document, Path]) -> None:
    document, path = saved
    manager = RecoveryManager(document, 0)
    document.execute(EditObject(1, name="renamed"))
    written = manager.tick()
    assert written is not None and written.exists()
    save_project(document.project, path)
    document.mark_saved()
    assert manager.tick() is None
    assert not written.exists()

    document.execute(EditObject(1, name="renamed again"))
    written = manager.tick()
    assert written is not None and written.exists()
    manager.close()
    assert not written.exists()


def test_undo_back_to_saved_state_deletes_the_recovery_file(saved: tuple[Document, Path]) -> None:
    document, _ = saved
    manager = RecoveryManager(document, 0)
    document.execute(EditObject(1, name="renamed"))
    written = manager.tick()
    assert written is not None
    document.undo()
    manager.tick()
    assert not written.exists()


def test_unsaved_project_goes_to_user_data_dir(tmp_path: Path) -> None:
    document = Document(make_project(tmp_path / "media"))
    manager = RecoveryManager(document, 0, recovery_dir=tmp_path / "user")
    document.execute(AddCategory("new", (1, 2, 3)))
    written = manager.tick()
    assert written is not None and written.parent == tmp_path / "user"
    assert written.name.endswith(".samdesk.json.recovery")
    # This (running) instance's file is never offered, not even to itself; once it has died it is.
    assert find_unsaved_recoveries(tmp_path / "user") == []
    dead = RecoveryManager(Document(), 0, recovery_dir=tmp_path / "user", instance=crashed())
    dead.document.execute(AddCategory("lost", (1, 1, 1)))
    left = dead.tick()
    assert [info.path for info in find_unsaved_recoveries(tmp_path / "user")] == [left]
    assert find_unsaved_recoveries(tmp_path / "user", me=crashed()) == []
    left.unlink()

    # "Save As": the recovery file follows the project, the untitled one goes.
    project_path = tmp_path / "named.samdesk.json"
    save_project(document.project, project_path)
    document.mark_saved(project_path)
    document.execute(AddCategory("more", (4, 5, 6)))
    moved = manager.tick()
    assert moved == recovery_path_for(project_path, manager.instance)
    assert not written.exists()


def test_a_second_manager_never_shares_the_untitled_file(tmp_path: Path) -> None:
    first = RecoveryManager(Document(), 0, recovery_dir=tmp_path)
    second = RecoveryManager(Document(), 0, recovery_dir=tmp_path)
    assert first.recovery_path != second.recovery_path


def test_a_crashed_instance_file_is_offered_even_when_the_project_is_newer(
    saved: tuple[Document, Path],
) -> None:
    """The project may have been saved after the autosave by another window, which did not have
    the crashed window's work: the file is still offered, marked as older than the project."""
    document, path = saved
    assert find_recovery(path) is None
    manager = RecoveryManager(document, 0, instance=crashed())
    document.execute(EditObject(1, name="renamed"))
    written = manager.tick()
    assert written is not None
    _age(path, 60)
    info = find_recovery(path)
    assert info is not None and info.path == written and info.project_path == path.absolute()
    assert info.owner == crashed() and info.newer_than_project

    _age(written, 120)
    info = find_recovery(path)
    assert info is not None and not info.newer_than_project


def test_a_running_instance_file_is_not_offered(saved: tuple[Document, Path]) -> None:
    document, path = saved
    manager = RecoveryManager(document, 0)  # this process: running
    document.execute(EditObject(1, name="mine, still open"))
    assert manager.tick() is not None
    assert find_recoveries(path) == []


def test_a_file_of_an_older_samdesk_is_offered(saved: tuple[Document, Path]) -> None:
    _, path = saved
    legacy = path.with_name(f".{path.name}.recovery")
    legacy.write_bytes(path.read_bytes())
    (info,) = find_recoveries(path)
    assert info.path == legacy and info.owner is None


def test_crash_then_restore(saved: tuple[Document, Path]) -> None:
    document, path = saved
    manager = RecoveryManager(document, 0, instance=crashed())
    document.execute(EditObject(3, name="precious work"))
    manager.tick()
    expected = document.project.clone()
    del document, manager  # the crash: nothing else runs
    _age(path, 60)

    info = find_recovery(path)
    assert info is not None
    fresh = Document(load_project(path).project, path)
    assert fresh.project.object(3).name != "precious work"
    restore_recovery(fresh, info)
    assert fresh.project == expected
    assert fresh.path == path.absolute()
    assert fresh.dirty  # the restored work is not in the project file yet
    assert fresh.undo() is False

    # Saving the restored work, then a clean tick, removes the recovery file.
    new_manager = RecoveryManager(fresh, 0, instance=crashed(1))
    new_manager.adopt(info)
    new_manager.tick()
    save_project(fresh.project, path)
    fresh.mark_saved()
    new_manager.tick()
    assert not info.path.exists()
    assert load_project(path).project.object(3).name == "precious work"


def test_declined_recovery_is_discarded(saved: tuple[Document, Path]) -> None:
    document, path = saved
    manager = RecoveryManager(document, 0, instance=crashed())
    document.execute(EditObject(1, name="x"))
    manager.tick()
    _age(path, 60)
    info = find_recovery(path)
    assert info is not None
    discard_recovery(info)
    assert find_recovery(path) is None


def test_failed_autosave_is_reported_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the recovery folder should be")
    document = Document()
    manager = RecoveryManager(document, 0, recovery_dir=blocker / "recovery")
    document.execute(AddCategory("c", (0, 0, 0)))
    assert manager.tick() is None
    assert manager.last_error
    blocker.unlink()  # the user fixed the problem: the next tick succeeds
    assert manager.tick() is not None
    assert manager.last_error is None
