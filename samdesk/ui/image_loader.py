"""Decodes images and video frames for display on a pool thread, so the GUI thread never waits.

QImage decoding is thread-safe (QPixmap is not), so the worker returns a QImage and the GUI
thread turns it into a pixmap. Only the latest request is delivered; the neighbours of the image
on screen are decoded ahead into a small cache, so Next/Previous shows the photo at once.

A video frame is addressed as (path, frame index) and decoded through :class:`VideoFrames`
(shared with the model's image provider). Seeking in a video with few keyframes can take most
of a second: while the user scrubs, requests the worker has not started yet are dropped, so it
only ever decodes the frame in flight and the newest one asked for.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage, QImageReader

from samdesk.ui.shared_frames import VideoFrames

CACHE_SIZE = 5  # the image on screen, two ahead, one behind, one spare
FRAME_CACHE_SIZE = 12  # video frames converted for display (the reader keeps more as arrays)

Key = tuple[str, int | None]  # (path, frame index or None for a still image)


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """(H, W, 3) uint8 RGB -> an RGB32 QImage that owns its pixels (safe across threads)."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    wrapped = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    # convertToFormat copies, so the QImage no longer points into the numpy buffer.
    return wrapped.convertToFormat(QImage.Format.Format_RGB32)


class _Signals(QObject):
    done = Signal(object, object, str)  # key, QImage | None, error message


class _WarmJob(QRunnable):
    """Decode video frames into the shared readers' cache only (no picture made)."""

    def __init__(self, path: str, frame: int, frames: VideoFrames) -> None:
        super().__init__()
        self.path, self.frame, self.frames = path, frame, frames

    def run(self) -> None:
        # A warm-up that fails is reported when the frame is shown.
        with contextlib.suppress(Exception):
            self.frames.read(self.path, self.frame)


class _DecodeJob(QRunnable):
    def __init__(self, key: Key, signals: _Signals, frames: VideoFrames, loader: ImageLoader) -> None:
        super().__init__()
        self.key, self.signals, self.frames, self.loader = key, signals, frames, loader

    def run(self) -> None:
        with self.loader._running_lock:
            self.loader._running.add(self.key)
        try:
            self._decode()
        finally:
            with self.loader._running_lock:
                self.loader._running.discard(self.key)

    def _decode(self) -> None:
        path, frame = self.key
        if frame is not None:
            try:
                image = rgb_to_qimage(self.frames.read(path, frame))
            except Exception as exc:  # MediaError names the file; anything else must not kill the pool
                self.signals.done.emit(self.key, None, str(exc) or type(exc).__name__)
                return
            self.signals.done.emit(self.key, image, "")
            return
        reader = QImageReader(path)
        reader.setAutoTransform(True)  # honour EXIF orientation, as the model side does
        image = reader.read()
        if image.isNull():
            self.signals.done.emit(self.key, None, f"{path}: {reader.errorString()}")
            return
        self.signals.done.emit(self.key, image.convertToFormat(QImage.Format.Format_RGB32), "")


class ImageLoader(QObject):
    """``load(media_id, path, frame)`` -> ``loaded(media_id, QImage)`` or ``failed(media_id,
    message)``; ``prefetch(paths)`` / ``prefetch_frames(path, frames)`` warm the cache."""

    loaded = Signal(int, QImage)
    failed = Signal(int, str)

    def __init__(self, parent: QObject | None = None, frames: VideoFrames | None = None) -> None:
        super().__init__(parent)
        self.frames = frames or VideoFrames()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # one decoder: the model's workers need the cores more
        self._signals = _Signals()
        self._signals.done.connect(self._done)
        self._cache: OrderedDict[Key, QImage] = OrderedDict()
        self._in_flight: set[Key] = set()
        self._wanted: tuple[int, Key] | None = None
        # Keys whose decode has started on the pool thread (pool.clear() cannot drop those).
        self._running: set[Key] = set()
        self._running_lock = threading.Lock()

    @property
    def busy(self) -> bool:
        """True while the image asked for last is still being decoded."""
        return self._wanted is not None and self._wanted[1] in self._in_flight

    def is_cached(self, path: str, frame: int | None = None) -> bool:
        """Whether that image (or video frame) is decoded and kept, ready to show at once."""
        return (path, frame) in self._cache

    def load(self, media_id: int, path: str, frame: int | None = None) -> None:
        key = (path, frame)
        self._wanted = (media_id, key)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.loaded.emit(media_id, cached)
            return
        self._pool.clear()  # queued prefetches (or scrub positions) the user has moved past
        with self._running_lock:
            running = set(self._running)
        # Cleared jobs never report: forget them (the wanted key too, when it was a queued
        # prefetch), so asking for them starts a decode again.
        self._in_flight &= running
        self._start(key)

    def drop_wanted(self) -> None:
        """Nothing is wanted any more (the GUI shows a preview instead): what is queued is
        dropped, and the decode in flight, when it ends, is kept but not shown."""
        self._wanted = None
        self._pool.clear()
        with self._running_lock:
            running = set(self._running)
        self._in_flight &= running

    def warm_frames(self, path: str, frames: list[int]) -> None:
        """Decode video frames ahead into the readers' cache (a seek done now, in the background,
        is one the user does not wait for later), after the prefetches asked for so far."""
        for frame in frames:
            if not self.frames.is_cached(path, frame):
                self._pool.start(_WarmJob(path, frame, self.frames))

    def prefetch(self, paths: list[str]) -> None:
        for path in paths:
            if (path, None) not in self._cache:
                self._start((path, None))

    def prefetch_frames(self, path: str, frames: list[int]) -> None:
        for frame in frames:
            if (path, frame) not in self._cache:
                self._start((path, frame))

    def _start(self, key: Key) -> None:
        if key not in self._in_flight:
            self._in_flight.add(key)
            self._pool.start(_DecodeJob(key, self._signals, self.frames, self))

    def _done(self, key: Key, image: QImage | None, error: str) -> None:
        self._in_flight.discard(key)
        if image is not None:
            self._cache[key] = image
            self._cache.move_to_end(key)
            self._trim()
        if self._wanted is None or self._wanted[1] != key:
            return  # a prefetch, or an image the user has moved away from
        media_id = self._wanted[0]
        if image is None:
            self.failed.emit(media_id, error)
        else:
            self.loaded.emit(media_id, image)

    def _trim(self) -> None:
        stills = [k for k in self._cache if k[1] is None]
        frames = [k for k in self._cache if k[1] is not None]
        excess = stills[: max(0, len(stills) - CACHE_SIZE)]
        excess += frames[: max(0, len(frames) - FRAME_CACHE_SIZE)]
        for k in excess:
            del self._cache[k]

    def wait(self) -> None:
        self._pool.waitForDone()
        self.frames.close()
