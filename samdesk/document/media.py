"""Turning a file on disk into a document :class:`MediaItem` (probe + content hash)."""

from __future__ import annotations

import os
from pathlib import Path

from model_runtime.media import MediaError, probe_media
from samdesk.document.model import MediaItem, MediaKind, file_content_hash

__all__ = ["MediaError", "media_item_from_path"]


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
