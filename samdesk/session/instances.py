"""Many objects proposed at once and not accepted yet: a find-all or segment-everything answer.

A click builds one pending object with K candidate masks (``samdesk.session.pending``); a
concept query (SAM 3) or an automatic sweep answers with N instances, each its own object.
They are shown together, each in its own colour with its score, and reviewed: a threshold
re-filters them without the model (``Instances.above``), a minimum area hides small ones, the
user rejects some, lets a duplicate through, refines one, and accepts all, one, or those above
the threshold (``samdesk.session.review`` turns that into one undoable step).

The answer is kept in *groups*, one per phrase of a find-all (``car; person``), each with the
category its instances go to; segment everything and exemplar-only queries are one group. An
instance is named by its :data:`Key`: (group, index in the group's pool), stable while the
threshold moves, so rejections, colours and crops survive re-filtering.

Instances whose mask overlaps an object already on the image (IoU at or above
``duplicate_iou``) are *duplicates*: shown as such and never accepted unless the user allows
each one — a proposal never overwrites or doubles the user's work.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from model_runtime.api import Instances, Prompts
from samdesk.session import mask_ops

Crop = tuple[np.ndarray, tuple[int, int]]  # bool (h, w) and its top-left (x0, y0) in the image
Key = tuple[int, int]  # (group index, index in that group's pool)

DEFAULT_DUPLICATE_IOU = 0.8
# Outlines drawn per instance: a few contours, simplified (a proposal of hundreds of speckled
# masks must not take the GUI thread seconds to outline; the fill shows every pixel anyway).
OUTLINE_CONTOURS = 8
OUTLINE_POINTS = 600


@dataclass
class InstanceGroup:
    """One part of an answer: a phrase's instances, or segment everything's.

    pool:        every candidate the model scored (``Instances.pool``), masks made on first read
    label:       the phrase ("" for exemplars alone or segment everything)
    task:        the batch-labelling task key ("text:car", "everything"), "" when none
    category_id: where its accepted instances go; None: the phrase's category by name (made
                 when accepted if the project has none), or for an unlabelled group the one
                 chosen when accepting
    """

    pool: Instances
    label: str = ""
    task: str = ""
    category_id: int | None = None


@dataclass
class PendingInstances:
    """Instances found on frame ``frame`` of media ``media_id`` by model ``model_id``, under review.

    instances: an ``Instances`` (one group, shown as given: its own threshold) or the groups
    prompts:   what asked for them (a phrase, exemplar boxes), stored with each accepted object
    threshold: shown are those scoring strictly above it (None: every one in the pool)
    existing:  the masks of the objects already on the image, as crops (duplicates are found
               against them; :meth:`set_existing` when they change)
    stored:    the instances are batch-labelling results kept in the project for review
    """

    instances: Instances | Sequence[InstanceGroup]
    media_id: int
    frame: int
    model_id: str | None = None
    prompts: Prompts = field(default_factory=Prompts)
    threshold: float | None = None
    existing: Sequence[Crop] = ()
    duplicate_iou: float = DEFAULT_DUPLICATE_IOU
    stored: bool = False
    min_area: int = 0
    groups: list[InstanceGroup] = field(init=False)
    rejected: set[Key] = field(init=False, default_factory=set)
    allowed: set[Key] = field(init=False, default_factory=set)  # duplicates the user lets through
    accepted: dict[Key, int] = field(init=False, default_factory=dict)  # -> the object made of it
    done: set[Key] = field(init=False, default_factory=set)  # accepted, and the object exists
    selected: Key | None = field(init=False, default=None)
    refined: dict[Key, Prompts] = field(init=False, default_factory=dict)  # clicks that refined it
    _crops: dict[Key, Crop | None] = field(init=False, default_factory=dict, repr=False)
    _outlines: dict[Key, list[np.ndarray]] = field(init=False, default_factory=dict, repr=False)
    _scores: dict[Key, float] = field(init=False, default_factory=dict, repr=False)  # after refining
    _duplicate: dict[Key, bool] = field(init=False, default_factory=dict, repr=False)
    # What a view made to draw it (fills, outline paths), kept for its next drawing; opaque here.
    drawn: dict = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.instances, Instances):
            given = self.instances
            # Filtered at a threshold: its pool, re-filtered at that threshold (the slider moves
            # from there); otherwise exactly the instances given.
            filtered = given.threshold is not None
            self.groups = [InstanceGroup(given.pool if filtered else given, given.phrase or "")]
            if filtered and self.threshold is None:
                self.threshold = given.threshold
        else:
            self.groups = list(self.instances)
        self.existing = list(self.existing)

    # --- what is shown ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.shown())

    @property
    def image_size(self) -> tuple[int, int]:
        return self.groups[0].pool.image_size if self.groups else (0, 0)

    def all_keys(self) -> list[Key]:
        """Every instance of every group's pool, groups in order, each in the model's order."""
        return [(g, i) for g, group in enumerate(self.groups) for i in range(len(group.pool))]

    def shown(self) -> list[Key]:
        """The instances on screen: above the threshold, at least ``min_area`` pixels, neither
        rejected nor accepted; groups in order, each in the model's order."""
        floor = -math.inf if self.threshold is None else self.threshold
        shown: list[Key] = []
        for g, group in enumerate(self.groups):
            for i in np.flatnonzero(group.pool.scores > floor).tolist():
                key = (g, i)
                if key in self.rejected or key in self.done:
                    continue
                if self.min_area > 0 and self.area(key) < self.min_area:
                    continue
                shown.append(key)
        return shown

    def counts(self) -> list[tuple[str, int, int]]:
        """Per group: its label, how many of its instances are shown, how many of those are
        duplicates of existing objects."""
        per_group = [[group.label, 0, 0] for group in self.groups]
        for key in self.shown():
            per_group[key[0]][1] += 1
            per_group[key[0]][2] += self.is_duplicate(key)
        return [(label, shown, duplicates) for label, shown, duplicates in per_group]

    def score(self, key: Key) -> float:
        refined = self._scores.get(key)
        return refined if refined is not None else float(self.groups[key[0]].pool.scores[key[1]])

    def box(self, key: Key) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = (float(v) for v in self.groups[key[0]].pool.boxes[key[1]])
        return x0, y0, x1, y1

    def color_index(self, key: Key) -> int:
        """A number for the instance's colour that does not change as the threshold moves."""
        return sum(len(group.pool) for group in self.groups[: key[0]]) + key[1]

    def crop(self, key: Key) -> Crop | None:
        """The instance's mask inside its bounding box, bool (h, w), with the box's top-left
        (x0, y0); None for an empty mask. Made once (masks are made on first read)."""
        if key not in self._crops:
            pool = self.groups[key[0]].pool
            mask = pool.masks[key[1]]
            box = mask_ops.bounding_box_near(mask, pool.boxes[key[1]])
            self._crops[key] = None if box is None else (mask[box[1] : box[3], box[0] : box[2]], box[:2])
        return self._crops[key]

    def crops(self, keys: Iterable[Key] | None = None) -> list[Crop | None]:
        """:meth:`crop` of each of ``keys`` (default: the shown ones)."""
        return [self.crop(key) for key in (self.shown() if keys is None else keys)]

    def outline(self, key: Key) -> list[np.ndarray]:
        """The instance's outline as float64 (n, 2) x, y arrays in image coordinates (a few
        simplified contours: see ``mask_ops.outline_points``). Made once."""
        if key not in self._outlines:
            crop = self.crop(key)
            self._outlines[key] = [] if crop is None else mask_ops.outline_points(
                crop[0], crop[1], OUTLINE_CONTOURS, OUTLINE_POINTS)
        return self._outlines[key]

    def prepare(self, keys: Iterable[Key]) -> None:
        """Make the crops and outlines of ``keys`` ahead of showing them, from any thread
        (masks are made once, whichever thread reads them first; a crop made twice is the same)."""
        for key in keys:
            self.outline(key)
            self.is_duplicate(key)

    def area(self, key: Key) -> int:
        crop = self.crop(key)
        return 0 if crop is None else int(np.count_nonzero(crop[0]))

    def key_at(self, x: float, y: float) -> Key | None:
        """The shown instance drawn on top at pixel (x, y) (later ones are drawn over earlier)."""
        col, row = int(math.floor(x)), int(math.floor(y))
        for key in reversed(self.shown()):
            crop = self.crop(key)
            if crop is None:
                continue
            mask, (x0, y0) = crop
            h, w = mask.shape
            if x0 <= col < x0 + w and y0 <= row < y0 + h and mask[row - y0, col - x0]:
                return key
        return None

    # --- duplicates ------------------------------------------------------------------------------

    def set_existing(self, existing: Sequence[Crop]) -> None:
        """The objects on the image changed: duplicates are found again."""
        self.existing = list(existing)
        self._duplicate.clear()

    def overlaps_existing(self, key: Key) -> bool:
        """Whether the instance's mask overlaps an existing object with IoU >= ``duplicate_iou``."""
        if key not in self._duplicate:
            crop = self.crop(key)
            self._duplicate[key] = crop is not None and any(
                crop_iou(crop, other) >= self.duplicate_iou for other in self.existing
            )
        return self._duplicate[key]

    def is_duplicate(self, key: Key) -> bool:
        """A duplicate the user has not let through: shown as such, never accepted."""
        return key not in self.allowed and self.overlaps_existing(key)

    # --- what the user does ---------------------------------------------------------------------

    def acceptable(self, keys: Iterable[Key] | None = None) -> list[Key]:
        """Of ``keys`` (default: the shown ones), those that may become objects: not duplicates
        (unless allowed) and with a non-empty mask."""
        chosen = self.shown() if keys is None else list(keys)
        return [k for k in chosen if not self.is_duplicate(k) and self.crop(k) is not None]

    def reject(self, key: Key) -> None:
        self.rejected.add(key)
        if self.selected == key:
            self.selected = None

    def allow(self, key: Key) -> None:
        """Let a duplicate through: it is accepted like any other instance."""
        self.allowed.add(key)

    def mark_accepted(self, keys: Sequence[Key], object_ids: Sequence[int]) -> None:
        self.accepted.update(zip(keys, object_ids, strict=True))
        self.done.update(keys)
        if self.selected in self.done:
            self.selected = None

    def follow_objects(self, alive: set[int]) -> None:
        """The objects made from instances are ``alive`` or not (undo, redo): an instance whose
        object was undone is shown again, and hidden again when it is redone."""
        self.done = {key for key, object_id in self.accepted.items() if object_id in alive}

    def refine(self, key: Key, mask: np.ndarray, score: float, prompts: Prompts) -> None:
        """Replace the instance's mask by a refined one (bool (H, W)) and its score."""
        box = mask_ops.bounding_box(mask)
        self._crops[key] = None if box is None else (mask[box[1] : box[3], box[0] : box[2]].copy(), box[:2])
        self._outlines.pop(key, None)
        self._scores[key] = float(score)
        self._duplicate.pop(key, None)
        self.refined[key] = prompts

    def prompts_of(self, key: Key) -> Prompts:
        """What asked for the instance: the query's prompts with its group's phrase (and the
        clicks that refined it), as stored with the object it becomes."""
        label = self.groups[key[0]].label
        base = self.prompts
        if label and base.phrases != (label,):
            base = Prompts(text=label, exemplars=base.exemplars)
        clicks = self.refined.get(key)
        if clicks is None:
            return base
        return Prompts(clicks.points, clicks.labels, clicks.box, None, base.text, base.exemplars)

    def replace_group(self, index: int, pool: Instances) -> None:
        """A newer answer for group ``index`` (segment everything streams its preview): what
        the user did to an instance carries over to the instance with the same box."""
        old = self.groups[index]
        boxes = {tuple(box.tolist()): i for i, box in enumerate(pool.boxes)}

        def remap(key: Key) -> Key | None:
            if key[0] != index:
                return key
            i = boxes.get(tuple(old.pool.boxes[key[1]].tolist()))
            return None if i is None else (index, i)

        carried: dict[Key, tuple] = {}  # the same instance (same box) keeps what was made of it
        for key in [k for k in self._crops if k[0] == index]:
            new = remap(key)
            if new is not None:
                carried[new] = (self._crops[key], self._outlines.get(key), self._scores.get(key),
                                self._duplicate.get(key))
        self.rejected = {k for k in (remap(k) for k in self.rejected) if k is not None}
        self.allowed = {k for k in (remap(k) for k in self.allowed) if k is not None}
        self.accepted = {nk: v for k, v in self.accepted.items() if (nk := remap(k)) is not None}
        self.done = {k for k in (remap(k) for k in self.done) if k is not None}
        self.refined = {nk: v for k, v in self.refined.items() if (nk := remap(k)) is not None}
        self.selected = None if self.selected is None else remap(self.selected)
        for cache in (self._crops, self._outlines, self._scores, self._duplicate):
            for key in [k for k in cache if k[0] == index]:
                del cache[key]
        caches = (self._crops, self._outlines, self._scores, self._duplicate)
        for key, values in carried.items():
            for cache, value in zip(caches, values, strict=True):
                if value is not None:
                    cache[key] = value  # type: ignore[index]
        self.groups[index] = InstanceGroup(pool, old.label, old.task, old.category_id)


def crop_iou(a: Crop, b: Crop) -> float:
    """IoU of two masks given as bounding-box crops with their origins (same image)."""
    (ma, (ax, ay)), (mb, (bx, by)) = a, b
    x0, y0 = max(ax, bx), max(ay, by)
    x1 = min(ax + ma.shape[1], bx + mb.shape[1])
    y1 = min(ay + ma.shape[0], by + mb.shape[0])
    area_a, area_b = int(np.count_nonzero(ma)), int(np.count_nonzero(mb))
    if area_a + area_b == 0:
        return 0.0
    inter = 0
    if x1 > x0 and y1 > y0:
        part_a = ma[y0 - ay : y1 - ay, x0 - ax : x1 - ax]
        part_b = mb[y0 - by : y1 - by, x0 - bx : x1 - bx]
        inter = int(np.count_nonzero(part_a & part_b))
    return inter / (area_a + area_b - inter)
