"""Where the bundled resources (sample media, the application icon) live.

This module is the one place that knows the layout. The files sit in the top-level
``resources/`` folder of the source tree, which pyproject installs as the ``samdesk.assets``
package (``package-dir``), so the same lookup holds for an editable install, a wheel and an
sdist alike; a source checkout that was never installed finds ``resources/`` beside ``samdesk/``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SAMPLE_IMAGE_NAMES = ("cat.jpg", "coffee.jpg", "astronaut.jpg")
SAMPLE_VIDEO_NAME = "cat_pan.mp4"
ICON_NAMES = {"svg": "samdesk.svg", "png": "samdesk-256.png"}
# Reverse-DNS application id: the .desktop/.metainfo file names in packaging/linux/ and the
# name the running app reports to the desktop shell must agree.
DESKTOP_ID = "io.github.samdesk.Samdesk"
ASSETS_PACKAGE = "samdesk.assets"


def assets_dir() -> Path:
    """The folder holding ``samples/`` and ``icons/``, as a real filesystem path.

    A real path, not a Traversable: OpenCV, PyAV and Qt open media by file name. samdesk is
    always installed as files on disk (never imported from a zip), so this holds everywhere.
    """
    spec = importlib.util.find_spec(ASSETS_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        root = Path(next(iter(spec.submodule_search_locations)))
    else:  # a source checkout on sys.path, never installed: resources/ beside samdesk/
        root = Path(__file__).resolve().parent.parent / "resources"
    if not root.is_dir():
        raise RuntimeError(f"samdesk's bundled resources are not on the filesystem (looked in {root})")
    return root


def samples_dir() -> Path:
    return assets_dir() / "samples"


def sample_images() -> list[Path]:
    """The bundled sample photos, in a stable order (the first is what a fresh start opens)."""
    folder = samples_dir()
    return [folder / name for name in SAMPLE_IMAGE_NAMES if (folder / name).exists()]


def sample_video() -> Path:
    return samples_dir() / SAMPLE_VIDEO_NAME


def icon_path(kind: str = "png") -> Path:
    """The application icon: ``"png"`` (256 px, loads without Qt's SVG plugin) or ``"svg"``."""
    if kind not in ICON_NAMES:
        raise ValueError(f"unknown icon kind {kind!r}; expected one of {sorted(ICON_NAMES)}")
    return assets_dir() / "icons" / ICON_NAMES[kind]
