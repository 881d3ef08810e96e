"""The picture with a :class:`~samdesk.session.display.Display` applied: QImage in, QImage out."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from samdesk.session.display import Display, apply


def rgba_pixels(image: QImage) -> np.ndarray:
    """(H, W, 4) uint8 R, G, B, A of ``image`` (a copy when it had another format)."""
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)  # bytes R, G, B, A on any machine
    width, height, stride = rgba.width(), rgba.height(), rgba.bytesPerLine()
    pixels = np.frombuffer(rgba.constBits(), np.uint8).reshape(height, stride)[:, : width * 4]
    return pixels.reshape(height, width, 4).copy()


def adjusted(image: QImage, display: Display) -> QImage:
    """``image`` through ``display``'s lookup table (the same image when it is the identity)."""
    if display.is_identity or image.isNull():
        return image
    out = np.ascontiguousarray(apply(rgba_pixels(image), display))
    height, width = out.shape[:2]
    return QImage(out.data, width, height, width * 4, QImage.Format.Format_RGBA8888).copy()
