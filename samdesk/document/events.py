"""Change events: how views learn that the document changed, without the document knowing them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any


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
BatchListener = Callable[[Sequence[DocumentEvent]], None]


class EventBus:
    """Synchronous publish/subscribe. Listeners run in subscription order on the caller's thread.

    A change (one command executed, undone or redone) publishes its events together. A listener
    subscribed with :meth:`subscribe` gets them one call each; one subscribed with
    :meth:`subscribe_batch` gets them all in one call, so a view can update once for a command
    that adds a thousand objects instead of a thousand times.
    """

    def __init__(self) -> None:
        self._listeners: list[tuple[Callable[[Any], None], bool]] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add a listener called once per event; returns a function that removes it."""
        self._listeners.append((listener, False))
        return lambda: self.unsubscribe(listener)

    def subscribe_batch(self, listener: BatchListener) -> Callable[[], None]:
        """Add a listener called once per change with all its events (never with none);
        returns a function that removes it."""
        self._listeners.append((listener, True))
        return lambda: self.unsubscribe(listener)

    def unsubscribe(self, listener: Listener | BatchListener) -> None:
        self._listeners = [entry for entry in self._listeners if entry[0] != listener]

    def emit(self, event: DocumentEvent) -> None:
        self.emit_all((event,))

    def emit_all(self, events: Sequence[DocumentEvent]) -> None:
        """Publish the events of one change: each listener gets all of them before the next
        listener gets any."""
        if not events:
            return
        events = tuple(events)
        for listener, batch in list(self._listeners):
            if batch:
                listener(events)
            else:
                for event in events:
                    listener(event)
