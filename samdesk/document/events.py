"""Change events: how views learn that the document changed, without the document knowing them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class Change(Enum):
    RESET = "reset"  # a whole project was loaded or replaced
    CATEGORY_ADDED = "category_added"
    CATEGORY_CHANGED = "category_changed"
    CATEGORY_REMOVED = "category_removed"
    MEDIA_ADDED = "media_added"
    MEDIA_CHANGED = "media_changed"
    MEDIA_REMOVED = "media_removed"
    OBJECT_ADDED = "object_added"
    OBJECT_CHANGED = "object_changed"  # category, name, visibility, lock, order
    OBJECT_REMOVED = "object_removed"
    MASK_CHANGED = "mask_changed"  # one frame of one object: mask, prompts, provenance or score
    SETTINGS_CHANGED = "settings_changed"


@dataclass(frozen=True)
class DocumentEvent:
    change: Change
    media_id: int | None = None
    object_id: int | None = None
    category_id: int | None = None
    frame: int | None = None


Listener = Callable[[DocumentEvent], None]


class EventBus:
    """Synchronous publish/subscribe. Listeners run in subscription order on the caller's thread."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add a listener; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self.unsubscribe(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def emit(self, event: DocumentEvent) -> None:
        for listener in list(self._listeners):
            listener(event)
