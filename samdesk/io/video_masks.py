"""Video masks as palette PNG folders: the DAVIS 2017 and YouTube-VOS layouts (export, import).

DAVIS 2017 (``davis``), read by the official ``davis2017-evaluation`` loader and the VOS
training code built on it; ``<res>`` is ``480p`` (frames resized to 480 px high, masks with
nearest neighbour) or ``Full-Resolution``::

    JPEGImages/<res>/<video>/<frame:05d>.jpg
    Annotations/<res>/<video>/<frame:05d>.png   palette PNG, index = object (1..255), DAVIS palette
    ImageSets/2017/<split>.txt                  the videos, one per line
    meta.json                                   samdesk's addition: each object's category and frames

YouTube-VOS (``ytvos``), one split's folder at full resolution::

    JPEGImages/<video>/<frame:05d>.jpg
    Annotations/<video>/<frame:05d>.png
    meta.json                                   each object's category and frames, by video

Both write the same frames (``samdesk/io/export_frames.py``: the annotated ones by default), each
with its JPEG and its PNG, all zeros where no object is: DAVIS' loader pairs the n-th JPEG with
the n-th PNG, so a missing PNG would give every later frame another frame's mask. Frame files
keep the video's frame numbers. ``<video>`` is the video's path relative to the images root
without its suffix (``bedroom.mp4`` and ``bedroom.mov`` keep it, as reported).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from samdesk.document.boxes import is_box_only
from samdesk.document.model import (
    AnnotationObject,
    MediaItem,
    MediaKind,
    Project,
)
from samdesk.io.common import (
    BOX_WITHOUT_PIXELS,
    CancelFn,
    DatasetError,
    ExportOptions,
    ExportResult,
    ProgressFn,
    SelectedMedia,
    frame_masks,
    images_root,
    out_of_memory_names,
    relative_name,
    report,
)
from samdesk.io.export_frames import (
    FrameFiles,
    VideoExportOptions,
    davis_size,
    frames_summary,
    frames_to_export,
)
from samdesk.io.label_png import encode_palette
from samdesk.io.output import start_export, unique_stems
from samdesk.io.runs import paint

MAX_OBJECTS = 255
DAVIS_SPLITS = ("train", "val", "test-dev", "test-challenge")  # the loader's subsets
# DAVIS 2017's evaluation counts a video's objects on its first mask (the largest index there).
NOT_ON_FIRST_FRAME = "object not on its video's first exported frame (DAVIS 2017 counts objects there)"


@dataclass
class DavisExportOptions(VideoExportOptions):
    """``resolution``: DAVIS' ``480p`` or ``Full-Resolution`` folders; ``split``: the
    ``ImageSets/2017/<split>.txt`` that lists the videos."""

    resolution: Literal["480p", "Full-Resolution"] = "480p"
    split: str = "train"


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
    """Write the selected videos in the DAVIS 2017 layout (see the module docstring)."""
    options = options if isinstance(options, DavisExportOptions) else DavisExportOptions(**_fields(options))
    if options.resolution not in ("480p", "Full-Resolution"):
        raise DatasetError(f"DAVIS resolution must be 480p or Full-Resolution, not {options.resolution!r}")
    if options.split not in DAVIS_SPLITS:
        raise DatasetError(f"DAVIS split must be one of {', '.join(DAVIS_SPLITS)}, not {options.split!r}")
    res = options.resolution
    size = davis_size if res == "480p" else None
    layout = _Layout("DAVIS", f"JPEGImages/{res}/{{}}", f"Annotations/{res}/{{}}", size)
    return _export_sequences(project, out, options, progress, cancel, layout)


def export_ytvos(
    project: Project,
    out: Path,
    options: ExportOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> ExportResult:
    """Write the selected videos as one YouTube-VOS split folder (see the module docstring)."""
    options = options if isinstance(options, VideoExportOptions) else VideoExportOptions(**_fields(options))
    layout = _Layout("YouTube-VOS", "JPEGImages/{}", "Annotations/{}")
    return _export_sequences(project, out, options, progress, cancel, layout)


def _fields(options: ExportOptions | None) -> dict:
    """The fields of plain :class:`ExportOptions` (callers may pass those to any exporter)."""
    if options is None:
        return {}
    return {name: getattr(options, name) for name in ExportOptions.__dataclass_fields__}


@dataclass
class _Layout:
    """Where a layout puts a video's frames and masks (``{}``: the video's name)."""

    name: str
    frames: str
    masks: str
    size: Callable[[int, int], tuple[int, int]] | None = None  # (width, height) -> written size


def _export_sequences(
    project: Project,
    out: Path,
    options: VideoExportOptions,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
    layout: _Layout,
) -> ExportResult:
    """What DAVIS and YouTube-VOS share: per video, every exported frame's JPEG and palette PNG,
    then meta.json and, for DAVIS, the ImageSets list. Progress counts frames."""
    skipped = f"image skipped ({layout.name} holds videos; use png-instance)"
    start = start_export(project, out, options, folder=True, kind=MediaKind.VIDEO, other_kind=skipped)
    result, output, categories, selected = start.result, start.output, start.categories, start.selected
    videos = _video_names(selected, options, result, layout.masks + "/")
    names = {c.id: c.name for c in categories}
    frames = [frames_to_export(item, options) for item in selected]
    total = sum(len(f) for f in frames)
    meta: dict = {}
    with output:
        for item, video, chosen in zip(selected, videos, frames, strict=True):
            if len(item.objects) > MAX_OBJECTS:
                raise DatasetError(
                    f"{video}: {len(item.objects)} objects, a palette PNG holds at most {MAX_OBJECTS}"
                )
            objects = {
                str(i): {"category": names.get(o.category_id), "frames": []}
                for i, o in enumerate(item.objects, start=1)
            }
            for files in _sequence_files(item, video, chosen, objects, layout, result):
                report(progress, cancel, result.frames, total)
                for relative, data in files:
                    target = output.path(relative)
                    output.write_bytes(target, data)
                    result.files.append(target)
                result.frames += 1
            if layout.name == "DAVIS":
                _check_first_frame(item, objects, chosen, video, result)
            result.annotations += len(item.objects)
            result.media += 1
            meta[video] = {"objects": objects}
        report(progress, cancel, total, total)
        if isinstance(options, DavisExportOptions):
            listing = output.path(f"ImageSets/2017/{options.split}.txt")
            output.write_text(listing, "".join(f"{video}\n" for video in videos))
            result.files.append(listing)
        output.write_json(output.path("meta.json"), {"videos": meta})
    result.files.append(output.path("meta.json"))
    result.summary.append(frames_summary(total, sum(max(1, s.media.frame_count) for s in selected), options))
    return result


def _sequence_files(
    item: SelectedMedia,
    video: str,
    frames: list[int],
    objects: dict[str, dict],
    layout: _Layout,
    result: ExportResult,
) -> Iterator[list[tuple[str, bytes]]]:
    """Per exported frame of one video: [(relative path, bytes)] of its JPEG and its PNG.
    Adds each object's frames to its ``objects`` entry."""
    media = item.media
    by_frame = frame_masks(item)
    size = layout.size(media.width, media.height) if layout.size else (media.width, media.height)
    palette = davis_palette()
    with FrameFiles(media.path, media.width, media.height, size) as jpegs:
        for frame in frames:
            with out_of_memory_names(media):
                painted = by_frame.get(frame, [])
                png = _palette_png(media, frame, painted, objects, palette, result, f"{video} frame {frame}")
                if size != (media.width, media.height):
                    png = _resized(png, size)
                jpeg = jpegs.jpeg(frame)
            name = f"{frame:05d}"
            yield [
                (f"{layout.frames.format(video)}/{name}.jpg", jpeg),
                (f"{layout.masks.format(video)}/{name}.png", png),
            ]


