"""Undoable commands and the document that runs them.

Every change to a :class:`Project` is a :class:`Command` with ``do``/``undo``; the
:class:`Document` executes it, records it in its :class:`History` and emits change events.
The GUI's undo stack is a thin adapter over ``History`` (unlimited within a session).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from samdesk.document.events import Change, DocumentEvent, EventBus
from samdesk.document.model import (
    AnnotationObject,
    Category,
    FrameAnnotation,
    MediaItem,
    MediaStatus,
    Project,
    TrackerAbsence,
)
from samdesk.document.records import Records


class Command(ABC):
    """A reversible change. ``do`` and ``undo`` return the events they caused."""

    text: str = "change"

    @abstractmethod
    def do(self, project: Project) -> list[DocumentEvent]: ...

    @abstractmethod
    def undo(self, project: Project) -> list[DocumentEvent]: ...


class History:
    """A linear undo/redo stack of executed commands with a clean marker for "saved"."""

    def __init__(self) -> None:
        self._done: list[Command] = []
        self._undone: list[Command] = []
        self._clean_depth: int | None = 0

    def push(self, command: Command) -> None:
        """Record an executed command. A :class:`Batch` with a ``merge_key`` equal to that of
        the newest command joins it instead (one undo step for a run that lands piece by piece,
        such as tracking a video frame by frame)."""
        top = self._done[-1] if self._done else None
        if (
            isinstance(command, Batch)
            and command.merge_key is not None
            and isinstance(top, Batch)
            and top.merge_key == command.merge_key
            and not self._undone
        ):
            top.commands += command.commands
            if self._clean_depth == len(self._done):
                self._clean_depth = None  # the saved state is now inside the grown step
            return
        if self._clean_depth is not None and self._clean_depth > len(self._done):
            self._clean_depth = None  # the saved state was in the redo branch we are discarding
        self._done.append(command)
        self._undone.clear()

    def pop_undo(self) -> Command | None:
        if not self._done:
            return None
        command = self._done.pop()
        self._undone.append(command)
        return command

    def pop_redo(self) -> Command | None:
        if not self._undone:
            return None
        command = self._undone.pop()
        self._done.append(command)
        return command

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    @property
    def undo_text(self) -> str:
        return self._done[-1].text if self._done else ""

    @property
    def redo_text(self) -> str:
        return self._undone[-1].text if self._undone else ""

    @property
    def depth(self) -> int:
        """How many steps are done: the place of the document in :meth:`steps`."""
        return len(self._done)

    def steps(self) -> list[str]:
        """The text of every step, oldest first: the steps done, then the undone ones in the
        order redo would bring them back (what an undo-history view lists)."""
        return [c.text for c in self._done] + [c.text for c in reversed(self._undone)]

    @property
    def saved_depth(self) -> int | None:
        """The :attr:`depth` at which the document was saved; None if no state in the history is."""
        return self._clean_depth

    def mark_clean(self) -> None:
        self._clean_depth = len(self._done)

    @property
    def is_clean(self) -> bool:
        return self._clean_depth == len(self._done)

    def done_commands(self) -> tuple[Command, ...]:
        """The steps done, oldest first (what undo would take back, newest last)."""
        return tuple(self._done)

    def clear(self, clean: bool = True) -> None:
        """Forget all commands. ``clean=False``: the state is not what is on disk (e.g. restored
        from a recovery file), so the document stays dirty until saved."""
        self._done.clear()
        self._undone.clear()
        self._clean_depth = 0 if clean else None


class Document:
    """A project plus its undo history and change notifications. The single owner of the truth."""

    def __init__(self, project: Project | None = None, path: str | Path | None = None) -> None:
        self.project = project or Project()
        self.path: Path | None = Path(path) if path else None
        self.events = EventBus()
        self.history = History()
        # Bumped on every change; autosave compares it to know whether anything happened.
        self.revision = 0

    def execute(self, command: Command) -> None:
        events = command.do(self.project)
        self.history.push(command)
        self._changed(events)

    def undo(self) -> bool:
        command = self.history.pop_undo()
        if command is None:
            return False
        self._changed(command.undo(self.project))
        return True

    def redo(self) -> bool:
        command = self.history.pop_redo()
        if command is None:
            return False
        self._changed(command.do(self.project))
        return True

    @property
    def dirty(self) -> bool:
        return not self.history.is_clean

    @property
    def has_unsaved_work(self) -> bool:
        """Whether closing now would lose something the user made: the document is dirty,
        unless it was never saved and every step since only opened files (opening them again
        brings back the same). A project file's document, or a restored autosave, is never
        treated so: adding media to a project changes the project."""
        if not self.dirty:
            return False
        if self.path is not None or self.history.saved_depth != 0:
            return True
        return not all(_only_adds_media(c) for c in self.history.done_commands())

    def mark_saved(self, path: str | Path | None = None) -> None:
        if path is not None:
            self.path = Path(path)
        self.history.mark_clean()

    def replace_project(
        self, project: Project, path: str | Path | None = None, *, dirty: bool = False
    ) -> None:
        """Load a different project: history is cleared and views are told to rebuild.

        ``dirty=True`` when the project differs from the file at ``path`` (a restored autosave).
        """
        self.project = project
        self.path = Path(path) if path else None
        self.history.clear(clean=not dirty)
        self._changed([DocumentEvent(Change.RESET)])

    def _changed(self, events: Iterable[DocumentEvent]) -> None:
        self.revision += 1
        self.events.emit_all(tuple(events))


def _only_adds_media(command: Command) -> bool:
    if isinstance(command, Batch):
        return all(_only_adds_media(c) for c in command.commands)
    return isinstance(command, AddMedia)


def _index_of(items: Records, item_id: int, what: str) -> int:
    """Position of the record with ``item_id``; KeyError (like ``Project.object``) if absent."""
    try:
        return items.position(item_id)
    except ValueError:
        raise KeyError(f"no {what} {item_id}") from None


# --- categories -----------------------------------------------------------------------------


@dataclass
class AddCategory(Command):
    name: str
    color: tuple[int, int, int]
    category_id: int | None = None  # assigned on first do; kept for redo
    text: str = "add category"

    def do(self, project: Project) -> list[DocumentEvent]:
        if self.category_id is None:
            self.category_id = project.allocate_id("category")
        project.categories.append(Category(self.category_id, self.name, tuple(self.color)))
        return [DocumentEvent(Change.CATEGORY_ADDED, category_id=self.category_id)]

    def undo(self, project: Project) -> list[DocumentEvent]:
        project.categories.remove_ids([self.category_id])
        return [DocumentEvent(Change.CATEGORY_REMOVED, category_id=self.category_id)]


@dataclass
class EditCategory(Command):
    """Rename and/or recolour a category."""

    category_id: int
    name: str | None = None
    color: tuple[int, int, int] | None = None
    _before: tuple[str, tuple[int, int, int]] | None = None
    text: str = "edit category"

    def do(self, project: Project) -> list[DocumentEvent]:
        category = project.category(self.category_id)
        self._before = (category.name, category.color)
        if self.name is not None:
            category.name = self.name
        if self.color is not None:
            category.color = tuple(self.color)
        return [DocumentEvent(Change.CATEGORY_CHANGED, category_id=self.category_id)]

    def undo(self, project: Project) -> list[DocumentEvent]:
        category = project.category(self.category_id)
        assert self._before is not None
        category.name, category.color = self._before
        return [DocumentEvent(Change.CATEGORY_CHANGED, category_id=self.category_id)]


@dataclass
class RemoveCategory(Command):
    """Remove a category; objects that had it become uncategorised (restored on undo)."""

    category_id: int
    _index: int = -1
    _category: Category | None = None
    _objects: list[int] = field(default_factory=list)
    text: str = "remove category"

    def do(self, project: Project) -> list[DocumentEvent]:
        self._index = _index_of(project.categories, self.category_id, "category")
        self._category = project.categories.pop(self._index)
        self._objects = [o.id for o in project.objects if o.category_id == self.category_id]
        for obj in project.objects:
            if obj.category_id == self.category_id:
                obj.category_id = None
        return [DocumentEvent(Change.CATEGORY_REMOVED, category_id=self.category_id)] + [
            DocumentEvent(Change.OBJECT_CHANGED, object_id=i) for i in self._objects
        ]

    def undo(self, project: Project) -> list[DocumentEvent]:
        assert self._category is not None
        project.categories.insert(self._index, self._category)
        for object_id in self._objects:
            project.object(object_id).category_id = self.category_id
        return [DocumentEvent(Change.CATEGORY_ADDED, category_id=self.category_id)] + [
            DocumentEvent(Change.OBJECT_CHANGED, object_id=i) for i in self._objects
        ]


# --- media ----------------------------------------------------------------------------------


@dataclass
class AddMedia(Command):
    """Add a media item. Its ``id`` is assigned on first do (pass ``id=0``)."""

    item: MediaItem
    text: str = "add media"

    def do(self, project: Project) -> list[DocumentEvent]:
        if self.item.id == 0:
            self.item.id = project.allocate_id("media")
        project.media.append(self.item)
        return [DocumentEvent(Change.MEDIA_ADDED, media_id=self.item.id)]

    def undo(self, project: Project) -> list[DocumentEvent]:
        project.media.remove_ids([self.item.id])
        return [DocumentEvent(Change.MEDIA_REMOVED, media_id=self.item.id)]


@dataclass
class RemoveMedia(Command):
    """Remove a media item and its objects (both restored, in place, on undo)."""

    media_id: int
    _index: int = -1
    _item: MediaItem | None = None
    _objects: list[tuple[int, AnnotationObject]] = field(default_factory=list)
    text: str = "remove media"

    def do(self, project: Project) -> list[DocumentEvent]:
        self._index = _index_of(project.media, self.media_id, "media")
        self._item = project.media.pop(self._index)
        self._objects = [(i, o) for i, o in enumerate(project.objects) if o.media_id == self.media_id]
        project.objects.remove_ids([o.id for _, o in self._objects])
        return [
            DocumentEvent(Change.OBJECT_REMOVED, object_id=o.id, media_id=self.media_id)
            for _, o in self._objects
        ] + [DocumentEvent(Change.MEDIA_REMOVED, media_id=self.media_id)]

    def undo(self, project: Project) -> list[DocumentEvent]:
        assert self._item is not None
        project.media.insert(self._index, self._item)
        for index, obj in self._objects:
            project.objects.insert(index, obj)
        return [DocumentEvent(Change.MEDIA_ADDED, media_id=self.media_id)] + [
            DocumentEvent(Change.OBJECT_ADDED, object_id=o.id, media_id=self.media_id)
            for _, o in self._objects
        ]


@dataclass
class EditMedia(Command):
    """Change a media item's status, done frames or path (relocating a missing file)."""

    media_id: int
    status: MediaStatus | None = None
    path: str | None = None
    done_frames: set[int] | None = None
    _before: tuple[MediaStatus, str, set[int]] | None = None
    text: str = "edit media"

    def do(self, project: Project) -> list[DocumentEvent]:
        item = project.media_item(self.media_id)
        self._before = (item.status, item.path, set(item.done_frames))
        if self.status is not None:
            item.status = MediaStatus(self.status)
        if self.path is not None:
            item.path = self.path
        if self.done_frames is not None:
            item.done_frames = set(self.done_frames)
        return [DocumentEvent(Change.MEDIA_CHANGED, media_id=self.media_id)]

    def undo(self, project: Project) -> list[DocumentEvent]:
        item = project.media_item(self.media_id)
        assert self._before is not None
        item.status, item.path, item.done_frames = self._before[0], self._before[1], set(self._before[2])
        return [DocumentEvent(Change.MEDIA_CHANGED, media_id=self.media_id)]


