"""Building an import as one undoable :class:`Batch`, without touching the project until it runs.

Importers read and validate the whole dataset first, describing what to add through an
:class:`ImportPlan`; only the finished plan becomes a command. A failed import therefore raises
before anything changed, and a successful one is undone in one step.

Ids are never taken from the file: categories merge by name into the project's categories, media
merge by resolved path, and new categories, media and objects get the ids the project allocates
when the batch runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from samdesk.document.attributes import SetTags, clean_tags
from samdesk.document.boxes import is_box_only
from samdesk.document.commands import AddCategory, AddMedia, AddObject, Batch, Command
from samdesk.document.events import DocumentEvent
from samdesk.document.model import (
    AnnotationObject,
    AttributeValue,
    FrameAnnotation,
    MediaItem,
    MediaKind,
    Project,
    file_content_hash,
)
from samdesk.io.common import DatasetError, Warnings, import_color

CategoryRef = int | AddCategory | None  # an existing category id, one this import adds, or none


@dataclass
class AddImportedObject(Command):
    """Add an object whose medium and category may themselves be added earlier in the same batch.

    Their ids exist only once those commands ran, so they are resolved here, at ``do`` time.
    """

    media: MediaItem
    category: CategoryRef
    obj: AnnotationObject
    text: str = "import object"
    _add: AddObject | None = None

    def do(self, project: Project) -> list[DocumentEvent]:
        self.obj.media_id = self.media.id
        self.obj.category_id = (
            self.category.category_id if isinstance(self.category, AddCategory) else self.category
        )
        if self._add is None:
            self._add = AddObject(self.obj)
        return self._add.do(project)

    def undo(self, project: Project) -> list[DocumentEvent]:
        assert self._add is not None
        return self._add.undo(project)


@dataclass
class ImportResult:
    """What an import will do once ``document.execute(result.command)`` runs it."""

    command: Batch
    categories_added: int = 0
    media_added: int = 0
    media_matched: int = 0
    objects_added: int = 0
    warnings: Warnings = field(default_factory=Warnings)

    def nothing_imported(self) -> bool:
        """True when the import adds nothing: no object, no medium, and nothing skipped for
        being in the project already (a re-import). Callers report it as a failure, with the
        warnings as the reasons: a dataset read as empty is almost always read wrong."""
        return not (self.objects_added or self.media_added or self.warnings.counts.get(DUPLICATE))


DUPLICATE = "object already in the project (same media, same mask); skipped"


class ImportPlan:
    """Collects categories, media and objects to add; reads ``project`` but never changes it.

    An object whose medium the project already has, with exactly the masks (same frames, same
    pixels) of an object there, is a duplicate (the same file imported twice): it is skipped
    with a warning unless ``keep_duplicates``.
    """

    def __init__(
        self, project: Project, warnings: Warnings | None = None, *, keep_duplicates: bool = False
    ) -> None:
        self.project = project
        self.warnings = warnings if warnings is not None else Warnings()
        self.keep_duplicates = keep_duplicates
        self._masks_in_project: dict[int, set[tuple]] = {}  # media id -> masks of its objects
        self._categories: dict[str, CategoryRef] = {c.name: c.id for c in project.categories}
        self._existing_media = {str(Path(m.path).resolve()): m for m in project.media}
        self._media: dict[str, MediaItem] = {}
        self._category_commands: list[Command] = []
        self._media_commands: list[Command] = []
        self._object_commands: list[Command] = []
        self._tag_commands: dict[int, SetTags] = {}  # media id of the project -> its new tags
        self.media_matched = 0

    def category(self, name: str) -> CategoryRef:
        """The category called ``name``: the project's own, or a new one this import adds."""
        name = self.text(name).strip()
        if not name:
            return None
        if name not in self._categories:
            command = AddCategory(name, import_color(len(self._categories)))
            self._category_commands.append(command)
            self._categories[name] = command
        return self._categories[name]

    def media(
        self,
        path: Path,
        kind: MediaKind,
        width: int,
        height: int,
        frame_count: int = 1,
        fps: float | None = None,
    ) -> MediaItem:
        """The medium at ``path``: the project's own (sizes must agree) or a new one."""
        key = str(Path(path).resolve())
        if key in self._media:
            return self._media[key]
        existing = self._existing_media.get(key)
        if existing is not None:
            if (existing.width, existing.height) != (width, height):
                raise DatasetError(
                    f"{path}: the project has it as {existing.width}×{existing.height}, "
                    f"the dataset as {width}×{height}"
                )
            self.media_matched += 1
            self._media[key] = existing
            return existing
        item = MediaItem(
            0, kind, key, width, height, frame_count=frame_count, fps=fps, content_hash=file_content_hash(key)
        )
        self._media_commands.append(AddMedia(item))
        self._media[key] = item
        return item

    def add_object(
        self,
        media: MediaItem,
        category: CategoryRef,
        frames: dict[int, FrameAnnotation],
        name: str = "",
        attributes: dict[str, AttributeValue] | None = None,
    ) -> None:
        if not self.keep_duplicates and media.id and self._masks_of(frames) in self._existing_masks(media.id):
            self.warnings.add(DUPLICATE, f"{media.name}")
            return
        obj = AnnotationObject(0, 0, frames=frames, name=self.text(name), attributes=dict(attributes or {}))
        self._object_commands.append(AddImportedObject(media, category, obj))

    def tag_media(self, media: MediaItem, tags: list[str]) -> None:
        """Add ``tags`` to the medium's image tags: set on a medium this import adds, one
        :class:`SetTags` for one the project has."""
        if media.id == 0:  # added by this import: the item is the one AddMedia will add
            media.tags = clean_tags([*media.tags, *(self.text(t) for t in tags)])
            return
        pending = self._tag_commands.get(media.id)
        current = pending.tags if pending is not None else media.tags
        merged = clean_tags([*current, *(self.text(t) for t in tags)])
        if merged != list(media.tags):
            self._tag_commands[media.id] = SetTags(media.id, merged)

    def _existing_masks(self, media_id: int) -> set[tuple]:
        if media_id not in self._masks_in_project:
            self._masks_in_project[media_id] = {
                self._masks_of(o.frames) for o in self.project.objects if o.media_id == media_id
            }
        return self._masks_in_project[media_id]

    @staticmethod
    def _masks_of(frames: dict[int, FrameAnnotation]) -> tuple:
        """What makes two objects the same: their masks, frame by frame (RLEs are canonical),
        and the boxes of box-only frames (whose masks are all empty)."""
        return tuple(
            (
                index,
                tuple(frames[index].rle["size"]),
                str(frames[index].rle["counts"]),
                frames[index].prompts.box if is_box_only(frames[index]) else None,
            )
            for index in sorted(frames)
        )

    def text(self, value: str) -> str:
        """``value`` with what is not Unicode (a lone surrogate, which JSON may spell as
        ``"\\ud800"``) replaced by U+FFFD, with a warning: the project file could not store it."""
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            self.warnings.add("name that is not valid Unicode; invalid characters replaced", repr(value)[:40])
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")

    def result(self, text: str) -> ImportResult:
        commands = [*self._category_commands, *self._media_commands]
        commands += [*self._tag_commands.values(), *self._object_commands]
        return ImportResult(
            command=Batch(commands, text=text),
            categories_added=len(self._category_commands),
            media_added=len(self._media_commands),
            media_matched=self.media_matched,
            objects_added=len(self._object_commands),
            warnings=self.warnings,
        )
