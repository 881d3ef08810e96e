"""The ``everything`` capability of a click model, as methods it inherits.

SAM 1, MobileSAM and SAM 2 answer segment everything the same way: a grid of clicks through
their own decoder (:mod:`model_runtime.everything.generator`), with the official generator's
settings for their family. A model class that lists :class:`EverythingFromClicks` among its
bases gets ``segment_everything`` and ``iter_everything``; it needs ``info`` (a ``ModelInfo``)
and what the generator needs (``encode_image``, ``predict`` or ``predict_batch``, ``mask_plan``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from model_runtime.api import EverythingProgress, ImageEmbedding, Instances, ModelInfo, validate_image
from model_runtime.everything.generator import iter_everything, segment_everything
from model_runtime.everything.settings import EverythingSettings


class EverythingFromClicks:
    """``segment_everything`` / ``iter_everything`` for a click model (module docstring)."""

    info: ModelInfo

    def segment_everything(
        self, image: np.ndarray, embedding: ImageEmbedding | None = None, **settings: Any
    ) -> Instances:
        """Every object of ``image`` (uint8 (H, W, 3)) proposed at once (``model_runtime.everything``).

        ``settings``: the official automatic mask generator's keyword arguments and defaults;
        ``embedding``: this image's cached embedding, reused for the whole-image pass."""
        settings_ = EverythingSettings.for_family(self.info.family, **settings)
        return segment_everything(self, validate_image(image), embedding, settings_)  # type: ignore[arg-type]

    def iter_everything(
        self, image: np.ndarray, embedding: ImageEmbedding | None = None, **settings: Any
    ) -> Iterator[EverythingProgress]:
        """:meth:`segment_everything` one point batch per step, what is kept so far each time,
        the answer last (``final``); for the runtime, which streams it and stops between steps."""
        settings_ = EverythingSettings.for_family(self.info.family, **settings)
        return iter_everything(self, validate_image(image), embedding, settings_)  # type: ignore[arg-type]
