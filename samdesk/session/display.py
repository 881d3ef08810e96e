"""Brightness, contrast and gamma of the picture on screen: a view setting for dark or flat
images, never part of the project, the model's input or an export.

A :class:`Display` maps each 8-bit channel value through one lookup table: ``v`` in 0..1 becomes
``((v ** (1 / gamma)) - 0.5) * contrast + 0.5 + brightness``, clipped; gamma above 1 lifts the
shadows. The identity display is skipped entirely (no cost for images shown as they are).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

LIMITS = {"brightness": (-2.0, 2.0), "contrast": (0.1, 5.0), "gamma": (0.2, 5.0)}
STEPS = {"brightness": 0.05, "contrast": 0.1, "gamma": 0.1}


@dataclass(frozen=True)
class Display:
    brightness: float = 0.0  # added, in units of the full range (-2..2: room for high contrast)
    contrast: float = 1.0  # a factor around mid-grey
    gamma: float = 1.0  # > 1 lifts dark tones

    @property
    def is_identity(self) -> bool:
        return self == Display()

    def changed(self, name: str, steps: float) -> Display:
        """This display with ``name`` moved by ``steps`` steps (:data:`STEPS`), within its limits."""
        low, high = LIMITS[name]
        value = round(getattr(self, name) + steps * STEPS[name], 4)
        return replace(self, **{name: min(max(value, low), high)})

    def lut(self) -> np.ndarray:
        """uint8 (256,): the value each channel value is shown as."""
        v = np.arange(256, dtype=np.float64) / 255.0
        v = v ** (1.0 / self.gamma)
        v = (v - 0.5) * self.contrast + 0.5 + self.brightness
        return np.clip(np.rint(v * 255.0), 0, 255).astype(np.uint8)

    def describe(self) -> str:
        return f"brightness {self.brightness:+.2f} · contrast {self.contrast:.2f} · gamma {self.gamma:.2f}"


def auto_levels(pixels: np.ndarray, channels: int = 3, clip: float = 0.5) -> Display:
    """The display that stretches ``pixels`` (H, W, C) uint8 so that their darkest and lightest
    ``clip`` percent just reach black and white (gamma 1): what a dark or hazy image needs."""
    sample = pixels[:: max(1, pixels.shape[0] // 512), :: max(1, pixels.shape[1] // 512), :channels]
    low, high = np.percentile(sample, (clip, 100 - clip)) / 255.0
    if high - low < 1 / 255:
        return Display()
    contrast = min(max(1.0 / (high - low), LIMITS["contrast"][0]), LIMITS["contrast"][1])
    brightness = -0.5 - (low - 0.5) * contrast
    low_b, high_b = LIMITS["brightness"]
    return Display(brightness=round(min(max(brightness, low_b), high_b), 4), contrast=round(contrast, 4))


def apply(pixels: np.ndarray, display: Display, channels: int = 3) -> np.ndarray:
    """``pixels`` (H, W, C) uint8, C <= 4, with the first ``channels`` channels mapped (an alpha
    channel after them is kept); a new array, made by OpenCV's table look-up (every frame of a
    video played with an adjustment goes through it)."""
    if display.is_identity:
        return pixels.copy()
    lut, identity = display.lut(), np.arange(256, dtype=np.uint8)
    count = pixels.shape[2]
    table = np.stack([lut] * channels + [identity] * (count - channels), axis=1).reshape(256, 1, count)
    return cv2.LUT(np.ascontiguousarray(pixels), table)
