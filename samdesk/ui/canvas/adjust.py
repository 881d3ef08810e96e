"""The picture with a :class:`~samdesk.session.display.Display` applied: QImage in, QImage out."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from samdesk.session.display import Display, apply


def adjusted(image: QImage, display: Display) -> QImage:
    """``image`` through ``display``'s lookup table (the same image when it is the identity)."""
    if display.is_identity or image.isNull():
        return image
    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)  # bytes R, G, B, A on any machine
    width, height, stride = rgba.width(), rgba.height(), rgba.bytesPerLine()
    pixels = np.frombuffer(rgba.constBits(), np.uint8).reshape(height, stride)[:, : width * 4]
    out = np.ascontiguousarray(apply(pixels.reshape(height, width, 4), display))
    return QImage(out.data, width, height, width * 4, QImage.Format.Format_RGBA8888).copy()
