"""Import of CVAT XML 1.1: "CVAT for images" (``<image>`` elements) and "CVAT for video" (``<track>``).

``path`` is the XML file or the folder of an unzipped CVAT export (``annotations.xml`` beside
``images/``). Labels become categories in the file's order.

* **Images.** An image is ``images/<name>`` beside the XML, else ``images_dir/<name>`` (then
  the bare file name). Shapes with the same label and a ``group_id`` are one object; the others
  one object each; objects are drawn in ``z_order``. Polygons are rasterised as pycocotools does
  (as datumaro and CVAT's COCO export do), ellipses as 72-sided polygons, rotated boxes as their
  four corners; masks (``rle`` runs, row-major in the box ``left, top, width, height``, starting
  with background) are pasted at their place. An object made only of boxes is a box-only object
  (``samdesk/document/boxes.py``); a box grouped with masks is their box, not an area. Polylines,
  points, cuboids, skeletons and tags have no area: skipped, counted.
* **Video.** The video is ``images_dir/<meta source>`` (or beside the XML), else the export's
  ``images/`` frame folder, else ``images_dir`` as a folder of frames. Task frame ``f`` is video
  frame ``start_frame + f × step`` (``frame_filter`` ``step=N``) in a video file, frame ``f`` of
  a frame folder. Each track is one object with a mask (or a box) on every frame it is inside:
  between two keyframes CVAT interpolates, and so does the import when a file holds only the
  keyframes (boxes, ellipses and polygons of the same point count move linearly; other shapes
  and masks stay as at the earlier keyframe); ``outside="1"`` ends it until the next keyframe,
  and after its last keyframe a track lasts to the end of the task, as in CVAT.

Image tags (``<tag label=...>`` of an image) become the image's tags, and a label declared as
``<type>tag</type>`` is a tag only, not a category. A shape's ``occluded="1"`` and its
``<attribute>`` children become the object's attributes (``samdesk/document/attributes.py``):
checkbox values as true/false, numbers as numbers (the label's ``<input_type>`` says which),
others as text; a group's shapes pool theirs. A track's object gets its first shape's
attributes and ``occluded`` (CVAT lets them change along a track; the project keeps one set per
object).
``source`` is not kept.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from model_runtime.image_sequence import is_sequence
from samdesk.document import masks
from samdesk.document.attributes import OCCLUDED, value_problem
from samdesk.document.boxes import box_only_frame
from samdesk.document.masks import Rle
from samdesk.document.model import AttributeValue, FrameAnnotation, MediaItem, MediaKind, Project, Provenance
from samdesk.document.shapes import polygon_problem
from samdesk.io.common import (
    CancelFn,
    DatasetError,
    ProgressFn,
    Warnings,
    dataset_file,
    image_size,
    media_info,
    report,
)
from samdesk.io.cvat_xml import CvatFile, Shape, Track, read_cvat_xml
from samdesk.io.import_plan import ImportPlan, ImportResult
from samdesk.io.polygons import check_polygons, polygons_to_rle
from samdesk.io.shapes import clip_box

NO_AREA = ("polyline", "points", "cuboid", "skeleton")
ELLIPSE_SIDES = 72
Box = tuple[float, float, float, float]


def import_cvat(
    project: Project,
    path: Path,
    images_dir: Path,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    *,
    keep_duplicates: bool = False,
) -> ImportResult:
    """Read a CVAT for images / for video 1.1 XML file (see the module docstring)."""
    path, images_dir = Path(path), Path(images_dir)
    xml = dataset_file(path, "annotations.xml")
    data = read_cvat_xml(xml)
    plan = ImportPlan(project, keep_duplicates=keep_duplicates)
    for name in data.meta.labels:  # the file's label order becomes the project's
        if name not in data.meta.tag_labels:
            plan.category(name)
    total = len(data.images) + len(data.tracks)
    for done, image in enumerate(data.images):
        report(progress, cancel, done, total)
        _import_image(plan, image, xml, images_dir, data.meta.attribute_types)
    if data.tracks:
        _import_tracks(plan, data, xml, images_dir, progress, cancel, len(data.images), total)
    report(progress, cancel, total, total)
    return plan.result(f"import {xml.name}")


def _int(text: str | None, default: int | None = None) -> int | None:
    if text is None or not text.strip().lstrip("-").isdigit() or len(text) > 12:
        return default
    return int(text)


def _floats(shape: Shape, keys: tuple[str, ...]) -> list[float] | None:
    """Finite numbers of the attributes ``keys``, or None."""
    out = []
    for key in keys:
        try:
            value = float(shape.attrib.get(key, "nan"))
        except ValueError:
            return None
        if not math.isfinite(value):
            return None
        out.append(value)
    return out


# --- images ---------------------------------------------------------------------------------------


def _import_image(plan: ImportPlan, image, xml: Path, images_dir: Path, types: dict[str, str]) -> None:
    name = image.name
    media_path = next(
        (
            c
            for c in (xml.parent / "images" / name, images_dir / name, images_dir / Path(name).name)
            if name and "\x00" not in name and c.is_file()
        ),
        None,
    )
    if media_path is None:
        plan.warnings.add("image file missing; skipped with its shapes", name[:80])
        return
    width, height = image_size(media_path)
    declared = (_int(image.width), _int(image.height))
    if None not in declared and declared != (width, height):
        plan.warnings.add(
            "image declared at another size than its file; skipped",
            f"{name}: {declared[0]}×{declared[1]}, the file is {width}×{height}",
        )
        return
    media = plan.media(media_path, MediaKind.IMAGE, width, height)
    groups: dict[object, list[Shape]] = {}
    tags = [s.attrib.get("label", "") for s in image.shapes if s.kind == "tag"]
    if tags:
        plan.tag_media(media, tags)
    for index, shape in enumerate(image.shapes):
        if shape.kind == "tag":
            continue
        group = shape.attrib.get("group_id", "0")
        label = shape.attrib.get("label", "")
        key = (label, group) if group not in ("", "0") else index
        groups.setdefault(key, []).append(shape)
    ordered = sorted(
        groups.values(), key=lambda shapes: min(_int(s.attrib.get("z_order"), 0) for s in shapes)
    )
    for shapes in ordered:
        label = shapes[0].attrib.get("label", "")
        frame = _frame(shapes, height, width, plan.warnings, f"{name} '{label[:30]}'")
        if frame is not None:
            attributes = shape_attributes(shapes, types, plan.warnings, f"{name} '{label[:30]}'")
            plan.add_object(media, plan.category(label), {0: frame}, attributes=attributes)


def _frame(
    shapes: list[Shape], height: int, width: int, warnings: Warnings, where: str
) -> FrameAnnotation | None:
    """One object's frame from its shapes: the union of their areas, or the box of its boxes."""
    areas: list[Rle] = []
    boxes: list[Box] = []
    for shape in shapes:
        if shape.kind in NO_AREA:
            warnings.add(f"CVAT {shape.kind} has no area; skipped", where)
            continue
        if shape.kind == "box" and not _float_or(shape.attrib.get("rotation"), 0.0):
            box = _box(shape, height, width, warnings, where)
            if box is not None:
                boxes.append(box)
            continue
        rle = _area(shape, height, width, warnings, where)
        if rle is not None:
            areas.append(rle)
    if areas:
        rle = areas[0] if len(areas) == 1 else _union(areas)
        if masks.area(rle) == 0:
            warnings.add("empty mask skipped", where)
            return None
        polygon = None
        if len(shapes) == 1 and shapes[0].kind == "polygon":  # one polygon: a polygon annotation
            flat = _points(shapes[0].attrib.get("points", "")) or []
            points = [(flat[i], flat[i + 1]) for i in range(0, len(flat) - 1, 2)]
            polygon = tuple(points) if polygon_problem(points, height, width) is None else None
        return FrameAnnotation(rle, Provenance.IMPORTED, polygon=polygon)
    if boxes:
        corners = np.asarray(boxes)
        box = (corners[:, 0].min(), corners[:, 1].min(), corners[:, 2].max(), corners[:, 3].max())
        return box_only_frame(tuple(float(v) for v in box), height, width)  # type: ignore[arg-type]
    return None