# --- objects --------------------------------------------------------------------------------


@dataclass
class AddObject(Command):
    """Add an object (with any frames it already has). Its ``id`` is assigned on first do (pass 0)."""

    obj: AnnotationObject
    index: int | None = None  # position in drawing order; None = on top
    text: str = "add object"

    def do(self, project: Project) -> list[DocumentEvent]:
        if self.obj.id == 0:
            self.obj.id = project.allocate_id("object")
        if self.index is None:
            project.objects.append(self.obj)
        else:
            project.objects.insert(self.index, self.obj)
        return [DocumentEvent(Change.OBJECT_ADDED, object_id=self.obj.id, media_id=self.obj.media_id)]

    def undo(self, project: Project) -> list[DocumentEvent]:
        del project.objects[_index_of(project.objects, self.obj.id, "object")]
        return [DocumentEvent(Change.OBJECT_REMOVED, object_id=self.obj.id, media_id=self.obj.media_id)]


@dataclass
class RemoveObject(Command):
    object_id: int
    _index: int = -1
    _obj: AnnotationObject | None = None
    text: str = "delete object"

    def do(self, project: Project) -> list[DocumentEvent]:
        self._index = _index_of(project.objects, self.object_id, "object")
        self._obj = project.objects.pop(self._index)
        return [DocumentEvent(Change.OBJECT_REMOVED, object_id=self.object_id, media_id=self._obj.media_id)]

    def undo(self, project: Project) -> list[DocumentEvent]:
        assert self._obj is not None
        project.objects.insert(self._index, self._obj)
        return [DocumentEvent(Change.OBJECT_ADDED, object_id=self.object_id, media_id=self._obj.media_id)]


