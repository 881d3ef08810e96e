"""Import of labelme's per-image JSON files (a file, or a folder of them searched recursively).

One labelme file annotates one image::

    {"version": "5.5.0", "imagePath": "../images/dog.jpg", "imageHeight": 534, "imageWidth": 800,
     "imageData": null, "flags": {},
     "shapes": [{"label": "dog", "points": [[x, y], ...], "shape_type": "polygon",
                 "group_id": null, "description": "", "flags": {}, "mask": null}, ...]}

* **Objects.** Shapes with the same label and ``group_id`` are one object (labelme's own rule in
  ``shapes_to_label``); a shape without ``group_id`` is an object of its own. The label is the
  category; a shape's ``description`` becomes the object's name.
* **Masks** are drawn as labelme draws them (``samdesk/io/shapes.py``): polygons (and
  ``oriented_rectangle``), circles, lines and linestrips 10 px wide, points as 5 px discs, and
  ``mask`` shapes (a base64 PNG of the box between the two points) pasted at their place. Other
  shape types are skipped with a warning (labelme refuses them too).
* **Rectangles** are boxes, not masks: an object made only of rectangles is a box-only object
  (``samdesk/document/boxes.py``) for "Segment boxes" to turn into a mask. In an object that has
  other shapes too, a rectangle is filled as labelme fills it.
* **The image** is ``imagePath`` relative to the JSON file, else under ``images_dir`` (the same
  relative path, then the bare file name). ``imageData`` (an embedded copy) is not used: samdesk
  annotates files.
* **Flags.** A shape's ``flags`` set to true become its object's attributes (``occluded``,
  ``truncated`` or any other name), and the file's image ``flags`` set to true the image's tags.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings as pywarnings
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
from PIL import Image

from samdesk.document import masks
from samdesk.document.attributes import value_problem
from samdesk.document.boxes import box_only_frame
from samdesk.document.model import FrameAnnotation, MediaKind, Project, Provenance
from samdesk.io.common import (
    CancelFn,
    DatasetError,
    ProgressFn,
    Warnings,
    check_size,
    dataset_files,
    image_size,
    read_json,
    report,
)
from samdesk.io.import_plan import ImportPlan, ImportResult
from samdesk.io.shapes import check_points, clip_box, draw_labelme

# Points each shape type needs at least (labelme asserts the same).
_MIN_POINTS = {
    "circle": 2, "rectangle": 2, "line": 2, "linestrip": 2, "point": 1, "mask": 2, "oriented_rectangle": 4,
}  # fmt: skip
_DRAWN_LIKE_LABELME = ("circle", "line", "linestrip", "point")


def import_labelme(
    project: Project,
    path: Path,
    images_dir: Path,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    *,
    keep_duplicates: bool = False,
) -> ImportResult:
    """Read one labelme JSON file or every one under a folder; ``project`` is only read."""
    path, images_dir = Path(path), Path(images_dir)
    files = dataset_files(path, ".json", "labelme .json")
    plan = ImportPlan(project, keep_duplicates=keep_duplicates)
    for done, file in enumerate(files):
        report(progress, cancel, done, len(files))
        try:
            data = read_json(file)
        except DatasetError as exc:
            if len(files) == 1:
                raise
            plan.warnings.add("unreadable JSON file skipped", str(exc)[:120])
            continue
        if not (isinstance(data, dict) and isinstance(data.get("shapes"), list)):
            if len(files) == 1:
                raise DatasetError(f"{file}: not a labelme file (no 'shapes' list)")
            plan.warnings.add("JSON file that is not a labelme file skipped", file.name)
            continue
        _import_file(plan, file, data, images_dir)
    report(progress, cancel, len(files), len(files))
    return plan.result(f"import {path.name}")


def _image_path(file: Path, data: dict, images_dir: Path) -> Path | None:
    name = data.get("imagePath")
    if not isinstance(name, str) or not name or "\x00" in name:
        return None
    # labelme on Windows writes backslashes; an absolute path is tried by its tail too.
    parts = PureWindowsPath(name).parts if "\\" in name else PurePosixPath(name).parts
    relative = Path(*parts)
    for candidate in (file.parent / relative, images_dir / relative, images_dir / relative.name):
        try:
            if candidate.is_file():
                return candidate
        except (OSError, ValueError):
            continue
    return None


def _import_file(plan: ImportPlan, file: Path, data: dict, images_dir: Path) -> None:
    image = _image_path(file, data, images_dir)
    if image is None:
        plan.warnings.add("image of a labelme file missing; skipped with its shapes", file.name)
        return
    width, height = image_size(image)
    declared = (data.get("imageWidth"), data.get("imageHeight"))
    if all(isinstance(v, int) and not isinstance(v, bool) for v in declared):
        check_size(*declared, f"{file}")  # type: ignore[arg-type]
        if declared != (width, height):
            plan.warnings.add(
                "labelme file declares another image size than its image has; skipped",
                f"{file.name}: {declared[0]}×{declared[1]}, {image.name} is {width}×{height}",
            )
            return
    media = plan.media(image, MediaKind.IMAGE, width, height)
    tags = _true_flags(data.get("flags"), plan.warnings, file.name)
    if tags:
        plan.tag_media(media, tags)
    groups: dict[object, list[dict]] = {}
    for index, shape in enumerate(data["shapes"]):
        if not isinstance(shape, dict) or not isinstance(shape.get("label"), str):
            plan.warnings.add("shape without a label skipped", f"{file.name} shape {index}")
            continue
        group = shape.get("group_id")
        key = (shape["label"], group) if isinstance(group, int) and not isinstance(group, bool) else index
        groups.setdefault(key, []).append(shape)
    for shapes in groups.values():
        where = f"{file.name} '{shapes[0]['label']}'"
        frame = _frame(shapes, height, width, plan.warnings, where)
        if frame is None:
            continue
        description = next((s["description"] for s in shapes if isinstance(s.get("description"), str)), "")
        flags = [f for shape in shapes for f in _true_flags(shape.get("flags"), plan.warnings, where)]
        attributes = {name: True for name in flags}
        plan.add_object(media, plan.category(shapes[0]["label"]), {0: frame}, description, attributes)


def _true_flags(value: object, warnings: Warnings, where: str) -> list[str]:
    """The names of labelme ``flags`` set to true (the others are off: nothing to keep)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        warnings.add("flags that are not a JSON object skipped", where)
        return []
    names = [name for name, on in value.items() if on is True]
    usable = [name for name in names if value_problem(name, True) is None]
    if len(usable) < len(names):
        warnings.add("flag without a usable name skipped", where)
    return usable


