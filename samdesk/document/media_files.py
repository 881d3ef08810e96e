"""Turning a file on disk into a document :class:`MediaItem` (probe + content hash)."""

from __future__ import annotations

import os
from pathlib import Path

from model_runtime.image_sequence import is_sequence
from model_runtime.media import DEFAULT_MAX_PIXELS, MediaError, probe_media
from samdesk.document.model import MediaItem, MediaKind, file_content_hash

__all__ = [
    "MAX_FRAMES",
    "MediaError",
    "frame_count_problem",
    "media_item_from_path",
    "media_present",
    "size_problem",
]

# Most frames a video may have: 46 hours at 60 fps. Per-frame lists (selections, YouTube-VIS
# tracks, done frames) are built for every frame, so a crafted count must stop at the door.
MAX_FRAMES = 10_000_000


def size_problem(width: int, height: int) -> str | None:
    """Why no media samdesk reads can be ``width``×``height``, or ``None`` when it can.

    The bound is the pixel limit images are decoded under (``DEFAULT_MAX_PIXELS``), so a project
    file or dataset that declares a bigger size is refused before anything of that size is
    allocated (a 100000² mask buffer would need 18.6 GiB).
    """
    if width < 1 or height < 1:
        return f"size must be positive, got {width}x{height}"
    if width * height > DEFAULT_MAX_PIXELS:
        return (
            f"size {width}x{height} ({width * height / 1e6:.0f} megapixels) is over the limit of "
            f"{DEFAULT_MAX_PIXELS / 1e6:.0f} megapixels per image or video frame"
        )
    return None


def media_item_from_path(path: str | Path) -> MediaItem:
    """A new media item (``id=0``: ``AddMedia`` assigns it) for an image or video file.

    The path is made absolute; the content hash identifies the file wherever it moves later.
    Raises :class:`model_runtime.media.MediaError` for files that are not readable media.
    """
    absolute = Path(os.path.abspath(path))
    info = probe_media(absolute)
    try:
        content_hash = file_content_hash(absolute)
    except OSError as exc:
        raise MediaError(absolute, f"cannot read the file ({exc.strerror or exc})") from exc
    return MediaItem(
        id=0,
        kind=MediaKind(info.kind),
        path=str(absolute),
        width=info.width,
        height=info.height,
        frame_count=info.frame_count,
        fps=info.fps,
        content_hash=content_hash,
    )


def frame_count_problem(frame_count: int) -> str | None:
    """Why no video samdesk reads can have ``frame_count`` frames, or ``None`` when it can."""
    if frame_count > MAX_FRAMES:
        return f"{frame_count} frames is over the limit of {MAX_FRAMES} frames per video"
    return None


def media_present(path: str | Path) -> bool:
    """True when the media at ``path`` is there: a file, or a video that is a folder of frames."""
    try:
        return Path(path).is_file() or is_sequence(path)
    except (OSError, ValueError):  # e.g. a name too long for this file system
        return False
