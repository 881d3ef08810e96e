"""The main window driven by real mouse/key events, with a prediction double (no model).

Covers: opening images, clicks and box prompts on the canvas, candidate cycling, accept with a
category, Esc, brush edits, undo/redo shortcuts, image navigation, zoom, the shortcut overlay.
The end-to-end session with the real runtime is in test_ui_session.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from samdesk.document import AddCategory, Document, MediaStatus, Provenance
from samdesk.document.instances import Instance, ProjectLock, read_lock, this_host
from samdesk.document.persistence import load_project, save_project
from samdesk.document.recovery import RecoveryManager
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from tests.ui_doubles import AsyncDiscService
from tests.ui_driver import click, drag, open_paths

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, media_dir: Path, tmp_path: Path):
    win = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    win.errors_as_status = True
    qtbot.addWidget(win)
    service = AsyncDiscService(lambda: win.controller)
    win.set_service(service, "double (discs)")
    win.resize(1200, 800)
    win.show()
    problems = open_paths(qtbot, win, [media_dir / "dog.jpg", media_dir / "groceries.jpg"])
    assert problems == []
    qtbot.waitUntil(lambda: win.current_image is not None, timeout=10000)
    win.service = service
    return win


def key(qtbot, window: MainWindow, k, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(window.canvas, k, modifier)


def test_opening_images_shows_the_first_with_the_click_tool(window: MainWindow) -> None:
    assert window.canvas.tool is window.tools["click"]
    assert window.media_panel.list.count() == 2
    dog = window.document.project.media[0]
    assert (dog.width, dog.height) == (800, 534) and window.current_image.width() == 800
    assert window.service.prefetched[-1] == [m.id for m in window.document.project.media]


def test_click_box_cycle_accept_brush_undo_redo(window: MainWindow, qtbot) -> None:
    c = window.controller
    window.canvas.setFocus()
    click(window, 300, 200)
    qtbot.waitUntil(lambda: c.pending is not None and c.pending.candidates is not None)
    assert list(c.pending.prompts.points) == [pytest.approx((300, 200), abs=1.5)]
    assert window.layer.pending_item.isVisible() and len(window.layer.markers) == 1
    assert "candidates" in window.candidates_label.text()
    key(qtbot, window, Qt.Key.Key_Tab)
    assert c.pending.candidates.selected == 1
    key(qtbot, window, Qt.Key.Key_1)
    assert c.pending.candidates.selected == 0
    # A right click excludes; then a box drag is added to the same object.
    click(window, 330, 200, Qt.MouseButton.RightButton)
    qtbot.waitUntil(lambda: not c.waiting)
    assert c.pending.prompts.labels == (1, 0)
    drag(window, (250, 150), (420, 300))
    qtbot.waitUntil(lambda: not c.waiting)
    assert c.pending.prompts.box == pytest.approx((250, 150, 420, 300), abs=1.5)
    _, last = window.service.requests[-1]
    assert len(last.prompts.points) == 2 and last.prompts.box is not None
    assert last.prompts.mask_input is not None
    # Accept with a new category typed into the quick picker.
    window.categories_panel.add("dog")
    key(qtbot, window, Qt.Key.Key_Return)
    objects = window.document.project.objects
    assert len(objects) == 1 and objects[0].category_id == window.categories_panel.current_id()
    assert window.document.project.media[0].status == MediaStatus.IN_PROGRESS
    assert window.objects_panel.tree.topLevelItemCount() == 1
    obj_id = objects[0].id
    # Brush: paint a stroke outside the object, then undo and redo it with the shortcuts.
    key(qtbot, window, Qt.Key.Key_P)
    assert window.canvas.tool is window.tools["brush"]
    before = c.object_mask(obj_id).sum()
    drag(window, (100, 450), (200, 450))
    after = c.object_mask(obj_id)
    assert after.sum() > before and after[450, 150]
    assert window.document.project.object(obj_id).frames[0].provenance == Provenance.EDITED
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert c.object_mask(obj_id).sum() == before
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert c.object_mask(obj_id)[450, 150]


def test_escape_discards_and_enter_without_category_opens_the_picker(window: MainWindow, qtbot) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from samdesk.ui.dialogs.category_picker import CategoryPicker

    c = window.controller
    click(window, 300, 200)
    qtbot.waitUntil(lambda: c.pending is not None and c.pending.candidates is not None)
    key(qtbot, window, Qt.Key.Key_Escape)
    assert c.pending is None and window.document.project.objects == []
    click(window, 300, 200)
    qtbot.waitUntil(lambda: c.pending is not None and c.pending.candidates is not None)

    def type_new_category() -> None:
        picker = QApplication.activeModalWidget()
        assert isinstance(picker, CategoryPicker)
        qtbot.keyClicks(picker.edit, "cat")
        qtbot.keyClick(picker.edit, Qt.Key.Key_Return)

    QTimer.singleShot(50, type_new_category)
    key(qtbot, window, Qt.Key.Key_Return)
    assert [cat.name for cat in window.document.project.categories] == ["cat"]
    assert window.document.project.objects[0].category_id == window.document.project.categories[0].id


def test_navigation_keys_switch_images_and_drop_the_pending_object(window: MainWindow, qtbot) -> None:
    c = window.controller
    first, second = (m.id for m in window.document.project.media)
    click(window, 300, 200)
    second_path = window.document.project.media[1].path
    qtbot.waitUntil(lambda: window.loader.is_cached(second_path))  # the next image is decoded ahead
    key(qtbot, window, Qt.Key.Key_D)
    assert c.media_id == second and c.pending is None
    assert window.current_image is not None  # shown at once, from the prefetch cache
    assert "— groceries.jpg —" in window.windowTitle()
    key(qtbot, window, Qt.Key.Key_A)
    assert c.media_id == first
    assert window.media_panel.current_media_id() == first


def test_wheel_zooms_around_the_cursor(window: MainWindow, qtbot) -> None:
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    view = window.canvas
    pos = QPoint(view.viewport().width() // 3, view.viewport().height() // 3)
    before_scale = view.scale_factor()
    under = view.mapToScene(pos)
    event = QWheelEvent(
        QPointF(pos),
        QPointF(view.viewport().mapToGlobal(pos)),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), event)
    assert view.scale_factor() > before_scale * 1.3
    after = view.mapToScene(pos)
    assert abs(after.x() - under.x()) < 2 and abs(after.y() - under.y()) < 2


def test_shortcut_overlay_lists_every_tool(window: MainWindow) -> None:
    from samdesk.ui.dialogs.shortcuts import ShortcutsDialog

    dialog = ShortcutsDialog(list(window.menu_actions.by_id.values()), window)
    texts = {text for _, text in dialog.rows}
    for tool in window.tools.values():
        assert tool.label in texts
    assert {"Undo", "Redo", "Next candidate mask", "Next image"} <= texts


def test_polygon_tool_draws_a_manual_object(window: MainWindow, qtbot) -> None:
    window.set_tool("polygon")
    for x, y in [(100, 100), (200, 100), (200, 200), (100, 200)]:
        click(window, x, y)
    key(qtbot, window, Qt.Key.Key_Return)  # closes the polygon (the tool takes Enter first)
    assert window.controller.pending is not None and window.controller.pending.manual
    window.categories_panel.add("box")
    key(qtbot, window, Qt.Key.Key_Return)  # accepts it
    obj = window.document.project.objects[0]
    assert obj.frames[0].provenance == Provenance.MANUAL
    assert window.controller.object_mask(obj.id)[150, 150]


def test_objects_panel_follows_the_selected_object(window: MainWindow, qtbot) -> None:
    c = window.controller
    window.categories_panel.add("thing")
    for x in (150, 500):
        click(window, x, 200)
        qtbot.waitUntil(lambda: c.pending is not None and c.pending.candidates is not None)
        key(qtbot, window, Qt.Key.Key_Return)
    first, second = (o.id for o in window.document.project.objects)
    assert window.objects_panel.selected_ids() == [second]
    c.select_object(first)
    assert window.objects_panel.selected_ids() == [first]


def test_installed_models_menu_lists_the_models_folder(
    window: MainWindow, tmp_path: Path, monkeypatch
) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "my_finetune.pt").write_bytes(b"not really a checkpoint")
    monkeypatch.setenv("SAMDESK_MODELS_DIR", str(folder))
    requested: list[str] = []
    window.model_requested.connect(requested.append)
    window.installed_menu.aboutToShow.emit()
    actions = [a for a in window.installed_menu.actions() if "my_finetune" in a.text()]
    assert len(actions) == 1
    actions[0].trigger()
    assert requested == [str(folder / "my_finetune.pt")]


def test_a_newer_autosave_is_offered_when_the_project_is_opened(
    window: MainWindow, qtbot, tmp_path: Path
) -> None:
    project_path = tmp_path / "p.samdesk.json"
    window.categories_panel.add("saved")
    assert window.files.save_to(project_path)
    window.categories_panel.add("unsaved")  # a change the crash would lose...
    window.files.recovery.interval_s = 0
    window.files.recovery.instance = Instance(1 << 22, 1, this_host())  # a process that then dies
    window.files.recovery.tick()  # ...but the autosave has it
    offered: list[str] = []
    other = MainWindow(Settings(), settings_path=tmp_path / "s.json")
    other.errors_as_status = True
    qtbot.addWidget(other)
    other.files.ask_restore = lambda when: offered.append(when) or True
    assert open_paths(qtbot, other, [project_path]) == []
    assert len(offered) == 1
    assert [c.name for c in other.document.project.categories] == ["saved", "unsaved"]
    assert other.document.dirty  # restored work is unsaved until the user saves it
    other.document.history.mark_clean()
    window.document.history.mark_clean()


def test_every_crashed_windows_autosave_is_offered_until_one_is_restored(
    window: MainWindow, qtbot, tmp_path: Path
) -> None:
    project_path = tmp_path / "p.samdesk.json"
    assert window.files.save_to(project_path)
    left = []
    for n, name in enumerate(["older crash", "newer crash"]):
        crashed = Document(load_project(project_path).project, project_path)
        manager = RecoveryManager(crashed, 0, instance=Instance((1 << 22) + n, 1, this_host()))
        crashed.execute(AddCategory(name, (1, 2, 3)))
        left.append(manager.tick())
        os.utime(left[-1], (1000 + n, 1000 + n))
    asked: list[str] = []
    window.files.ask_restore = lambda when: asked.append(when) or len(asked) == 2  # no, then yes
    assert open_paths(qtbot, window, [project_path]) == []
    assert len(asked) == 2 and "saved after it" in asked[0]  # both predate the project's last save
    assert [c.name for c in window.document.project.categories][-1] == "older crash"
    assert not left[1].exists() and left[0].exists()  # declined: deleted; restored: adopted
    assert window.files.save()
    assert not left[0].exists()


def test_opening_a_project_open_in_another_window_warns(window: MainWindow, qtbot, tmp_path: Path) -> None:
    project_path = tmp_path / "p.samdesk.json"
    assert window.files.save_to(project_path)
    window.files.recovery.close()  # this window lets go of it...
    elsewhere = Instance(1234, 5678, "another-host")  # ...and a window on another host opens it
    assert ProjectLock(elsewhere).claim(project_path) is None
    assert open_paths(qtbot, window, [project_path]) == []
    assert "also open in another samdesk window (process 1234 on another-host" in window.last_error
    assert read_lock(project_path).instance == elsewhere  # its lock stays its own


def test_saving_over_a_project_changed_on_disk_asks_first(window: MainWindow, tmp_path: Path) -> None:
    path = tmp_path / "p.samdesk.json"
    window.categories_panel.add("mine")
    assert window.files.save_to(path)
    theirs = load_project(path).project  # another window saves its own version
    theirs.categories[0].name = "theirs"
    save_project(theirs, path)
    their_bytes = path.read_bytes()
    window.categories_panel.add("more of mine")
    asked: list[str] = []
    window.files.ask_save_over_change = lambda problem: asked.append(problem) or False
    assert not window.files.save()
    assert path.read_bytes() == their_bytes and window.document.dirty
    assert len(asked) == 1 and "changed on disk since it was opened" in asked[0]
    window.files.ask_save_over_change = lambda problem: True
    assert window.files.save()
    assert "more of mine" in [c.name for c in load_project(path).project.categories]
    window.categories_panel.add("again")  # compared with what this window wrote: no question
    window.files.ask_save_over_change = lambda problem: pytest.fail(f"asked: {problem}")
    assert window.files.save()


def test_no_arguments_opens_the_bundled_sample_image(qtbot, tmp_path: Path, monkeypatch) -> None:
    from samdesk.resources import sample_images
    from samdesk.ui.app import create_window

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # no autosaves of earlier sessions
    window = create_window([], settings_path=tmp_path / "settings.json")
    window.errors_as_status = True
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: not window.files.busy, timeout=10000)
    assert window.last_error == ""
    first = sample_images()[0]
    assert window.controller.media is not None and window.controller.media.name == first.name
    assert window.canvas.tool is window.tools["click"]
    qtbot.waitUntil(lambda: window.current_image is not None, timeout=10000)


def test_middle_drag_pans_without_touching_the_tool(window: MainWindow) -> None:
    from PySide6.QtCore import QEvent

    from tests.ui_driver import mouse, to_view

    view = window.canvas
    view.zoom(3.0)
    before = view.mapToScene(view.viewport().rect().center())
    start, end = to_view(window, 400, 260), to_view(window, 400, 260)
    end.setX(end.x() + 120)
    mouse(
        window, QEvent.Type.MouseButtonPress, start, Qt.MouseButton.MiddleButton, Qt.MouseButton.MiddleButton
    )
    mouse(window, QEvent.Type.MouseMove, end, Qt.MouseButton.NoButton, Qt.MouseButton.MiddleButton)
    mouse(window, QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.MiddleButton, Qt.MouseButton.NoButton)
    after = view.mapToScene(view.viewport().rect().center())
    assert after.x() < before.x() - 20  # the image moved right with the mouse
    assert window.controller.pending is None  # no prompt was made


def test_unreadable_files_are_reported_and_the_others_open(
    window: MainWindow, qtbot, tmp_path: Path, media_dir: Path
) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    problems = open_paths(qtbot, window, [broken, tmp_path / "missing.png", media_dir / "truck.jpg"])
    assert len(problems) == 2
    assert any("broken.jpg" in p for p in problems) and any("missing.png" in p for p in problems)
    assert [m.name for m in window.document.project.media][-1] == "truck.jpg"


def test_h_hides_accepted_masks_and_double_click_centres_an_object(window: MainWindow, qtbot) -> None:
    window.categories_panel.add("thing")
    window.set_tool("polygon")
    for x, y in [(600, 400), (700, 400), (700, 500), (600, 500)]:
        click(window, x, y)
    key(qtbot, window, Qt.Key.Key_Return)
    key(qtbot, window, Qt.Key.Key_Return)
    (obj,) = window.document.project.objects
    item = window.layer.object_items[obj.id]
    assert item.isVisible()
    key(qtbot, window, Qt.Key.Key_H)
    assert not item.isVisible()
    key(qtbot, window, Qt.Key.Key_H)
    assert item.isVisible()
    window.canvas.zoom(4.0)
    row = window.objects_panel.tree.topLevelItem(0)
    window.objects_panel.tree.itemDoubleClicked.emit(row, 0)
    centre = window.canvas.mapToScene(window.canvas.viewport().rect().center())
    assert abs(centre.x() - 650) < 3 and abs(centre.y() - 450) < 3
