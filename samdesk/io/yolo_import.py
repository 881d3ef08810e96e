"""Import of YOLO datasets: segmentation polygons and detection boxes, in every common layout.

Layouts found under the dataset folder (``path``, or the folder of the data.yaml given)::

    data.yaml + labels/<name>.txt (+ images/<name>.jpg)           samdesk's export, plain YOLO
    data.yaml + images/train/... + labels/train/...                Ultralytics' own layout
    data.yaml + train/images + train/labels, valid/..., test/...   Roboflow's export

Every ``.txt`` under a folder named ``labels`` is a label file; its image is where Ultralytics
looks for it (the path with the last ``labels`` folder replaced by ``images``, any image suffix),
else under ``images_dir`` by the path below ``labels``. Symlinked folders are followed. Which
split an image was in is not kept.

``names:`` is read with a YAML parser, as a list or a mapping ``{0: a, 1: b}`` (block or flow
style); class ids must be 0..n-1. A line ``<class> x1 y1 x2 y2 ...`` (normalised) is a polygon,
read as Ultralytics turns a polygon into pixels (``samdesk/io/yolo_polygons.py``: truncated
points filled with ``fillPoly``);
a line ``<class> cx cy w h`` is a detection box, imported as a box-only object
(``samdesk/document/boxes.py``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import yaml

from model_runtime.media import IMAGE_SUFFIXES
from samdesk.document import masks
from samdesk.document.boxes import box_only_frame
from samdesk.document.model import FrameAnnotation, MediaKind, Project, Provenance
from samdesk.io.common import (
    CancelFn,
    DatasetError,
    ProgressFn,
    image_size,
    read_text,
    report,
    walk_folders,
)
from samdesk.io.import_plan import CategoryRef, ImportPlan, ImportResult
from samdesk.io.polygons import check_polygons
from samdesk.io.shapes import clip_box
from samdesk.io.yolo_polygons import fill

# Normalised coordinates this far outside [0, 1] are rounding, not a broken file.
_SLACK = 1e-3
# A data.yaml is a few hundred bytes; anything this large is not one.
MAX_YAML_BYTES = 1 << 20
MAX_CLASSES = 100_000


def import_yolo(
    project: Project,
    path: Path,
    images_dir: Path,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    *,
    keep_duplicates: bool = False,
) -> ImportResult:
    """Read a YOLO dataset (see the module docstring); ``project`` is only read."""
    path, images_dir = Path(path), Path(images_dir)
    folder = path if path.is_dir() else path.parent
    yaml_path = _yaml_path(path)
    names = read_names(yaml_path)
    label_files = _label_files(folder)
    if not label_files:
        raise DatasetError(f"{folder}: no label files (expected .txt files in a 'labels' folder)")
    plan = ImportPlan(project, keep_duplicates=keep_duplicates)
    categories = [plan.category(name) for name in names]
    for done, (label, rel) in enumerate(label_files):
        report(progress, cancel, done, len(label_files))
        image = _image_for(label, rel, images_dir)
        if image is None:
            plan.warnings.add("image for a label file missing; skipped", rel.as_posix())
            continue
        _import_label_file(plan, label, image, categories)
    report(progress, cancel, len(label_files), len(label_files))
    return plan.result(f"import {folder.name}")


def _yaml_path(path: Path) -> Path:
    if path.is_file():
        return path
    for name in ("data.yaml", "data.yml", "dataset.yaml"):
        if (path / name).is_file():
            return path / name
    found = sorted(p for p in path.glob("*.y*ml") if p.is_file())
    if len(found) == 1:
        return found[0]
    raise DatasetError(
        f"{path / 'data.yaml'}: file not found (a YOLO dataset needs its data.yaml for class names)"
    )


def _label_files(folder: Path) -> list[tuple[Path, Path]]:
    """(label file, its path below its 'labels' folder) of every label file, sorted."""
    out = []
    for where, names in walk_folders(folder):
        parts = where.relative_to(folder).parts
        if "labels" not in parts:
            continue
        below = len(parts) - 1 - parts[::-1].index("labels")
        for name in names:
            if name.lower().endswith(".txt") and not name.startswith("."):
                out.append((where / name, Path(*parts[below + 1 :], name)))
    return sorted(out)


def _image_for(label: Path, rel: Path, images_dir: Path) -> Path | None:
    """Ultralytics' pairing (the last 'labels' folder swapped for 'images'), else images_dir."""
    parts = label.parts
    index = len(parts) - 1 - parts[::-1].index("labels")
    sibling = Path(*parts[:index], "images", *parts[index + 1 :])
    for stem in (sibling, images_dir / rel):
        for suffix in IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES):
            candidate = stem.with_suffix(suffix)
            if candidate.is_file():
                return candidate
    return None


