"""The smaller things a new annotator trips over in the first hour (issue 18, defect 11): the
close question, where Save starts, the F1 overlay, the window title, the status bar after a
recovery. Driven through the real window with a prediction double (no model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSize
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QFileDialog, QMessageBox, QScrollArea

from samdesk.document import AddCategory
from samdesk.ui.dialogs.shortcuts import ShortcutsDialog
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from tests.ui_doubles import AsyncDiscService
from tests.ui_driver import click, open_paths

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, media_dir: Path, tmp_path: Path, monkeypatch) -> MainWindow:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # where a dialog would start by default
    win = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    win.errors_as_status = True
    qtbot.addWidget(win)
    win.set_service(AsyncDiscService(lambda: win.controller), "double (discs)")
    win.resize(1200, 800)
    win.show()
    assert open_paths(qtbot, win, [media_dir / "dog.jpg", media_dir / "groceries.jpg"]) == []
    qtbot.waitUntil(lambda: win.current_image is not None, timeout=10000)
    return win


class Questions:
    """Records ``QMessageBox.question`` calls and answers each with ``answer``."""

    def __init__(self, monkeypatch, answer=QMessageBox.StandardButton.Discard) -> None:
        self.asked: list[str] = []
        self.answer = answer
        monkeypatch.setattr(QMessageBox, "question", self._question)

    def _question(self, _parent, title, text, *args, **kwargs):
        self.asked.append(f"{title}: {text}")
        return self.answer


def close_asks(window: MainWindow, monkeypatch) -> list[str]:
    questions = Questions(monkeypatch)
    window.errors_as_status = False  # the close question is only asked of a person
    window.close()
    return questions.asked


# --- "Save before closing?" ------------------------------------------------------------------


def test_closing_after_only_opening_images_asks_nothing(window: MainWindow, monkeypatch) -> None:
    assert window.document.dirty  # the images were added to a never-saved session ...
    assert close_asks(window, monkeypatch) == []  # ... but there is nothing to lose


def test_closing_with_an_object_or_a_category_made_asks(window: MainWindow, qtbot, monkeypatch) -> None:
    window.document.execute(AddCategory("cup", (255, 0, 0)))
    asked = close_asks(window, monkeypatch)
    assert len(asked) == 1 and "Save the project before closing?" in asked[0]


def test_closing_a_saved_project_after_opening_more_images_asks(
    window: MainWindow, qtbot, media_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    assert window.files.save_to(tmp_path / "run.samdesk.json")
    assert not window.document.has_unsaved_work
    open_paths(qtbot, window, [media_dir / "cars.jpg"])  # the project file does not list it yet
    assert len(close_asks(window, monkeypatch)) == 1


# --- where Save starts -----------------------------------------------------------------------


def save_dialog_start(window: MainWindow, monkeypatch) -> Path:
    started: list[str] = []

    def get_save_file_name(_parent, _caption, directory, *args, **kwargs):
        started.append(directory)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", get_save_file_name)
    assert not window.files.save_as()
    return Path(started[0])


def test_save_as_starts_in_the_images_folder_then_the_projects(
    window: MainWindow, media_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    start = save_dialog_start(window, monkeypatch)
    assert start.parent == media_dir.absolute()  # not the home folder
    assert start.name == f"{media_dir.name}.samdesk.json"
    (tmp_path / "projects").mkdir()
    assert window.files.save_to(tmp_path / "projects" / "run.samdesk.json")
    assert save_dialog_start(window, monkeypatch) == tmp_path / "projects" / "run.samdesk.json"


# --- the F1 overlay --------------------------------------------------------------------------


def test_the_shortcut_overlay_fits_a_laptop_screen_without_scrolling(window: MainWindow, qtbot) -> None:
    screen = QSize(1280, 800)
    dialog = ShortcutsDialog(list(window.menu_actions.by_id.values()), window, available=screen)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.width() <= screen.width() and dialog.height() <= screen.height()
    scroll = dialog.findChild(QScrollArea)
    assert scroll.verticalScrollBar().maximum() == 0, "the list needs scrolling"
    assert scroll.horizontalScrollBar().maximum() == 0


def test_the_shortcut_overlay_shows_keys_with_angle_brackets(window: MainWindow) -> None:
    dialog = ShortcutsDialog(list(window.menu_actions.by_id.values()), window)
    shown = QTextDocument()
    shown.setHtml(dialog.findChild(QScrollArea).widget().text())
    text = shown.toPlainText()
    assert "Shift+Left / <" in text  # it read "Shift+Left / " and lost the rest of the table
    assert "Back 10 frames" in text and "Forward 10 frames" in text
    assert all(what in text for _, what in dialog.rows)


# --- the window title ------------------------------------------------------------------------


def shown_title(window: MainWindow) -> str:
    """The title as the window manager shows it (Qt puts the marker where ``[*]`` is)."""
    return window.windowTitle().replace("[*]", "*" if window.isWindowModified() else "")


def test_the_title_names_the_project_and_marks_unsaved_work(
    window: MainWindow, qtbot, tmp_path: Path
) -> None:
    assert shown_title(window) == "Untitled — dog.jpg — samdesk"
    window.document.execute(AddCategory("cup", (255, 0, 0)))
    window.controller.current_category = window.document.project.categories[0].id
    assert shown_title(window) == "Untitled* — dog.jpg — samdesk"
    assert window.files.save_to(tmp_path / "kitchen.samdesk.json")
    assert shown_title(window) == "kitchen — dog.jpg — samdesk"
    click(window, 200, 200)  # a click makes a pending object: not yet a change
    c = window.controller
    qtbot.waitUntil(lambda: c.pending is not None and c.pending.candidates is not None)
    assert shown_title(window) == "kitchen — dog.jpg — samdesk"
    assert window.accept_pending() is not None
    assert shown_title(window) == "kitchen* — dog.jpg — samdesk"
    window.navigation.undo()
    assert shown_title(window) == "kitchen — dog.jpg — samdesk"
    window.navigation.step_media(1)
    assert shown_title(window) == "kitchen — groceries.jpg — samdesk"


# --- the status bar --------------------------------------------------------------------------


def test_a_message_given_before_the_window_shows_is_not_drawn_over_the_hint(qtbot, tmp_path: Path) -> None:
    """A restored autosave says so while the window is still being made (``create_window``):
    Qt left the tool hint visible under that message, both texts on top of each other."""
    win = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    win.errors_as_status = True
    qtbot.addWidget(win)
    hint = win.status.hint_label
    win.status.set_hint("Click: Left click: add object part")
    win.status.show_message("Restored unsaved work from the autosave", 60_000)
    win.show()
    qtbot.waitExposed(win)
    assert win.status.current_message() and not hint.isVisible()
    win.statusBar().clearMessage()  # as when the message times out
    assert hint.isVisible()
    win.status.show_message("Saved", 60_000)  # and while the window shows, as before
    assert not hint.isVisible()
