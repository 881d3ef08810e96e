"""Segment everything: every object of an image proposed at once (SAM 1, MobileSAM, SAM 2/2.1).

``model.segment_everything(image, embedding=None, **settings) -> Instances`` on the models runs
:func:`segment_everything`; :func:`iter_everything` is the same, one point batch per step, with a
preview of what is kept so far (for streaming and cancelling). See ``generator.py``. The
click models get both methods from ``from_clicks.EverythingFromClicks``.
"""

from model_runtime.everything.generator import (
    EverythingProgress,
    iter_everything,
    segment_everything,
)
from model_runtime.everything.settings import EverythingSettings

__all__ = ["EverythingProgress", "EverythingSettings", "iter_everything", "segment_everything"]