_UNSET = object()


@dataclass
class EditObject(Command):
    """Change an object's category, name, visibility or lock."""

    object_id: int
    category_id: object = _UNSET  # int | None; _UNSET leaves it
    name: str | None = None
    visible: bool | None = None
    locked: bool | None = None
    _before: tuple | None = None
    text: str = "edit object"

    def do(self, project: Project) -> list[DocumentEvent]:
        obj = project.object(self.object_id)
        self._before = (obj.category_id, obj.name, obj.visible, obj.locked)
        if self.category_id is not _UNSET:
            obj.category_id = self.category_id  # type: ignore[assignment]
        if self.name is not None:
            obj.name = self.name
        if self.visible is not None:
            obj.visible = self.visible
        if self.locked is not None:
            obj.locked = self.locked
        return [DocumentEvent(Change.OBJECT_CHANGED, object_id=self.object_id, media_id=obj.media_id)]

    def undo(self, project: Project) -> list[DocumentEvent]:
        obj = project.object(self.object_id)
        assert self._before is not None
        obj.category_id, obj.name, obj.visible, obj.locked = self._before
        return [DocumentEvent(Change.OBJECT_CHANGED, object_id=self.object_id, media_id=obj.media_id)]


@dataclass
class MoveObject(Command):
    """Move an object to ``index`` in the drawing order."""

    object_id: int
    index: int
    _from: int = -1
    text: str = "reorder object"

    def do(self, project: Project) -> list[DocumentEvent]:
        self._from = _index_of(project.objects, self.object_id, "object")
        obj = project.objects.pop(self._from)
        project.objects.insert(self.index, obj)
        return [DocumentEvent(Change.OBJECT_CHANGED, object_id=self.object_id, media_id=obj.media_id)]

    def undo(self, project: Project) -> list[DocumentEvent]:
        current = _index_of(project.objects, self.object_id, "object")
        obj = project.objects.pop(current)
        project.objects.insert(self._from, obj)
        return [DocumentEvent(Change.OBJECT_CHANGED, object_id=self.object_id, media_id=obj.media_id)]


