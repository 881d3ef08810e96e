"""A project whose media moved (issue 18, defect 8): one dialog, "Locate…" relinks every file
found in the chosen folder in one undoable step, nothing is drawn at the wrong scale meanwhile,
and media below the project file are stored relative to it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from samdesk.document import masks
from samdesk.document.media_files import media_item_from_path
from samdesk.document.model import AnnotationObject, Category, FrameAnnotation, Project
from samdesk.document.persistence import save_project
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from tests.ui_driver import click, open_paths

pytestmark = pytest.mark.gui

NAMES = ("dog.jpg", "groceries.jpg")


def project_with_media(folder: Path, media_dir: Path) -> Project:
    """Copies of two photos in ``folder``, each with one object."""
    folder.mkdir(parents=True, exist_ok=True)
    project = Project(categories=[Category(1, "thing", (255, 80, 40))])
    for i, name in enumerate(NAMES, start=1):
        shutil.copy(media_dir / name, folder / name)
        item = media_item_from_path(folder / name)
        item.id = i
        project.media.append(item)
        mask = np.zeros((item.height, item.width), bool)
        mask[100:200, 100:300] = True
        project.objects.append(AnnotationObject(i, i, 1, {0: FrameAnnotation(masks.encode(mask))}))
    project.next_ids.update(media=3, object=3, category=2)
    return project


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch) -> MainWindow:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # no autosaves of other sessions
    win = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    win.errors_as_status = True
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    return win


def moved_project(tmp_path: Path, media_dir: Path) -> tuple[Path, Path]:
    """A project file whose photos were moved from ``old/`` to ``elsewhere/photos/``."""
    project = project_with_media(tmp_path / "old", media_dir)
    path = tmp_path / "projects" / "p.samdesk.json"
    path.parent.mkdir()
    save_project(project, path)
    new_home = tmp_path / "elsewhere" / "photos"
    new_home.parent.mkdir()
    shutil.move(tmp_path / "old", new_home)
    return path, new_home


def test_missing_media_ask_once_and_locate_relinks_every_file_found(
    window: MainWindow, qtbot, tmp_path: Path, media_dir: Path, monkeypatch
) -> None:
    """Two stacked error dialogs used to report the missing files, and the masks were drawn at
    the previous picture's scale on an empty canvas."""
    path, new_home = moved_project(tmp_path, media_dir)
    asked: list[list[str]] = []
    if hasattr(window, "missing"):  # (the part did not exist before issue 18)
        monkeypatch.setattr(type(window.missing), "ask_locate", lambda self, missing: asked.append(
            [m.name for m in missing]) or None)
    problems = open_paths(qtbot, window, [path])
    assert problems == [] and window.last_error == "", (problems, window.last_error)
    assert asked == [list(NAMES)]
    qtbot.wait(300)  # an image that cannot be read would report itself by now
    assert window.last_error == ""
    # The first photo is missing: its placeholder has the photo's size, so the masks line up.
    dog = window.document.project.media[0]
    rect = window.canvas.image_rect()
    assert (rect.width(), rect.height()) == (dog.width, dog.height)
    click(window, 150, 150)
    assert window.controller.pending is None and "missing" in window.status.current_message()
    # Locate: every file found in the chosen folder is relinked, in one undoable step.
    with qtbot.waitSignal(window.missing.relinked, timeout=30_000):
        window.missing.locate_in(tmp_path / "elsewhere")
    assert [Path(m.path) for m in window.document.project.media] == [new_home / n for n in NAMES]
    qtbot.waitUntil(lambda: window.current_image is not None, timeout=10_000)
    assert "2 of 2" in window.status.current_message()
    window.navigation.undo()
    assert all(Path(m.path).parent == tmp_path / "old" for m in window.document.project.media)


def test_locate_from_the_dialog_and_from_the_file_menu(
    window: MainWindow, qtbot, tmp_path: Path, media_dir: Path, monkeypatch
) -> None:
    path, new_home = moved_project(tmp_path, media_dir)
    (new_home / NAMES[1]).unlink()  # one of the two is nowhere to be found
    monkeypatch.setattr(type(window.missing), "ask_locate", lambda self, missing: tmp_path / "elsewhere",
                        raising=False)
    with qtbot.waitSignal(window.missing.relinked, timeout=30_000):
        assert open_paths(qtbot, window, [path]) == []
    assert Path(window.document.project.media[0].path) == new_home / NAMES[0]
    assert "1 of 2" in window.status.current_message() and NAMES[1] in window.status.current_message()
    action = window.menu_actions["locate_media"]
    assert action.isEnabled()  # one is still missing
    shutil.copy(media_dir / NAMES[1], new_home / NAMES[1])
    monkeypatch.setattr(type(window.missing), "ask_folder", lambda self: tmp_path / "elsewhere")
    with qtbot.waitSignal(window.missing.relinked, timeout=30_000):
        action.trigger()
    assert Path(window.document.project.media[1].path) == new_home / NAMES[1]
    assert not action.isEnabled()


def test_media_below_the_project_file_are_stored_relative_and_survive_a_move(
    window: MainWindow, qtbot, tmp_path: Path, media_dir: Path
) -> None:
    """Checked, not changed: persistence already stores such paths relative to the project."""
    folder = tmp_path / "work"
    save_project(project_with_media(folder / "images", media_dir), folder / "p.samdesk.json")
    stored = [m["path"] for m in json.loads((folder / "p.samdesk.json").read_text())["media"]]
    assert stored == [f"images/{n}" for n in NAMES]
    shutil.move(folder, tmp_path / "moved")
    assert open_paths(qtbot, window, [tmp_path / "moved" / "p.samdesk.json"]) == []
    assert window.missing.missing() == []
    qtbot.waitUntil(lambda: window.current_image is not None, timeout=10_000)