def shape_attributes(
    shapes: list[Shape], types: dict[str, str], warnings: Warnings, where: str
) -> dict[str, AttributeValue]:
    """The object attributes of one object's shapes (see the module docstring)."""
    out: dict[str, AttributeValue] = {}
    if any(s.attrib.get("occluded") == "1" for s in shapes):
        out[OCCLUDED] = True
    for shape in shapes:
        for name, text in shape.attributes.items():
            value = _attribute_value(text, types.get(name, "text"))
            if value_problem(name, value) is not None:
                warnings.add("attribute without a usable name or value skipped", f"{where}: {name[:40]!r}")
            elif value is not False and value != "":
                out[name] = value
    return out


def _attribute_value(text: str, input_type: str) -> AttributeValue:
    text = text.strip()
    if input_type == "checkbox":
        return text.lower() == "true"
    if input_type == "number":
        number = _float_or(text, math.nan)
        if math.isfinite(number):
            return int(number) if number.is_integer() and "." not in text else number
    return text


def _float_or(text: str | None, default: float) -> float:
    try:
        value = float(text) if text is not None else default
    except ValueError:
        return default
    return value if math.isfinite(value) else default


def _box(shape: Shape, height: int, width: int, warnings: Warnings, where: str) -> Box | None:
    values = _floats(shape, ("xtl", "ytl", "xbr", "ybr"))
    if values is None:
        warnings.add("box with a missing or non-finite corner skipped", where)
        return None
    box = clip_box(*values, height, width)
    if box is None:
        warnings.add("box without area inside its image skipped", where)
    return box


