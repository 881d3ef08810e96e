"""Property-based hostile datasets for ``samdesk import``; runs inside a memory-limited child.

``python -c "from tests.hostile.import_fuzz import fuzz; fuzz('coco', '/tmp/x', 40)"`` generates
``examples`` hostile variants of a small valid dataset in the format, runs the import command
in-process on each and checks the promises: exit status 0 or 1 (never an exception), an error
names the file, dataset files unchanged, and a failed import leaves the project file unchanged.
A violated promise raises (the child's exit status says so); a runaway allocation dies at the
memory limit. The case being run is printed first, so a crash names it.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import io
import json
import shutil
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.hostile import datasets

# Values that have broken parsers before: non-finite and huge numbers, big integers, wrong types.
hostile_numbers = st.sampled_from(
    [0, -1, 1, 2**31, 2**63, 10**30, 10**400, -(10**400), 0.5, -0.5, 1e308, -1e308, 5e8, 1e7,
     float("nan"), float("inf"), float("-inf"), 1e-320, True, False]
)  # fmt: skip
scalars = (
    st.none()
    | hostile_numbers
    | st.integers(-100, 100)
    | st.floats(-200, 200)
    | st.text(max_size=6)
    | st.sampled_from(["img.png", "../img.png", "/etc/passwd", "instances/img.png", "instance", "\x00", "²"])
)
json_values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=3),
    max_leaves=12,
)


def _containers(node: object, path: tuple = ()) -> list[tuple]:
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


@st.composite
def mutated(draw: st.DrawFn, base: object) -> object:
    """``base`` JSON with one to four fields replaced, deleted, duplicated or nudged."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        target = _at(doc, draw(st.sampled_from(_containers(doc))))
        keys = list(target.keys()) if isinstance(target, dict) else list(range(len(target)))  # type: ignore[union-attr]
        if not keys:
            continue
        key = draw(st.sampled_from(keys))
        action = draw(st.sampled_from(["replace", "replace", "number", "delete", "duplicate"]))
        if action == "replace":
            target[key] = draw(json_values)  # type: ignore[index]
        elif action == "number":
            target[key] = draw(hostile_numbers)  # type: ignore[index]
        elif action == "delete":
            del target[key]  # type: ignore[arg-type]
        elif isinstance(target, list):
            target.append(copy.deepcopy(target[key]))
    return doc


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size and holds (almost) no pixels: a decompression bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"PLTE", bytes(3)) + chunk(b"IEND", b"")


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    out = io.BytesIO()
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(out, format="PNG")
    return out.getvalue()


H, W = datasets.HEIGHT, datasets.WIDTH
hostile_pngs = st.sampled_from(
    [
        ("palette", lambda: _png(datasets.square_labels(), "P")),
        ("16-bit", lambda: _png(datasets.square_labels(7, np.uint16))),
        ("many values", lambda: _png(np.arange(H * W, dtype=np.uint16).reshape(H, W))),
        ("rgb", lambda: _png(np.zeros((H, W, 3), np.uint8))),
        ("wrong size", lambda: _png(np.ones((H + 1, W), np.uint8))),
        ("huge header", lambda: png_header_only(100_000, 100_000)),
        ("large header", lambda: png_header_only(12_000, 12_000)),
        ("garbage", lambda: b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
        ("empty", lambda: b""),
    ]
)


def _coco_base() -> dict:
    return {
        "images": [{"id": 1, "file_name": "img.png", "width": W, "height": H}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [datasets.SQUARE], "score": 0.9},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "segmentation": {"size": [H, W], "counts": [W * 10, 20, H * W - W * 10 - 20]},
            },
        ],
        "categories": [{"id": 1, "name": "thing"}],
    }


def _legend_base() -> dict:
    return {
        "format": "samdesk-masks",
        "version": 1,
        "kind": "instance",
        "categories": [{"id": 1, "name": "thing", "color": [255, 0, 0]}],
        "media": [
            {
                "file_name": "img.png",
                "kind": "image",
                "width": W,
                "height": H,
                "objects": [{"value": 1, "category_id": 1, "name": "a"}],
                "masks": [{"frame": 0, "file": "instances/img.png"}],
            }
        ],
    }


# Whole files that are not the JSON a format expects, by name (the case printed stays short).
RAW_JSON = {
    "deeply nested": "[" * 100_000,
    "truncated": '{"images": [',
    "huge exponent": "1e999999",
    "5000-digit integer": "[" + "9" * 5000 + "]",
    "lone surrogate": '"\\ud800"',
    "not utf-8": "\udcff",
}

