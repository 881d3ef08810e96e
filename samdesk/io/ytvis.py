"""YouTube-VIS: one JSON file of video instance tracks, beside the frames it names.

Layout under ``out`` (one split folder, as YouTube-VIS 2021 ships ``train/``)::

    instances.json                      videos, categories, one annotation per track
    JPEGImages/<video>/<frame:05d>.jpg  the frames ``file_names`` lists (relative to JPEGImages/)

A track holds one entry per listed frame: an RLE with its area and box, or ``null`` where the
object is not there. Only frames someone annotated are listed (``samdesk/io/export_frames.py``),
so ``null`` always means "truly absent", never "nobody looked".
"""

from __future__ import annotations

from pathlib import Path

from samdesk.document import masks
from samdesk.document.boxes import is_box_only
from samdesk.document.model import MediaKind, Project
from samdesk.io.common import (
    BOX_WITHOUT_PIXELS,
    UNCATEGORISED,
    CancelFn,
    ExportOptions,
    ExportResult,
    ProgressFn,
    images_root,
    out_of_memory_names,
    relative_name,
    report,
)
from samdesk.io.export_frames import FrameFiles, VideoExportOptions, frames_summary, frames_to_export
from samdesk.io.output import start_export, unique_stems

ANNOTATIONS = "instances.json"


def export_ytvis(
    project: Project,
    out: Path,
    options: ExportOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExportResult:
    """Write the selected videos as YouTube-VIS (see the module docstring); progress counts frames."""
    if not isinstance(options, VideoExportOptions):
        plain = {n: getattr(options, n) for n in ExportOptions.__dataclass_fields__} if options else {}
        options = VideoExportOptions(**plain)
    skipped = "image skipped (YouTube-VIS holds videos; use coco)"
    start = start_export(project, out, options, folder=True, kind=MediaKind.VIDEO, other_kind=skipped)
    result, output, categories, selected = start.result, start.output, start.categories, start.selected
    root = images_root(selected, options.images_root)
    names = unique_stems([relative_name(s.media, root) for s in selected], ".", result.warnings, "{}/")
    category_ids = {c.id: i for i, c in enumerate(categories, start=1)}
    chosen = [frames_to_export(item, options) for item in selected]
    total = sum(len(frames) for frames in chosen)
    videos, annotations = [], []
    with output:
        for item, video, frames in zip(selected, names, chosen, strict=True):
            media = item.media
            video_id = len(videos) + 1
            file_names = [f"{video}/{f:05d}.jpg" for f in frames]
            with FrameFiles(media.path, media.width, media.height) as jpegs:
                for frame, name in zip(frames, file_names, strict=True):
                    report(progress, cancel, result.frames, total)
                    with out_of_memory_names(media):
                        data = jpegs.jpeg(frame)
                    target = output.path(f"JPEGImages/{name}")
                    output.write_bytes(target, data)
                    result.files.append(target)
                    result.frames += 1
            videos.append(
                {
                    "id": video_id,
                    "width": media.width,
                    "height": media.height,
                    "length": len(frames),
                    "file_names": file_names,
                }
            )
            for obj in item.objects:
                where = f"{video} #{obj.id}"
                if obj.category_id not in category_ids:
                    result.warnings.add(UNCATEGORISED, where)
                    continue
                track = _track(obj.frames, frames, [media.height, media.width], result, where)
                if track is None:
                    continue
                track.update(
                    id=len(annotations) + 1,
                    video_id=video_id,
                    category_id=category_ids[obj.category_id],
                    iscrowd=0,
                    width=media.width,
                    height=media.height,
                )
                annotations.append(track)
        report(progress, cancel, total, total)
        data = {
            "info": {"description": "exported by samdesk", "version": "1.0"},
            "videos": videos,
            "categories": [
                {"id": category_ids[c.id], "name": c.name, "supercategory": ""} for c in categories
            ],
            "annotations": annotations,
        }
        output.write_json(output.path(ANNOTATIONS), data)
    result.files.append(output.path(ANNOTATIONS))
    result.media, result.annotations = len(videos), len(annotations)
    result.summary.append(frames_summary(total, sum(max(1, s.media.frame_count) for s in selected), options))
    return result


def _track(
    annotated: dict, frames: list[int], size: list[int], result: ExportResult, where: str
) -> dict | None:
    """An object's segmentations, areas and boxes on ``frames`` (``null`` where it has no mask),
    or None when it has no mask on any of them."""
    segmentations, areas, bboxes = [], [], []
    for frame in frames:
        annotation = annotated.get(frame)
        rle = annotation.rle if annotation is not None else None
        if rle is not None and list(rle["size"]) != size:
            result.warnings.add("mask size differs from its video; left out", where)
            rle = None
        if annotation is not None and is_box_only(annotation):
            result.warnings.add(BOX_WITHOUT_PIXELS, f"{where} frame {frame}")
            rle = None
        area = masks.area(rle) if rle is not None else 0
        segmentations.append({"size": list(rle["size"]), "counts": rle["counts"]} if rle and area else None)
        areas.append(area if area else None)
        bboxes.append([round(v, 2) for v in masks.bbox(rle)] if rle and area else None)
    if not any(areas):
        return None
    return {"segmentations": segmentations, "areas": areas, "bboxes": bboxes}