@dataclass
class SetFrame(Command):
    """Set (or, with ``annotation=None``, clear) one object's mask/prompts on one frame."""

    object_id: int
    frame: int
    annotation: FrameAnnotation | None
    _before: FrameAnnotation | None = None
    _had: bool = False
    text: str = "set mask"

    def do(self, project: Project) -> list[DocumentEvent]:
        obj = project.object(self.object_id)
        self._had = self.frame in obj.frames
        self._before = obj.frames.get(self.frame)
        if self.annotation is None:
            obj.frames.pop(self.frame, None)
        else:
            obj.frames[self.frame] = copy.deepcopy(self.annotation)
        return [
            DocumentEvent(
                Change.MASK_CHANGED, object_id=self.object_id, media_id=obj.media_id, frame=self.frame
            )
        ]

    def undo(self, project: Project) -> list[DocumentEvent]:
        obj = project.object(self.object_id)
        if self._had:
            assert self._before is not None
            obj.frames[self.frame] = self._before
        else:
            obj.frames.pop(self.frame, None)
        return [
            DocumentEvent(
                Change.MASK_CHANGED, object_id=self.object_id, media_id=obj.media_id, frame=self.frame
            )
        ]


@dataclass
class SetAbsence(Command):
    """Record (or, with ``absence=None``, forget) that tracking found one object absent on one
    frame (``AnnotationObject.absent``)."""

    object_id: int
    frame: int
    absence: TrackerAbsence | None
    _before: TrackerAbsence | None = None
    text: str = "track objects"

    def do(self, project: Project) -> list[DocumentEvent]:
        obj = project.object(self.object_id)
        self._before = obj.absent.get(self.frame)
        return self._set(obj, self.absence)

    def undo(self, project: Project) -> list[DocumentEvent]:
        return self._set(project.object(self.object_id), self._before)

    def _set(self, obj: AnnotationObject, absence: TrackerAbsence | None) -> list[DocumentEvent]:
        if absence is None:
            obj.absent.pop(self.frame, None)
        else:
            obj.absent[self.frame] = absence  # frozen: shared safely with the command
        change = Change.MASK_CHANGED
        return [DocumentEvent(change, object_id=self.object_id, media_id=obj.media_id, frame=self.frame)]


@dataclass
class SetSetting(Command):
    key: str
    value: object
    _before: object = _UNSET
    text: str = "change setting"

    def do(self, project: Project) -> list[DocumentEvent]:
        self._before = project.settings.get(self.key, _UNSET)
        project.settings[self.key] = self.value
        return [DocumentEvent(Change.SETTINGS_CHANGED)]

    def undo(self, project: Project) -> list[DocumentEvent]:
        if self._before is _UNSET:
            project.settings.pop(self.key, None)
        else:
            project.settings[self.key] = self._before
        return [DocumentEvent(Change.SETTINGS_CHANGED)]


@dataclass
class Batch(Command):
    """Several commands as one undo step (merge objects, import a dataset, propagate a video)."""

    commands: list[Command]
    text: str = "changes"
    merge_key: object = None  # see History.push

    def do(self, project: Project) -> list[DocumentEvent]:
        events: list[DocumentEvent] = []
        done: list[Command] = []
        try:
            for command in self.commands:
                events += command.do(project)
                done.append(command)
        except Exception:
            # All or nothing: a half-applied batch would be a change that no undo step covers.
            for command in reversed(done):
                command.undo(project)
            raise
        return events

    def undo(self, project: Project) -> list[DocumentEvent]:
        events: list[DocumentEvent] = []
        for command in reversed(self.commands):
            events += command.undo(project)
        return events
