"""A project and its JSON form, both ways: every record to the file's JSON object, and that
object back to records with every field checked (``Invalid`` names the JSON location).

File handling (atomic saves, reading, the checks on the raw bytes) is ``persistence.py``; the
format itself is described in ``docs/project-format.md``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import samdesk
from model_runtime.prompts import Exemplar, PromptError, Prompts
from samdesk.document import masks
from samdesk.document.attributes import clean_tags, value_problem
from samdesk.document.json_fields import (
    Invalid,
    as_dict,
    get_bool,
    get_enum,
    get_id,
    get_int,
    get_list,
    get_optional_number,
    get_str,
    is_int,
    numbers,
    unique,
)
from samdesk.document.media_files import frame_count_problem, size_problem
from samdesk.document.model import (
    SCHEMA_VERSION,
    AnnotationObject,
    AttributeValue,
    Category,
    FrameAnnotation,
    MediaItem,
    MediaKind,
    MediaStatus,
    Project,
    Provenance,
    TrackedFrom,
    TrackerAbsence,
)
from samdesk.document.shapes import polygon_problem

FORMAT_NAME = "samdesk-project"
APP_NAME = "samdesk"


# --- to JSON --------------------------------------------------------------------------------


def project_to_json(project: Project, base_folder: Path) -> dict[str, Any]:
    """The file's JSON object; media paths under ``base_folder`` are stored relative to it."""
    return {
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "app": {"name": APP_NAME, "version": samdesk.__version__},
        "next_ids": dict(project.next_ids),
        "settings": project.settings,
        "categories": [{"id": c.id, "name": c.name, "color": list(c.color)} for c in project.categories],
        "media": [_media_to_json(m, base_folder) for m in project.media],
        "objects": [_object_to_json(o) for o in project.objects],
    }


def _media_to_json(item: MediaItem, base_folder: Path) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": MediaKind(item.kind).value,
        "path": _stored_path(item.path, base_folder),
        "width": item.width,
        "height": item.height,
        "frame_count": item.frame_count,
        "fps": _finite_or_none(item.fps),
        "content_hash": item.content_hash,
        "status": MediaStatus(item.status).value,
        "done_frames": sorted(item.done_frames),
        **({"tags": list(item.tags)} if item.tags else {}),
    }


def _stored_path(path: str, base_folder: Path) -> str:
    """Relative (with ``/``) when the media lies in the project's folder tree, else absolute.

    Paths that climb out with ``..`` are not used: moving the project file alone would break
    them, while an absolute path keeps working until the media itself moves.
    """
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(os.path.abspath(base_folder)).as_posix()
    except ValueError:
        return str(absolute)


def _object_to_json(obj: AnnotationObject) -> dict[str, Any]:
    data = {
        "id": obj.id,
        "media_id": obj.media_id,
        "category_id": obj.category_id,
        "name": obj.name,
        "visible": obj.visible,
        "locked": obj.locked,
        "frames": [_frame_to_json(index, obj.frames[index]) for index in sorted(obj.frames)],
    }
    if obj.absent:  # tracked videos only
        data["absent"] = [_absence_to_json(index, obj.absent[index]) for index in sorted(obj.absent)]
    if obj.attributes:
        data["attributes"] = dict(obj.attributes)
    return data


def _absence_to_json(index: int, absence: TrackerAbsence) -> dict[str, Any]:
    data: dict[str, Any] = {"frame": index, "object_score": _finite_or_none(absence.object_score)}
    if absence.tracked_from is not None:
        data["tracked_from"] = _tracked_from_to_json(absence.tracked_from)
    data["model_id"] = absence.model_id
    return data


def _tracked_from_to_json(source: TrackedFrom) -> dict[str, Any]:
    return {"frame": int(source.frame), "mask": source.mask_digest}


def _frame_to_json(index: int, frame: FrameAnnotation) -> dict[str, Any]:
    data: dict[str, Any] = {
        "frame": index,
        "rle": {"size": [int(v) for v in frame.rle["size"]], "counts": _counts_str(frame.rle["counts"])},
        "provenance": Provenance(frame.provenance).value,
        # A model may report NaN; "unknown" is the honest thing to store and keeps the file JSON.
        "score": _finite_or_none(frame.score),
        "model_id": frame.model_id,
    }
    if not frame.prompts.is_empty():  # most frames (tracked, drawn, imported) have none
        data["prompts"] = _prompts_to_json(frame.prompts)
    if frame.object_score is not None:  # tracked frames only
        data["object_score"] = _finite_or_none(frame.object_score)
    if frame.tracked_from is not None:
        data["tracked_from"] = _tracked_from_to_json(frame.tracked_from)
    if frame.polygon is not None:  # polygon annotations only
        data["polygon"] = [[float(x), float(y)] for x, y in frame.polygon]
    return data


