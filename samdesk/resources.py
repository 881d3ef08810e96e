"""Where the bundled resources (sample media, icons) live."""

from __future__ import annotations

from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parent.parent / "resources"
SAMPLES_DIR = RESOURCES_DIR / "samples"


def sample_images() -> list[Path]:
    """The bundled sample photos, in a stable order (the first is what a fresh `make run` opens)."""
    order = ["cat.jpg", "coffee.jpg", "astronaut.jpg"]
    return [SAMPLES_DIR / name for name in order if (SAMPLES_DIR / name).exists()]


def sample_video() -> Path:
    return SAMPLES_DIR / "cat_pan.mp4"