def _area(shape: Shape, height: int, width: int, warnings: Warnings, where: str) -> Rle | None:
    """The RLE of a polygon, rotated box, ellipse or mask, or None (with a warning)."""
    if shape.kind == "mask":
        return _mask(shape, height, width, warnings, where)
    if shape.kind == "polygon":
        flat = _points(shape.attrib.get("points", ""))
    elif shape.kind == "box":
        flat = _rotated_box(shape)
    elif shape.kind == "ellipse":
        flat = _ellipse(shape)
    else:
        warnings.add(f"CVAT shape '{shape.kind[:20]}' not read; skipped", where)
        return None
    if flat is None:
        warnings.add(f"malformed {shape.kind}; skipped", where)
        return None
    checked = check_polygons([flat], height, width)
    if checked.refused is not None:
        warnings.add(checked.refused, where)
        return None
    if checked.clipped:
        warnings.add("polygon outside its image; clipped", where)
    return polygons_to_rle(checked.polygons, height, width)


def _points(text: str) -> list[float] | None:
    """CVAT's ``x0,y0;x1,y1;...`` -> flat floats (finite), or None."""
    flat: list[float] = []
    for pair in text.split(";"):
        xy = pair.split(",")
        if len(xy) != 2:
            return None
        try:
            flat += [float(xy[0]), float(xy[1])]
        except ValueError:
            return None
    return flat if all(math.isfinite(v) for v in flat) else None


def _rotated_box(shape: Shape) -> list[float] | None:
    values = _floats(shape, ("xtl", "ytl", "xbr", "ybr", "rotation"))
    if values is None:
        return None
    x0, y0, x1, y1, degrees = values
    cx, cy, angle = (x0 + x1) / 2, (y0 + y1) / 2, math.radians(degrees)  # clockwise on screen
    cos, sin = math.cos(angle), math.sin(angle)
    flat = []
    for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)):
        dx, dy = x - cx, y - cy
        flat += [cx + dx * cos - dy * sin, cy + dx * sin + dy * cos]
    return flat