def _prompts_to_json(prompts: Prompts) -> dict[str, Any]:
    """The prompts' non-empty fields; ``mask_input`` is never stored."""
    data: dict[str, Any] = {}
    if prompts.points:
        data["points"] = [[float(x), float(y)] for x, y in prompts.points]
        data["labels"] = [int(v) for v in prompts.labels]
    if prompts.box is not None:
        data["box"] = [float(v) for v in prompts.box]
    if prompts.exemplars:
        data["exemplars"] = [
            {"box": [float(v) for v in e.box], "positive": bool(e.positive)} for e in prompts.exemplars
        ]
    if prompts.text is not None:
        data["text"] = prompts.text if isinstance(prompts.text, str) else list(prompts.text)
    return data


def _counts_str(counts: object) -> str:
    if isinstance(counts, bytes):
        return counts.decode("ascii")
    if isinstance(counts, str):
        return counts
    raise TypeError(f"mask counts must be compressed (str), got {type(counts).__name__}")


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


# --- from JSON ------------------------------------------------------------------------------


def project_from_json(data: object, base_folder: Path) -> tuple[Project, list[str]]:
    """Validate the file's JSON object and build the project; relative paths resolve against
    ``base_folder``. Returns the project and a list of repairs made. Raises ``Invalid``."""
    top = as_dict(data, "", "the file")
    if "format" in top and top["format"] != FORMAT_NAME:
        raise Invalid("format", f"is {top['format']!r}, not a samdesk project")
    version = get_int(top, "schema_version", "")
    if version > SCHEMA_VERSION:
        raise Invalid(
            "",
            f"saved by a newer samdesk (project format {version}; this version reads up to "
            f"{SCHEMA_VERSION}). Update samdesk to open it.",
        )
    if version < 1:
        raise Invalid("schema_version", f"must be at least 1, got {version}")
    settings = as_dict(top.get("settings", {}), "settings", "settings")

    categories = [_category(c, f"categories[{i}]") for i, c in enumerate(get_list(top, "categories", ""))]
    media = [_media(m, f"media[{i}]", base_folder) for i, m in enumerate(get_list(top, "media", ""))]
    objects = [_object(o, f"objects[{i}]") for i, o in enumerate(get_list(top, "objects", ""))]

    check_consistency(categories, media, objects)
    next_ids, repairs = _next_ids(top.get("next_ids", {}), categories, media, objects)
    project = Project(
        categories=categories, media=media, objects=objects, settings=settings, next_ids=next_ids
    )
    return project, repairs


def check_consistency(
    categories: list[Category], media: list[MediaItem], objects: list[AnnotationObject]
) -> None:
    """Rules that span records: unique ids, references that resolve, masks that fit their media.
    Shared by loading and saving, so that a saved file always loads again."""
    unique((c.id for c in categories), "categories", "category")
    unique((m.id for m in media), "media", "media")
    unique((o.id for o in objects), "objects", "object")
    category_ids = {c.id for c in categories}
    media_by_id = {m.id: m for m in media}
    for i, obj in enumerate(objects):
        where = f"objects[{i}] (id {obj.id})"
        item = media_by_id.get(obj.media_id)
        if item is None:
            raise Invalid(where, f"refers to media {obj.media_id}, which the project does not have")
        if obj.category_id is not None and obj.category_id not in category_ids:
            raise Invalid(where, f"refers to category {obj.category_id}, which the project does not have")
        for index, frame in obj.frames.items():
            if not 0 <= index < item.frame_count:
                problem = f"has a mask on frame {index} but {item.name} has {item.frame_count} frames"
                raise Invalid(where, problem)
            if [int(v) for v in frame.rle["size"]] != [item.height, item.width]:
                raise Invalid(
                    where,
                    f"mask on frame {index} is {frame.rle['size'][1]}x{frame.rle['size'][0]} "
                    f"but {item.name} is {item.width}x{item.height}",
                )
        for index in obj.absent:
            if not 0 <= index < item.frame_count:
                problem = f"is marked absent on frame {index} but {item.name} has {item.frame_count} frames"
                raise Invalid(where, problem)


