"""Decodes images for display on a pool thread so big photos never freeze the GUI thread.

QImage decoding is thread-safe (QPixmap is not), so the worker returns a QImage and the GUI
thread turns it into a pixmap. Only the latest request per loader is delivered.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage, QImageReader


class _Signals(QObject):
    done = Signal(int, object, str)  # token, QImage | None, error message


class _DecodeJob(QRunnable):
    def __init__(self, token: int, path: str, signals: _Signals) -> None:
        super().__init__()
        self.token, self.path, self.signals = token, path, signals

    def run(self) -> None:
        reader = QImageReader(self.path)
        reader.setAutoTransform(True)  # honour EXIF orientation, as the model side does
        image = reader.read()
        if image.isNull():
            self.signals.done.emit(self.token, None, f"{self.path}: {reader.errorString()}")
            return
        self.signals.done.emit(self.token, image.convertToFormat(QImage.Format.Format_RGB32), "")


class ImageLoader(QObject):
    """``load(media_id, path)``; ``loaded(media_id, QImage)`` or ``failed(media_id, message)``."""

    loaded = Signal(int, QImage)
    failed = Signal(int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals()
        self._signals.done.connect(self._done)
        self._token = 0
        self._media_id = -1

    def load(self, media_id: int, path: str) -> None:
        self._token += 1
        self._media_id = media_id
        self._pool.start(_DecodeJob(self._token, path, self._signals))

    def _done(self, token: int, image: QImage | None, error: str) -> None:
        if token != self._token:
            return  # the user has moved on to another image
        if image is None:
            self.failed.emit(self._media_id, error)
        else:
            self.loaded.emit(self._media_id, image)

    def wait(self) -> None:
        self._pool.waitForDone()
