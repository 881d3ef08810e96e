"""Import of YouTube-VIS (2019, 2021, OVIS: the same JSON) and of the results files models write.

``path`` is the JSON file or its folder (``instances.json``, else its one ``.json`` file)::

    {"videos": [{"id": 1, "width": 1280, "height": 720, "length": 36,
                 "file_names": ["0b6db1c6fd/00000.jpg", "0b6db1c6fd/00005.jpg", ...]}],
     "categories": [{"id": 1, "name": "person"}, ...],
     "annotations": [{"video_id": 1, "category_id": 1, "segmentations": [RLE or polygons or null, ...],
                      "score": 0.9 (results files), ...}]}

A video's frames are the folder its ``file_names`` share: ``JPEGImages/<folder>`` beside the JSON
(YouTube-VIS' layout), or ``images_dir/<folder>`` (also below ``images_dir/JPEGImages``); entry i
of a track is the frame file ``file_names[i]``. A video file ``images_dir/<folder>.<ext>`` is
used first when there is one, frame ``00005.jpg`` being its frame 5 (samdesk's exports name
their frames so). ``null`` entries are frames where the object is absent.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from model_runtime.image_sequence import is_sequence, sequence_files
from model_runtime.media import VIDEO_SUFFIXES
from samdesk.document import masks
from samdesk.document.model import FrameAnnotation, MediaItem, MediaKind, Project, Provenance
from samdesk.io.coco import finite_number, segmentation_mask
from samdesk.io.common import (
    CancelFn,
    DatasetError,
    ProgressFn,
    check_size,
    dataset_file,
    media_info,
    read_json,
    report,
)
from samdesk.io.import_plan import ImportPlan, ImportResult


def import_ytvis(
    project: Project,
    path: Path,
    images_dir: Path,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    *,
    keep_duplicates: bool = False,
) -> ImportResult:
    """Read a YouTube-VIS JSON file (see the module docstring); ``project`` is only read."""
    path, images_dir = Path(path), Path(images_dir)
    json_path = dataset_file(path, "instances.json")
    data = read_json(json_path)
    if not isinstance(data, dict) or not isinstance(data.get("videos"), list):
        raise DatasetError(f"{json_path}: not YouTube-VIS JSON (no 'videos' list)")
    annotations = data.get("annotations", [])
    categories = data.get("categories", [])
    if not isinstance(annotations, list) or not isinstance(categories, list):
        raise DatasetError(f"{json_path}: 'annotations' and 'categories' must be lists")
    plan = ImportPlan(project, keep_duplicates=keep_duplicates)
    names: dict[int, str] = {}
    for entry in categories:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("id"), int)
            and isinstance(entry.get("name"), str)
        ):
            raise DatasetError(
                f"{json_path}: every category needs an integer id and a name, got {entry!r:.80}"
            )
        names[entry["id"]] = entry["name"]
        plan.category(entry["name"])
    tracks: dict[int, list[dict]] = {}
    for index, ann in enumerate(annotations):
        if not isinstance(ann, dict) or not isinstance(ann.get("video_id"), int):
            raise DatasetError(f"{json_path}: annotation #{index} has no integer video_id")
        tracks.setdefault(ann["video_id"], []).append(ann)
    videos = data["videos"]
    for done, video in enumerate(videos):
        report(progress, cancel, done, len(videos))
        _import_video(plan, video, tracks, names, json_path, images_dir)
    report(progress, cancel, len(videos), len(videos))
    return plan.result(f"import {json_path.name}")


def _import_video(
    plan: ImportPlan, video: object, tracks: dict, names: dict[int, str], json_path: Path, images_dir: Path
) -> None:
    if not (
        isinstance(video, dict)
        and isinstance(video.get("id"), int)
        and isinstance(video.get("file_names"), list)
        and video["file_names"]
        and all(isinstance(n, str) and n and "\x00" not in n for n in video["file_names"])
    ):
        raise DatasetError(
            f"{json_path}: every video needs an id and a list of file_names, got {video!r:.80}"
        )
    file_names: list[str] = video["file_names"]
    folders = {PurePosixPath(n).parent.as_posix() for n in file_names}
    if len(folders) != 1:
        plan.warnings.add("video whose frames are in several folders skipped", f"video {video['id']}")
        return
    folder = folders.pop()
    source = _video_source(folder, json_path, images_dir)
    if source is None:
        plan.warnings.add("frames of a video not found; skipped with its tracks", folder)
        return
    info = media_info(source)
    if info.kind != "video":
        raise DatasetError(f"{source}: expected a video or a folder of frames, found an {info.kind}")
    width, height = info.width, info.height
    declared = (video.get("width"), video.get("height"))
    if all(isinstance(v, int) and not isinstance(v, bool) for v in declared):
        check_size(declared[0], declared[1], f"{json_path}: video {video['id']}")  # type: ignore[arg-type]
        if declared != (width, height):
            raise DatasetError(
                f"{json_path}: video {video['id']} is declared {declared[0]}×{declared[1]}, "
                f"{source.name} is {width}×{height}"
            )
    frame_of = _frame_numbers(file_names, source, info.frame_count, plan, folder)
    media: MediaItem = plan.media(source, MediaKind.VIDEO, width, height, info.frame_count, info.fps)
    for ann in tracks.get(video["id"], []):
        where = f"{folder} track {str(ann.get('id'))[:12]}"
        segmentations = ann.get("segmentations")
        if not isinstance(segmentations, list) or len(segmentations) != len(file_names):
            plan.warnings.add("track whose segmentations do not match the video's frames skipped", where)
            continue
        category = ann.get("category_id")
        if not (isinstance(category, int) and not isinstance(category, bool) and category in names):
            if category is not None:
                plan.warnings.add(
                    "unknown category id; track kept without category", f"{where}: {category!r:.20}"
                )
            category = None
        score = finite_number(ann.get("score"))
        frames: dict[int, FrameAnnotation] = {}
        for index, segmentation in enumerate(segmentations):
            if segmentation is None or frame_of[index] is None:
                continue
            mask = segmentation_mask(segmentation, height, width, plan.warnings, f"{where} frame {index}")
            if mask is not None:
                frames[frame_of[index]] = FrameAnnotation(
                    masks.encode(mask), Provenance.IMPORTED, score=score
                )  # type: ignore[index]
        if not frames:
            plan.warnings.add("track with no mask on any frame skipped", where)
            continue
        plan.add_object(media, plan.category(names[category]) if category is not None else None, frames)


def _video_source(folder: str, json_path: Path, images_dir: Path) -> Path | None:
    for suffix in sorted(VIDEO_SUFFIXES):
        candidate = images_dir / (folder + suffix)
        if candidate.is_file():
            return candidate
    for root in (json_path.parent / "JPEGImages", images_dir, images_dir / "JPEGImages"):
        if is_sequence(root / folder):
            return root / folder
    return None


def _frame_numbers(
    file_names: list[str], source: Path, count: int, plan: ImportPlan, folder: str
) -> list[int | None]:
    """Frame index in ``source`` of each listed file (None: not there, warned)."""
    if source.is_dir():
        index = {p.name: i for i, p in enumerate(sequence_files(source))}
        found = [index.get(PurePosixPath(n).name) for n in file_names]
    else:
        stems = [PurePosixPath(n).stem for n in file_names]
        found = [
            int(s) if s.isascii() and s.isdigit() and len(s) < 12 and int(s) < count else None for s in stems
        ]
    missing = sum(1 for f in found if f is None)
    if missing:
        plan.warnings.add(
            "listed frame not in the video; its masks skipped", f"{folder} ({missing} frames)", missing
        )
    return found