def _check_first_frame(
    item: SelectedMedia, objects: dict[str, dict], frames: list[int], video: str, result: ExportResult
) -> None:
    """DAVIS 2017's evaluation knows only the objects of a video's first mask: name the others."""
    first = f"{frames[0]:05d}" if frames else ""
    for index, obj in enumerate(item.objects, start=1):
        written = objects[str(index)]["frames"]
        if written and written[0] != first:
            result.warnings.add(NOT_ON_FIRST_FRAME, f"{video} #{obj.id}")


def _video_names(
    selected: list[SelectedMedia], options: ExportOptions, result: ExportResult, shown: str
) -> list[str]:
    """Each video's name in the export: its path relative to the images root without suffix,
    unless another video differs only in the suffix (then ``bedroom.mp4``, ``bedroom.mov``)."""
    root = images_root(selected, options.images_root)
    names = [relative_name(item.media, root) for item in selected]
    return unique_stems(names, ".", result.warnings, shown)


def _palette_png(
    media: MediaItem,
    frame: int,
    painted: list[tuple[int, AnnotationObject]],
    objects: dict[str, dict],
    palette: list[tuple[int, int, int]],
    result: ExportResult,
    where: str,
) -> bytes:
    """One frame's palette PNG; ``painted``: (index, object) in drawing order. Each painted
    object's frame is added to its ``objects`` entry (meta.json)."""
    columns = np.zeros((media.width, media.height), np.uint8)  # transposed: RLE order
    for index, obj in painted:
        rle = obj.frames[frame].rle
        if list(rle["size"]) != [media.height, media.width]:
            result.warnings.add("mask size differs from its video; left out", f"{where} #{obj.id}")
            continue
        if is_box_only(obj.frames[frame]):
            result.warnings.add(BOX_WITHOUT_PIXELS, f"{where} #{obj.id}")
            continue
        if paint(columns.reshape(-1), rle, index):
            result.warnings.add("objects overlap; the overlap went to the later object", where)
        objects[str(index)]["frames"].append(f"{frame:05d}")
    return encode_palette(np.ascontiguousarray(columns.T), palette)


def _resized(png: bytes, size: tuple[int, int]) -> bytes:
    """A palette PNG resized to ``size`` (width, height) with nearest neighbour (indices stay
    indices; PIL samples pixel centres), palette kept."""
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        smaller = image.resize(size, Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    smaller.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
