"""Project files: round trip, atomic save, strict loading with clear errors, missing media."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from model_runtime.api import Prompts
from samdesk.document import Document, masks
from samdesk.document.model import SCHEMA_VERSION, FrameAnnotation, Project, Provenance
from samdesk.document.persistence import (
    ProjectChangedOnDisk,
    ProjectFileError,
    changed_on_disk,
    load_project,
    save_project,
)
from samdesk.document.relocate import find_media_in_folder, relocate_command
from tests.document_factory import make_project


def _save_and_read_json(project: Project, path: Path) -> dict:
    save_project(project, path)
    return json.loads(path.read_text("utf-8"))


def test_round_trip_is_exact(tmp_path: Path) -> None:
    project = make_project(tmp_path, n_objects=30)
    path = tmp_path / "p.samdesk.json"
    save_project(project, path)
    result = load_project(path)
    assert result.missing_media == []
    assert result.repairs == []
    assert result.project == project
    for before, after in zip(project.objects, result.project.objects, strict=True):
        for index, frame in before.frames.items():
            assert np.array_equal(masks.decode(frame.rle), masks.decode(after.frames[index].rle))
    # Saving what was loaded gives the same bytes: nothing drifts across save cycles.
    again = tmp_path / "again.samdesk.json"
    save_project(result.project, again)
    assert again.read_bytes() == path.read_bytes()


def test_file_header_and_relative_paths(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj")
    outside = tmp_path / "elsewhere" / "far.jpg"
    outside.parent.mkdir()
    outside.write_bytes(b"x")
    project.media[1].path = str(outside)
    data = _save_and_read_json(project, tmp_path / "proj" / "p.samdesk.json")
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["app"]["name"] == "samdesk"
    assert data["media"][0]["path"] == "images/photo.jpg"  # under the project folder: relative
    assert data["media"][1]["path"] == str(outside)  # elsewhere: absolute
    assert isinstance(data["objects"][0]["frames"][0]["rle"]["counts"], str)


def test_moving_the_project_folder_keeps_media(tmp_path: Path) -> None:
    project = make_project(tmp_path / "a")
    save_project(project, tmp_path / "a" / "p.samdesk.json")
    shutil.move(tmp_path / "a", tmp_path / "b")
    result = load_project(tmp_path / "b" / "p.samdesk.json")
    assert result.missing_media == []
    assert result.project.media[0].path == str(tmp_path / "b" / "images" / "photo.jpg")


def test_save_replaces_without_leaving_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "p.samdesk.json"
    save_project(make_project(tmp_path, seed=1), path)
    os.chmod(path, 0o640)
    second = make_project(tmp_path, seed=2)
    save_project(second, path)
    assert load_project(path).project == second
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "images", "p.samdesk.json"]
    assert path.stat().st_mode & 0o777 == 0o640  # the user's permissions survive a save


def test_unencodable_setting_fails_without_touching_the_file(tmp_path: Path) -> None:
    path = tmp_path / "p.samdesk.json"
    project = make_project(tmp_path)
    save_project(project, path)
    before = path.read_bytes()
    project.settings["bad"] = object()
    with pytest.raises(ProjectFileError, match="cannot save"):
        save_project(project, path)
    assert path.read_bytes() == before


def test_nan_score_is_saved_as_unknown(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    project.objects[1].frames[0].score = float("nan")
    save_project(project, tmp_path / "p.samdesk.json")
    assert load_project(tmp_path / "p.samdesk.json").project.objects[1].frames[0].score is None


def test_prompts_are_stored_without_mask_input_and_with_several_phrases(tmp_path: Path) -> None:
    project = make_project(tmp_path, n_objects=2)
    prompts = Prompts(
        points=[(1.5, 2.0)], labels=[0], box=(0, 1, 30, 40), text=("car", "person"),
        exemplars=[((1, 2, 3, 4), False)], mask_input=np.ones((256, 256), np.float32),
    )
    frame = FrameAnnotation(masks.encode(np.ones((48, 64), bool)), Provenance.MODEL, 0.5, prompts, "m")
    assert frame.prompts.mask_input is None  # the document never holds the refinement logits
    project.objects[0].frames[0] = frame
    path = tmp_path / "p.samdesk.json"
    stored = _save_and_read_json(project, path)["objects"][0]["frames"][0]["prompts"]
    assert stored == {
        "points": [[1.5, 2.0]], "labels": [0], "box": [0.0, 1.0, 30.0, 40.0],
        "exemplars": [{"box": [1.0, 2.0, 3.0, 4.0], "positive": False}], "text": ["car", "person"],
    }
    loaded = load_project(path).project.objects[0].frames[0].prompts
    assert loaded == prompts and isinstance(loaded, Prompts) and loaded.text == ("car", "person")


def test_frames_without_prompts_store_none(tmp_path: Path) -> None:
    project = make_project(tmp_path, n_objects=3)  # object 3 has empty prompts
    data = _save_and_read_json(project, tmp_path / "p.samdesk.json")
    assert "prompts" not in data["objects"][2]["frames"][0]
    assert load_project(tmp_path / "p.samdesk.json").project.objects[2].frames[0].prompts == Prompts()


# tests/data/v1/project.samdesk.json was written by samdesk at commit 257dce0 (format version 1,
# its own mutable Prompts class) from make_project(folder, seed=3, n_objects=6, image_size=(12, 16));
# its media files were left out on purpose.
_V1_FILE = Path(__file__).parent / "data" / "v1" / "project.samdesk.json"


def test_a_version_1_file_opens_as_the_same_project(tmp_path: Path) -> None:
    assert json.loads(_V1_FILE.read_text("utf-8"))["schema_version"] == 1
    result = load_project(_V1_FILE)
    expected = make_project(tmp_path, seed=3, n_objects=6, image_size=(12, 16), tracker_fields=False)
    for item in expected.media:  # same layout, another folder
        item.path = str(_V1_FILE.parent / Path(item.path).relative_to(tmp_path))
    assert result.project == expected
    assert [m.id for m in result.missing_media] == [1, 2] and result.repairs == []
    exemplars = result.project.objects[1].frames[0].prompts
    assert isinstance(exemplars, Prompts) and exemplars.text == "red cup" and len(exemplars.exemplars) == 2
    # Saved again, it is a current-version file that loads to the same project.
    again = tmp_path / "again.samdesk.json"
    assert _save_and_read_json(result.project, again)["schema_version"] == SCHEMA_VERSION == 2
    assert load_project(again).project == result.project


# --- loading errors ---------------------------------------------------------------------------


def _valid_json(tmp_path: Path) -> dict:
    return _save_and_read_json(make_project(tmp_path), tmp_path / "valid.samdesk.json")


def _expect_error(path: Path, content: bytes | str | dict, *fragments: str) -> ProjectFileError:
    if isinstance(content, dict):
        content = json.dumps(content)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    with pytest.raises(ProjectFileError) as info:
        load_project(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before  # never written on failure
    return info.value


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError, match="no such file"):
        load_project(tmp_path / "nope.samdesk.json")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError, match="folder"):
        load_project(tmp_path)


def test_not_json_and_truncated(tmp_path: Path) -> None:
    path = tmp_path / "p.samdesk.json"
    _expect_error(path, b"", "empty")
    _expect_error(path, b"\x89PNG\r\n\x1a\n\xff\xfe", "not a text file")
    _expect_error(path, "hello", "not valid JSON")
    full = json.dumps(_valid_json(tmp_path))
    _expect_error(path, full[: len(full) // 2], "truncated")
    _expect_error(path, "[" * 100_000, "JSON")


def test_wrong_top_level_type(tmp_path: Path) -> None:
    _expect_error(tmp_path / "p.samdesk.json", "[1, 2]", "must be a JSON object", "a list")


def test_newer_schema_version(tmp_path: Path) -> None:
    data = _valid_json(tmp_path)
    data["schema_version"] = SCHEMA_VERSION + 1
    data["objects"] = "whatever the future holds"
    _expect_error(tmp_path / "p.samdesk.json", data, "saved by a newer samdesk")


_RLE_10x10 = masks.encode(np.ones((10, 10), dtype=bool))


@pytest.mark.parametrize(
    ("mutate", "fragments"),
    [
        (lambda d: d.pop("schema_version"), ["missing field 'schema_version'"]),
        (lambda d: d.update(format="something-else"), ["not a samdesk project"]),
        (lambda d: d["media"][0].pop("width"), ["media[0]", "missing field 'width'"]),
        (lambda d: d["media"][0].update(width="64"), ["media[0].width", "must be an integer"]),
        (lambda d: d["media"][0].update(kind="audio"), ["media[0].kind", "image, video"]),
        (lambda d: d["categories"][0].update(color=[1, 2]), ["categories[0].color"]),
        (lambda d: d["objects"][0].update(visible="yes"), ["objects[0].visible", "true or false"]),
        (lambda d: d["objects"][0]["frames"][0]["rle"].update(counts="zz"), ["frames[0].rle", "RLE"]),
        (lambda d: d["objects"][0]["frames"][0]["rle"].update(counts=[1, 2]), ["RLE"]),
        (lambda d: d["objects"][0]["frames"][0].update(rle=_RLE_10x10), ["mask on frame 0 is 10x10"]),
        (lambda d: d["objects"][0]["frames"][0]["prompts"].update(labels=[1]), ["2 points but 1 labels"]),
        (lambda d: d["objects"][0]["frames"][0]["prompts"].update(text=["a", 2]), ["prompts.text", "phrase"]),
        (lambda d: d["objects"][0]["frames"][0]["prompts"].update(box=[1, 2]), ["prompts.box"]),
        (lambda d: d["objects"][0].update(media_id=99), ["refers to media 99"]),
        (lambda d: d["objects"][1].update(category_id=42), ["refers to category 42"]),
        (lambda d: d["objects"][1].update(id=d["objects"][0]["id"]), ["two object entries have id 1"]),
        (lambda d: d["media"][1].update(id=1), ["two media entries have id 1"]),
        (lambda d: d["categories"][1].update(id=1), ["two category entries have id 1"]),
        (lambda d: d["objects"][1]["frames"][0].update(frame=50), ["frame 50", "9 frames"]),
        (lambda d: d["media"][0].update(frame_count=3), ["impossible for image media"]),
        (lambda d: d["media"][1].update(done_frames=[9]), ["done_frames"]),
        (lambda d: d["objects"][0]["frames"][0].update(score="__1e400__"), ["out of range"]),
        (lambda d: d["objects"][3]["absent"][0].update(frame=50), ["absent on frame 50", "9 frames"]),
        (lambda d: d["objects"][3]["absent"].append(d["objects"][3]["absent"][0]), ["absent[", "twice"]),
        (lambda d: d["objects"][3]["absent"][0].update(object_score="low"), ["absent[0].object_score"]),
        (lambda d: d["objects"][3]["absent"][1].update(tracked_from={"frame": 1}), ["'mask'"]),
        (lambda d: d["objects"][3]["absent"][1].update(tracked_from={"frame": -1, "mask": "ab"}),
         ["absent[1].tracked_from.frame"]),
    ],
)
def test_invalid_content_is_named(tmp_path: Path, mutate, fragments: list[str]) -> None:
    data = _valid_json(tmp_path)
    mutate(data)
    text = json.dumps(data).replace('"__1e400__"', "1e400")  # json.dumps would write Infinity
    _expect_error(tmp_path / "p.samdesk.json", text, *fragments)


def test_nan_literal_is_rejected(tmp_path: Path) -> None:
    text = json.dumps(_valid_json(tmp_path)).replace('"fps": 29.97', '"fps": NaN')
    assert "NaN" in text
    _expect_error(tmp_path / "p.samdesk.json", text, "NaN")


def test_id_counter_behind_ids_is_repaired(tmp_path: Path) -> None:
    data = _valid_json(tmp_path)
    data["next_ids"]["object"] = 2
    path = tmp_path / "p.samdesk.json"
    path.write_text(json.dumps(data))
    result = load_project(path)
    assert result.project.next_ids["object"] == len(result.project.objects) + 1
    assert result.repairs and "object" in result.repairs[0]


# --- missing media and relocation ------------------------------------------------------------------


def test_missing_media_is_reported_not_dropped(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj")
    path = tmp_path / "proj" / "p.samdesk.json"
    save_project(project, path)
    (tmp_path / "proj" / "clip.mp4").unlink()
    result = load_project(path)
    assert [m.id for m in result.missing_media] == [2]
    assert result.project == project  # the media item and its objects are all still there


def test_relocate_by_name_and_by_content(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj")
    image, video = project.media
    image.content_hash = masks_hash(Path(image.path))
    video.content_hash = masks_hash(Path(video.path))
    path = tmp_path / "proj" / "p.samdesk.json"
    save_project(project, path)
    moved = tmp_path / "moved" / "deep"
    moved.mkdir(parents=True)
    shutil.move(image.path, moved / "photo.jpg")  # same name
    shutil.move(video.path, moved / "renamed.mp4")  # renamed: found by content
    (moved / "clip.mp4").write_bytes(b"a different clip with the old name")  # same name, wrong content
    result = load_project(path)
    assert {m.id for m in result.missing_media} == {1, 2}

    found = find_media_in_folder(result.missing_media, tmp_path / "moved")
    assert found == {1: str(moved / "photo.jpg"), 2: str(moved / "renamed.mp4")}
    assert find_media_in_folder(result.missing_media, tmp_path / "moved", by_content=False) == {
        1: str(moved / "photo.jpg")
    }

    document = Document(result.project, path)
    document.execute(relocate_command(found))
    save_project(document.project, path)
    assert load_project(path).missing_media == []
    document.undo()
    assert document.project.media[1].path == video.path


def masks_hash(path: Path) -> str:
    from samdesk.document.model import file_content_hash

    return file_content_hash(path)


@pytest.mark.parametrize(
    ("break_it", "fragment"),
    [
        (lambda p: p.objects[0].frames.update({0: _frame_of_size(10, 10)}), "is 10x10"),
        (lambda p: p.objects[1].frames.update({9: p.objects[1].frames[0]}), "frame 9"),
        (lambda p: setattr(p.objects[1], "category_id", 77), "category 77"),
        (lambda p: setattr(p.objects[1], "media_id", 5), "media 5"),
        (lambda p: setattr(p.objects[1], "id", 1), "two object entries"),
    ],
)
def test_inconsistent_project_is_not_saved(tmp_path: Path, break_it, fragment: str) -> None:
    """A file that could not be loaded again must never replace a good one."""
    path = tmp_path / "p.samdesk.json"
    project = make_project(tmp_path)
    save_project(project, path)
    before = path.read_bytes()
    break_it(project)
    with pytest.raises(ProjectFileError, match=f"cannot save.*{fragment}"):
        save_project(project, path)
    assert path.read_bytes() == before


def _frame_of_size(height: int, width: int):
    from samdesk.document.model import FrameAnnotation

    return FrameAnnotation(rle=masks.encode(np.zeros((height, width), dtype=bool)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_round_trip_after_random_editing(tmp_path: Path, seed: int) -> None:
    """Whatever state the commands can produce saves and loads back exactly."""
    import random

    from tests.test_document import random_command

    rng = random.Random(seed)
    document = Document(make_project(tmp_path))
    for _ in range(150):
        document.execute(random_command(document.project, rng))
    path = tmp_path / "edited.samdesk.json"
    save_project(document.project, path)
    assert load_project(path).project == document.project


def test_a_save_never_overwrites_a_file_changed_on_disk_unasked(tmp_path: Path) -> None:
    path = tmp_path / "p.samdesk.json"
    save_project(make_project(tmp_path, n_objects=3), path)
    loaded = load_project(path)
    assert loaded.stamp is not None

    # Only touched, or rewritten with the same bytes: no change.
    os.utime(path, (1, 1))
    path.write_bytes(path.read_bytes())
    stamp = save_project(loaded.project, path, expected=loaded.stamp)
    assert not changed_on_disk(path, stamp)

    # Another window saves its own version: ours must ask first.
    other = load_project(path).project
    other.objects[0].name = "the other window's work"
    save_project(other, path)
    theirs = path.read_bytes()
    with pytest.raises(ProjectChangedOnDisk, match="changed on disk since it was opened"):
        save_project(loaded.project, path, expected=stamp)
    assert path.read_bytes() == theirs
    save_project(loaded.project, path)  # the user said overwrite
    assert load_project(path).project == loaded.project

    path.unlink()  # deleted meanwhile: saving overwrites nobody's work
    save_project(loaded.project, path, expected=stamp)


def test_the_stamp_of_a_save_is_the_next_saves_reference(tmp_path: Path) -> None:
    path = tmp_path / "p.samdesk.json"
    project = make_project(tmp_path, n_objects=2)
    stamp = save_project(project, path)
    for name in ("a", "b", "c"):  # saves within one clock tick still compare by content
        project.objects[0].name = name
        stamp = save_project(project, path, expected=stamp)
    assert stamp == load_project(path).stamp
