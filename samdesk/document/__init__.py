"""The document: projects, media, objects and masks, changed only through undoable commands.

Knows nothing of Qt or of models; views subscribe to ``Document.events``. A frame's prompts are
``model_runtime.api.Prompts`` (the one prompt value of the whole app), imported from there.
"""

from samdesk.document.add_objects import AddObjects, NewObject
from samdesk.document.attributes import SetAttributes, SetTags
from samdesk.document.commands import (
    AddCategory,
    AddMedia,
    AddObject,
    Batch,
    Command,
    Document,
    EditCategory,
    EditMedia,
    EditObject,
    History,
    MoveObject,
    RemoveCategory,
    RemoveMedia,
    RemoveObject,
    SetAbsence,
    SetFrame,
    SetSetting,
)
from samdesk.document.events import BatchListener, Change, DocumentEvent, EventBus
from samdesk.document.merge import merge_objects
from samdesk.document.model import (
    SCHEMA_VERSION,
    AnnotationObject,
    Category,
    FrameAnnotation,
    MediaItem,
    MediaKind,
    MediaStatus,
    Project,
    Provenance,
    TrackedFrom,
    TrackerAbsence,
    file_content_hash,
)

__all__ = [
    "AddCategory",
    "AddMedia",
    "AddObject",
    "AddObjects",
    "AnnotationObject",
    "Batch",
    "BatchListener",
    "Category",
    "Change",
    "Command",
    "Document",
    "DocumentEvent",
    "EditCategory",
    "EditMedia",
    "EditObject",
    "EventBus",
    "FrameAnnotation",
    "History",
    "MediaItem",
    "MediaKind",
    "MediaStatus",
    "MoveObject",
    "NewObject",
    "Project",
    "Provenance",
    "RemoveCategory",
    "RemoveMedia",
    "RemoveObject",
    "SCHEMA_VERSION",
    "SetAbsence",
    "SetAttributes",
    "SetFrame",
    "SetSetting",
    "SetTags",
    "TrackedFrom",
    "TrackerAbsence",
    "file_content_hash",
    "merge_objects",
]
