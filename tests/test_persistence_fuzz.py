"""Property-based fuzzing of the project loader: any input gives a Project or a ProjectFileError.

Never another exception, never a hang (the pytest timeout guards the latter), and whatever loads
must save and load again to the same project.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from samdesk.document.persistence import ProjectFileError, load_project, save_project
from tests.document_factory import make_project

FUZZ_SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["image", "video", "manual", "model", "done", "", "0", "PP0", "samdesk-project"])
)
json_values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "base.samdesk.json"
    save_project(make_project(folder, n_objects=4, image_size=(6, 5)), path)
    return folder, json.loads(path.read_text("utf-8"))


def _check(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    try:
        result = load_project(path)
    except ProjectFileError as exc:
        assert str(path) in str(exc)
        return
    # What loads must be saveable, and load back identical.
    again = path.with_name("again.samdesk.json")
    save_project(result.project, again)
    assert load_project(again).project == result.project


@FUZZ_SETTINGS
@given(value=json_values)
def test_random_json_values(workspace: tuple[Path, dict], value: object) -> None:
    folder, _ = workspace
    _check(folder / "random.samdesk.json", json.dumps(value).encode())


@FUZZ_SETTINGS
@given(value=st.dictionaries(st.sampled_from(["schema_version", "categories", "media", "objects",
                                              "next_ids", "settings", "format"]), json_values))
def test_random_top_level_fields(workspace: tuple[Path, dict], value: dict) -> None:
    folder, _ = workspace
    value.setdefault("schema_version", 1)
    _check(folder / "top.samdesk.json", json.dumps(value).encode())


def _containers(node: object, path: tuple = ()) -> list[tuple]:
    """Paths of every dict and list in the JSON tree."""
    found = []
    if isinstance(node, dict):
        found.append(path)
        for key, child in node.items():
            found += _containers(child, (*path, key))
    elif isinstance(node, list):
        found.append(path)
        for index, child in enumerate(node):
            found += _containers(child, (*path, index))
    return found


def _at(root: object, path: tuple) -> object:
    for step in path:
        root = root[step]  # type: ignore[index]
    return root


@FUZZ_SETTINGS
@given(data=st.data())
def test_mutated_valid_project(workspace: tuple[Path, dict], data: st.DataObject) -> None:
    folder, base = workspace
    doc = copy.deepcopy(base)
    for _ in range(data.draw(st.integers(1, 4))):
        containers = _containers(doc)
        if not containers:
            break
        target = _at(doc, data.draw(st.sampled_from(containers)))
        keys = list(target.keys()) if isinstance(target, dict) else list(range(len(target)))  # type: ignore[union-attr]
        action = data.draw(st.sampled_from(["replace", "delete", "duplicate", "nudge"]))
        if not keys:
            continue
        key = data.draw(st.sampled_from(keys))
        if action == "replace":
            target[key] = data.draw(json_values)  # type: ignore[index]
        elif action == "delete":
            del target[key]  # type: ignore[arg-type]
        elif action == "duplicate" and isinstance(target, list):
            target.append(copy.deepcopy(target[key]))
        elif isinstance(target[key], int) and not isinstance(target[key], bool):  # type: ignore[index]
            target[key] += data.draw(st.sampled_from([-1, 1, 1000]))  # type: ignore[index]
    _check(folder / "mutated.samdesk.json", json.dumps(doc).encode())


@FUZZ_SETTINGS
@given(data=st.data())
def test_damaged_bytes(workspace: tuple[Path, dict], data: st.DataObject) -> None:
    folder, base = workspace
    raw = bytearray(json.dumps(base).encode())
    kind = data.draw(st.sampled_from(["truncate", "flip", "splice"]))
    position = data.draw(st.integers(0, len(raw) - 1))
    if kind == "truncate":
        raw = raw[:position]
    elif kind == "flip":
        raw[position] = data.draw(st.integers(0, 255))
    else:
        raw[position:position] = data.draw(st.binary(max_size=8))
    _check(folder / "damaged.samdesk.json", bytes(raw))


def test_rle_counts_mutations(workspace: tuple[Path, dict]) -> None:
    """Every single-character change of a mask's counts is either valid or rejected cleanly
    (pycocotools must never see a malformed string: its parser can read out of bounds)."""
    folder, base = workspace
    counts = base["objects"][0]["frames"][0]["rle"]["counts"]
    for position in range(len(counts) + 1):
        for replacement in ("", "0", "o", "?", "\x7f", "00"):
            doc = copy.deepcopy(base)
            damaged = counts[:position] + replacement + counts[position + 1 :]
            doc["objects"][0]["frames"][0]["rle"]["counts"] = damaged
            _check(folder / "rle.samdesk.json", json.dumps(doc).encode())
