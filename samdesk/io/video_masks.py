"""Video masks: DAVIS / YouTube-VOS palette PNG folders and YouTube-VIS JSON.

DAVIS / YouTube-VOS layout under ``out``::

    Annotations/<video>/<frame:05d>.png   palette PNG, index = object (1..255), DAVIS palette
    meta.json                             YouTube-VOS style: each object's category and frames

``<video>`` is the video's path relative to the images root without its suffix. YouTube-VIS is
one JSON file: one entry per track with a per-frame RLE list, ``null`` where the object is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from samdesk.document import masks
from samdesk.document.model import (
    AnnotationObject,
    FrameAnnotation,
    MediaItem,
    MediaKind,
    Project,
    Provenance,
)
from samdesk.io.common import (
    CancelFn,
    DatasetError,
    ExportOptions,
    ExportResult,
    ProgressFn,
    SelectedMedia,
    exportable,
    frame_masks,
    images_root,
    out_of_memory_names,
    read_json,
    relative_name,
    report,
    select,
    video_info,
)
from samdesk.io.import_plan import ImportPlan, ImportResult
from samdesk.io.label_png import encode_palette, read_labels
from samdesk.io.output import open_output, unique_stems
from samdesk.io.runs import label_rles, paint

MAX_OBJECTS = 255
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")


def davis_palette() -> list[tuple[int, int, int]]:
    """The 256-colour palette of DAVIS and YouTube-VOS annotations (the PASCAL VOC colour map:
    the bits of the index are spread over the high bits of R, G and B)."""
    palette = []
    for index in range(256):
        r = g = b = 0
        c = index
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette.append((r, g, b))
    return palette


def export_davis(
    project: Project,
    out: Path,
    options: ExportOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExportResult:
    """Write each selected video as a folder of palette PNGs, one per frame that has masks
    (with ``only_done``, one per done frame, empty or not), plus meta.json."""
    options = options or ExportOptions()
    result = ExportResult()
    output = open_output(project, out, options, folder=True)
    categories, selected = select(project, options)
    selected = exportable(
        selected, MediaKind.VIDEO, "image skipped (DAVIS holds videos; use png-instance)", result
    )
    videos = _video_names(selected, options, result, "Annotations/{}/")
    names = {c.id: c.name for c in categories}
    palette = davis_palette()
    meta: dict = {}
    with output:
        for done, (item, video) in enumerate(zip(selected, videos, strict=True)):
            report(progress, cancel, done, len(selected))
            media = item.media
            if len(item.objects) > MAX_OBJECTS:
                raise DatasetError(
                    f"{video}: {len(item.objects)} objects, a palette PNG holds at most {MAX_OBJECTS}"
                )
            by_frame = frame_masks(item)
            frames = item.frames if options.only_done else sorted(by_frame)
            objects = {
                str(i): {"category": names.get(o.category_id), "frames": []}
                for i, o in enumerate(item.objects, start=1)
            }
            for frame in frames:
                with out_of_memory_names(media):
                    data = _davis_png(media, frame, by_frame.get(frame, []), objects, palette, result, video)
                target = output.path(f"Annotations/{video}/{frame:05d}.png")
                output.write_bytes(target, data)
                result.files.append(target)
            result.frames += len(frames)
            result.annotations += len(item.objects)
            result.media += 1
            meta[video] = {"objects": objects}
        report(progress, cancel, len(selected), len(selected))
        output.write_json(output.path("meta.json"), {"videos": meta})
    result.files.append(output.path("meta.json"))
    return result


def _video_names(
    selected: list[SelectedMedia], options: ExportOptions, result: ExportResult, shown: str
) -> list[str]:
    """Each video's name in the export: its path relative to the images root without suffix,
    unless another video differs only in the suffix (then ``bedroom.mp4``, ``bedroom.mov``)."""
    root = images_root(selected, options.images_root)
    names = [relative_name(item.media, root) for item in selected]
    return unique_stems(names, ".", result.warnings, shown)


def _davis_png(
    media: MediaItem,
    frame: int,
    painted: list[tuple[int, AnnotationObject]],
    objects: dict[str, dict],
    palette: list[tuple[int, int, int]],
    result: ExportResult,
    video: str,
) -> bytes:
    """One frame's palette PNG; ``painted``: (index, object) in drawing order. Each painted
    object's frame is added to its ``objects`` entry (meta.json)."""
    columns = np.zeros((media.width, media.height), np.uint8)  # transposed: RLE order
    for index, obj in painted:
        rle = obj.frames[frame].rle
        if list(rle["size"]) != [media.height, media.width]:
            result.warnings.add("mask size differs from its video; left out", f"{video} #{obj.id}")
            continue
        if paint(columns.reshape(-1), rle, index):
            result.warnings.add(
                "objects overlap; the overlap went to the later object", f"{video} frame {frame}"
            )
        objects[str(index)]["frames"].append(f"{frame:05d}")
    return encode_palette(np.ascontiguousarray(columns.T), palette)


