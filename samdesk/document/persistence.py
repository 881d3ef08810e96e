"""Project files: one JSON file ``*.samdesk.json`` per project, saved atomically, loaded strictly.

Saving never leaves a half-written project behind: the bytes go to a temporary file in the same
folder, are flushed to disk, and replace the old file in one ``os.replace`` (atomic on POSIX and
Windows); the folder is then synced so the rename itself survives a power cut. A crash at any
moment leaves either the old or the new file.

Loading checks every field before building anything and reports the first problem as a
:class:`ProjectFileError` naming the file and the JSON location. It never writes to the file.
Media files that are not where the project says are *reported* (``LoadedProject.missing_media``),
not dropped: the user relocates them (``samdesk.document.relocate``).

The format is described in ``docs/project-format.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import samdesk
from model_runtime.prompts import Exemplar, PromptError, Prompts
from samdesk.document import masks
from samdesk.document.files import TEMP_SUFFIX, write_new_file
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
from samdesk.document.media_files import frame_count_problem, media_present, size_problem
from samdesk.document.model import (
    SCHEMA_VERSION,
    AnnotationObject,
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

FORMAT_NAME = "samdesk-project"
APP_NAME = "samdesk"
# Temporary files of interrupted saves older than this are removed by the next save.
_STALE_TEMP_S = 3600.0


class ProjectFileError(Exception):
    """A project file that cannot be read or written; ``str()`` names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ProjectChangedOnDisk(ProjectFileError):
    """The project file was changed on disk (by another window or program) since this document
    read or wrote it; saving would overwrite that change, so the user must be asked first."""


@dataclass(frozen=True)
class FileStamp:
    """A project file as samdesk last read or wrote it: size, modification time and content hash.

    A later save compares it with the file on disk (:func:`changed_on_disk`): the size and time
    make the check cheap, the hash makes it exact (a file rewritten with the same bytes, or only
    touched, has not changed; one rewritten within the same clock tick has).
    """

    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, stat: os.stat_result, content: bytes) -> FileStamp:
        """The stamp of a file whose status was ``stat`` and bytes ``content``. Take the status
        before reading (a change in between then shows as a change, never hides as none)."""
        return cls(stat.st_size, stat.st_mtime_ns, hashlib.sha256(content).hexdigest())


def changed_on_disk(path: str | Path, stamp: FileStamp) -> bool:
    """Whether the file at ``path`` differs from ``stamp`` (a file since deleted has not changed:
    saving then overwrites nobody's work)."""
    path = Path(path)
    try:
        stat = path.stat()
        if (stat.st_size, stat.st_mtime_ns) == (stamp.size, stamp.mtime_ns):
            return False
        return hashlib.sha256(path.read_bytes()).hexdigest() != stamp.sha256
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: ask rather than overwrite


@dataclass
class LoadedProject:
    """A loaded project and what the user should be told about it. ``stamp``: the file as read,
    for :func:`save_project`'s ``expected``."""

    project: Project
    path: Path
    missing_media: list[MediaItem] = field(default_factory=list)
    # Harmless inconsistencies fixed while loading (e.g. an id counter behind the ids in use).
    repairs: list[str] = field(default_factory=list)
    stamp: FileStamp | None = None  # None only for results built by hand


# --- saving ---------------------------------------------------------------------------------


def save_project(project: Project, path: str | Path, *, expected: FileStamp | None = None) -> FileStamp:
    """Write ``project`` to ``path`` atomically (temp file + fsync + ``os.replace`` + folder fsync);
    returns the written file's stamp.

    Raises :class:`ProjectFileError` when the project is inconsistent (a mask that does not fit
    its media, a reference to a removed category: a file that would not load again), cannot be
    encoded (a setting that is not JSON) or the file cannot be written; the previous file is
    then untouched. With ``expected`` (the stamp from loading or the last save), a file changed
    on disk since then raises :class:`ProjectChangedOnDisk` instead of being overwritten.
    """
    path = Path(path).absolute()
    try:
        _check_consistency(project.categories, project.media, project.objects)
    except Invalid as exc:
        # Writing it would produce a file that cannot be opened again; keep the last good one.
        raise ProjectFileError(path, f"cannot save: the project is inconsistent: {exc}") from exc
    try:
        data = project_to_json(project, path.parent)
        payload = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        encoded = payload.encode("utf-8")  # a lone surrogate (from a file name, say) fails here
    except (TypeError, ValueError) as exc:
        problem = f"cannot save: the project holds a value JSON cannot store ({exc})"
        raise ProjectFileError(path, problem) from exc
    if expected is not None and changed_on_disk(path, expected):
        raise ProjectChangedOnDisk(
            path, "changed on disk since it was opened (by another window or program); not overwritten"
        )
    try:
        return FileStamp.of(atomic_write_bytes(path, encoded), encoded)
    except OSError as exc:
        raise ProjectFileError(path, f"cannot save: {exc.strerror or exc}") from exc


