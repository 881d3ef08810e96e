"""Images nobody annotated are left out of an export by default (issue 18, defect 11).

COCO and YOLO wrote every image of the project, those without objects as "nothing here": an
image opened but never looked at taught a model that it holds nothing. Now a still image is
written when it has an object or is marked done (done with no objects is a statement); the
others only with ``include_unannotated`` (``--include-unannotated``, the Export dialog's box).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from samdesk import cli
from samdesk.document import masks
from samdesk.document.media_files import media_item_from_path
from samdesk.document.model import (
    AnnotationObject,
    Category,
    FrameAnnotation,
    MediaStatus,
    Project,
    Provenance,
)
from samdesk.document.persistence import save_project
from samdesk.io.formats import run_export

IMAGES = ("dog.jpg", "groceries.jpg", "truck.jpg")  # annotated, done without objects, untouched


def three_images(media_dir: Path) -> Project:
    project = Project(categories=[Category(1, "thing", (255, 0, 0))])
    for i, name in enumerate(IMAGES, start=1):
        item = media_item_from_path(media_dir / name)
        item.id = i
        project.media.append(item)
    first = project.media[0]
    mask = np.zeros((first.height, first.width), bool)
    mask[50:150, 60:200] = True
    frame = FrameAnnotation(masks.encode(mask), Provenance.MANUAL)
    project.objects.append(AnnotationObject(1, first.id, 1, {0: frame}))
    project.media[1].status = MediaStatus.DONE
    project.next_ids.update(media=4, object=2, category=2)
    return project


def coco_images(path: Path) -> list[str]:
    return sorted(Path(i["file_name"]).name for i in json.loads(path.read_text())["images"])


def test_coco_writes_annotated_and_done_images_only_unless_asked(media_dir: Path, tmp_path: Path) -> None:
    project = three_images(media_dir)
    result = run_export("coco", project, tmp_path / "default.json")
    assert coco_images(tmp_path / "default.json") == ["dog.jpg", "groceries.jpg"]
    assert any("1 image without objects and not marked done left out" in line for line in result.summary)
    result = run_export("coco", project, tmp_path / "all.json", include_unannotated=True)
    assert coco_images(tmp_path / "all.json") == sorted(IMAGES)
    assert not any("left out" in line for line in result.summary)


def test_yolo_writes_no_label_file_for_an_untouched_image(media_dir: Path, tmp_path: Path) -> None:
    project = three_images(media_dir)
    run_export("yolo-seg", project, tmp_path / "default")
    labels = sorted(p.stem for p in (tmp_path / "default").rglob("*.txt"))
    assert "truck" not in labels and {"dog", "groceries"} <= set(labels)
    run_export("yolo-seg", project, tmp_path / "all", include_unannotated=True)
    labels = {p.stem for p in (tmp_path / "all").rglob("*.txt")}
    assert {"dog", "groceries", "truck"} <= labels


def test_the_command_line_flag(media_dir: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "p.samdesk.json"
    save_project(three_images(media_dir), path)
    argv = ["export", str(path), "--format", "coco", "--quiet", "--out"]
    assert cli.main([*argv, str(tmp_path / "default.json")]) == 0
    assert "left out (include them: --include-unannotated" in capsys.readouterr().out
    assert coco_images(tmp_path / "default.json") == ["dog.jpg", "groceries.jpg"]
    assert cli.main([*argv, str(tmp_path / "all.json"), "--include-unannotated"]) == 0
    assert coco_images(tmp_path / "all.json") == sorted(IMAGES)


@pytest.mark.gui
def test_the_export_dialogs_check_box(qtbot, media_dir: Path, tmp_path: Path, monkeypatch) -> None:
    from samdesk.ui.dialogs.export import ExportDialog
    from samdesk.ui.main_window import MainWindow
    from samdesk.ui.settings import Settings

    window = MainWindow(Settings(), settings_path=tmp_path / "settings.json")
    window.errors_as_status = True
    qtbot.addWidget(window)
    window.document.replace_project(three_images(media_dir), None)
    for include, out in ((False, tmp_path / "default.json"), (True, tmp_path / "all.json")):

        def run_dialog(dialog: ExportDialog, include=include, out=out) -> int:
            assert not dialog.include_unannotated.isChecked()  # off unless the user ticks it
            dialog.include_unannotated.setChecked(include)
            dialog.path_edit.setText(str(out))
            return 1

        monkeypatch.setattr(ExportDialog, "exec", run_dialog)
        with qtbot.waitSignal(window.bridge.jobFinished, timeout=60_000):
            window.files.ask_export()
    assert coco_images(tmp_path / "default.json") == ["dog.jpg", "groceries.jpg"]
    assert coco_images(tmp_path / "all.json") == sorted(IMAGES)