def _import_label_file(plan: ImportPlan, label: Path, image: Path, categories: list[CategoryRef]) -> None:
    width, height = image_size(image)
    media = plan.media(image, MediaKind.IMAGE, width, height)
    lines: list[tuple[int, list[str], list[float], str]] = []  # class, numbers as written and read, where
    for line_no, line in enumerate(read_text(label).splitlines(), start=1):
        where = f"{label.name}:{line_no}"
        fields = line.split()
        if not fields:
            continue
        try:
            cls, values = int(fields[0]), [float(v) for v in fields[1:]]
        except ValueError:
            raise DatasetError(f"{label}: line {line_no} is not '<class> x y x y ...' numbers") from None
        if not 0 <= cls < len(categories):
            plan.warnings.add("class id not in data.yaml names; line skipped", f"{where}: {cls}")
            continue
        if len(values) != 4 and (len(values) < 6 or len(values) % 2):
            plan.warnings.add("polygon with fewer than 3 points or an odd coordinate count skipped", where)
            continue
        if len(values) > 4 and not _polygon_ok(values, width, height, plan, where):
            continue
        lines.append((cls, fields[1:], values, where))
    for cls, _, values, where in lines:
        if len(values) == 4:
            frame = _box(values, width, height, plan, where)
        else:
            frame = _polygon(values, width, height, plan, where)
        if frame is not None:
            plan.add_object(media, categories[cls], {0: frame})


def _box(
    values: list[float], width: int, height: int, plan: ImportPlan, where: str
) -> FrameAnnotation | None:
    """A detection line ``cx cy w h`` (normalised) -> a box-only frame."""
    cx, cy, w, h = values
    if not all(math.isfinite(v) and abs(v) <= 2 for v in values) or w <= 0 or h <= 0:
        plan.warnings.add("detection box with a NaN, huge or empty size skipped", where)
        return None
    x0, x1 = (cx - w / 2) * width, (cx + w / 2) * width
    y0, y1 = (cy - h / 2) * height, (cy + h / 2) * height
    box = clip_box(x0, y0, x1, y1, height, width)
    if box is None:
        plan.warnings.add("detection box outside its image skipped", where)
        return None
    if box != (x0, y0, x1, y1) and max(abs(a - b) for a, b in zip(box, (x0, y0, x1, y1), strict=True)) > 1:
        plan.warnings.add("detection box outside its image; clipped", where)
    return box_only_frame(box, height, width)


def _polygon_ok(values: list[float], width: int, height: int, plan: ImportPlan, where: str) -> bool:
    """Whether a polygon line's points are safe to read (finite, near the image), warned if not."""
    pixels = [v * (width if i % 2 == 0 else height) for i, v in enumerate(values)]
    checked = check_polygons([pixels], height, width)
    if checked.refused is not None:
        plan.warnings.add(checked.refused, where)
        return False
    if min(values) < -_SLACK or max(values) > 1 + _SLACK:
        plan.warnings.add("polygon outside its image; clipped", where)
    return True


def _polygon(
    values: list[float], width: int, height: int, plan: ImportPlan, where: str
) -> FrameAnnotation | None:
    """A checked polygon line as Ultralytics turns a polygon into pixels (``polygon2mask``:
    points scaled and truncated, filled with ``fillPoly``). Its training reader also resamples
    every outline of an image to one point count first; that moves the outline by a fraction of
    a pixel depending on the other lines, so the import keeps the polygon as written."""
    points = np.asarray(values, np.float64).reshape(-1, 2) * (width, height)
    mask = fill([points.astype(np.int64)], (height, width))
    if not mask.any():
        plan.warnings.add("empty polygon skipped", where)
        return None
    return FrameAnnotation(masks.encode(mask), Provenance.IMPORTED)


def read_names(yaml_path: Path) -> list[str]:
    """Class names of a data.yaml: ``names`` as a list, or a mapping of ids 0..n-1 to names
    (numbers become their text, as Ultralytics reads them). Raises :class:`DatasetError`."""
    try:
        size = yaml_path.stat().st_size
    except OSError as exc:
        raise DatasetError(f"{yaml_path}: cannot read ({exc.strerror or exc})") from None
    if size > MAX_YAML_BYTES:
        raise DatasetError(f"{yaml_path}: {size} bytes is not a data.yaml (at most {MAX_YAML_BYTES})")
    text = read_text(yaml_path)
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1} column {where.column + 1}" if where is not None else ""
        raise DatasetError(
            f"{yaml_path}: not valid YAML{at} ({getattr(exc, 'problem', None) or exc})"
        ) from None
    except (RecursionError, ValueError, OverflowError) as exc:
        raise DatasetError(f"{yaml_path}: not a data.yaml ({type(exc).__name__})") from None
    if not isinstance(data, dict) or "names" not in data:
        raise DatasetError(f"{yaml_path}: no 'names:' entry")
    names = data["names"]
    if isinstance(names, dict):
        if len(names) > MAX_CLASSES or not all(_class_id(k) is not None for k in names):
            raise DatasetError(f"{yaml_path}: 'names' must map class ids 0, 1, ... to names")
        names = {_class_id(k): v for k, v in names.items()}
        if sorted(names) != list(range(len(names))):
            raise DatasetError(f"{yaml_path}: class ids must be 0..{len(names) - 1}")
        names = [names[k] for k in range(len(names))]
    if not isinstance(names, list) or len(names) > MAX_CLASSES:
        raise DatasetError(f"{yaml_path}: 'names' must be a list or a mapping of class ids to names")
    out = []
    for name in names:
        if isinstance(name, str):
            out.append(name)
        elif isinstance(name, int | float) and not isinstance(name, bool):
            out.append(str(name))
        else:
            raise DatasetError(f"{yaml_path}: class name {name!r:.40} is not a text")
    return out


def _class_id(key: object) -> int | None:
    """A mapping key as a class id: an integer, or its digits as text (Ultralytics reads both)."""
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        return key
    if isinstance(key, str) and key.isascii() and key.isdigit() and len(key) < 10:
        return int(key)
    return None
