"""File ▸ Export: the destination follows the format (a file or a folder), an export in the way
is replaced only when the user says so, and a finished export shows what it wrote (issue 18,
defect 4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

from samdesk.document import Document
from samdesk.resources import sample_video
from samdesk.ui.dialogs.export import ExportDialog
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from tests.io_fixtures import make_project

pytestmark = pytest.mark.gui


def choose(dialog: ExportDialog, name: str) -> None:
    dialog.format_box.setCurrentIndex(dialog.format_box.findData(name))


def test_the_destination_follows_the_format(qtbot, media_dir: Path, tmp_path: Path) -> None:
    """DAVIS export used to create a *folder* named annotations.json: the destination stayed
    the COCO file after switching to a folder format."""
    dialog = ExportDialog(make_project(media_dir), str(tmp_path))
    qtbot.addWidget(dialog)
    assert dialog.format_name() == "coco" and dialog.destination() == tmp_path / "annotations.json"
    choose(dialog, "davis")
    assert dialog.destination() == tmp_path / "davis"
    assert "folder" in dialog.destination_label.text().lower()
    choose(dialog, "png-instance")  # a default name follows the format
    assert dialog.destination() == tmp_path / "png-instance"
    dialog.path_edit.setText(str(tmp_path / "my masks"))
    choose(dialog, "png-semantic")  # a name the user typed stays while the kind stays
    assert dialog.destination() == tmp_path / "my masks"
    choose(dialog, "coco-polygon")  # a folder name is no file name: the file goes in that folder
    assert dialog.destination() == tmp_path / "annotations.json"
    assert "file" in dialog.destination_label.text().lower()


def test_a_destination_of_the_wrong_kind_is_refused(qtbot, media_dir: Path, tmp_path: Path) -> None:
    dialog = ExportDialog(make_project(media_dir), str(tmp_path))
    qtbot.addWidget(dialog)
    (tmp_path / "notes.txt").write_text("the user's notes")
    choose(dialog, "davis")
    dialog.path_edit.setText(str(tmp_path / "notes.txt"))
    dialog.accept()
    assert dialog.result() == 0 and "is a file" in dialog.problem_label.text()
    choose(dialog, "coco")
    dialog.path_edit.setText(str(tmp_path))
    dialog.accept()
    assert dialog.result() == 0 and "is a folder" in dialog.problem_label.text()


@pytest.fixture
def window(qtbot, media_dir: Path, tmp_path: Path) -> MainWindow:
    win = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    win.errors_as_status = True
    qtbot.addWidget(win)
    project = make_project(media_dir, with_video=False)
    win.document.replace_project(project, None)
    return win


def export(qtbot, window: MainWindow, name: str, out: Path) -> None:
    with qtbot.waitSignal(window.bridge.jobFinished, timeout=60_000):
        window.files.export(name, out)


def test_an_existing_output_is_replaced_only_when_the_user_says_so(
    window: MainWindow, qtbot, tmp_path: Path
) -> None:
    out = tmp_path / "annotations.json"
    out.write_text("the user's notes")
    asked: list[Path] = []
    answers = iter([False, True])
    window.files.ask_overwrite = lambda path: asked.append(path) or next(answers)
    with qtbot.waitSignal(window.bridge.failed, timeout=60_000):
        window.files.export("coco", out)
    assert asked == [out] and out.read_text() == "the user's notes"
    assert window.files.export_done_dialog is None
    with qtbot.waitSignal(window.bridge.jobFinished, timeout=60_000):
        window.files.export("coco", out)
    qtbot.waitUntil(lambda: window.files.export_done_dialog is not None)
    assert len(json.loads(out.read_text())["images"]) == 3


def test_a_finished_export_shows_what_it_wrote_and_opens_its_folder(
    window: MainWindow, qtbot, tmp_path: Path, monkeypatch
) -> None:
    """A successful export used to say nothing."""
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    out = tmp_path / "masks"
    export(qtbot, window, "png-instance", out)
    qtbot.waitUntil(lambda: window.files.export_done_dialog is not None)
    dialog = window.files.export_done_dialog
    assert dialog.isVisible()
    assert "3 images" in dialog.text() and "objects" in dialog.text() and str(out) in dialog.text()
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written and all(name in dialog.informativeText() for name in written[:5])
    dialog.open_button.click()
    assert opened == [QUrl.fromLocalFile(str(out))]


def test_a_video_export_to_a_folder_named_by_the_dialog(window: MainWindow, qtbot, tmp_path: Path) -> None:
    """The issue's DAVIS case end to end: the dialog's destination for DAVIS is a folder, and the
    export writes the DAVIS layout into it."""
    from samdesk.document import AddMedia, AddObject, masks
    from samdesk.document.media_files import media_item_from_path
    from samdesk.document.model import AnnotationObject, FrameAnnotation

    document: Document = window.document
    add = AddMedia(media_item_from_path(sample_video()))
    document.execute(add)
    import numpy as np

    mask = np.zeros((add.item.height, add.item.width), bool)
    mask[10:40, 10:60] = True
    document.execute(AddObject(AnnotationObject(0, add.item.id, 1, {0: FrameAnnotation(masks.encode(mask))})))
    dialog = ExportDialog(document.project, str(tmp_path))
    qtbot.addWidget(dialog)
    choose(dialog, "davis")
    export(qtbot, window, dialog.format_name(), dialog.destination())
    assert (tmp_path / "davis").is_dir() and (tmp_path / "davis" / "Annotations").is_dir()