yolo_tokens = st.sampled_from(
    ["0", "1", "-1", "0.1", "0.5", "0.9", "1.5", "-0.5", "nan", "inf", "-inf", "1e9", "1e308", "1e-320",
     "99999999999999999999", "x", "0x10", "½", "١", "1_0", ""]
)  # fmt: skip
yolo_labels = st.one_of(
    st.lists(st.lists(yolo_tokens, max_size=12).map(" ".join), max_size=5).map("\n".join),
    st.binary(max_size=40),
)
yolo_yaml = st.sampled_from(
    ["names: [thing]\n", "names:\n  0: thing\n", "names:\n  - thing\n", "names: [a, 'b\n",
     "names: \n  5: x\n", "nc: 1\n", "names: {0: a}\n", "names:\n  999999999999999999999: x\n", "",
     'names: ["\\ud800"]\n']
) | st.binary(max_size=30)  # fmt: skip


def _labelme_mask_shape(png: bytes) -> dict:
    data = datasets.labelme_base()
    data["shapes"].append(
        {"label": "blob", "points": [[0, 0], [W - 1, H - 1]], "shape_type": "mask",
         "mask": base64.b64encode(png).decode("ascii")}
    )  # fmt: skip
    return data


cvat_tokens = st.sampled_from(
    ["0", "1", "-1", "4", "10.5", "nan", "inf", "-inf", "1e9", "-1e9", "1e308", "99999999999999999999", "x",
     "", "5, 5, 5", "0, 99999999", "-3, 4", "1,", "16384", "100000", "\x00"]
)  # fmt: skip
RAW_XML = {
    "entity bomb": '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;'
    '&a;&a;&a;&a;&a;">]><annotations>&b;</annotations>',
    "external entity": '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<annotations>&x;</annotations>",
    "truncated": '<?xml version="1.0"?><annotations><meta><task><labels><label><name>x',
    "deep": "<annotations>" + "<image>" * 50_000,
    "not xml": "\x00\x01garbage",
    "not utf-8": '<?xml version="1.0" encoding="utf-8"?><annotations>\udcff</annotations>',
    "empty": "",
}


def _cvat_case(draw_template: str, values: dict) -> str:
    fields = dict(datasets.CVAT_FIELDS)
    fields.update(values)
    template = datasets.CVAT_IMAGE if draw_template == "image" else datasets.CVAT_VIDEO
    return template.format(**fields)


STRATEGIES = {
    "coco": st.one_of(
        mutated(_coco_base()).map(lambda d: ("json", d)),
        st.sampled_from(sorted(RAW_JSON)).map(lambda name: ("raw", name)),
    ),
    "yolo-seg": st.tuples(yolo_labels, yolo_yaml),
    "labelme": st.one_of(
        mutated(datasets.labelme_base()).map(lambda d: ("json", d)),
        hostile_pngs.map(lambda png: ("json", _labelme_mask_shape(png[1]()))),
        st.sampled_from(sorted(RAW_JSON)).map(lambda name: ("raw", name)),
    ),
    "png-instance": st.tuples(mutated(_legend_base()), hostile_pngs),
    "davis": st.tuples(
        st.dictionaries(
            st.sampled_from(
                [
                    "00000.png",
                    "00001.png",
                    "00002.png",
                    "00009.png",
                    "²³.png",
                    "x.png",
                    "99999999999999999999999.png",
                    "-1.png",
                    "٣.png",
                ]
            ),
            hostile_pngs,
            min_size=1,
            max_size=3,
        ),  # fmt: skip
        st.none()
        | mutated({"videos": {"clip": {"objects": {"1": {"category": "thing", "frames": ["00000"]}}}}}),
    ),
}
STRATEGIES["ytvos"] = STRATEGIES["davis"]  # the same importer and layout
STRATEGIES["png-semantic"] = st.tuples(
    mutated({**_legend_base(), "kind": "semantic"}), hostile_pngs
)
STRATEGIES["ytvis"] = st.one_of(
    mutated(datasets.ytvis_base()).map(lambda d: ("json", d)),
    st.sampled_from(sorted(RAW_JSON)).map(lambda name: ("raw", name)),
)
STRATEGIES["sa1b"] = st.one_of(
    mutated(datasets.sa1b_base()).map(lambda d: ("json", d)),
    st.sampled_from(sorted(RAW_JSON)).map(lambda name: ("raw", name)),
)
STRATEGIES["voc"] = st.tuples(
    st.sampled_from(
        ["background:0,0,0::\nthing:128,0,0::\n", "thing:::\nthing:::\n", "a:1,2::\n", "a:999,0,0::\n",
         "a:x,y,z::\n", "", "# only a comment\n", "\udcff:::\n", "a" * 100_000 + ":::\n",
         "\n".join(f"l{i}:::" for i in range(300))]
    ),
    st.dictionaries(st.sampled_from(["SegmentationClass", "SegmentationObject"]), hostile_pngs, max_size=2),
)  # fmt: skip
STRATEGIES["cvat"] = st.one_of(
    st.builds(
        _cvat_case,
        st.sampled_from(["image", "video"]),
        st.dictionaries(st.sampled_from(sorted(datasets.CVAT_FIELDS)), cvat_tokens, min_size=1, max_size=4),
    ),
    st.sampled_from(sorted(RAW_XML)).map(lambda name: RAW_XML[name]),
)

