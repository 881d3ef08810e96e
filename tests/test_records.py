"""The project's indexed record lists: lookups by id and by media stay right through every edit."""

from __future__ import annotations

import copy
import random

import pytest

from samdesk.document.model import AnnotationObject, Category, Project
from samdesk.document.records import ObjectRecords, Records


def objects(*pairs: tuple[int, int]) -> list[AnnotationObject]:
    return [AnnotationObject(object_id, media_id) for object_id, media_id in pairs]


def check(records: ObjectRecords, media_ids: range = range(4)) -> None:
    """Every index agrees with a plain scan of the list."""
    for obj in records:
        assert records.get(obj.id) is obj
    for media_id in media_ids:
        assert records.of_media(media_id) == [o for o in records if o.media_id == media_id]


def test_lookups_follow_every_kind_of_edit() -> None:
    records = ObjectRecords(objects((1, 0), (2, 1), (3, 0)))
    check(records)
    records.append(AnnotationObject(4, 1))
    records.insert(0, AnnotationObject(5, 1))  # below everything: the media's order changes
    check(records)
    assert [o.id for o in records.of_media(1)] == [5, 2, 4]
    moved = records.pop(records.position(2))
    records.insert(len(records) - 1, moved)
    check(records)
    del records[-2:]
    check(records)
    assert records.get(4) is None and records.get(2) is None
    records.remove_ids([1, 99])
    check(records)
    records[0] = AnnotationObject(6, 2)
    check(records)
    assert [o.id for o in records] == [6, 3]


def test_random_edits_against_a_plain_list() -> None:
    rng = random.Random(0)
    records: ObjectRecords = ObjectRecords()
    mirror: list[AnnotationObject] = []
    next_id = 1
    for _ in range(2000):
        action = rng.random()
        if action < 0.5 or not mirror:
            obj = AnnotationObject(next_id, rng.randrange(4))
            next_id += 1
            index = rng.randrange(len(mirror) + 1)
            records.insert(index, obj)
            mirror.insert(index, obj)
        elif action < 0.8:
            index = rng.randrange(len(mirror))
            del records[index]
            del mirror[index]
        else:
            start = rng.randrange(len(mirror))
            del records[start:]
            del mirror[start:]
        assert records == mirror
        if rng.random() < 0.1:
            check(records)
    check(records)


def test_an_id_is_held_once() -> None:
    records = Records([Category(1, "a", (0, 0, 0))])
    with pytest.raises(ValueError, match="id 1 is already in use"):
        records.append(Category(1, "b", (0, 0, 0)))
    with pytest.raises(ValueError, match="id 2 is used twice"):
        Records([Category(2, "a", (0, 0, 0)), Category(2, "b", (0, 0, 0))])
    assert [c.name for c in records] == ["a"]


def test_projects_wrap_plain_lists_and_copies_have_their_own_index() -> None:
    project = Project(objects=objects((1, 0), (2, 1)), categories=[Category(1, "cup", (1, 2, 3))])
    assert isinstance(project.objects, ObjectRecords) and isinstance(project.categories, Records)
    assert project.objects == objects((1, 0), (2, 1)) and project.objects != []
    project.objects = objects((3, 0))
    assert project.object(3).media_id == 0 and project.objects_of(1) == []
    with pytest.raises(KeyError, match="no object 1"):
        project.object(1)
    clone = copy.deepcopy(project)
    assert clone == project
    assert clone.object(3) is clone.objects[0] and clone.object(3) is not project.object(3)
    assert clone.category(1) is clone.categories[0]


class _CountedObject(AnnotationObject):
    """An object that counts how often its id is read: how many records a lookup looks at."""

    reads = 0

    def __getattribute__(self, name: str):
        if name == "id":
            _CountedObject.reads += 1
        return super().__getattribute__(name)


def test_adding_looking_up_and_undoing_n_objects_reads_each_a_bounded_number_of_times() -> None:
    """Issue 14, bug 5: every lookup scanned the lists, so N objects cost O(N²) reads."""
    from samdesk.document import AddObject, Batch, Document

    count = 2000
    document = Document(Project(next_ids={"category": 1, "media": 1, "object": 1}))
    _CountedObject.reads = 0
    document.execute(Batch([AddObject(_CountedObject(0, i % 2)) for i in range(count)]))
    ids = [o.id for o in document.project.objects]
    for object_id in ids:
        document.project.object(object_id)
    for _ in range(count // 100):
        document.project.objects_of(1)
    document.undo()
    assert document.project.objects == []
    assert _CountedObject.reads < 20 * count  # a scan per lookup: ~count² / 2
