"""Object attributes (flags and values of a whole object) and image-level tags, with their
undoable commands.

An object's ``attributes`` map names to JSON scalars (bool, str, int, float). Three names are
well known and have their own controls in the GUI: the flags :data:`OCCLUDED` and
:data:`TRUNCATED` (VOC's and CVAT's meaning: partly hidden by another object, cut by the image
border) and :data:`NOTE`, free text. Any other name (an import from CVAT or COCO brought it) is
kept, shown and exported as it is. A flag that is off is stored as absent, so "no attributes" and
"every flag off" are one state.

A media item's ``tags`` are labels of the whole image (night, blurry, "no people"): unique,
non-empty, in the order the user gave them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from samdesk.document.commands import Command
from samdesk.document.events import Change, DocumentEvent
from samdesk.document.model import AttributeValue, Project

OCCLUDED = "occluded"
TRUNCATED = "truncated"
NOTE = "note"
FLAGS = (OCCLUDED, TRUNCATED)
MAX_NAME = 200  # characters of an attribute's name or a tag


def value_problem(name: object, value: object) -> str | None:
    """Why ``name: value`` cannot be an object attribute, or None."""
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        return f"attribute name must be non-empty text of at most {MAX_NAME} characters"
    if isinstance(value, bool | str):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return None
    return f"attribute {name!r} must be true/false, text or a finite number"


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Tags stripped, without empty ones or repeats, in their first order."""
    out: list[str] = []
    for tag in tags:
        tag = " ".join(str(tag).split())[:MAX_NAME]
        if tag and tag not in out:
            out.append(tag)
    return out


def parse_tags(text: str) -> list[str]:
    """Comma-separated tags as typed ("night, blurry") -> ``["night", "blurry"]``."""
    return clean_tags(text.split(","))


def describe(attributes: Mapping[str, AttributeValue]) -> str:
    """One line for a list or tooltip: ``occluded, truncated, depth=3, "behind the door"``."""
    parts = []
    for name, value in attributes.items():
        if name == NOTE:
            continue
        if value is True:
            parts.append(name)
        elif value is not False:
            parts.append(f"{name}={value}")
    if attributes.get(NOTE):
        parts.append(f"“{attributes[NOTE]}”")
    return ", ".join(parts)


def apply_changes(
    attributes: Mapping[str, AttributeValue], changes: Mapping[str, AttributeValue | None]
) -> dict[str, AttributeValue]:
    """``attributes`` with ``changes`` applied: None, False or "" removes a name."""
    out = dict(attributes)
    for name, value in changes.items():
        if value is None or value is False or value == "":
            out.pop(name, None)
        else:
            problem = value_problem(name, value)
            if problem is not None:
                raise ValueError(problem)
            out[name] = value
    return out


@dataclass
class SetAttributes(Command):
    """Apply ``changes`` (name -> value; None, False or "" removes) to the attributes of each
    object of ``object_ids``, as one step."""

    object_ids: list[int]
    changes: dict[str, AttributeValue | None]
    text: str = "set attributes"
    _before: dict[int, dict[str, AttributeValue]] = field(default_factory=dict)

    def do(self, project: Project) -> list[DocumentEvent]:
        objects = [project.object(i) for i in self.object_ids]
        after = [apply_changes(o.attributes, self.changes) for o in objects]  # checks all first
        self._before = {o.id: dict(o.attributes) for o in objects}
        for obj, attributes in zip(objects, after, strict=True):
            obj.attributes = attributes
        return self._events(project)

    def undo(self, project: Project) -> list[DocumentEvent]:
        for object_id, attributes in self._before.items():
            project.object(object_id).attributes = dict(attributes)
        return self._events(project)

    def _events(self, project: Project) -> list[DocumentEvent]:
        return [
            DocumentEvent(Change.OBJECT_CHANGED, object_id=i, media_id=project.object(i).media_id)
            for i in self.object_ids
        ]


@dataclass
class SetTags(Command):
    """Replace the tags of one media item (cleaned by :func:`clean_tags`)."""

    media_id: int
    tags: list[str]
    text: str = "set image tags"
    _before: list[str] = field(default_factory=list)

    def do(self, project: Project) -> list[DocumentEvent]:
        item = project.media_item(self.media_id)
        self._before = list(item.tags)
        item.tags = clean_tags(self.tags)
        return [DocumentEvent(Change.MEDIA_CHANGED, media_id=self.media_id)]

    def undo(self, project: Project) -> list[DocumentEvent]:
        project.media_item(self.media_id).tags = list(self._before)
        return [DocumentEvent(Change.MEDIA_CHANGED, media_id=self.media_id)]


def all_tags(project: Project) -> list[str]:
    """Every tag used in the project, in first-use order (what a tag field offers to complete)."""
    return clean_tags(tag for item in project.media for tag in item.tags)
