"""How far the annotation is (issue 18): a done/total count for the project above the images
list, and each folder's count in a header row when the images come from several folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from samdesk.document.model import MediaItem, MediaKind, MediaStatus
from samdesk.session.progress import Progress, by_folder, folder_names, progress
from samdesk.ui.main_window import MainWindow
from samdesk.ui.settings import Settings
from tests.ui_driver import open_paths


def test_progress_counts_and_folder_names() -> None:
    items = [
        MediaItem(1, MediaKind.IMAGE, "/data/a/1.jpg", 4, 4, status=MediaStatus.DONE),
        MediaItem(2, MediaKind.IMAGE, "/data/a/2.jpg", 4, 4, status=MediaStatus.IN_PROGRESS),
        MediaItem(3, MediaKind.VIDEO, "/data/b/c.mp4", 4, 4, frame_count=9, status=MediaStatus.DONE),
    ]
    assert progress(items) == Progress(2, 3)
    assert progress(items).text() == "2 / 3 done (67%)"
    assert progress([]).text() == "0 / 0 done (0%)"
    folders = by_folder(items)
    assert folders == {"/data/a": Progress(1, 2), "/data/b": Progress(1, 1)}
    assert folder_names(folders) == {"/data/a": "a", "/data/b": "b"}
    assert folder_names(["/data/a"]) == {"/data/a": "a"}


@pytest.mark.gui
def test_counts_follow_done_marks_and_undo(qtbot, tmp_path: Path, media_dir: Path) -> None:
    for folder, names in (("street", ["truck.jpg", "cars.jpg"]), ("home", ["dog.jpg"])):
        (tmp_path / folder).mkdir()
        for name in names:
            shutil.copy(media_dir / name, tmp_path / folder / name)
    window = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    window.errors_as_status = True
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    panel = window.media_panel
    assert panel.summary.text() == "No images yet"
    paths = [tmp_path / "street" / "truck.jpg", tmp_path / "street" / "cars.jpg"]
    paths.append(tmp_path / "home" / "dog.jpg")
    assert open_paths(qtbot, window, paths) == []
    rows = [panel.list.item(i).text() for i in range(panel.list.count())]
    assert rows[0] == "street  ·  0/2 done" and rows[3] == "home  ·  0/1 done"
    assert "truck.jpg" in rows[1] and "dog.jpg" in rows[4]
    assert not panel.list.item(0).flags() & Qt.ItemFlag.ItemIsSelectable
    assert panel.summary.text() == "0 / 3 done (0%)"
    window.navigation.show_media(window.document.project.media[0].id)
    qtbot.keyClick(window.canvas, "d", Qt.KeyboardModifier.ControlModifier)  # mark done, next image
    assert panel.summary.text() == "1 / 3 done (33%)"
    assert panel.bar.value() == 1 and panel.bar.maximum() == 3
    assert panel.list.item(0).text() == "street  ·  1/2 done"
    assert panel.list.item(0).toolTip().endswith("1 / 2 done (50%)")
    assert panel.current_media_id() == window.document.project.media[1].id
    qtbot.keyClick(window.canvas, "z", Qt.KeyboardModifier.ControlModifier)
    assert panel.summary.text() == "0 / 3 done (0%)"
    assert panel.list.item(0).text() == "street  ·  0/2 done"


def test_tally_follows_additions_status_changes_and_removals() -> None:
    from samdesk.session.progress import ProgressTally

    a = MediaItem(1, MediaKind.IMAGE, "/d/a/1.jpg", 4, 4)
    b = MediaItem(2, MediaKind.IMAGE, "/d/b/2.jpg", 4, 4, status=MediaStatus.DONE)
    tally = ProgressTally([a, b])
    assert tally.total == Progress(1, 2) and tally.folders == ["/d/a", "/d/b"]
    a.status = MediaStatus.DONE
    assert tally.update(a) == "/d/a" and tally.total == Progress(2, 2)
    a.status = MediaStatus.IN_PROGRESS
    tally.update(a)
    tally.remove(2)
    assert tally.total == Progress(0, 1) and tally.folders == ["/d/a"]
    assert tally.folder("/d/b") == Progress(0, 0)


@pytest.mark.gui
def test_opening_many_files_one_by_one_counts_each_once(qtbot, monkeypatch) -> None:
    """A folder of thousands of images opens one medium per change: the counts must not be
    taken again over all media each time (that was O(N²))."""
    import samdesk.session.progress as progress_module
    from samdesk.document import AddMedia, Document
    from samdesk.ui.panels.media_list import MediaListPanel

    calls = []
    real = progress_module.folder_of
    monkeypatch.setattr(progress_module, "folder_of", lambda item: calls.append(item.id) or real(item))
    document = Document()
    panel = MediaListPanel(document)
    qtbot.addWidget(panel)
    count = 400
    for i in range(count):
        folder = "a" if i < count // 2 else "b"
        document.execute(AddMedia(MediaItem(0, MediaKind.IMAGE, f"/data/{folder}/{i}.jpg", 4, 4)))
    assert panel.summary.text() == f"0 / {count} done (0%)"
    assert panel.list.item(0).text() == f"a  ·  0/{count // 2} done"
    # Once per medium, plus one recount when the second folder made headers appear.
    assert len(calls) <= 2 * count + 10
