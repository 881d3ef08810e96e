"""Import of DAVIS 2017 and YouTube-VOS: palette PNG masks per frame, frames as JPEG folders.

Both datasets ship as::

    JPEGImages[/480p|/Full-Resolution]/<video>/<frame>.jpg
    Annotations[/480p|/Full-Resolution]/<video>/<frame>.png   palette PNG, index = object
    meta.json                (YouTube-VOS, and samdesk's exports: each object's category)
    ImageSets/2017/<split>.txt   (DAVIS: the videos of each split; all videos are imported)

``path`` is the dataset folder, its ``Annotations`` folder, or any folder of per-video folders
of PNGs; symlinked video folders are followed. Each ``<video>`` becomes one video medium:

1. the video file ``images_dir/<video>.<ext>`` when there is one (the masks of a samdesk export
   go back onto the video they came from);
2. else the frame folder ``JPEGImages/.../<video>`` beside the annotations, or
   ``images_dir/<video>``: a folder of frames is a video (``model_runtime/image_sequence.py``).

When several are there, the first whose size is the masks' wins (a 480p DAVIS export goes onto
its own 480p frames, not onto the full-size video).

A PNG's name says its frame: in a video file the number (``00012.png`` is frame 12), in a frame
folder the frame file with the same name (``00012.png`` belongs to ``00012.jpg``, whatever its
position). Index 255 is DAVIS' "void" (border pixels the evaluation ignores), not an object.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image

from model_runtime.image_sequence import is_sequence, sequence_files
from model_runtime.media import VIDEO_SUFFIXES
from samdesk.document.model import FrameAnnotation, MediaItem, MediaKind, Project, Provenance
from samdesk.io.common import (
    CancelFn,
    DatasetError,
    ProgressFn,
    media_info,
    read_json,
    report,
    walk_folders,
)
from samdesk.io.import_plan import ImportPlan, ImportResult
from samdesk.io.label_png import read_labels
from samdesk.io.runs import label_rles

RESOLUTIONS = ("480p", "Full-Resolution")
VOID = 255  # DAVIS: pixels the evaluation ignores


def import_davis(
    project: Project,
    path: Path,
    images_dir: Path,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    *,
    keep_duplicates: bool = False,
) -> ImportResult:
    """Read a DAVIS / YouTube-VOS dataset (see the module docstring); ``project`` is only read."""
    path, images_dir = Path(path), Path(images_dir)
    if not path.is_dir():
        raise DatasetError(f"{path}: not a folder (DAVIS / YouTube-VOS annotations are folders of PNGs)")
    annotations = _annotation_root(path)
    frames_root = _frames_root(annotations)
    videos_meta = _videos_meta(path, annotations)
    plan = ImportPlan(project, keep_duplicates=keep_duplicates)
    folders = [(f, names) for f, names in walk_folders(annotations) if any(_is_png(n) for n in names)]
    for done, (folder, names) in enumerate(folders):
        report(progress, cancel, done, len(folders))
        video = folder.relative_to(annotations).as_posix()
        if video == ".":
            video = folder.name
        source = _video_source(
            video, images_dir, frames_root, folder / sorted(n for n in names if _is_png(n))[0]
        )
        if source is None:
            plan.warnings.add("no video file or frame folder for these masks; skipped", video)
            continue
        _import_video(plan, source, folder, sorted(n for n in names if _is_png(n)), video, videos_meta)
    report(progress, cancel, len(folders), len(folders))
    return plan.result(f"import {path.name}")


def _is_png(name: str) -> bool:
    return name.lower().endswith(".png") and not name.startswith(".")


def _import_video(
    plan: ImportPlan, source: Path, folder: Path, pngs: list[str], video: str, videos_meta: dict
) -> None:
    info = media_info(source)
    if info.kind != "video":
        raise DatasetError(f"{source}: expected a video or a folder of frames, found an {info.kind}")
    width, height, count = info.width, info.height, info.frame_count
    frame_of = {p.stem: i for i, p in enumerate(sequence_files(source))} if source.is_dir() else None
    frames: dict[int, dict[int, FrameAnnotation]] = {}
    for name in pngs:
        stem = name[: -len(".png")]
        if frame_of is not None:
            frame = frame_of.get(stem)
            if frame is None:
                plan.warnings.add("mask PNG without a frame file of that name; skipped", f"{video}/{name}")
                continue
        elif not (stem.isascii() and stem.isdigit()):
            plan.warnings.add("PNG name is not a frame number; skipped", f"{video}/{name}")
            continue
        elif len(stem) > 12 or int(stem) >= count:
            plan.warnings.add("mask for a frame past the video's end; skipped", f"{video}/{name}")
            continue
        else:
            frame = int(stem)
        labels = read_labels(folder / name, height, width)
        if (labels == VOID).any():
            plan.warnings.add("DAVIS void pixels (index 255) left unlabelled", f"{video}/{name}")
        for value, rle in label_rles(labels).items():
            if value != VOID:
                frames.setdefault(value, {})[frame] = FrameAnnotation(rle, Provenance.IMPORTED)
    media: MediaItem = plan.media(source, MediaKind.VIDEO, width, height, count, info.fps)
    video_meta = videos_meta.get(video)
    objects_meta = video_meta.get("objects") if isinstance(video_meta, dict) else None
    for value in sorted(frames):
        entry = objects_meta.get(str(value)) if isinstance(objects_meta, dict) else None
        name = entry.get("category") if isinstance(entry, dict) else None
        category = plan.category(name) if isinstance(name, str) else None
        plan.add_object(media, category, frames[value])


def _video_source(video: str, images_dir: Path, frames_root: Path | None, first_png: Path) -> Path | None:
    """The video file or frame folder of ``video`` (see the module docstring), or None. One of
    the size of the masks wins: a 480p DAVIS export goes onto its 480p frames, not the video."""
    candidates = [
        images_dir / (video + s) for s in sorted(VIDEO_SUFFIXES) if (images_dir / (video + s)).is_file()
    ]
    candidates += [
        root / video for root in (frames_root, images_dir) if root is not None and is_sequence(root / video)
    ]
    if len(candidates) > 1:
        size = _png_size(first_png)
        for candidate in candidates:
            try:
                info = media_info(candidate)
            except DatasetError:
                continue
            if (info.width, info.height) == size:
                return candidate
    return candidates[0] if candidates else None


def _png_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from a PNG's header, or None when it cannot be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # only the header is read
            with Image.open(path) as image:
                return image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def _annotation_root(path: Path) -> Path:
    for candidate in (
        *(path / "Annotations" / res for res in RESOLUTIONS),
        path / "Annotations",
        path,
    ):
        if candidate.is_dir() and any(_is_png(n) for _, names in walk_folders(candidate) for n in names):
            return candidate
    raise DatasetError(f"{path}: no PNG masks found (expected Annotations/<video>/<frame>.png)")


def _frames_root(annotations: Path) -> Path | None:
    """``JPEGImages[/<res>]`` matching ``Annotations[/<res>]``, when the dataset has it."""
    parts = annotations.parts
    if "Annotations" not in parts:
        return None
    index = len(parts) - 1 - parts[::-1].index("Annotations")
    candidate = Path(*parts[:index], "JPEGImages", *parts[index + 1 :])
    return candidate if candidate.is_dir() else None


def _videos_meta(path: Path, annotations: Path) -> dict:
    """``videos`` of the first meta.json found from ``annotations`` up to ``path`` ({} if none)."""
    folder = annotations
    while True:
        meta_path = folder / "meta.json"
        if meta_path.is_file():
            meta = read_json(meta_path)
            videos = meta.get("videos", {}) if isinstance(meta, dict) else {}
            if not isinstance(videos, dict):
                raise DatasetError(f"{meta_path}: 'videos' must be an object")
            return videos
        if folder == path or folder.parent == folder:
            return {}
        folder = folder.parent