def export_ytvis(
    project: Project,
    out: Path,
    options: ExportOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExportResult:
    """Write selected videos as YouTube-VIS JSON: per track, one RLE (or ``null``) per frame."""
    options = options or ExportOptions()
    result = ExportResult()
    output = open_output(project, out, options, folder=False)
    categories, selected = select(project, options)
    selected = exportable(
        selected, MediaKind.VIDEO, "image skipped (YouTube-VIS holds videos; use coco)", result
    )
    names = _video_names(selected, options, result, "{}/")
    category_ids = {c.id: i for i, c in enumerate(categories, start=1)}
    videos, annotations = [], []
    for done, (item, video) in enumerate(zip(selected, names, strict=True)):
        report(progress, cancel, done, len(selected))
        media = item.media
        video_id = len(videos) + 1
        videos.append(
            {
                "id": video_id,
                "width": media.width,
                "height": media.height,
                "length": len(item.frames),
                "file_names": [f"{video}/{f:05d}.jpg" for f in item.frames],
            }
        )
        for obj in item.objects:
            where = f"{video} #{obj.id}"
            if obj.category_id not in category_ids:
                result.warnings.add("object without a category skipped", where)
                continue
            segmentations, areas, bboxes = [], [], []
            for frame in item.frames:
                annotation = obj.frames.get(frame)
                rle = annotation.rle if annotation is not None else None
                if rle is not None and list(rle["size"]) != [media.height, media.width]:
                    result.warnings.add("mask size differs from its video; left out", where)
                    rle = None
                area = masks.area(rle) if rle is not None else 0
                segmentations.append({"size": list(rle["size"]), "counts": rle["counts"]} if area else None)
                areas.append(area if area else None)
                bboxes.append([round(v, 2) for v in masks.bbox(rle)] if area else None)
            if not any(areas):
                continue
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "video_id": video_id,
                    "category_id": category_ids[obj.category_id],
                    "segmentations": segmentations,
                    "areas": areas,
                    "bboxes": bboxes,
                    "iscrowd": 0,
                    "width": media.width,
                    "height": media.height,
                }
            )
        result.frames += len(item.frames)
    report(progress, cancel, len(selected), len(selected))
    data = {
        "info": {"description": "exported by samdesk", "version": "1.0"},
        "videos": videos,
        "categories": [{"id": category_ids[c.id], "name": c.name, "supercategory": ""} for c in categories],
        "annotations": annotations,
    }
    with output:
        output.write_json(output.path(), data)
    result.files.append(output.path())
    result.media, result.annotations = len(videos), len(annotations)
    return result


# --- import ---------------------------------------------------------------------------------


def import_davis(
    project: Project,
    path: Path,
    images_dir: Path,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    *,
    keep_duplicates: bool = False,
) -> ImportResult:
    """Read DAVIS / YouTube-VOS palette PNG folders (``path``: the dataset folder, its
    ``Annotations`` folder, or a folder of per-video folders). Each ``<video>`` folder is matched
    to a video file ``images_dir/<video>.<ext>``; frame numbers come from the PNG names.
    Categories come from a YouTube-VOS ``meta.json`` beside ``Annotations`` when there is one."""
    path, images_dir = Path(path), Path(images_dir)
    if not path.is_dir():
        raise DatasetError(f"{path}: not a folder (DAVIS / YouTube-VOS annotations are folders of PNGs)")
    annotations = _annotation_root(path)
    meta_path = next((p for p in (path / "meta.json", annotations.parent / "meta.json") if p.is_file()), None)
    meta = read_json(meta_path) if meta_path else {}
    videos_meta = meta.get("videos", {}) if isinstance(meta, dict) else {}
    if not isinstance(videos_meta, dict):
        raise DatasetError(f"{meta_path}: 'videos' must be an object")
    plan = ImportPlan(project, keep_duplicates=keep_duplicates)
    folders = sorted({p.parent for p in annotations.rglob("*.png")})
    for done, folder in enumerate(folders):
        report(progress, cancel, done, len(folders))
        video = folder.relative_to(annotations).as_posix()
        media_path = next(
            (images_dir / (video + s) for s in VIDEO_SUFFIXES if (images_dir / (video + s)).is_file()), None
        )
        if media_path is None:
            plan.warnings.add("video file missing; its masks skipped", video)
            continue
        width, height, count, fps = video_info(media_path)
        frames: dict[int, dict[int, FrameAnnotation]] = {}
        for png in sorted(folder.glob("*.png")):
            if not (png.stem.isascii() and png.stem.isdigit()):
                plan.warnings.add("PNG name is not a frame number; skipped", f"{video}/{png.name}")
                continue
            frame = int(png.stem)
            if frame >= count:
                plan.warnings.add("mask for a frame past the video's end; skipped", f"{video}/{png.name}")
                continue
            for value, rle in label_rles(read_labels(png, height, width)).items():
                frames.setdefault(value, {})[frame] = FrameAnnotation(rle, Provenance.IMPORTED)
        media = plan.media(media_path, MediaKind.VIDEO, width, height, count, fps)
        objects_meta = (
            videos_meta.get(video, {}).get("objects", {}) if isinstance(videos_meta.get(video), dict) else {}
        )
        for value in sorted(frames):
            entry = objects_meta.get(str(value)) if isinstance(objects_meta, dict) else None
            name = entry.get("category") if isinstance(entry, dict) else None
            category = plan.category(name) if isinstance(name, str) else None
            plan.add_object(media, category, frames[value])
    report(progress, cancel, len(folders), len(folders))
    return plan.result(f"import {path.name}")


def _annotation_root(path: Path) -> Path:
    for candidate in (
        path / "Annotations" / "480p",
        path / "Annotations" / "Full-Resolution",
        path / "Annotations",
        path,
    ):
        if candidate.is_dir() and any(candidate.rglob("*.png")):
            return candidate
    raise DatasetError(f"{path}: no PNG masks found (expected Annotations/<video>/<frame>.png)")
