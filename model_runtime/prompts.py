"""What a user gives a model: one :class:`Prompts` value for every kind of model.

Clicks and a box (SAM 1/2, SAM 3's interactive head), a previous answer's low-res logits
(refinement), a noun phrase and exemplar boxes (SAM 3 concepts). The same value travels from the
GUI through the runtime to the model, and the document stores it (without ``mask_input``, which is
a transient of one refinement chain). Coordinates are pixels of the original image.

    Prompts(points=[(420, 310)], labels=[1])
    Prompts(box=(10, 20, 300, 400))
    Prompts(text="yellow school bus")
    Prompts(text="dog", exemplars=[((10, 20, 110, 140), True), ((200, 30, 260, 90), False)])
    Prompts(text=("car", "person"))            # several phrases in one batched pass

The value is immutable and hashable (``mask_input`` does not take part in equality or hashing).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Box = tuple[float, float, float, float]
# Low-res logits of a previous answer, as models return them: SAM 1/2 (256²), SAM 3 (288²).
LOW_RES_SHAPES = ((256, 256), (288, 288))


class PromptError(ValueError):
    """A prompt that cannot be answered (no prompt at all, mismatched points/labels, ...)."""


@dataclass(frozen=True)
class Exemplar:
    """A box marking an example (positive) or a counter-example (negative) of a concept."""

    box: Box  # x0, y0, x1, y1 in original-image pixels
    positive: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", as_box(self.box, "exemplar box"))
        object.__setattr__(self, "positive", bool(self.positive))


@dataclass(frozen=True)
class Prompts:
    """Every prompt a model can be given; any field may be empty.

    points:     ((x, y), ...) pixel coordinates, with ``labels`` (1 foreground, 0 background)
    box:        (x0, y0, x1, y1) or None
    mask_input: float32 (1, 256, 256) low-res logits of a previous answer (SAM 3: (1, 288, 288)),
                or None
    text:       a noun phrase, a tuple of phrases (one result each), or None
    exemplars:  example boxes of the concept, positive or negative
    """

    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    box: Box | None = None
    mask_input: np.ndarray | None = field(default=None, compare=False, repr=False)
    text: str | tuple[str, ...] | None = None
    exemplars: tuple[Exemplar, ...] = ()

    def __post_init__(self) -> None:
        points = _point_tuples(self.points)
        labels = tuple(int(v) for v in np.asarray(self.labels if self.labels is not None else ()).reshape(-1))
        if len(points) != len(labels):
            raise PromptError(f"{len(points)} points but {len(labels)} labels")
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "labels", labels)
        if self.box is not None:
            object.__setattr__(self, "box", as_box(self.box, "box"))
        if self.mask_input is not None:
            mask = np.asarray(self.mask_input, dtype=np.float32)
            if mask.ndim == 2:
                mask = mask[None]
            if mask.ndim != 3 or mask.shape[0] != 1 or mask.shape[1:] not in LOW_RES_SHAPES:
                raise PromptError(
                    f"mask_input must be (1, 256, 256) low-res logits (SAM 3: (1, 288, 288)), "
                    f"got {np.asarray(self.mask_input).shape}"
                )
            object.__setattr__(self, "mask_input", mask)
        object.__setattr__(self, "text", _text_value(self.text))
        object.__setattr__(self, "exemplars", tuple(_exemplar(e) for e in (self.exemplars or ())))

    # --- what is in it ---------------------------------------------------------------------------

    @property
    def has_click(self) -> bool:
        """Points, a box or a mask_input: served by a click model's ``predict``."""
        return bool(self.points) or self.box is not None or self.mask_input is not None

    @property
    def has_concept(self) -> bool:
        """A phrase or exemplar boxes: served by a concept model's ``find_all``."""
        return bool(self.phrases) or bool(self.exemplars)

    @property
    def phrases(self) -> tuple[str, ...]:
        """The noun phrases, as a tuple (empty when there is no text)."""
        if self.text is None:
            return ()
        return (self.text,) if isinstance(self.text, str) else self.text

    def is_empty(self) -> bool:
        return not self.has_click and not self.has_concept

    # --- as arrays, for models -------------------------------------------------------------------

    def points_array(self) -> np.ndarray | None:
        """float32 (N, 2) or None."""
        return np.asarray(self.points, dtype=np.float32).reshape(-1, 2) if self.points else None

    def labels_array(self) -> np.ndarray | None:
        """int32 (N,) or None."""
        return np.asarray(self.labels, dtype=np.int32) if self.labels else None

    def box_array(self) -> np.ndarray | None:
        """float32 (4,) or None."""
        return None if self.box is None else np.asarray(self.box, dtype=np.float32)

    def click_arrays(self) -> dict[str, np.ndarray | None]:
        """The keyword arguments of ``ImageModel.predict``: points, labels, box, mask_input."""
        return {
            "points": self.points_array(),
            "labels": self.labels_array(),
            "box": self.box_array(),
            "mask_input": self.mask_input,
        }

    def without_mask_input(self) -> Prompts:
        """The same prompts minus the transient low-res logits (what a document stores)."""
        if self.mask_input is None:
            return self
        return Prompts(self.points, self.labels, self.box, None, self.text, self.exemplars)

    @classmethod
    def of_clicks(
        cls,
        points: Any = None,
        labels: Any = None,
        box: Any = None,
        mask_input: Any = None,
    ) -> Prompts:
        """From ``predict``'s array arguments (None for what is absent)."""
        if (points is None) != (labels is None):
            raise PromptError("points and labels must be given together")
        return cls(
            points=() if points is None else points,
            labels=() if labels is None else labels,
            box=box,
            mask_input=mask_input,
        )