STRATEGIES["voc-detect"] = st.one_of(
    st.dictionaries(
        st.sampled_from(sorted(datasets.VOC_DETECT_FIELDS)), cvat_tokens, min_size=1, max_size=4
    ).map(lambda values: datasets.VOC_DETECT.format(**{**datasets.VOC_DETECT_FIELDS, **values})),
    st.sampled_from(sorted(RAW_XML)).map(lambda name: RAW_XML[name]),
)


def _build(fmt: str, case: object, folder: Path) -> tuple[Path, Path]:
    if fmt == "coco":
        kind, content = case  # type: ignore[misc]
        source, images = datasets.coco(folder)
        if kind == "json":
            source.write_text(json.dumps(content))
        else:
            source.write_bytes(RAW_JSON[content].encode("utf-8", "surrogateescape"))
        return source, images
    if fmt == "labelme":
        kind, content = case  # type: ignore[misc]
        if kind == "json":
            return datasets.labelme(folder, content)
        source, images = datasets.labelme(folder)
        (source / "img.json").write_bytes(RAW_JSON[content].encode("utf-8", "surrogateescape"))
        return source, images
    if fmt == "cvat":
        return datasets.cvat(folder, case)  # type: ignore[arg-type]
    if fmt == "voc-detect":
        return datasets.voc_detect(folder, case)  # type: ignore[arg-type]
    if fmt == "voc":
        labelmap, pngs = case  # type: ignore[misc]
        return datasets.voc(folder, labelmap, {name: make() for name, (_, make) in pngs.items()} or None)
    if fmt == "yolo-seg":
        labels, yaml = case  # type: ignore[misc]
        return datasets.yolo(folder, labels, yaml_text=yaml)
    if fmt in ("ytvis", "sa1b"):
        kind, content = case  # type: ignore[misc]
        build = datasets.ytvis if fmt == "ytvis" else datasets.sa1b
        if kind == "json":
            return build(folder, content)
        source, images = build(folder)
        target = source / ("instances.json" if fmt == "ytvis" else "img.json")
        target.write_bytes(RAW_JSON[content].encode("utf-8", "surrogateescape"))
        return source, images
    if fmt in ("png-instance", "png-semantic"):
        legend, (_, png) = case  # type: ignore[misc]
        source, images = datasets.png_instances(folder, legend)
        (source / "instances" / "img.png").write_bytes(png())
        return source, images
    frames, meta = case  # type: ignore[misc]
    return datasets.davis(folder, {name: make() for name, (_, make) in frames.items()}, meta)


def check_case(fmt: str, case: object, folder: Path) -> None:
    from samdesk.cli import main

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"case {fmt}: {repr(case)[:300]}", file=sys.__stdout__, flush=True)
    source, images = _build(fmt, case, folder)
    project = folder / "p.samdesk.json"
    project.write_text('{"format": "samdesk-project", "schema_version": 1, "categories": [], '
                       '"media": [], "objects": []}')  # fmt: skip
    before = datasets.fingerprint(source, images, project)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(
            [
                "import",
                str(source),
                "--format",
                fmt,
                "--images",
                str(images),
                "--project",
                str(project),
                "--quiet",
            ]
        )
    after = datasets.fingerprint(source, images, project)
    assert code in (0, 1), (code, err.getvalue())
    if code == 1:
        message = err.getvalue()
        assert message.startswith("samdesk import: error: "), message
        assert str(folder) in message, f"the error does not name a file: {message}"
        assert after == before, f"a failed import changed files: {message}"
    else:
        del after[str(project)], before[str(project)]
        assert after == before, "the import changed the dataset"


def fuzz(fmt: str, workdir: str, examples: int) -> None:
    """Run ``examples`` hostile cases of ``fmt`` (a key of IMPORT_FORMATS) under ``workdir``."""
    folder = Path(workdir) / "case"

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=STRATEGIES[fmt])
    def run(case: object) -> None:
        check_case(fmt, case, folder)

    run()
    print(f"fuzz {fmt}: {examples} examples passed", flush=True)
