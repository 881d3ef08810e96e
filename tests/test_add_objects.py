"""AddObjects: many objects in one undo step (find-all "accept all", segment everything)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from model_runtime.api import Prompts
from samdesk.document import (
    AddObjects,
    Change,
    Document,
    MediaItem,
    MediaKind,
    NewObject,
    Provenance,
    masks,
)
from samdesk.document.model import AnnotationObject, Category, FrameAnnotation, Project

H, W = 12, 16


def square(x: int, y: int) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y : y + 3, x : x + 3] = True
    return mask


def document() -> Document:
    project = Project(
        categories=[Category(1, "cup", (255, 0, 0))],
        media=[
            MediaItem(1, MediaKind.IMAGE, "/m/a.jpg", W, H),
            MediaItem(2, MediaKind.VIDEO, "/m/v.mp4", W, H, frame_count=5),
        ],
        objects=[AnnotationObject(1, 1, 1, {0: FrameAnnotation(masks.encode(square(0, 0)))})],
        next_ids={"category": 2, "media": 3, "object": 2},
    )
    return Document(project)


def items() -> list[NewObject]:
    clicked = Prompts(points=[(5, 5)], labels=[1], mask_input=np.zeros((256, 256), np.float32))
    return [
        NewObject.from_mask(1, square(4, 4), category_id=1, score=0.9, prompts=clicked, model_id="m"),
        NewObject(2, masks.encode(square(8, 2)), frame=3, provenance=Provenance.IMPORTED),
        NewObject.from_mask(1, square(10, 6), prompts=Prompts(text="cup")),
    ]


def test_adds_every_object_on_top_in_one_undo_step() -> None:
    doc = document()
    before = copy.deepcopy(doc.project.objects)
    command = AddObjects(items())
    assert command.object_ids == []
    doc.execute(command)
    added = doc.project.objects[1:]
    assert command.object_ids == [o.id for o in added]
    assert [(o.id, o.media_id, o.category_id) for o in added] == [(2, 1, 1), (3, 2, None), (4, 1, None)]
    first = added[0].frames[0]
    assert (first.provenance, first.score, first.model_id) == (Provenance.MODEL, 0.9, "m")
    assert first.prompts == Prompts(points=[(5, 5)], labels=[1]) and first.prompts.mask_input is None
    assert np.array_equal(masks.decode(first.rle), square(4, 4))
    assert list(added[1].frames) == [3] and added[1].frames[3].provenance is Provenance.IMPORTED
    assert [o.id for o in doc.project.objects_of(1)] == [1, 2, 4]
    assert doc.history.undo_text == "add objects"
    doc.undo()
    assert doc.project.objects == before and not doc.history.can_undo
    doc.redo()
    assert doc.project.objects[1:] == added and doc.project.object(3) is added[1]  # same records


def test_batch_listeners_get_one_call_per_change() -> None:
    doc = document()
    calls: list[tuple] = []
    single: list = []
    doc.events.subscribe_batch(lambda events: calls.append(tuple(events)))
    doc.events.subscribe(single.append)
    doc.execute(AddObjects(items()))
    assert len(calls) == 1 and [e.change for e in calls[0]] == [Change.OBJECT_ADDED] * 3
    assert [e.object_id for e in calls[0]] == [2, 3, 4] and calls[0] == tuple(single)
    doc.undo()
    assert len(calls) == 2 and [e.object_id for e in calls[1]] == [4, 3, 2]
    assert all(e.change is Change.OBJECT_REMOVED for e in calls[1])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (NewObject.from_mask(9, square(0, 0)), "object 2 to add: the project has no media 9"),
        (NewObject.from_mask(2, square(0, 0), frame=5), "frame 5 is not in v.mp4 (5 frames)"),
        (NewObject.from_mask(1, np.zeros((4, 4), bool)), "the mask is 4×4 but a.jpg is 16×12"),
        (NewObject.from_mask(1, square(0, 0), category_id=7), "no category 7"),
    ],
)
def test_an_item_that_does_not_fit_changes_nothing(bad: NewObject, message: str) -> None:
    doc = document()
    before = copy.deepcopy(doc.project)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        doc.execute(AddObjects([items()[0], bad]))
    assert doc.project == before and not doc.history.can_undo
