"""Object attributes (occluded, truncated, a note, imported values) and image tags: stored in
the project file compatibly (older files still open), changed by undoable commands (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from samdesk.document import Document, SetAttributes, SetTags
from samdesk.document.attributes import NOTE, OCCLUDED, TRUNCATED, describe, parse_tags
from samdesk.document.persistence import ProjectFileError, load_project, save_project
from tests.document_factory import make_project


def test_set_attributes_is_one_undoable_step_over_several_objects(tmp_path: Path) -> None:
    document = Document(make_project(tmp_path, n_objects=3))
    ids = [o.id for o in document.project.objects][:2]
    document.execute(SetAttributes(ids, {OCCLUDED: True, NOTE: "behind the door"}))
    for object_id in ids:
        assert document.project.object(object_id).attributes == {OCCLUDED: True, NOTE: "behind the door"}
    document.execute(SetAttributes(ids[:1], {OCCLUDED: False, TRUNCATED: True}))
    assert document.project.object(ids[0]).attributes == {NOTE: "behind the door", TRUNCATED: True}
    document.undo()
    assert document.project.object(ids[0]).attributes == {OCCLUDED: True, NOTE: "behind the door"}
    document.undo()
    assert all(not o.attributes for o in document.project.objects)
    document.redo()
    assert document.project.object(ids[1]).attributes[OCCLUDED] is True


def test_bad_attribute_values_are_refused_before_anything_changes(tmp_path: Path) -> None:
    document = Document(make_project(tmp_path, n_objects=2))
    ids = [o.id for o in document.project.objects]
    for bad in ({"depth": float("nan")}, {"": True}, {"x": [1, 2]}):
        with pytest.raises(ValueError):
            document.execute(SetAttributes(ids, bad))
    assert all(not o.attributes for o in document.project.objects)
    assert not document.history.can_undo


def test_tags_are_cleaned_and_undoable(tmp_path: Path) -> None:
    document = Document(make_project(tmp_path))
    media_id = document.project.media[0].id
    document.execute(SetTags(media_id, parse_tags(" night,  blurry ,night,, no  people")))
    assert document.project.media_item(media_id).tags == ["night", "blurry", "no people"]
    document.undo()
    assert document.project.media_item(media_id).tags == []


def test_attributes_and_tags_round_trip_through_the_file(tmp_path: Path) -> None:
    project = make_project(tmp_path, n_objects=2)
    project.objects[0].attributes = {OCCLUDED: True, NOTE: "ä note", "depth": 3, "score": 0.5}
    project.media[0].tags = ["night", "blurry"]
    path = tmp_path / "p.samdesk.json"
    save_project(project, path)
    data = json.loads(path.read_text("utf-8"))
    assert data["objects"][0]["attributes"] == {OCCLUDED: True, NOTE: "ä note", "depth": 3, "score": 0.5}
    assert "attributes" not in data["objects"][1]  # left out when empty: files stay as they were
    assert data["media"][0]["tags"] == ["night", "blurry"]
    assert "tags" not in data["media"][1]
    loaded = load_project(path).project
    assert loaded == project


def test_files_without_attributes_or_tags_still_open(tmp_path: Path) -> None:
    old = Path(__file__).parent / "data" / "v1" / "project.samdesk.json"
    data = json.loads(old.read_text("utf-8"))
    assert all("attributes" not in o for o in data["objects"])
    assert all("tags" not in m for m in data["media"])
    copy = tmp_path / "project.samdesk.json"
    copy.write_text(old.read_text("utf-8"), "utf-8")
    project = load_project(copy).project
    assert all(o.attributes == {} for o in project.objects)
    assert all(m.tags == [] for m in project.media)


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("attributes", {"occluded": [1]}, "objects[0].attributes.occluded"),
        ("attributes", "occluded", "objects[0].attributes"),
        ("tags", ["a", "a"], "media[0].tags"),
        ("tags", [""], "media[0].tags"),
        ("tags", [3], "media[0].tags"),
    ],
)
def test_malformed_attributes_or_tags_are_refused_naming_the_place(
    tmp_path: Path, field: str, value: object, where: str
) -> None:
    project = make_project(tmp_path, n_objects=1)
    path = tmp_path / "p.samdesk.json"
    save_project(project, path)
    data = json.loads(path.read_text("utf-8"))
    (data["objects"][0] if field == "attributes" else data["media"][0])[field] = value
    path.write_text(json.dumps(data), "utf-8")
    with pytest.raises(ProjectFileError, match=where.replace("[", r"\[").replace("]", r"\]")):
        load_project(path)


def test_describe_lists_flags_values_and_the_note() -> None:
    text = describe({OCCLUDED: True, TRUNCATED: False, "depth": 3, NOTE: "left half"})
    assert text == "occluded, depth=3, “left half”"
