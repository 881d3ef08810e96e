"""The document: projects, media, objects and masks, changed only through undoable commands.

Knows nothing of Qt or of models; views subscribe to ``Document.events``.
"""

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
    SetFrame,
    SetSetting,
    merge_objects,
)
from samdesk.document.events import Change, DocumentEvent, EventBus
from samdesk.document.model import (
    SCHEMA_VERSION,
    AnnotationObject,
    Category,
    Exemplar,
    FrameAnnotation,
    MediaItem,
    MediaKind,
    MediaStatus,
    Project,
    Prompts,
    Provenance,
    file_content_hash,
)

__all__ = [name for name in dir() if not name.startswith("_")]
