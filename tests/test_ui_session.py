"""A whole annotation session played as a user would, on the real runtime and a real backend.

Open two images, prompt with clicks and a box, cycle candidates, accept with a category,
brush-edit, undo/redo, switch images, save, reopen, export COCO and check the file. The model
is the classical GrabCut backend behind the real runtime and bridge (no test double).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog

from samdesk.document import MediaStatus, Provenance
from samdesk.document import masks as rle
from tests.ui_driver import click, drag

pytestmark = pytest.mark.gui

MODEL_TIMEOUT_MS = 120_000  # GrabCut on a loaded 2-core CI machine


def open_window(qtbot, paths, settings_path: Path):
    from samdesk.ui.app import create_window

    window = create_window([str(p) for p in paths], "classical", settings_path=settings_path)
    window.errors_as_status = True
    qtbot.addWidget(window)
    window.resize(1200, 800)
    window.show()
    qtbot.waitUntil(lambda: not window.files.busy, timeout=20_000)
    assert window.last_error == ""
    qtbot.waitUntil(lambda: window.current_image is not None, timeout=20_000)
    qtbot.waitUntil(lambda: window.controller.service is not None, timeout=MODEL_TIMEOUT_MS)
    return window


def wait_answer(qtbot, window) -> None:
    c = window.controller
    qtbot.waitUntil(
        lambda: not c.waiting and c.pending is not None and c.pending.candidates is not None,
        timeout=MODEL_TIMEOUT_MS,
    )
    assert c.error is None


def test_full_session(qtbot, media_dir: Path, tmp_path: Path, monkeypatch) -> None:
    settings_path = tmp_path / "settings.json"
    window = open_window(qtbot, [media_dir / "dog.jpg", media_dir / "groceries.jpg"], settings_path)
    c = window.controller
    doc = window.document
    assert "classical" in window.status.model_label.text().lower()
    assert window.canvas.tool is window.tools["click"]

    # --- image 1: click, cycle candidates, negative click, box, accept with a new category ---
    click(window, 300, 320)
    wait_answer(qtbot, window)
    assert c.candidate_count() >= 1 and c.last_click_ms is not None
    if c.candidate_count() > 1:
        qtbot.keyClick(window.canvas, Qt.Key.Key_Tab)
        assert c.pending.candidates.selected == 1
        qtbot.keyClick(window.canvas, Qt.Key.Key_1)
    click(window, 560, 200, Qt.MouseButton.RightButton)  # the bowl is not the dog
    wait_answer(qtbot, window)
    drag(window, (5, 215), (430, 530))
    wait_answer(qtbot, window)
    assert c.pending.prompts.labels == (1, 0) and c.pending.prompts.box is not None
    dog_mask = c.pending.mask()
    assert dog_mask[320, 300] and not dog_mask[200, 560]

    from PySide6.QtCore import QTimer

    def name_category() -> None:
        picker = QApplication.activeModalWidget()
        qtbot.keyClicks(picker.edit, "dog")
        qtbot.keyClick(picker.edit, Qt.Key.Key_Return)

    QTimer.singleShot(50, name_category)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return)  # no category yet: the quick picker opens
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)  # shortcuts need it active
    assert [cat.name for cat in doc.project.categories] == ["dog"]
    (dog,) = doc.project.objects
    assert dog.category_id == doc.project.categories[0].id
    assert dog.frames[0].provenance == Provenance.MODEL and dog.frames[0].model_id
    assert doc.project.media[0].status == MediaStatus.IN_PROGRESS

    # --- brush edit, then undo / redo with the keyboard ---
    qtbot.keyClick(window.canvas, Qt.Key.Key_P)
    before = c.object_mask(dog.id).copy()
    drag(window, (700, 500), (780, 500))
    edited = c.object_mask(dog.id)
    assert edited[500, 740] and not before[500, 740]
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(c.object_mask(dog.id), before)
    qtbot.keyClick(
        window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert np.array_equal(c.object_mask(dog.id), edited)
    assert dog.frames[0].provenance == Provenance.EDITED

    # --- image 2: next image key, box prompt, accept with the last used category (Enter) ---
    qtbot.keyClick(window.canvas, Qt.Key.Key_C)
    qtbot.keyClick(window.canvas, Qt.Key.Key_D)
    second = doc.project.media[1]
    assert c.media_id == second.id
    qtbot.waitUntil(lambda: window.current_image is not None, timeout=20_000)
    drag(window, (440, 175), (512, 342))
    wait_answer(qtbot, window)
    click(window, 475, 280)
    wait_answer(qtbot, window)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return)
    bag = doc.project.objects_of(second.id)[0]
    assert bag.category_id == dog.category_id
    assert c.object_mask(bag.id)[280, 475]

    # --- save (Ctrl+S asks where), reopen in a fresh window, compare ---
    project_path = tmp_path / "session.samdesk.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(project_path), ""))
    qtbot.keyClick(window.canvas, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert project_path.is_file() and not doc.dirty
    masks_before = {o.id: rle.decode(o.frames[0].rle) for o in doc.project.objects}
    window.close()

    reopened = open_window(qtbot, [project_path], settings_path)
    project = reopened.document.project
    assert [m.name for m in project.media] == ["dog.jpg", "groceries.jpg"]
    assert {o.id: rle.decode(o.frames[0].rle).sum() for o in project.objects} == {
        i: m.sum() for i, m in masks_before.items()
    }
    assert reopened.layer.object_items  # the first image's objects are drawn

    # --- export COCO and read it back ---
    out = tmp_path / "coco.json"
    with qtbot.waitSignal(reopened.bridge.jobFinished, timeout=MODEL_TIMEOUT_MS):
        reopened.files.export("coco", out)
    data = json.loads(out.read_text())
    assert [cat["name"] for cat in data["categories"]] == ["dog"]
    assert sorted(img["file_name"] for img in data["images"]) == ["dog.jpg", "groceries.jpg"]
    assert len(data["annotations"]) == 2
    by_image = {img["id"]: img["file_name"] for img in data["images"]}
    for ann in data["annotations"]:
        seg = ann["segmentation"]
        mask = rle.decode({"size": seg["size"], "counts": seg["counts"]})
        expected = masks_before[dog.id] if by_image[ann["image_id"]] == "dog.jpg" else masks_before[bag.id]
        assert np.array_equal(mask, expected)
    reopened.document.history.mark_clean()

    # --- import it into an empty window: one undoable step ---
    from samdesk.ui.main_window import MainWindow
    from samdesk.ui.settings import Settings

    fresh = MainWindow(Settings(), settings_path=settings_path)
    fresh.errors_as_status = True
    qtbot.addWidget(fresh)
    with qtbot.waitSignal(fresh.bridge.jobFinished, timeout=MODEL_TIMEOUT_MS):
        fresh.files.import_dataset("coco", out, media_dir)
    imported = fresh.document.project
    assert "2 objects" in fresh.status.current_message() and len(imported.media) == 2
    assert sorted(rle.decode(o.frames[0].rle).sum() for o in imported.objects) == sorted(
        m.sum() for m in masks_before.values()
    )
    fresh.controller.undo()
    assert imported.objects == [] and imported.media == []
    fresh.document.history.mark_clean()