def _point_tuples(points: Any) -> tuple[tuple[float, float], ...]:
    if points is None:
        return ()
    array = np.asarray(points, dtype=np.float64)
    if array.size == 0:
        return ()
    if array.ndim == 1 and array.shape[0] == 2:
        array = array[None]
    if array.ndim != 2 or array.shape[1] != 2:
        raise PromptError(f"points must be (N, 2) x, y pairs, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise PromptError("points contain NaN or infinity")
    return tuple((float(x), float(y)) for x, y in array)


def as_box(box: Any, what: str) -> Box:
    """``box`` as a (x0, y0, x1, y1) float tuple; PromptError naming ``what`` if it is not one."""
    values = np.asarray(box, dtype=np.float64).reshape(-1)
    if values.shape != (4,):
        raise PromptError(f"{what} must be (x0, y0, x1, y1), got {values.shape[0]} values")
    if not np.isfinite(values).all():
        raise PromptError(f"{what} contains NaN or infinity")
    x0, y0, x1, y1 = (float(v) for v in values)
    return (x0, y0, x1, y1)


def _text_value(text: Any) -> str | tuple[str, ...] | None:
    if text is None:
        return None
    if isinstance(text, str):
        return text
    if isinstance(text, Iterable):
        phrases = tuple(text)
        if not all(isinstance(p, str) for p in phrases):
            raise PromptError("text must be a phrase or a sequence of phrases")
        return phrases or None
    raise PromptError(f"text must be a phrase or a sequence of phrases, got {type(text).__name__}")


def _exemplar(value: Exemplar | Sequence[Any]) -> Exemplar:
    if isinstance(value, Exemplar):
        return value
    try:
        box, positive = value
    except (TypeError, ValueError):
        raise PromptError(f"an exemplar is (box, positive), got {value!r}") from None
    return Exemplar(box, positive)


def validate_exemplar_box(box: Box, image_size: tuple[int, int]) -> None:
    """Refuse an exemplar box of zero area or wholly outside the (H, W) image."""
    x0, y0, x1, y1 = box
    height, width = image_size
    if not (x1 > x0 and y1 > y0):
        raise PromptError(f"exemplar box {box} has zero area (x1 must exceed x0 and y1 exceed y0)")
    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height or not all(map(math.isfinite, box)):
        raise PromptError(f"exemplar box {box} is outside the {width}×{height} image")
