"""The document's data: categories, media, annotation objects and their per-frame masks.

A frame's prompts are :class:`model_runtime.prompts.Prompts`, the same immutable value the GUI
and the runtime pass to a model (stored without its transient ``mask_input``).

Plain dataclasses with no behaviour beyond lookups. They change only through the commands in
``commands.py`` (so every change is undoable) and never import Qt or a model.
Images are media with one frame (frame 0); videos have ``frame_count`` frames.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from model_runtime.prompts import Prompts
from samdesk.document.masks import Rle
from samdesk.document.records import ObjectRecords, Records

# 2: prompts are model_runtime's Prompts: ``text`` may be a list of phrases (see
# docs/project-format.md). Version 1 files are read unchanged.
SCHEMA_VERSION = 2

AttributeValue = bool | str | int | float  # an object attribute's value (JSON scalar, finite)


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


class MediaStatus(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class Provenance(StrEnum):
    MANUAL = "manual"  # drawn by hand (brush, polygon)
    MODEL = "model"  # predicted from the user's prompts on this frame
    PROPAGATED = "propagated"  # carried from another frame by a video model
    EDITED = "edited"  # a model result the user then changed by hand
    IMPORTED = "imported"  # read from a dataset file


@dataclass
class Category:
    id: int
    name: str
    color: tuple[int, int, int]


@dataclass
class MediaItem:
    """An image or a video. ``path`` is absolute in memory (relative only inside project files)."""

    id: int
    kind: MediaKind
    path: str
    width: int
    height: int
    frame_count: int = 1
    fps: float | None = None
    content_hash: str = ""
    status: MediaStatus = MediaStatus.NEW
    done_frames: set[int] = field(default_factory=set)
    tags: list[str] = field(default_factory=list)  # image-level tags, in the user's order, unique

    @property
    def name(self) -> str:
        return Path(self.path).name


@dataclass(frozen=True)
class TrackedFrom:
    """The keyframe a tracking run carried a frame's result from: its frame number and the
    digest of its mask (``masks.digest``) when the run started. Once that keyframe has changed,
    or another keyframe lies between it and the frame, the result is stale
    (``samdesk.session.lanes``)."""

    frame: int
    mask_digest: str


@dataclass
class FrameAnnotation:
    """One object's mask on one frame, with how it came to be.

    Tracked (``PROPAGATED``) frames also keep the tracker's ``object_score`` (its presence
    logit: > 0, the object is there; near 0, the tracker is unsure) and ``tracked_from``.

    ``polygon``: for a polygon annotation, its (x, y) vertices in pixels; the mask is then their
    rasterisation (``shapes.py``), and exports that hold polygons write the vertices. Any edit of
    the mask makes a new annotation without them.
    """

    rle: Rle
    provenance: Provenance = Provenance.MANUAL
    score: float | None = None
    prompts: Prompts = Prompts()
    model_id: str | None = None
    object_score: float | None = None
    tracked_from: TrackedFrom | None = None
    polygon: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self) -> None:
        # A previous answer's low-res logits (256 KB) steer one refinement chain; they are not
        # part of what the user gave the model, and the document never stores them.
        self.prompts = self.prompts.without_mask_input()


@dataclass(frozen=True)
class TrackerAbsence:
    """A frame where a tracking run judged the object absent or occluded (its presence logit
    ``object_score`` <= 0, or an empty mask; None: not reported): there is no mask, and the
    timeline says why."""

    object_score: float | None
    tracked_from: TrackedFrom | None = None
    model_id: str | None = None


@dataclass
class AnnotationObject:
    """An annotated instance: on an image one mask; on a video a track with one mask per frame.

    ``absent``: frames where tracking found the object gone. A run never leaves a tracked mask
    and an absence on one frame; a mask the user draws there later wins over the absence.

    ``attributes``: flags and values of the whole object, by name (``attributes.py``): the
    well-known ``occluded`` and ``truncated`` flags, a free-text ``note``, and any others an
    import brought (CVAT attributes, COCO ``attributes``); values are bool, str, int or float."""

    id: int
    media_id: int
    category_id: int | None = None
    frames: dict[int, FrameAnnotation] = field(default_factory=dict)
    name: str = ""
    visible: bool = True
    locked: bool = False
    absent: dict[int, TrackerAbsence] = field(default_factory=dict)
    attributes: dict[str, AttributeValue] = field(default_factory=dict)


@dataclass
class Project:
    """Records in list order (objects: drawing order, last on top), found by id in O(1).

    Assigning a plain list to ``categories``, ``media`` or ``objects`` wraps it in its indexed
    :mod:`~samdesk.document.records` list; a record's id must not change while it is in one.
    """

    categories: Records[Category] = field(default_factory=Records)
    media: Records[MediaItem] = field(default_factory=Records)
    objects: ObjectRecords[AnnotationObject] = field(default_factory=ObjectRecords)
    settings: dict[str, object] = field(default_factory=dict)
    next_ids: dict[str, int] = field(default_factory=lambda: {"category": 1, "media": 1, "object": 1})

    def __setattr__(self, name: str, value: object) -> None:
        if name in ("categories", "media") and not isinstance(value, Records):
            value = Records(value)  # type: ignore[arg-type]
        elif name == "objects" and not isinstance(value, ObjectRecords):
            value = ObjectRecords(value)  # type: ignore[arg-type]
        super().__setattr__(name, value)

    # --- lookups -------------------------------------------------------------------------
    def category(self, category_id: int) -> Category:
        found = self.categories.get(category_id)
        if found is None:
            raise KeyError(f"no category {category_id}")
        return found

    def category_by_name(self, name: str) -> Category | None:
        return next((c for c in self.categories if c.name == name), None)

    def media_item(self, media_id: int) -> MediaItem:
        found = self.media.get(media_id)
        if found is None:
            raise KeyError(f"no media {media_id}")
        return found

    def object(self, object_id: int) -> AnnotationObject:
        found = self.objects.get(object_id)
        if found is None:
            raise KeyError(f"no object {object_id}")
        return found

    def objects_of(self, media_id: int) -> list[AnnotationObject]:
        """The objects of one media in drawing order (a new list, O(their count))."""
        return self.objects.of_media(media_id)

    def allocate_id(self, kind: str) -> int:
        """Next free id of ``kind`` ("category", "media", "object"); ids are never reused."""
        value = self.next_ids[kind]
        self.next_ids[kind] = value + 1
        return value

    def clone(self) -> Project:
        return copy.deepcopy(self)


def file_content_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes: a media item's identity, independent of where it lives.

    A video that is a folder of frames (``model_runtime.image_sequence``) hashes its frame files'
    names and bytes in frame order, so renaming or changing any frame changes its identity.
    """
    if Path(path).is_dir():
        from model_runtime.image_sequence import sequence_files

        digest = hashlib.sha256(b"samdesk image sequence\0")
        for frame in sequence_files(path):
            digest.update(frame.name.encode("utf-8", "surrogateescape") + b"\0")
            digest.update(bytes.fromhex(file_content_hash(frame, chunk)))
        return digest.hexdigest()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
