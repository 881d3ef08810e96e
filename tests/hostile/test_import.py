"""Hostile datasets for ``samdesk import``, in every import format, run under a memory limit.

Each run must end with exit status 0 (hostile parts skipped with a warning) or 1 (a clear error
naming the file), never a traceback or a crash, and must leave the dataset files as they were;
a failed import leaves the project file as it was too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.hostile import datasets
from tests.hostile.limits import Outcome, run_cli, run_python

# An import of these tiny datasets needs ~600 MB of address space (numpy, OpenCV, PyAV);
# a single runaway polygon wants gigabytes.
MEMORY = 3 << 29


def _import(source: Path, images: Path, fmt: str, project: Path, *extra: str) -> Outcome:
    return run_cli(
        "import",
        str(source),
        "--format",
        fmt,
        "--images",
        str(images),
        "--project",
        str(project),
        "--quiet",
        *extra,
        memory=MEMORY,
        timeout=120,
    )


def _skipped_polygons(stderr: str) -> int:
    """How many polygons the import's warnings say it skipped, over all reasons."""
    return sum(int(n) for n in re.findall(r"warning: (\d+) × polygon[^\n]*skipped", stderr))


def _clean(outcome: Outcome) -> None:
    assert not outcome.crashed and not outcome.traceback, outcome.describe()
    assert outcome.returncode in (0, 1), outcome.describe()


# --- defect: one NaN, infinite or huge coordinate exhausted memory or crashed pycocotools ---------

HOSTILE_COORDINATES = [1e308, float("nan"), float("inf"), float("-inf"), 5e8, 1e7, -1e7, 1e9]


def test_coco_polygon_with_non_finite_or_huge_coordinate_is_skipped(tmp_path: Path) -> None:
    annotations = [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [datasets.SQUARE]}]
    for i, value in enumerate(HOSTILE_COORDINATES, start=2):
        polygon = list(datasets.SQUARE)
        polygon[2 * (i % 4)] = value  # an x somewhere in the polygon
        annotations.append({"id": i, "image_id": 1, "category_id": 1, "segmentation": [polygon]})
    source, images = datasets.coco(tmp_path, annotations)
    before = datasets.fingerprint(source, images)
    outcome = _import(source, images, "coco", tmp_path / "p.samdesk.json")
    _clean(outcome)
    assert outcome.returncode == 0, outcome.describe()
    assert "imported 1 objects" in outcome.stdout, outcome.describe()
    assert _skipped_polygons(outcome.stderr) == len(HOSTILE_COORDINATES), outcome.describe()
    assert datasets.fingerprint(source, images) == before


def test_yolo_line_with_non_finite_or_huge_coordinate_is_skipped(tmp_path: Path) -> None:
    good = "0 " + " ".join(str(v) for v in datasets.SQUARE_YOLO)
    bad = []
    for i, value in enumerate(["nan", "inf", "-inf", "1e9", "-1e9", "1e308", "5e6"]):
        values = [str(v) for v in datasets.SQUARE_YOLO]
        values[i % 8] = value
        bad.append("0 " + " ".join(values))
    source, images = datasets.yolo(tmp_path, "\n".join([good, *bad]) + "\n")
    before = datasets.fingerprint(source, images)
    outcome = _import(source, images, "yolo-seg", tmp_path / "p.samdesk.json")
    _clean(outcome)
    assert outcome.returncode == 0, outcome.describe()
    assert "imported 1 objects" in outcome.stdout, outcome.describe()
    assert _skipped_polygons(outcome.stderr) == len(bad), outcome.describe()
    assert datasets.fingerprint(source, images) == before


# --- property-based: generated hostile variants of each format, in one limited child each ---------

FUZZ_EXAMPLES = 40


@pytest.mark.parametrize(
    ("fmt", "examples"),
    [("coco", FUZZ_EXAMPLES), ("yolo-seg", FUZZ_EXAMPLES), ("png-instance", FUZZ_EXAMPLES),
     ("davis", FUZZ_EXAMPLES), ("labelme", 20), ("cvat", 25), ("voc", 15),
     ("png-semantic", 10), ("ytvis", 15), ("sa1b", 10), ("voc-detect", 15)],
)  # fmt: skip
def test_generated_hostile_datasets(tmp_path: Path, fmt: str, examples: int) -> None:
    """Hypothesis mutates a valid dataset (fields replaced by NaN, huge numbers, wrong types,
    deep nesting; PNGs swapped for decompression-bomb headers, 16-bit or RGB images; names that
    are not numbers or not UTF-8) and checks each import: exit 0 or 1, an error names the
    file, nothing but the project changes (see tests/hostile/import_fuzz.py)."""
    from samdesk.io.formats import IMPORT_FORMATS

    assert fmt in IMPORT_FORMATS
    outcome = run_python(
        f"from tests.hostile.import_fuzz import fuzz; fuzz({fmt!r}, {str(tmp_path)!r}, {examples})",
        memory=MEMORY,
        timeout=300,
    )
    assert outcome.returncode == 0 and not outcome.crashed, outcome.describe()
    assert f"{examples} examples passed" in outcome.stdout, outcome.describe()


