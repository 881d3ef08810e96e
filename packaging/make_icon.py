"""Render samdesk's icon PNG from its SVG source (re-run after editing the SVG).

    python packaging/make_icon.py

The SVG (resources/icons/samdesk.svg) is the source; the 256 px PNG exists because a
PNG loads everywhere (Qt without its SVG plugin, desktop shells, AppStream), so the app and
the Linux desktop entry use it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"


def render(svg: Path, png: Path, size: int = 256) -> None:
    """Draw ``svg`` onto a transparent ``size``×``size`` ARGB image and save it as ``png``."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    # Rendering needs a Gui application but no screen: offscreen works headless and in CI.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG for Qt's renderer")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(png), "PNG"):
        raise SystemExit(f"{png}: could not write the PNG")


if __name__ == "__main__":
    render(ICONS / "samdesk.svg", ICONS / "samdesk-256.png")
    print(f"wrote {ICONS / 'samdesk-256.png'}")
