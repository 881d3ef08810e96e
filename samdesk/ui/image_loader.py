"""Decodes images for display on a pool thread so big photos never freeze the GUI thread.

QImage decoding is thread-safe (QPixmap is not), so the worker returns a QImage and the GUI
thread turns it into a pixmap. Only the latest request is delivered; the neighbours of the image
on screen are decoded ahead into a small cache, so Next/Previous shows the photo at once.
"""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage, QImageReader

CACHE_SIZE = 5  # the image on screen, two ahead, one behind, one spare


class _Signals(QObject):
    done = Signal(str, object, str)  # path, QImage | None, error message


class _DecodeJob(QRunnable):
    def __init__(self, path: str, signals: _Signals) -> None:
        super().__init__()
        self.path, self.signals = path, signals

    def run(self) -> None:
        reader = QImageReader(self.path)
        reader.setAutoTransform(True)  # honour EXIF orientation, as the model side does
        image = reader.read()
        if image.isNull():
            self.signals.done.emit(self.path, None, f"{self.path}: {reader.errorString()}")
            return
        self.signals.done.emit(self.path, image.convertToFormat(QImage.Format.Format_RGB32), "")


class ImageLoader(QObject):
    """``load(media_id, path)`` -> ``loaded(media_id, QImage)`` or ``failed(media_id, message)``;
    ``prefetch(paths)`` warms the cache."""

    loaded = Signal(int, QImage)
    failed = Signal(int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # one decoder: the model's workers need the cores more
        self._signals = _Signals()
        self._signals.done.connect(self._done)
        self._cache: OrderedDict[str, QImage] = OrderedDict()
        self._in_flight: set[str] = set()
        self._wanted: tuple[int, str] | None = None

    def load(self, media_id: int, path: str) -> None:
        self._wanted = (media_id, path)
        cached = self._cache.get(path)
        if cached is not None:
            self._cache.move_to_end(path)
            self.loaded.emit(media_id, cached)
            return
        self._pool.clear()  # queued prefetches of images the user skipped past
        self._in_flight &= {path}
        self._start(path)

    def prefetch(self, paths: list[str]) -> None:
        for path in paths:
            if path not in self._cache:
                self._start(path)

    def _start(self, path: str) -> None:
        if path not in self._in_flight:
            self._in_flight.add(path)
            self._pool.start(_DecodeJob(path, self._signals))

    def _done(self, path: str, image: QImage | None, error: str) -> None:
        self._in_flight.discard(path)
        if image is not None:
            self._cache[path] = image
            self._cache.move_to_end(path)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        if self._wanted is None or self._wanted[1] != path:
            return  # a prefetch, or an image the user has moved away from
        media_id = self._wanted[0]
        if image is None:
            self.failed.emit(media_id, error)
        else:
            self.loaded.emit(media_id, image)

    def wait(self) -> None:
        self._pool.waitForDone()
