"""The document model: every command undoes and redoes exactly, history is unlimited, events
tell views what changed, and dirty/clean follows saves through undo and redo."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from model_runtime.api import Prompts
from samdesk.document import (
    AddCategory,
    AddMedia,
    AddObject,
    AnnotationObject,
    Batch,
    Change,
    Command,
    Document,
    DocumentEvent,
    EditCategory,
    EditMedia,
    EditObject,
    FrameAnnotation,
    MediaItem,
    MediaKind,
    MediaStatus,
    MoveObject,
    Project,
    Provenance,
    RemoveCategory,
    RemoveMedia,
    RemoveObject,
    SetFrame,
    SetSetting,
    masks,
    merge_objects,
)
from tests.document_factory import make_project, random_mask


def state(project: Project) -> tuple:
    """Everything undo must restore. Id counters are excluded on purpose: ids are never reused,
    so undoing an addition does not hand its id out again."""
    return copy.deepcopy((project.categories, project.media, project.objects, project.settings))


def annotation(seed: int, height: int = 48, width: int = 64) -> FrameAnnotation:
    rng = np.random.default_rng(seed)
    return FrameAnnotation(
        rle=masks.encode(random_mask(rng, height, width)),
        provenance=Provenance.MODEL,
        score=0.5,
        prompts=Prompts(points=[(3.0, 4.0)], labels=[1]),
        model_id="sam1-vit_b",
    )


COMMANDS: dict[str, Callable[[Project], Command]] = {
    "add category": lambda p: AddCategory("bowl", (1, 2, 3)),
    "edit category": lambda p: EditCategory(1, name="mug", color=(9, 9, 9)),
    "edit category name only": lambda p: EditCategory(2, name="dish"),
    "remove category in use": lambda p: RemoveCategory(1),
    "add media": lambda p: AddMedia(MediaItem(0, MediaKind.IMAGE, "/x/new.png", 64, 48)),
    "remove media with objects": lambda p: RemoveMedia(1),
    "edit media": lambda p: EditMedia(2, status=MediaStatus.DONE, path="/moved/clip.mp4", done_frames={1, 2}),
    "add object on top": lambda p: AddObject(AnnotationObject(0, 1, 2, {0: annotation(1)}, name="new")),
    "add object at index": lambda p: AddObject(AnnotationObject(0, 2, None), index=1),
    "remove object": lambda p: RemoveObject(p.objects[2].id),
    "edit object": lambda p: EditObject(1, category_id=None, name="n", visible=False, locked=True),
    "edit object category": lambda p: EditObject(2, category_id=2),
    "move object down": lambda p: MoveObject(p.objects[-1].id, 0),
    "move object up": lambda p: MoveObject(p.objects[0].id, len(p.objects) - 1),
    "set new frame": lambda p: SetFrame(2, 5, annotation(7)),
    "replace frame": lambda p: SetFrame(1, 0, annotation(8)),
    "clear frame": lambda p: SetFrame(1, 0, None),
    "clear absent frame": lambda p: SetFrame(2, 6, None),
    "new setting": lambda p: SetSetting("zoom", 2.0),
    "change setting": lambda p: SetSetting("model", "sam1"),
    "batch": lambda p: Batch(
        [AddCategory("c", (0, 0, 0)), EditObject(3, name="b"), SetFrame(3, 0, annotation(9)), RemoveObject(4)]
    ),
}


NO_OPS = {"clear absent frame"}  # legal, changes nothing, and must still undo/redo cleanly


@pytest.mark.parametrize("name", list(COMMANDS))
def test_do_undo_redo_restores_exactly(tmp_path: Path, name: str) -> None:
    document = Document(make_project(tmp_path))
    before = state(document.project)
    ids_before = dict(document.project.next_ids)
    document.execute(COMMANDS[name](document.project))
    after = state(document.project)
    assert (after == before) == (name in NO_OPS), "every other command must change something"
    ids_after = dict(document.project.next_ids)

    assert document.undo()
    assert state(document.project) == before
    assert all(document.project.next_ids[k] >= ids_before[k] for k in ids_before)
    assert document.redo()
    assert state(document.project) == after
    assert document.project.next_ids == ids_after  # redo reuses the ids it had, allocates none
    assert document.undo()
    assert state(document.project) == before
    assert document.redo()
    assert state(document.project) == after


def test_undo_redo_on_empty_history() -> None:
    document = Document()
    assert document.undo() is False
    assert document.redo() is False
    assert not document.history.can_undo and not document.history.can_redo


def test_commands_do_not_alias_caller_data(tmp_path: Path) -> None:
    """A caller reusing its FrameAnnotation after SetFrame must not change the document."""
    document = Document(make_project(tmp_path))
    mine = annotation(3)
    document.execute(SetFrame(1, 0, mine))
    stored = copy.deepcopy(document.project.object(1).frames[0])
    mine.rle["counts"] = masks.encode(np.ones((48, 64), bool))["counts"]
    mine.score = 0.0
    assert document.project.object(1).frames[0] == stored


# --- long random sequences ---------------------------------------------------------------------


def random_command(project: Project, rng: random.Random) -> Command:
    """A command valid for the current state of ``project``."""
    choices: list[Callable[[], Command]] = [
        lambda: AddCategory(f"c{rng.randint(0, 99)}", (rng.randint(0, 255), 0, 0)),
        lambda: AddMedia(MediaItem(0, MediaKind.VIDEO, f"/m/{rng.random()}.mp4", 64, 48, frame_count=8)),
        lambda: SetSetting(rng.choice("abc"), rng.randint(0, 9)),
    ]
    if project.categories:
        category = rng.choice(project.categories)
        choices += [
            lambda: EditCategory(category.id, name=f"e{rng.randint(0, 9)}"),
            lambda: RemoveCategory(category.id),
        ]
    if project.media:
        media = rng.choice(project.media)
        choices += [
            lambda: AddObject(
                AnnotationObject(0, media.id, rng.choice([None, *[c.id for c in project.categories]])),
                index=rng.choice([None, 0]),
            ),
            lambda: EditMedia(media.id, status=rng.choice(list(MediaStatus)), done_frames={0}),
        ]
        if rng.random() < 0.1:
            choices.append(lambda: RemoveMedia(media.id))
    if project.objects:
        obj = rng.choice(project.objects)
        frame = rng.randrange(project.media_item(obj.media_id).frame_count)
        choices += [
            lambda: SetFrame(obj.id, frame, annotation(rng.randint(0, 5))),
            lambda: SetFrame(obj.id, frame, None),
            lambda: EditObject(obj.id, visible=rng.random() < 0.5, name=f"o{rng.randint(0, 9)}"),
            lambda: MoveObject(obj.id, rng.randrange(len(project.objects))),
            lambda: RemoveObject(obj.id),
            lambda: Batch([EditObject(obj.id, locked=True), SetFrame(obj.id, frame, annotation(1))]),
        ]
    return rng.choice(choices)()


def test_unlimited_undo_across_a_long_random_sequence(tmp_path: Path) -> None:
    rng = random.Random(7)
    document = Document(make_project(tmp_path))
    states = [state(document.project)]  # states[d] = the state at history depth d
    depth = 0
    for _ in range(600):
        roll = rng.random()
        if roll < 0.15 and depth > 0:
            assert document.undo()
            depth -= 1
            assert state(document.project) == states[depth]
        elif roll < 0.25 and depth + 1 < len(states) and document.history.can_redo:
            assert document.redo()
            depth += 1
            assert state(document.project) == states[depth]
        else:
            document.execute(random_command(document.project, rng))
            depth += 1
            del states[depth:]  # the redo branch is gone
            states.append(state(document.project))
    final = state(document.project)
    assert depth > 300
    while document.undo():  # all the way back: nothing is ever dropped from the history
        depth -= 1
        assert state(document.project) == states[depth]
    assert depth == 0
    while document.redo():
        depth += 1
    assert state(document.project) == final


# --- events ------------------------------------------------------------------------------------


def test_events_describe_the_change(tmp_path: Path) -> None:
    document = Document(make_project(tmp_path))
    seen: list[DocumentEvent] = []
    unsubscribe = document.events.subscribe(seen.append)

    document.execute(SetFrame(2, 4, annotation(1)))
    assert seen == [DocumentEvent(Change.MASK_CHANGED, media_id=2, object_id=2, frame=4)]
    seen.clear()
    document.undo()
    assert seen == [DocumentEvent(Change.MASK_CHANGED, media_id=2, object_id=2, frame=4)]
    seen.clear()

    document.execute(RemoveCategory(1))
    users = [o.id for o in document.project.objects if o.name and o.id % 3 == 2]  # objects had category 1
    assert seen[0] == DocumentEvent(Change.CATEGORY_REMOVED, category_id=1)
    assert {e.object_id for e in seen[1:]} == set(users)
    assert all(e.change is Change.OBJECT_CHANGED for e in seen[1:])
    seen.clear()

    document.execute(RemoveMedia(1))
    removed = [e.object_id for e in seen if e.change is Change.OBJECT_REMOVED]
    assert len(removed) == 6 and seen[-1] == DocumentEvent(Change.MEDIA_REMOVED, media_id=1)
    seen.clear()
    document.undo()
    assert seen[0] == DocumentEvent(Change.MEDIA_ADDED, media_id=1)
    assert sorted(e.object_id for e in seen[1:]) == sorted(removed)
    seen.clear()

    document.replace_project(Project())
    assert seen == [DocumentEvent(Change.RESET)]
    unsubscribe()
    document.execute(AddCategory("x", (0, 0, 0)))
    assert len(seen) == 1  # no longer listening


def test_revision_counts_every_change(tmp_path: Path) -> None:
    document = Document(make_project(tmp_path))
    revisions = [document.revision]
    document.execute(SetSetting("a", 1))
    revisions.append(document.revision)
    document.undo()
    revisions.append(document.revision)
    document.redo()
    revisions.append(document.revision)
    assert revisions == sorted(set(revisions))  # strictly increasing: autosave sees every change


# --- dirty / clean -------------------------------------------------------------------------------


def test_dirty_tracking_through_save_undo_redo(tmp_path: Path) -> None:
    document = Document(make_project(tmp_path), tmp_path / "p.samdesk.json")
    assert not document.dirty
    document.execute(SetSetting("a", 1))
    assert document.dirty
    document.undo()
    assert not document.dirty  # back at the saved state
    document.redo()
    document.execute(SetSetting("b", 2))
    document.mark_saved()
    assert not document.dirty
    document.undo()
    assert document.dirty
    document.redo()
    assert not document.dirty

    # Undo below the save point, then do something else: the saved state is unreachable now.
    document.undo()
    document.execute(SetSetting("c", 3))
    assert document.dirty
    document.undo()
    assert document.dirty
    document.mark_saved(tmp_path / "other.samdesk.json")
    assert not document.dirty and document.path == tmp_path / "other.samdesk.json"


def test_replace_project_clean_or_dirty(tmp_path: Path) -> None:
    document = Document()
    document.execute(SetSetting("a", 1))
    document.replace_project(make_project(tmp_path), tmp_path / "p.samdesk.json")
    assert not document.dirty and not document.history.can_undo
    document.replace_project(make_project(tmp_path), tmp_path / "p.samdesk.json", dirty=True)
    assert document.dirty
    document.execute(SetSetting("a", 1))
    document.undo()
    assert document.dirty  # a restored autosave stays dirty until saved


def test_failing_batch_leaves_no_partial_change(tmp_path: Path) -> None:
    document = Document(make_project(tmp_path))
    before = state(document.project)
    seen: list[DocumentEvent] = []
    document.events.subscribe(seen.append)
    batch = Batch([EditObject(1, name="x"), SetFrame(2, 0, annotation(1)), RemoveObject(999)])
    with pytest.raises(KeyError, match="no object 999"):
        document.execute(batch)
    assert state(document.project) == before
    assert not document.history.can_undo and not document.dirty and seen == []


def test_merge_objects(tmp_path: Path) -> None:
    document = Document(make_project(tmp_path))
    project = document.project
    video_objects = [o for o in project.objects if o.media_id == 2][:3]
    ids = [o.id for o in video_objects]
    expected_frames = {f for o in video_objects for f in o.frames}
    expected = {
        f: np.logical_or.reduce([masks.decode(o.frames[f].rle) for o in video_objects if f in o.frames])
        for f in expected_frames
    }
    order = [o.id for o in project.objects if o.id not in ids[1:]]
    before = state(project)

    originals = copy.deepcopy(video_objects)
    document.execute(merge_objects(project, ids))
    kept = project.object(ids[0])
    assert [o.id for o in project.objects] == order
    assert set(kept.frames) == expected_frames
    for frame, mask in expected.items():
        assert np.array_equal(masks.decode(kept.frames[frame].rle), mask)
    for frame in expected_frames:
        present = [o.frames[frame] for o in originals if frame in o.frames]
        if len(present) == 1:  # carried over as it was
            assert kept.frames[frame] == present[0]
            continue
        tracked = all(a.provenance is Provenance.PROPAGATED for a in present)
        assert kept.frames[frame].provenance is (Provenance.PROPAGATED if tracked else Provenance.EDITED)
        assert kept.frames[frame].score is None
    shared = [f for f in expected_frames if sum(f in o.frames for o in video_objects) > 1]
    assert shared
    assert document.history.undo_text == "merge objects"
    document.undo()
    assert state(project) == before

    with pytest.raises(ValueError, match="different media"):
        merge_objects(project, [1, 2])
    with pytest.raises(ValueError):
        merge_objects(project, [1])
