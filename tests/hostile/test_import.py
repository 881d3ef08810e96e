"""Hostile datasets for ``samdesk import``, in every import format, run under a memory limit.

Each run must end with exit status 0 (hostile parts skipped with a warning) or 1 (a clear error
naming the file), never a traceback or a crash, and must leave the dataset files as they were;
a failed import leaves the project file as it was too.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.hostile import datasets
from tests.hostile.limits import Outcome, run_cli

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