def test_every_import_format_is_fuzzed() -> None:
    from samdesk.io.formats import IMPORT_FORMATS
    from tests.hostile.import_fuzz import STRATEGIES

    assert set(STRATEGIES) == set(IMPORT_FORMATS)


# --- single hostile files that broke an importer before -------------------------------------------


@pytest.mark.parametrize(
    ("side", "message"), [(100_000, "too large to decode safely"), (12_000, "mask is 12000×12000")]
)
def test_mask_png_declaring_a_huge_size_is_refused_from_its_header(
    tmp_path: Path, side: int, message: str
) -> None:
    """Over Pillow's bomb limit it raised DecompressionBombError (a traceback); under it, the
    pixels were decoded before the size was compared."""
    from tests.hostile.import_fuzz import png_header_only

    source, images = datasets.png_instances(tmp_path)
    (source / "instances" / "img.png").write_bytes(png_header_only(side, side))
    outcome = _import(source, images, "png-instance", tmp_path / "p.samdesk.json")
    _clean(outcome)
    assert outcome.returncode == 1, outcome.describe()
    assert "instances/img.png: " in outcome.stderr and message in outcome.stderr, outcome.describe()
    assert not (tmp_path / "p.samdesk.json").exists()


# --- labelme: every coordinate and embedded PNG checked before anything is drawn ------------------


def test_labelme_shapes_with_hostile_points_or_a_bomb_mask_are_skipped(tmp_path: Path) -> None:
    from tests.hostile.import_fuzz import png_header_only

    data = datasets.labelme_base()
    for i, value in enumerate(HOSTILE_COORDINATES):
        points = [[10, 10], [30, 10], [30, 30], [10, 30]]
        points[i % 2][(i // 2) % 2] = value  # in the points every kind uses
        kind = ["polygon", "circle", "linestrip", "rectangle"][i % 4]
        data["shapes"].append({"label": "bad", "points": points[: 2 if kind != "polygon" else 4],
                               "shape_type": kind})  # fmt: skip
    import base64

    bomb = base64.b64encode(png_header_only(100_000, 100_000)).decode("ascii")
    data["shapes"].append({"label": "bomb", "points": [[0, 0], [63, 47]], "shape_type": "mask", "mask": bomb})
    data["shapes"].append({"label": "deep", "points": [[[[1, 2]]]], "shape_type": "point"})
    source, images = datasets.labelme(tmp_path, data)
    before = datasets.fingerprint(source, images)
    outcome = _import(source, images, "labelme", tmp_path / "p.samdesk.json")
    _clean(outcome)
    assert outcome.returncode == 0, outcome.describe()
    assert "imported 3 objects" in outcome.stdout, outcome.describe()  # the base's three shapes
    assert "mask shape whose PNG cannot be read skipped" in outcome.stderr, outcome.describe()
    skipped = sum(int(n) for n in re.findall(r"warning: (\d+) × [^\n]*skipped", outcome.stderr))
    assert skipped == len(HOSTILE_COORDINATES) + 2, outcome.describe()
    assert datasets.fingerprint(source, images) == before


# --- CVAT XML: no entity expansion, every size and count checked before allocating -----------------


def test_cvat_xml_with_entities_is_refused_before_parsing(tmp_path: Path) -> None:
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "lol"}">' for i in range(10))
    xml = f'<?xml version="1.0"?><!DOCTYPE a [{laughs}]><annotations><meta>&l9;</meta></annotations>'
    source, images = datasets.cvat(tmp_path, xml)
    outcome = _import(source, images, "cvat", tmp_path / "p.samdesk.json")
    _clean(outcome)
    assert outcome.returncode == 1, outcome.describe()
    assert "annotations.xml: XML with a document type declaration is refused" in outcome.stderr
    assert not (tmp_path / "p.samdesk.json").exists()


def test_cvat_masks_and_tracks_declaring_huge_sizes_are_skipped(tmp_path: Path) -> None:
    fields = dict(datasets.CVAT_FIELDS)
    fields.update(m1="1000000000", rle="0, 999999999999")
    image = datasets.CVAT_IMAGE.format(**fields)
    source, images = datasets.cvat(tmp_path, image)
    outcome = _import(source, images, "cvat", tmp_path / "p.samdesk.json")
    _clean(outcome)
    assert outcome.returncode == 0 and "mask without a box inside its image skipped" in outcome.stderr
    fields.update(size="999999999999", f0="0", f1="99999999", m1="4", rle="3, 5, 8")
    source, images = datasets.cvat(tmp_path / "video", datasets.CVAT_VIDEO.format(**fields))
    outcome = _import(source, images, "cvat", tmp_path / "v.samdesk.json")
    _clean(outcome)
    assert outcome.returncode == 0, outcome.describe()
    assert "track shape past the video's last frame skipped" in outcome.stderr, outcome.describe()
    assert "imported 2 objects" in outcome.stdout, outcome.describe()  # each track on the 3 frames there
