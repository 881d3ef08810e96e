"""Video frames for the GUI and the model, decoded once through one shared reader per file.

The display decoder (a pool thread) and the model's image provider (a runtime thread) both ask
for frames of the video on screen, usually the same frame within milliseconds. One
:class:`model_runtime.media.VideoReader` per file, behind a lock, lets the second ask hit the
reader's decoded-frame cache instead of decoding again; and the reader keeps its decoder
position, so stepping forward decodes one frame, not a seek from the last keyframe (the bundled
sample and many phone videos have one keyframe: a backwards seek there decodes from the start).

Never call :meth:`VideoFrames.read` on the GUI thread for a frame that may not be cached: a seek
can take most of a second on a 720p video.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported when a video is first read: PyAV adds ~0.1 s to start-up
    from model_runtime.image_sequence import ImageSequenceReader
    from model_runtime.media import VideoReader

    Reader = VideoReader | ImageSequenceReader

# Frames kept decoded per video, around the one asked for last: up to 96 frames and 256 MB
# (92 frames of 720p RGB, 10 of 4K), enough to step back across a stretch, and for the model's
# prefetch of the next frame, without re-seeking.
READER_CACHE_FRAMES = 96
READER_CACHE_BYTES = 256 * 2**20
MAX_OPEN_READERS = 4  # each holds a decoder and its cache; older ones are closed


class VideoFrames:
    """Thread-safe ``read(path, frame) -> RGB uint8 (H, W, 3)`` over shared, cached readers.

    The returned array is read-only (shared with the cache). Raises ``MediaError`` naming the
    file for unreadable videos and ``IndexError`` for frames out of range.
    """

    def __init__(
        self, cache_frames: int = READER_CACHE_FRAMES, cache_bytes: int = READER_CACHE_BYTES
    ) -> None:
        self._cache_frames = cache_frames
        self._cache_bytes = cache_bytes
        self._lock = threading.Lock()  # guards the reader table, not the readers
        self._readers: OrderedDict[str, tuple[Reader, threading.Lock]] = OrderedDict()

    def _reader(self, path: str) -> tuple[Reader, threading.Lock]:
        with self._lock:
            entry = self._readers.get(path)
            if entry is not None:
                self._readers.move_to_end(path)
                return entry
        from model_runtime.media import open_video

        # Opening scans the container or lists the frame folder (no decoding): outside the table lock.
        reader = open_video(path, cache_size=self._cache_frames, cache_bytes=self._cache_bytes)
        with self._lock:
            entry = self._readers.get(path)
            if entry is not None:  # another thread opened it meanwhile: keep theirs
                reader.close()
                return entry
            entry = (reader, threading.Lock())
            self._readers[path] = entry
            while len(self._readers) > MAX_OPEN_READERS:
                _, (old, old_lock) = self._readers.popitem(last=False)
                with old_lock:
                    old.close()
            return entry

    def read(self, path: str, frame: int) -> np.ndarray:
        reader, lock = self._reader(path)
        with lock:
            return reader.read(frame)

    def is_cached(self, path: str, frame: int) -> bool:
        """Whether reading that frame now would decode nothing (False while the file is not open).
        A hint: another thread may change it at once."""
        with self._lock:
            entry = self._readers.get(path)
        return entry is not None and entry[0].is_cached(frame)

    def close(self) -> None:
        with self._lock:
            entries = list(self._readers.values())
            self._readers.clear()
        for reader, lock in entries:
            with lock:
                reader.close()