def _next_ids(
    value: object, categories: list[Category], media: list[MediaItem], objects: list[AnnotationObject]
) -> tuple[dict[str, int], list[str]]:
    stored = as_dict(value, "next_ids", "next_ids")
    result: dict[str, int] = {}
    repairs: list[str] = []
    for kind, ids in (("category", categories), ("media", media), ("object", objects)):
        in_use = max((x.id for x in ids), default=0) + 1
        wanted = get_int(stored, kind, "next_ids") if kind in stored else in_use
        # A counter behind the ids in use would hand out an id twice; moving it forward is lossless.
        if wanted < in_use:
            repairs.append(f"next {kind} id moved from {wanted} to {in_use}")
        result[kind] = max(wanted, in_use)
    return result, repairs


def _category(value: object, where: str) -> Category:
    d = as_dict(value, where, "a category")
    color = get_list(d, "color", where)
    if len(color) != 3 or not all(is_int(v) and 0 <= v <= 255 for v in color):
        raise Invalid(f"{where}.color", "must be three integers 0-255")
    name = get_str(d, "name", where)
    return Category(id=get_id(d, "id", where), name=name, color=(color[0], color[1], color[2]))


def _media(value: object, where: str, base_folder: Path) -> MediaItem:
    d = as_dict(value, where, "a media item")
    kind = get_enum(d, "kind", where, MediaKind)
    stored_path = get_str(d, "path", where)
    if not stored_path or "\x00" in stored_path:
        raise Invalid(f"{where}.path", "must be a non-empty file path")
    path = stored_path if os.path.isabs(stored_path) else os.path.normpath(base_folder / stored_path)
    width, height = get_int(d, "width", where), get_int(d, "height", where)
    problem = size_problem(width, height)
    if problem is not None:
        raise Invalid(where, problem)
    frame_count = get_int(d, "frame_count", where) if "frame_count" in d else 1
    if frame_count < 1 or (kind is MediaKind.IMAGE and frame_count != 1):
        raise Invalid(f"{where}.frame_count", f"{frame_count} frames is impossible for {kind.value} media")
    problem = frame_count_problem(frame_count)
    if problem is not None:
        raise Invalid(f"{where}.frame_count", problem)
    fps = get_optional_number(d, "fps", where)
    if fps is not None and fps <= 0:
        raise Invalid(f"{where}.fps", f"must be positive, got {fps}")
    content_hash = get_str(d, "content_hash", where) if "content_hash" in d else ""
    done = get_list(d, "done_frames", where) if "done_frames" in d else []
    if not all(is_int(v) and 0 <= v < frame_count for v in done):
        raise Invalid(f"{where}.done_frames", f"must be frame numbers 0-{frame_count - 1}")
    status = get_enum(d, "status", where, MediaStatus) if "status" in d else MediaStatus.NEW
    tags = get_list(d, "tags", where, [])
    if not all(isinstance(t, str) for t in tags) or clean_tags(tags) != tags:
        raise Invalid(f"{where}.tags", "must be a list of distinct, non-empty tags")
    return MediaItem(
        id=get_id(d, "id", where),
        kind=kind,
        path=str(path),
        width=width,
        height=height,
        frame_count=frame_count,
        fps=fps,
        content_hash=content_hash,
        status=status,
        done_frames=set(done),
        tags=list(tags),
    )


def _object(value: object, where: str) -> AnnotationObject:
    d = as_dict(value, where, "an object")
    category_id = d.get("category_id")
    if category_id is not None and not is_int(category_id):
        raise Invalid(f"{where}.category_id", "must be an integer or null")
    frames: dict[int, FrameAnnotation] = {}
    for i, f in enumerate(get_list(d, "frames", where)):
        index, annotation = _frame(f, f"{where}.frames[{i}]")
        if index in frames:
            raise Invalid(f"{where}.frames[{i}]", f"frame {index} appears twice")
        frames[index] = annotation
    absent: dict[int, TrackerAbsence] = {}
    for i, a in enumerate(get_list(d, "absent", where, [])):
        index, absence = _absence(a, f"{where}.absent[{i}]")
        if index in absent:
            raise Invalid(f"{where}.absent[{i}]", f"frame {index} appears twice")
        absent[index] = absence
    return AnnotationObject(
        id=get_id(d, "id", where),
        media_id=get_id(d, "media_id", where),
        category_id=category_id,
        frames=frames,
        name=get_str(d, "name", where) if "name" in d else "",
        visible=get_bool(d, "visible", where) if "visible" in d else True,
        locked=get_bool(d, "locked", where) if "locked" in d else False,
        absent=absent,
        attributes=_attributes(d.get("attributes", {}), f"{where}.attributes"),
    )