def _frame(
    shapes: list[dict], height: int, width: int, warnings: Warnings, where: str
) -> FrameAnnotation | None:
    """One object's frame: the union of its shapes' masks, or a box when it has only rectangles."""
    mask: np.ndarray | None = None
    boxes = []
    for shape in shapes:
        kind = shape.get("shape_type") or "polygon"
        if not isinstance(kind, str):
            warnings.add("shape of an unknown type skipped", where)
            continue
        checked = check_points(shape.get("points"), height, width, _MIN_POINTS.get(kind, 3))
        if checked.refused is not None or checked.points is None:
            warnings.add(checked.refused or "shape skipped", where)
            continue
        if checked.clipped:
            warnings.add("shape outside its image; clipped", where)
        points = checked.points
        if kind == "rectangle":
            boxes.append(points[:2])
            continue
        part = _mask(kind, shape, points, height, width, warnings, where)
        if part is not None:
            mask = part if mask is None else mask | part
    if mask is None and not boxes:
        return None
    if mask is None:  # only rectangles: a box for the model
        corners = np.concatenate(boxes)
        if len(boxes) > 1:
            warnings.add("several rectangles in one group; their common box kept", where)
        box = clip_box(*corners.min(axis=0), *corners.max(axis=0), height, width)
        if box is None:
            warnings.add("rectangle outside its image skipped", where)
            return None
        return box_only_frame(box, height, width)
    for corners in boxes:  # a rectangle beside other shapes is filled, as labelme fills it
        mask |= draw_labelme("rectangle", corners, height, width)
    if not mask.any():
        warnings.add("empty mask skipped", where)
        return None
    return FrameAnnotation(masks.encode(mask), Provenance.IMPORTED)


def _mask(
    kind: str, shape: dict, points: np.ndarray, height: int, width: int, warnings: Warnings, where: str
) -> np.ndarray | None:
    if kind == "mask":
        return _pasted_mask(shape.get("mask"), points, height, width, warnings, where)
    if kind in _DRAWN_LIKE_LABELME:
        return draw_labelme(kind, points, height, width)
    if kind not in ("polygon", "oriented_rectangle"):
        warnings.add("shape of a type labelme does not draw skipped", f"{where}: {kind[:30]}")
        return None
    return draw_labelme("polygon", points, height, width)


def _pasted_mask(
    encoded: object, points: np.ndarray, height: int, width: int, warnings: Warnings, where: str
) -> np.ndarray | None:
    """A labelme ``mask`` shape: a PNG (base64) of the pixels from the first point to the second,
    both included, pasted there (``labelme.utils.shapes_to_label``)."""
    (x1, y1), (x2, y2) = points[:2].astype(np.int64)
    if not (0 <= x1 <= x2 < width and 0 <= y1 <= y2 < height):
        warnings.add("mask shape whose box is outside its image skipped", where)
        return None
    if not isinstance(encoded, str):
        warnings.add("mask shape without its base64 PNG skipped", where)
        return None
    try:
        data = base64.b64decode(encoded, validate=True)
        with pywarnings.catch_warnings():
            pywarnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size check follows
            image = Image.open(io.BytesIO(data))
        with image:
            if image.size != (x2 - x1 + 1, y2 - y1 + 1):
                warnings.add("mask shape whose PNG is not the size of its box skipped", where)
                return None
            crop = np.asarray(image)  # labelme: the PNG's values as bool
            crop = crop.any(axis=2) if crop.ndim == 3 else crop.astype(bool)
    except (binascii.Error, ValueError, OSError, SyntaxError, EOFError, Image.DecompressionBombError):
        warnings.add("mask shape whose PNG cannot be read skipped", where)
        return None
    mask = np.zeros((height, width), bool)
    mask[y1 : y2 + 1, x1 : x2 + 1] = crop
    return mask

