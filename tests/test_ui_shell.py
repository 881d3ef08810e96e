"""The main window as a shell of parts: the actions table, menus the model cannot serve, and
file work (open, import, export) on the runtime's background thread while the GUI keeps serving."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QProgressDialog, QPushButton

import samdesk.document.media_files
from model_runtime.api import Capability
from samdesk.io import formats
from samdesk.resources import sample_video
from samdesk.ui.actions import ACTIONS, ActionSpec, resolve
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from tests.runtime_doubles import DoubleModel
from tests.ui_doubles import AsyncDiscService
from tests.ui_driver import open_paths

pytestmark = pytest.mark.gui

GATE_S = 60  # the longest a gated job step waits before failing the test


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    win = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    win.errors_as_status = True
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    return win


def load(qtbot, window: MainWindow, model: DoubleModel) -> None:
    with qtbot.waitSignal(window.model_link.loaded, timeout=30_000):
        window.bridge.load_model(model)


def test_every_action_of_the_table_is_built_and_reaches_its_handler(window: MainWindow) -> None:
    built = window.menu_actions.by_id
    assert {spec.id for spec in ACTIONS} <= set(built)
    assert {f"tool_{name}" for name in window.tools} <= set(built)
    for spec in ACTIONS:
        assert callable(resolve(window, spec.handler))
        menu = window.menu_actions.menus[spec.menu]
        assert built[spec.id] in menu.actions()
    with pytest.raises(AttributeError):
        window.menu_actions.add(ActionSpec("typo", "Typo", "&Edit", "files.sav"))


def test_menus_the_model_cannot_serve_are_disabled_and_say_which_model_can(window: MainWindow, qtbot) -> None:
    track = window.menu_actions["track_forward"]
    assert not track.isEnabled() and "no model is loaded" in track.toolTip()
    assert open_paths(qtbot, window, [sample_video()]) == []
    load(qtbot, window, DoubleModel("clicks"))
    assert not track.isEnabled()
    assert "SAM 2/2.1" in track.toolTip() and "double clicks is loaded" in track.toolTip()
    assert window.menu_actions["refine"].isEnabled()  # needs nothing the model lacks
    load(qtbot, window, DoubleModel("video", capabilities=frozenset({Capability.CLICK, Capability.VIDEO})))
    assert all(window.menu_actions[f"track_{d}"].isEnabled() for d in ("forward", "backward", "both"))
    assert not window.menu_actions["stop_tracking"].isEnabled()  # no run to stop
    assert window.status.model_label.text().startswith("double video")


def test_tracking_is_disabled_while_no_video_is_on_screen(window: MainWindow, qtbot, media_dir) -> None:
    load(qtbot, window, DoubleModel("video", capabilities=frozenset({Capability.CLICK, Capability.VIDEO})))
    assert open_paths(qtbot, window, [media_dir / "dog.jpg", sample_video()]) == []
    track = window.menu_actions["track_forward"]
    assert not track.isEnabled() and track.toolTip() == "Open a video first"
    window.navigation.step_media(+1)
    assert track.isEnabled()


class Gate:
    """Holds the background thread inside a job step until released; records the thread."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.threads: list[str] = []

    def pass_through(self) -> None:
        self.threads.append(threading.current_thread().name)
        self.entered.set()
        if not self.opened.wait(GATE_S):
            raise AssertionError("gate never opened")


def ticking(qtbot) -> list[int]:
    """A 10 ms timer on the GUI thread: its count grows only while the event loop runs."""
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    ticking.timers.append(timer)  # kept alive for the test
    return ticks


ticking.timers = []


def progress_dialog(window: MainWindow) -> QProgressDialog | None:
    return next((d for d in window.findChildren(QProgressDialog) if d.isVisible()), None)


def press_cancel(qtbot, window: MainWindow) -> None:
    qtbot.mouseClick(progress_dialog(window).findChild(QPushButton), Qt.MouseButton.LeftButton)


def test_opening_runs_off_the_gui_thread_and_cancel_keeps_what_was_opened(
    window: MainWindow, qtbot, media_dir: Path, monkeypatch
) -> None:
    """Issue 14, bug 3: probing and hashing a file (a 2 GB video takes seconds) ran on the GUI
    thread and froze the window. A gate stands in for that slow file: while the runtime's
    background thread is held in it, the GUI keeps serving events, shows progress with Cancel,
    and Cancel stops the opening with the files read so far kept."""
    real = samdesk.document.media_files.media_item_from_path
    gate = Gate()

    def slow_second_file(path):
        if Path(path).name == "groceries.jpg":
            gate.pass_through()
        return real(path)

    monkeypatch.setattr(samdesk.document.media_files, "media_item_from_path", slow_second_file)
    window.set_service(AsyncDiscService(lambda: window.controller), "double (discs)")
    ticks = ticking(qtbot)
    with qtbot.waitSignal(window.files.opened, timeout=GATE_S * 1000) as opened:
        window.files.open_paths([media_dir / "dog.jpg", media_dir / "groceries.jpg", media_dir / "truck.jpg"])
        assert gate.entered.wait(GATE_S)
        # The first file is on screen and the window answers while the second is being read.
        qtbot.waitUntil(lambda: window.current_image is not None, timeout=10_000)
        count = len(ticks)
        qtbot.waitUntil(lambda: len(ticks) > count + 3, timeout=10_000)
        qtbot.waitUntil(lambda: progress_dialog(window) is not None, timeout=10_000)
        assert window.files.busy
        press_cancel(qtbot, window)
    assert opened.args == [[]]
    assert gate.threads and gate.threads[0].startswith("samdesk-runtime-") and gate.threads[0] != "MainThread"
    assert not window.files.busy and progress_dialog(window) is None
    assert "Opening stopped" in window.status.current_message()
    gate.opened.set()
    qtbot.wait(300)  # the step in progress ends: nothing more may land
    assert [m.name for m in window.document.project.media] == ["dog.jpg"]
    assert window.bridge.pending() == []


