"""The undo-history panel (issue 18): every document step as a row, the current one selected;
clicking a row undoes or redoes up to it; keys and the panel stay in step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from samdesk.document import AddObject, Document, SetTags, masks
from samdesk.document.model import AnnotationObject, FrameAnnotation
from samdesk.ui.main_window import MainWindow
from samdesk.ui.panels.history import SAVED, START
from samdesk.ui.settings import Settings
from tests.ui_driver import open_paths


def test_history_lists_steps_done_then_undone() -> None:
    document = Document()
    assert (document.history.steps(), document.history.depth, document.history.saved_depth) == ([], 0, 0)
    from samdesk.document import AddCategory

    for name in ("a", "b", "c"):
        document.execute(AddCategory(name, (1, 2, 3), text=f"add {name}"))
    document.undo()
    document.undo()
    assert document.history.steps() == ["add a", "add b", "add c"]
    assert document.history.depth == 1


def rows(window: MainWindow) -> list[str]:
    panel = window.history_panel.list
    return [panel.item(i).text() for i in range(panel.count())]


@pytest.mark.gui
def test_clicking_a_row_goes_there_and_keys_move_the_selection(
    qtbot, tmp_path: Path, media_dir: Path
) -> None:
    window = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    window.errors_as_status = True
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    assert open_paths(qtbot, window, [media_dir / "dog.jpg"]) == []
    media = window.controller.media
    mask = np.zeros((media.height, media.width), bool)
    mask[10:50, 10:50] = True
    obj = AnnotationObject(0, media.id, None, {0: FrameAnnotation(masks.encode(mask))})
    window.document.execute(AddObject(obj))
    window.document.execute(SetTags(media.id, ["night"]))
    window.document.execute(SetTags(media.id, ["night", "blurry"]))
    steps = window.document.history.steps()
    assert rows(window)[1:] == steps and rows(window)[0] == START  # never saved: no row marked
    panel = window.history_panel.list
    assert panel.currentRow() == len(steps)
    # Click the row of the first tag step: the later one is undone (grey), the earlier kept.
    target = len(steps) - 1
    rect = panel.visualItemRect(panel.item(target))
    qtbot.mouseClick(panel.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert media.tags == ["night"]
    assert panel.currentRow() == target
    assert panel.item(target + 1).font().italic()
    # Back to the start: everything undone; then forward to the end again.
    rect = panel.visualItemRect(panel.item(0))
    qtbot.mouseClick(panel.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.document.history.depth == 0 and window.document.project.objects_of(media.id) == []
    window.history_panel.go_to(len(steps))
    assert media.tags == ["night", "blurry"] and len(window.document.project.objects) == 1
    # Ctrl+Z moves the selection with it; saving marks the row.
    qtbot.keyClick(window.canvas, "z", Qt.KeyboardModifier.ControlModifier)
    assert panel.currentRow() == len(steps) - 1
    assert window.files.save_to(tmp_path / "p.samdesk.json")
    assert rows(window)[len(steps) - 1].endswith(SAVED)


@pytest.mark.gui
def test_a_change_that_joins_the_last_step_leaves_the_rows_alone(qtbot) -> None:
    """Tracking lands frame by frame into one step, and a folder opens file by file into one:
    the rows are not made again for each piece."""
    from samdesk.document import AddCategory, Batch
    from samdesk.ui.panels.history import HistoryPanel

    document = Document()
    panel = HistoryPanel(document, document.undo, document.redo)
    qtbot.addWidget(panel)
    document.execute(Batch([AddCategory("a", (1, 2, 3))], text="run", merge_key="k"))
    row = panel.list.item(1)
    document.execute(Batch([AddCategory("b", (1, 2, 3))], text="run", merge_key="k"))
    assert panel.list.count() == 2 and panel.list.item(1) is row
    document.undo()
    assert panel.list.currentRow() == 0 and panel.list.item(1).font().italic()
    panel.go_to(1)
    assert len(document.project.categories) == 2
