"""Object colours on the canvas (Qt-free): each instance of a category gets its own shade.

An object's colour starts from its category's: the first instance of a category on an image is
the category colour itself, the next ones step around it in hue and lightness, so two cups side
by side are told apart at a glance yet both still read as "cup" (the hue stays near the
category's). Objects without a category get well-separated hues of their own.
"""

from __future__ import annotations

import colorsys

RGB = tuple[int, int, int]

# (hue turn, lightness change) of the instances after the first, in order: neighbours differ in
# both, and the hue never strays more than ~30° from the category's.
INSTANCE_STEPS: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),
    (+0.055, -0.20),
    (-0.055, +0.18),
    (+0.085, +0.08),
    (-0.085, -0.12),
    (+0.03, +0.28),
    (-0.03, -0.28),
    (+0.07, +0.20),
    (-0.07, +0.02),
)

LIGHTNESS = (0.18, 0.88)  # shades stay visible as colours, neither near black nor near white


def instance_color(base: RGB, rank: int) -> RGB:
    """The colour of the ``rank``-th instance (0-based) of a category coloured ``base``."""
    if rank == 0:
        return base
    turn, lighter = INSTANCE_STEPS[rank % len(INSTANCE_STEPS)]
    if rank >= len(INSTANCE_STEPS):  # past the table: the same steps, turned a little further
        turn += 0.015 * (rank // len(INSTANCE_STEPS))
    hue, lightness, saturation = colorsys.rgb_to_hls(*(c / 255 for c in base))
    if not LIGHTNESS[0] <= lightness + lighter <= LIGHTNESS[1]:
        lighter = -lighter  # a very light (or dark) category: its shades go the other way
    lightness = min(LIGHTNESS[1], max(LIGHTNESS[0], lightness + lighter))
    saturation = max(saturation, 0.45)  # a grey category still gets shades that differ
    r, g, b = colorsys.hls_to_rgb((hue + turn) % 1.0, lightness, saturation)
    return round(r * 255), round(g * 255), round(b * 255)


def uncategorised_color(object_id: int) -> RGB:
    """Well-separated hues (golden-angle steps) for objects without a category."""
    r, g, b = colorsys.hsv_to_rgb((object_id * 0.618034) % 1.0, 0.75, 0.95)
    return round(r * 255), round(g * 255), round(b * 255)
