"""Hostile project files, opened through ``samdesk import --project`` inside a memory-limited child.

``python -c "from tests.hostile.project_cases import run_all; run_all('/tmp/x')"`` writes each
case of :data:`CASES` (and hypothesis mutations of a valid project) as the project file of an
import, and checks: exit status 1 with an error that names the project file, or 0 when the
file is in fact a valid project; never an exception; a refused project file is unchanged.
Each case's name is printed before it runs, so a crash (which kills the child) names it.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hostile import datasets
from tests.hostile.import_fuzz import mutated


def valid_project(folder: Path) -> dict:
    """A small valid project (one image, one object) as the JSON the file holds."""
    from samdesk.document import masks
    from samdesk.document.model import (
        AnnotationObject,
        Category,
        FrameAnnotation,
        MediaItem,
        MediaKind,
        Project,
        Provenance,
    )
    from samdesk.document.project_json import project_to_json

    image = datasets.write_image(folder / "media")
    rle = masks.encode(datasets.square_labels().astype(bool))
    project = Project(
        categories=[Category(1, "thing", (1, 2, 3))],
        media=[MediaItem(1, MediaKind.IMAGE, str(image), datasets.WIDTH, datasets.HEIGHT)],
        objects=[AnnotationObject(1, 1, 1, {0: FrameAnnotation(rle, Provenance.MANUAL, 0.5)})],
        next_ids={"category": 2, "media": 2, "object": 2},
    )
    return project_to_json(project, folder)


def _set(path: tuple, value: object) -> Callable[[dict], object]:
    def change(doc: dict) -> object:
        target = doc
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        return doc

    return change


FRAME = ("objects", 0, "frames", 0)
# name -> what becomes of the valid project's JSON (a dict, or the file's text when a str).
CASES: dict[str, Callable[[dict], object]] = {
    "top level is a list": lambda d: [d],
    "media is an object": _set(("media",), {"0": 1}),
    "width is a string": _set(("media", 0, "width"), "64"),
    "width is a float": _set(("media", 0, "width"), 64.0),
    "width is true": _set(("media", 0, "width"), True),
    "negative id": _set(("media", 0, "id"), -1),
    "id of 400 digits": _set(("media", 0, "id"), 10**400),
    "huge size": lambda d: _set(("media", 0, "width"), 10**6)(_set(("media", 0, "height"), 10**6)(d)),
    "size of 2**63": _set(("media", 0, "width"), 2**63),
    "huge frame count": lambda d: _set(("media", 0, "kind"), "video")(
        _set(("media", 0, "frame_count"), 10**12)(d)
    ),
    "mask larger than its image": _set((*FRAME, "rle", "size"), [10**5, 10**5]),
    "mask counts not a string": _set((*FRAME, "rle", "counts"), [1, 2, 3]),
    "mask counts garbage": _set((*FRAME, "rle", "counts"), "\x7f\x00" * 10),
    "score NaN": lambda d: json.dumps(d).replace('"score":0.5', '"score":NaN'),
    "score Infinity": lambda d: json.dumps(d).replace('"score":0.5', '"score":Infinity'),
    "score 1e999": lambda d: json.dumps(d).replace('"score":0.5', '"score":1e999'),
    "fps -inf": lambda d: json.dumps(d).replace('"fps":null', '"fps":-1e999'),
    "prompt point NaN": _set((*FRAME, "prompts"), {"points": [[float("nan"), 1]], "labels": [1]}),
    "deep nesting": lambda d: "[" * 200_000 + "]" * 200_000,
    "deep nesting in settings": _set(("settings",), json.loads("[" * 900 + "]" * 900)),
    "schema version 999": _set(("schema_version",), 999),
    "schema version 0": _set(("schema_version",), 0),
    "schema version string": _set(("schema_version",), "2"),
    "another format": _set(("format",), "labelme"),
    "5000-digit number": lambda d: json.dumps(d).replace('"score":0.5', '"score":' + "9" * 5000),
    "not UTF-8": lambda d: "\udcff\udcfe" + json.dumps(d),
    "empty": lambda d: "",
    "truncated in a string": lambda d: json.dumps(d)[: json.dumps(d).index('"thing"') + 3],
    "truncated after a comma": lambda d: json.dumps(d)[: json.dumps(d).index(",") + 1],
    "long counts string": _set((*FRAME, "rle", "counts"), "1" * 3_000_000),
}


def check(folder: Path, name: str, content: object) -> None:
    """Import a small COCO file into a project file holding ``content``; check the promises."""
    from samdesk.cli import main

    print(f"case {name}", file=sys.__stdout__, flush=True)
    project = folder / "hostile.samdesk.json"
    text = content if isinstance(content, str) else json.dumps(content)
    project.write_bytes(text.encode("utf-8", "surrogateescape"))
    before = hashlib.sha256(project.read_bytes()).hexdigest()
    source, images = folder / "coco.json", folder / "images"
    out, err = io.StringIO(), io.StringIO()
    argv = ["import", str(source), "--format", "coco", "--images", str(images), "--project", str(project)]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*argv, "--quiet"])
    assert code in (0, 1), f"{name}: exit {code}: {err.getvalue()}"
    if code == 1:
        message = err.getvalue()
        assert f"samdesk import: error: {project}: " in message, f"{name}: not named: {message[:500]}"
        assert " at at " not in message, message
        assert hashlib.sha256(project.read_bytes()).hexdigest() == before, f"{name}: the file changed"


def run_all(workdir: str, examples: int = 30) -> None:
    folder = Path(workdir)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    datasets.coco(folder)
    base = valid_project(folder)
    for name, make in CASES.items():
        check(folder, name, make(copy.deepcopy(base)))

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(doc=mutated(base), truncate=st.none() | st.floats(0, 1))
    def generated(doc: object, truncate: float | None) -> None:
        text = json.dumps(doc)
        if truncate is not None:
            text = text[: int(len(text) * truncate)]
        check(folder, "generated", text)

    generated()
    print(f"project cases: {len(CASES)} named and {examples} generated passed", flush=True)
