"""The export dialog asks before replacing files an earlier export (or anyone) left at the output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from samdesk.ui.dialogs.export import ExportDialog
from tests.io_fixtures import make_project


@pytest.mark.parametrize("answer", [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes])
def test_an_existing_output_is_replaced_only_when_the_user_says_so(
    answer: QMessageBox.StandardButton, qtbot, media_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    out = tmp_path / "annotations.json"
    out.write_text("the user's notes")
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda _parent, _title, text: asked.append(text) or answer)
    monkeypatch.setattr(QMessageBox, "information", lambda *args: None)
    monkeypatch.setattr(QMessageBox, "critical", lambda *args: pytest.fail(f"export failed: {args[2]}"))
    dialog = ExportDialog(make_project(media_dir, with_video=False), str(tmp_path))
    qtbot.addWidget(dialog)
    dialog.path_edit.setText(str(out))
    dialog._export()
    assert len(asked) == 1 and str(out) in asked[0]
    if answer == QMessageBox.StandardButton.No:
        assert out.read_text() == "the user's notes" and dialog.result_info is None
    else:
        assert len(json.loads(out.read_text())["images"]) == 3 and dialog.result_info is not None
