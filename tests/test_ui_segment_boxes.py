"""Tools ▸ Segment boxes in the main window, on the real runtime with a small random-weight
SAM 2.1: box-only objects get the model's masks, as one undo step; without a model it says so."""

from __future__ import annotations

import numpy as np
import pytest

from samdesk.document import AddObject
from samdesk.document.boxes import box_only_frame, is_box_only
from samdesk.document.model import AnnotationObject, Provenance
from samdesk.resources import sample_images
from tests.test_ui_tracking import SLOW, open_window
from tests.tiny_models import small_sam2_model

pytestmark = pytest.mark.gui


def test_segment_boxes_gives_each_box_its_mask_and_one_undo_takes_them_back(qtbot, tmp_path) -> None:
    model = small_sam2_model()
    window = open_window(qtbot, tmp_path, model, [sample_images()[0]])
    media = window.controller.media
    project = window.document.project
    boxes = [(10.0, 20.0, 120.0, 140.0), (150.0, 60.0, 260.0, 200.0)]
    ids = []
    for box in boxes:
        obj = AnnotationObject(0, media.id, frames={0: box_only_frame(box, media.height, media.width)})
        window.document.execute(AddObject(obj))
        ids.append(obj.id)
    before = project.clone()
    window.menu_actions["segment_boxes"].trigger()
    assert window.box_segmenter.running
    qtbot.waitUntil(lambda: not window.box_segmenter.running, timeout=SLOW)
    assert "Segmented 2 boxes" in window.statusBar().currentMessage()
    for object_id, box in zip(ids, boxes, strict=True):
        frame = project.object(object_id).frames[0]
        assert not is_box_only(frame) and frame.provenance == Provenance.MODEL
        assert frame.prompts.box == box and frame.model_id == model.info.model_id
    window.navigation.undo()
    assert window.document.project == before
    assert all(is_box_only(project.object(i).frames[0]) for i in ids)
    assert window.last_error == ""
    assert window.box_segmenter.start()  # the boxes are back: it runs again
    qtbot.waitUntil(lambda: not window.box_segmenter.running, timeout=SLOW)
    assert not any(is_box_only(project.object(i).frames[0]) for i in ids)
    assert np.isfinite([project.object(i).frames[0].score for i in ids]).all()


def test_an_import_that_finds_nothing_is_an_error_not_an_empty_step(qtbot, tmp_path) -> None:
    """A DAVIS folder whose frames are nowhere: before, "0 objects" and an empty undo step."""
    from PIL import Image

    from samdesk.ui.main_window import MainWindow
    from samdesk.ui.settings import Settings

    folder = tmp_path / "DAVIS" / "Annotations" / "480p" / "car"
    folder.mkdir(parents=True)
    Image.fromarray(np.ones((24, 40), np.uint8), mode="P").save(folder / "00000.png")
    window = MainWindow(Settings(), settings_path=tmp_path / "s.json")
    window.errors_as_status = True
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.bridge.jobFinished, timeout=SLOW):
        window.files.import_dataset("davis", tmp_path / "DAVIS", tmp_path)
    assert "Nothing was imported" in window.last_error and "car" in window.last_error
    assert not window.document.history.can_undo