def _ellipse(shape: Shape) -> list[float] | None:
    values = _floats(shape, ("cx", "cy", "rx", "ry"))
    if values is None:
        return None
    cx, cy, rx, ry = values
    angle = math.radians(_float_or(shape.attrib.get("rotation"), 0.0))
    t = np.linspace(0, 2 * np.pi, ELLIPSE_SIDES, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    xs = cx + x * math.cos(angle) - y * math.sin(angle)
    ys = cy + x * math.sin(angle) + y * math.cos(angle)
    return np.stack([xs, ys], axis=1).ravel().tolist()


def _mask(shape: Shape, height: int, width: int, warnings: Warnings, where: str) -> Rle | None:
    left, top = _int(shape.attrib.get("left")), _int(shape.attrib.get("top"))
    w, h = _int(shape.attrib.get("width")), _int(shape.attrib.get("height"))
    if None in (left, top, w, h) or not (0 <= left < width and 0 <= top < height):  # type: ignore[operator]
        warnings.add("mask without a box inside its image skipped", where)
        return None
    assert left is not None and top is not None and w is not None and h is not None
    if not (0 < w <= width - left and 0 < h <= height - top):
        warnings.add("mask without a box inside its image skipped", where)
        return None
    try:
        counts = [int(v) for v in shape.attrib.get("rle", "").split(",")]
    except ValueError:
        warnings.add("mask with malformed rle skipped", where)
        return None
    if any(c < 0 for c in counts) or sum(counts) > w * h:
        warnings.add("mask whose rle does not fit its box skipped", where)
        return None
    values = np.zeros(len(counts), np.uint8)
    values[1::2] = 1  # runs alternate background, foreground, ... from the box's first pixel
    crop = np.zeros(w * h, bool)
    crop[: sum(counts)] = np.repeat(values, counts).astype(bool)
    return masks.encode_box(crop.reshape(h, w), (left, top), (height, width))


def _union(rles: list[Rle]) -> Rle:
    coco = [{"size": r["size"], "counts": r["counts"].encode("ascii")} for r in rles]
    merged = mask_utils.merge(coco, intersect=False)
    return {"size": list(rles[0]["size"]), "counts": merged["counts"].decode("ascii")}


# --- video ----------------------------------------------------------------------------------------


def _import_tracks(
    plan: ImportPlan,
    data: CvatFile,
    xml: Path,
    images_dir: Path,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
    done: int,
    total: int,
) -> None:
    meta = data.meta
    source = _video_source(meta.source, xml, images_dir)
    if source is None:
        plan.warnings.add(
            "video of the tracks not found (no file named in <source>, no images/ folder); tracks skipped",
            meta.source or xml.name,
        )
        return
    info = media_info(source)
    if info.kind != "video":
        raise DatasetError(f"{source}: expected the video of {xml.name}, found an {info.kind}")
    width, height, count = info.width, info.height, info.frame_count
    declared = (_int(meta.original_size[0]), _int(meta.original_size[1]))
    if None not in declared and declared != (width, height):
        raise DatasetError(
            f"{xml}: frames are declared {declared[0]}×{declared[1]}, {source.name} is {width}×{height}"
        )
    start, step = (
        (0, 1) if source.is_dir() else (max(_int(meta.start_frame, 0) or 0, 0), _step(meta.frame_filter))
    )
    last = (count - 1 - start) // step  # the last task frame the video has
    size = _int(meta.size)
    if size is not None and size > 0:
        last = min(last, size - 1)
    media = plan.media(source, MediaKind.VIDEO, width, height, count, info.fps)
    for index, track in enumerate(data.tracks):
        report(progress, cancel, done + index, total)
        where = f"track {track.id[:12]} '{track.label[:30]}'"
        _import_track(plan, media, track, start, step, last, where, meta.attribute_types)


def _step(frame_filter: str | None) -> int:
    if frame_filter and frame_filter.strip().startswith("step="):
        return max(_int(frame_filter.strip()[5:], 1) or 1, 1)
    return 1


def _video_source(name: str | None, xml: Path, images_dir: Path) -> Path | None:
    folders = [xml.parent / "images", images_dir]
    if name and "\x00" not in name:
        for candidate in (images_dir / name, xml.parent / name, images_dir / Path(name).name):
            if candidate.is_file():
                return candidate
        folders.append(images_dir / Path(name).stem)
    return next((folder for folder in folders if is_sequence(folder)), None)


def _import_track(
    plan: ImportPlan,
    media: MediaItem,
    track: Track,
    start: int,
    step: int,
    last: int,
    where: str,
    types: dict[str, str],
) -> None:
    kinds = {shape.kind for shape in track.shapes}
    if kinds & set(NO_AREA) or "tag" in kinds:
        plan.warnings.add("CVAT track of shapes without area (polyline, points, ...) skipped", where)
        return
    frames: dict[int, FrameAnnotation] = {}
    for task_frame, shape in _track_shapes(track.shapes, last, plan.warnings, where).items():
        frame = _frame([shape], media.height, media.width, plan.warnings, f"{where} frame {task_frame}")
        if frame is not None:
            frames[start + task_frame * step] = frame
    if frames:
        first = [s for s in track.shapes if s.attrib.get("outside") != "1"][:1]
        attributes = shape_attributes(first, types, plan.warnings, where)
        plan.add_object(media, plan.category(track.label), frames, attributes=attributes)


def _track_shapes(shapes: list[Shape], last: int, warnings: Warnings, where: str) -> dict[int, Shape]:
    """The track's shape on each task frame 0..``last`` it is inside (see the module docstring)."""
    keyed: dict[int, Shape] = {}
    for shape in shapes:
        frame = _int(shape.attrib.get("frame"))
        if frame is None or frame < 0:
            warnings.add("track shape without a frame number skipped", where)
            continue
        if frame > last:
            warnings.add("track shape past the video's last frame skipped", where)
            continue
        keyed[frame] = shape
    frames = sorted(keyed)
    out: dict[int, Shape] = {}
    for i, frame in enumerate(frames):
        shape = keyed[frame]
        if shape.attrib.get("outside") == "1":
            continue
        following = keyed[frames[i + 1]] if i + 1 < len(frames) else None
        end = frames[i + 1] if following is not None else last + 1
        out[frame] = shape
        for g in range(frame + 1, end):
            moving = following is not None and following.attrib.get("outside") != "1"
            out[g] = _between(shape, following, (g - frame) / (end - frame)) if moving else shape  # type: ignore[arg-type]
    return out


def _between(a: Shape, b: Shape, t: float) -> Shape:
    """CVAT's linear interpolation of ``a`` towards ``b`` (``t`` in 0..1) where it is linear."""
    if a.kind != b.kind:
        return a
    keys = {"box": ("xtl", "ytl", "xbr", "ybr", "rotation"), "ellipse": ("cx", "cy", "rx", "ry", "rotation")}
    if a.kind in keys:
        attrib = dict(a.attrib)
        for key in keys[a.kind]:
            if key in a.attrib and key in b.attrib:
                va, vb = _float_or(a.attrib[key], 0.0), _float_or(b.attrib[key], 0.0)
                attrib[key] = repr(va + (vb - va) * t)
        return Shape(a.kind, attrib)
    if a.kind == "polygon":
        pa, pb = _points(a.attrib.get("points", "")), _points(b.attrib.get("points", ""))
        if pa is None or pb is None or len(pa) != len(pb):
            return a
        moved = [va + (vb - va) * t for va, vb in zip(pa, pb, strict=True)]
        text = ";".join(f"{moved[i]!r},{moved[i + 1]!r}" for i in range(0, len(moved), 2))
        return Shape(a.kind, {**a.attrib, "points": text})
    return a