def _attributes(value: object, where: str) -> dict[str, AttributeValue]:
    d = as_dict(value, where, "attributes")
    for name, item in d.items():
        problem = value_problem(name, item)
        if problem is not None:
            raise Invalid(f"{where}.{name}", problem)
    return dict(d)


def _frame_index(d: dict[str, Any], where: str) -> int:
    index = get_int(d, "frame", where)
    if index < 0:
        raise Invalid(f"{where}.frame", f"must be >= 0, got {index}")
    return index


def _absence(value: object, where: str) -> tuple[int, TrackerAbsence]:
    d = as_dict(value, where, "an absence")
    index = _frame_index(d, where)
    model_id = d.get("model_id")
    if model_id is not None and not isinstance(model_id, str):
        raise Invalid(f"{where}.model_id", "must be a string or null")
    return index, TrackerAbsence(
        object_score=get_optional_number(d, "object_score", where),
        tracked_from=_tracked_from(d.get("tracked_from"), f"{where}.tracked_from"),
        model_id=model_id,
    )


def _tracked_from(value: object, where: str) -> TrackedFrom | None:
    if value is None:
        return None
    d = as_dict(value, where, "a keyframe reference")
    digest = get_str(d, "mask", where)
    if not digest:
        raise Invalid(f"{where}.mask", "must be a mask digest")
    return TrackedFrom(_frame_index(d, where), digest)


def _frame(value: object, where: str) -> tuple[int, FrameAnnotation]:
    d = as_dict(value, where, "a frame annotation")
    index = _frame_index(d, where)
    if "rle" not in d:
        raise Invalid(where, "missing field 'rle'")
    rle = d["rle"]
    if not masks.is_valid(rle):
        raise Invalid(f"{where}.rle", "is not a valid compressed RLE mask")
    model_id = d.get("model_id")
    if model_id is not None and not isinstance(model_id, str):
        raise Invalid(f"{where}.model_id", "must be a string or null")
    score = get_optional_number(d, "score", where)
    provenance = get_enum(d, "provenance", where, Provenance) if "provenance" in d else Provenance.MANUAL
    prompts = _prompts(d.get("prompts", {}), f"{where}.prompts")
    polygon = d.get("polygon")
    if polygon is not None and (problem := polygon_problem(polygon)) is not None:
        raise Invalid(f"{where}.polygon", problem)
    return index, FrameAnnotation(
        rle={"size": list(rle["size"]), "counts": rle["counts"]},
        provenance=provenance,
        score=score,
        prompts=prompts,
        model_id=model_id,
        object_score=get_optional_number(d, "object_score", where),
        tracked_from=_tracked_from(d.get("tracked_from"), f"{where}.tracked_from"),
        polygon=None if polygon is None else tuple((float(x), float(y)) for x, y in polygon),
    )


def _prompts(value: object, where: str) -> Prompts:
    d = as_dict(value, where, "prompts")
    points = [numbers(p, f"{where}.points[{i}]", 2) for i, p in enumerate(get_list(d, "points", where, []))]
    labels = get_list(d, "labels", where, [])
    if not all(is_int(v) and v in (0, 1) for v in labels):
        raise Invalid(f"{where}.labels", "must be 0 (background) or 1 (foreground)")
    if len(labels) != len(points):
        raise Invalid(where, f"{len(points)} points but {len(labels)} labels")
    box = d.get("box")
    exemplars = []
    for i, e in enumerate(get_list(d, "exemplars", where, [])):
        ed = as_dict(e, f"{where}.exemplars[{i}]", "an exemplar")
        exemplars.append(
            Exemplar(
                box=_box(ed.get("box"), f"{where}.exemplars[{i}].box"),
                positive=get_bool(ed, "positive", f"{where}.exemplars[{i}]") if "positive" in ed else True,
            )
        )
    text = d.get("text")
    # Version 1 stores one phrase or null; version 2 also a list of phrases.
    if text is not None and not isinstance(text, str) and not (
        isinstance(text, list) and all(isinstance(t, str) for t in text)
    ):
        raise Invalid(f"{where}.text", "must be a phrase, a list of phrases or null")
    try:
        return Prompts(
            points=tuple((p[0], p[1]) for p in points),
            labels=tuple(labels),
            box=None if box is None else _box(box, f"{where}.box"),
            exemplars=tuple(exemplars),
            text=text,
        )
    except PromptError as exc:  # the checks above should leave nothing for it to refuse
        raise Invalid(where, str(exc)) from exc


def _box(value: object, where: str) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = numbers(value, where, 4)
    return (x0, y0, x1, y1)