def atomic_write_bytes(path: Path, data: bytes) -> os.stat_result:
    """Replace ``path`` by ``data`` so that readers only ever see the old or the new content.
    Returns the new file's status as it was put in place (a rename keeps size and mtime)."""
    folder = path.parent
    temp = folder / f".{path.name}.{uuid.uuid4().hex[:12]}{TEMP_SUFFIX}"
    write_new_file(temp, data, durable=True)
    try:
        if path.exists():
            _copy_mode(path, temp)
        written = temp.stat()
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_folder(folder)
    _remove_stale_temps(path)
    return written


def _copy_mode(source: Path, target: Path) -> None:
    with contextlib.suppress(OSError):  # permissions are a nicety; the data is what matters
        os.chmod(target, source.stat().st_mode & 0o7777)


def _fsync_folder(folder: Path) -> None:
    """Persist the rename itself. Not possible (nor needed) on Windows, where open() of a folder fails."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_stale_temps(path: Path) -> None:
    """Delete temp files that killed saves of this project left behind (old ones only: a temp
    file younger than the threshold may belong to a save still running in another process)."""
    now = time.time()
    for temp in path.parent.glob(f".{glob_escape(path.name)}.*{TEMP_SUFFIX}"):
        try:
            if now - temp.stat().st_mtime > _STALE_TEMP_S:
                temp.unlink()
        except OSError:
            pass


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


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


# --- loading --------------------------------------------------------------------------------


def load_project(path: str | Path) -> LoadedProject:
    """Read and validate a project file. Raises :class:`ProjectFileError`; never writes the file."""
    path = Path(path).absolute()
    try:
        status = path.stat()
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ProjectFileError(path, "no such file") from exc
    except IsADirectoryError as exc:
        raise ProjectFileError(path, "is a folder, not a project file") from exc
    except OSError as exc:
        raise ProjectFileError(path, f"cannot read: {exc.strerror or exc}") from exc
    if not raw.strip():
        raise ProjectFileError(path, "the file is empty (not a samdesk project)")
    try:
        data = json.loads(raw.decode("utf-8-sig"), parse_constant=_reject_constant, parse_float=_finite_float)
    except UnicodeDecodeError as exc:
        raise ProjectFileError(path, f"not a text file (invalid UTF-8 at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        hint = " (the file is truncated)" if _is_truncation(exc) else ""
        # json's messages may end in "at" ("Unterminated string starting at"): say where once.
        problem = exc.msg.removesuffix(" at")
        raise ProjectFileError(
            path, f"not valid JSON{hint}: {problem} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise ProjectFileError(path, "not a samdesk project (JSON nested too deeply)") from exc
    except ValueError as exc:  # e.g. an integer literal longer than Python accepts
        raise ProjectFileError(path, f"not valid JSON: {exc}") from exc
    except MemoryError as exc:
        raise ProjectFileError(path, _too_large(len(raw))) from exc
    try:
        project, repairs = project_from_json(data, path.parent)
    except Invalid as exc:
        raise ProjectFileError(path, str(exc)) from exc
    except MemoryError as exc:  # e.g. validating a mask string of hundreds of megabytes
        raise ProjectFileError(path, _too_large(len(raw))) from exc
    missing = [m for m in project.media if not media_present(m.path)]
    stamp = FileStamp.of(status, raw)
    return LoadedProject(project=project, path=path, missing_media=missing, repairs=repairs, stamp=stamp)


# What may follow the point where a truncated file stopped: the start of a number or a literal.
_LITERAL_PREFIX = re.compile(
    r"-?[0-9.eE+-]*|t(r(ue?)?)?|f(a(l(se?)?)?)?|n(u(ll?)?)?|N(aN?)?|-?I(n(f(i(n(i(ty?)?)?)?)?)?)?"
)


def _is_truncation(exc: json.JSONDecodeError) -> bool:
    """Whether the JSON only lacks its end: the parser failed at the end of the text, inside a
    string that never closes, or at a number or literal cut short."""
    rest = exc.doc[exc.pos :].rstrip()
    if exc.msg.startswith("Unterminated string") or not rest:
        return True
    if exc.msg.startswith("Invalid \\uXXXX escape") or exc.msg.startswith("Invalid \\escape"):
        return len(rest) < 6  # a backslash escape cut short
    return _LITERAL_PREFIX.fullmatch(rest) is not None


def _too_large(size: int) -> str:
    return f"not enough memory to read it ({size / 1e6:.0f} MB; a project is normally a few MB)"


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed in a project file")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as inf, which could never be saved again
        raise ValueError(f"number {text[:40]} is out of range")
    return value


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

    _check_consistency(categories, media, objects)
    next_ids, repairs = _next_ids(top.get("next_ids", {}), categories, media, objects)
    project = Project(
        categories=categories, media=media, objects=objects, settings=settings, next_ids=next_ids
    )
    return project, repairs


def _check_consistency(
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
    )


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
    return index, FrameAnnotation(
        rle={"size": list(rle["size"]), "counts": rle["counts"]},
        provenance=provenance,
        score=score,
        prompts=prompts,
        model_id=model_id,
        object_score=get_optional_number(d, "object_score", where),
        tracked_from=_tracked_from(d.get("tracked_from"), f"{where}.tracked_from"),
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
