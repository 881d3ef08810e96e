"""Segment boxes: box-only objects (imported detections) get the masks the model gives their boxes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from model_runtime.media import read_image
from samdesk.cli import main
from samdesk.document import Document, masks
from samdesk.document.boxes import is_box_only
from samdesk.document.model import Provenance
from samdesk.document.persistence import load_project
from samdesk.session.segment_boxes import BoxMasks, apply_box_masks, box_tasks
from tests.tiny_models import small_sam2_model

DATA = Path(__file__).parent / "data" / "datasets"


@pytest.fixture
def boxes_project(tmp_path: Path) -> Path:
    """A project imported from a detection file: labelme2coco's rectangles (box-only) and polygons,
    and datumaro's YOLO detection boxes on a second image."""
    project = tmp_path / "p.samdesk.json"
    shutil.copytree(DATA / "images", tmp_path / "images")
    coco = DATA / "labelme2coco" / "dataset.json"
    assert main(["import", str(coco), "--format", "coco", "--images", str(tmp_path / "images"),
                 "--project", str(project), "--quiet"]) == 0  # fmt: skip
    shutil.copytree(DATA / "datumaro_yolo", tmp_path / "yolo")
    assert (
        main(["import", str(tmp_path / "yolo"), "--format", "yolo-seg", "--project", str(project), "--quiet"])
        == 0
    )
    return project


def _counting_model(calls: list[int]):
    model = small_sam2_model()
    batch = model.predict_batch

    def predict_batch(embedding, prompts, multimask=True):
        calls.append(len(prompts))
        return batch(embedding, prompts, multimask=multimask)

    model.predict_batch = predict_batch  # type: ignore[method-assign]
    return model


def test_cli_gives_every_box_the_models_mask_in_one_batch_per_image(boxes_project: Path) -> None:
    from samdesk.subcommands import segment_boxes

    before = load_project(boxes_project).project
    boxes = {(o.id, f): a.prompts.box for o in before.objects for f, a in o.frames.items() if is_box_only(a)}
    assert len(boxes) == 3  # the person and bag rectangles on a.png, the person box on a.png of yolo
    calls: list[int] = []
    args = _args(boxes_project)
    assert segment_boxes.run(args, loader=lambda source, device: _counting_model(calls)) == 0
    assert sorted(calls) == [1, 2]  # one decoder batch per image, every box of the image in it
    after = load_project(boxes_project).project
    model = small_sam2_model()
    for (object_id, frame), box in boxes.items():
        annotation = after.object(object_id).frames[frame]
        assert not is_box_only(annotation) and annotation.provenance == Provenance.MODEL
        assert annotation.prompts.box == box and annotation.model_id == model.info.model_id
        image = read_image(after.media_item(after.object(object_id).media_id).path)
        prediction = model.predict(
            model.encode_image(image), box=np.asarray(box, np.float32), multimask=False
        )
        assert np.array_equal(masks.decode(annotation.rle), prediction.masks[0])
        assert annotation.score == pytest.approx(float(prediction.scores[0]))
    # Objects with masks are untouched.
    for obj in before.objects:
        for f, a in obj.frames.items():
            if not is_box_only(a):
                assert after.object(obj.id).frames[f] == a
    # Nothing left: a second run has nothing to do.
    assert segment_boxes.run(args, loader=lambda source, device: _counting_model(calls)) == 0
    assert sorted(calls) == [1, 2]


def _args(project: Path):
    import argparse

    return argparse.Namespace(project=project, model="tiny", device="cpu", cache_dir=None, quiet=True)


def test_the_answers_are_one_undo_step_and_leave_frames_the_user_changed(boxes_project: Path) -> None:
    from samdesk.document.commands import SetFrame
    from samdesk.document.model import FrameAnnotation

    document = Document(load_project(boxes_project).project)
    tasks = box_tasks(document.project)
    results = []
    for task in tasks:
        result = BoxMasks(task)
        for object_id, box in task.boxes:
            rle = masks.encode(np.ones((48, 64), bool))
            result.frames.append(
                (object_id, FrameAnnotation(rle, Provenance.MODEL, prompts=_box_prompts(box)))
            )
        results.append(result)
    edited_id = tasks[0].boxes[0][0]
    drawn = FrameAnnotation(masks.encode(np.eye(48, 64, dtype=bool)), Provenance.MANUAL)
    document.execute(SetFrame(edited_id, 0, drawn))  # the user drew this one meanwhile
    before = document.project.clone()
    batch = apply_box_masks(document.project, results)
    assert batch is not None and len(batch.commands) == 2
    document.execute(batch)
    assert document.project.object(edited_id).frames[0] == drawn
    assert not any(is_box_only(a) for o in document.project.objects for a in o.frames.values())
    document.undo()
    assert document.project == before


def _box_prompts(box):
    from model_runtime.prompts import Prompts

    return Prompts(box=box)


def test_a_model_that_cannot_take_boxes_is_refused_and_nothing_changes(boxes_project: Path, capsys) -> None:
    from samdesk.subcommands import segment_boxes

    before = boxes_project.read_bytes()

    def no_model(source, device):
        raise RuntimeError("no such model file")

    assert segment_boxes.run(_args(boxes_project), out=None, loader=no_model) == 2
    assert "cannot use model tiny: no such model file" in capsys.readouterr().err
    assert boxes_project.read_bytes() == before
