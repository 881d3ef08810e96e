"""The find-all bar's phrase field in the real window, driven by keys (no model needed): each
phrase of ``car; pe`` completes from the categories and past phrases, Up/Down recall past
queries, and the bar says which phrase makes a new category."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from samdesk.document import AddCategory
from samdesk.ui.main_window import MainWindow
from samdesk.ui.panels.phrase_field import last_phrase, with_last_phrase
from samdesk.ui.settings import Settings
from tests.ui_doubles import AsyncDiscService
from tests.ui_driver import open_paths

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, media_dir: Path, tmp_path: Path) -> MainWindow:
    settings = Settings(find_all_history=["bicycle; dog", "pedestrian"])
    win = MainWindow(settings, settings_path=tmp_path / "settings.json")
    win.errors_as_status = True
    qtbot.addWidget(win)
    win.set_service(AsyncDiscService(lambda: win.controller), "double (discs)")
    win.resize(1000, 700)
    win.show()
    assert open_paths(qtbot, win, [media_dir / "dog.jpg"]) == []
    qtbot.waitUntil(lambda: win.current_image is not None, timeout=10_000)
    win.document.execute(AddCategory("person", (200, 40, 40)))
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win)
    return win


def test_last_phrase_is_what_completion_replaces() -> None:
    assert last_phrase("car;  pe ") == "pe" and last_phrase("car") == "car" and last_phrase("car; ") == ""
    assert with_last_phrase("car; pe", "person") == "car; person"
    assert with_last_phrase("pe", "person") == "person"


def test_each_phrase_completes_from_categories_and_past_phrases(window: MainWindow, qtbot) -> None:
    bar = window.instances.find_all.bar
    field = bar.field
    qtbot.keyClick(window.canvas, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert field.hasFocus()
    qtbot.keyClicks(field, "car; pe")
    popup = field.completer_.popup()
    assert popup.isVisible()
    assert field.completions() == ["person", "pedestrian"]  # the category first, then past phrases
    qtbot.keyClick(popup, Qt.Key.Key_Down)
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert field.text() == "car; person" and not popup.isVisible()
    assert bar.mapping_label.text() == "car → new category   person → person"
    # A phrase from a past query completes too (here the second phrase of "bicycle; dog").
    qtbot.keyClicks(field, "; do")
    assert field.completions() == ["dog"]
    qtbot.keyClick(popup, Qt.Key.Key_Down)
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert field.text() == "car; person; dog"


def test_up_and_down_recall_past_queries(window: MainWindow, qtbot) -> None:
    field = window.instances.find_all.bar.field
    qtbot.keyClick(window.canvas, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(field, "tree")
    field.completer_.popup().hide()
    qtbot.keyClick(field, Qt.Key.Key_Up)
    assert field.text() == "bicycle; dog"
    qtbot.keyClick(field, Qt.Key.Key_Up)
    assert field.text() == "pedestrian"
    qtbot.keyClick(field, Qt.Key.Key_Up)  # the oldest stays
    assert field.text() == "pedestrian"
    qtbot.keyClick(field, Qt.Key.Key_Down)
    qtbot.keyClick(field, Qt.Key.Key_Down)
    assert field.text() == "tree"  # what was being typed comes back
    # Esc hands the keys back to the canvas.
    qtbot.keyClick(field, Qt.Key.Key_Escape)
    assert window.canvas.hasFocus()