def test_an_import_runs_off_the_gui_thread_and_cancel_leaves_the_project_unchanged(
    window: MainWindow, qtbot, tmp_path: Path, media_dir: Path, monkeypatch
) -> None:
    real = formats.IMPORT_FORMATS["coco"]
    gate = Gate()
    cancelled: list[bool] = []

    def slow_import(project, path, images_dir, progress, cancel):
        progress(1, 10)
        gate.pass_through()
        cancelled.append(cancel())
        return real(project, path, images_dir, progress, cancel)

    monkeypatch.setitem(formats.IMPORT_FORMATS, "coco", slow_import)
    coco = tmp_path / "coco.json"
    # One box on dog.jpg: a dataset that would add nothing is refused (project_files), so the import
    # that lands below must hold an annotation.
    width, height = Image.open(media_dir / "dog.jpg").size
    polygon = [10, 10, 110, 10, 110, 90, 10, 90]
    coco.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "dog.jpg", "width": width, "height": height}],
                "annotations": [
                    {
                        "id": 1,
                        "image_id": 1,
                        "category_id": 1,
                        "segmentation": [polygon],
                        "area": 8000,
                        "bbox": [10, 10, 100, 80],
                        "iscrowd": 0,
                    }
                ],
                "categories": [{"id": 1, "name": "dog"}],
            }
        )
    )
    ticks = ticking(qtbot)
    request = window.files.import_dataset("coco", coco, media_dir)
    assert gate.entered.wait(GATE_S)
    count = len(ticks)
    qtbot.waitUntil(lambda: len(ticks) > count + 3, timeout=10_000)
    qtbot.waitUntil(lambda: progress_dialog(window) is not None, timeout=10_000)
    assert progress_dialog(window).maximum() == 10  # the importer's own progress reached it
    press_cancel(qtbot, window)
    assert "Import cancelled" in window.status.current_message()
    gate.opened.set()
    qtbot.waitUntil(lambda: bool(cancelled), timeout=GATE_S * 1000)
    assert cancelled == [True]  # the importer is told to stop, and stops
    qtbot.waitUntil(lambda: window.bridge.handle(request) is None)
    assert window.document.project.categories == [] and not window.document.history.can_undo
    assert gate.threads[0] != "MainThread"

    # Without the gate the same import lands, as one undoable step.
    monkeypatch.setitem(formats.IMPORT_FORMATS, "coco", real)
    with qtbot.waitSignal(window.bridge.jobFinished, timeout=30_000):
        window.files.import_dataset("coco", coco, media_dir)
    assert [c.name for c in window.document.project.categories] == ["dog"]
    window.controller.undo()
    assert window.document.project.categories == []


def test_an_export_runs_off_the_gui_thread_and_editing_goes_on(
    window: MainWindow, qtbot, tmp_path: Path, media_dir: Path, monkeypatch
) -> None:
    """Issue 14, bug 3: exports ran on the GUI thread too. While the export is held on the
    runtime's background thread the window serves events and the project can be edited; the
    export writes the project as it was when asked."""
    from samdesk.document import AddCategory

    real = formats.run_export
    gate = Gate()

    def slow_export(*args, **kwargs):
        gate.pass_through()
        return real(*args, **kwargs)

    monkeypatch.setattr(formats, "run_export", slow_export)
    assert open_paths(qtbot, window, [media_dir / "dog.jpg"]) == []
    out = tmp_path / "coco.json"
    ticks = ticking(qtbot)
    window.files.export("coco", out, include_unannotated=True)  # dog.jpg has no object
    assert gate.entered.wait(GATE_S)
    count = len(ticks)
    qtbot.waitUntil(lambda: len(ticks) > count + 3, timeout=10_000)
    window.document.execute(AddCategory("cat", (0, 255, 0)))  # editing goes on meanwhile
    with qtbot.waitSignal(window.bridge.jobFinished, timeout=60_000):
        gate.opened.set()
    assert gate.threads[0].startswith("samdesk-runtime-")
    written = json.loads(out.read_text())
    assert [image["file_name"] for image in written["images"]] == ["dog.jpg"]
    assert written["categories"] == []  # the edit made during the export is not in it


def test_superseded_clicks_leave_nothing_behind_on_the_model_side(
    window: MainWindow, qtbot, media_dir: Path
) -> None:
    """Issue 14, bug 4: the bridge drops answers to superseded clicks, so whatever the model
    link and the session keep per request must not wait for them."""
    assert open_paths(qtbot, window, [media_dir / "dog.jpg"]) == []
    load(qtbot, window, DoubleModel("clicks"))
    c = window.controller
    for i in range(20):
        c.add_point(100 + i, 100, True)
    qtbot.waitUntil(lambda: not c.waiting and c.pending.candidates is not None, timeout=30_000)
    qtbot.waitUntil(lambda: not window.bridge.pending(), timeout=30_000)  # prefetches answered too
    assert window.model_link.requests_in_flight == set() and c.requests_in_flight == set()
