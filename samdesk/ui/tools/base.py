"""Canvas tools: small classes turning press/move/release on image coordinates into edits.

A tool subclasses :class:`Tool`, sets ``name``/``label``/``shortcut`` and lives in its own module
under ``samdesk/ui/tools/``; :func:`discover_tools` finds it, so adding a tool touches one file.
Tools talk to the :class:`~samdesk.session.AnnotationController` only, never to the document.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from PySide6.QtCore import Qt
from PySide6.QtGui import QTransform
from PySide6.QtWidgets import QGraphicsScene

from samdesk.session import AnnotationController


@dataclass(frozen=True)
class ToolEvent:
    """A mouse event in image pixel coordinates (x right, y down)."""

    x: float
    y: float
    button: Qt.MouseButton = Qt.MouseButton.LeftButton
    modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
    view_scale: float = 1.0  # screen pixels per image pixel, for drag thresholds

    @property
    def shift(self) -> bool:
        return bool(self.modifiers & Qt.KeyboardModifier.ShiftModifier)

    @property
    def alt(self) -> bool:
        return bool(self.modifiers & Qt.KeyboardModifier.AltModifier)


@dataclass(frozen=True)
class ToolHost:
    """All a tool may use: the session, the scene (for its previews), the view's transform
    (image -> screen pixels, for sizes that must look the same at any zoom), the brush size, and
    ``say`` for a passing message to the user (the status bar)."""

    controller: AnnotationController
    scene: QGraphicsScene
    view_transform: Callable[[], QTransform]
    brush_radius: Callable[[], float]
    say: Callable[[str], None] = lambda _text: None


class Tool:
    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    shortcut: ClassVar[str] = ""
    help: ClassVar[str] = ""
    order: ClassVar[int] = 100  # position in the toolbar
    cursor: ClassVar[Qt.CursorShape] = Qt.CursorShape.CrossCursor

    def __init__(self, host: ToolHost) -> None:
        self.host = host

    @property
    def controller(self) -> AnnotationController:
        return self.host.controller

    def activate(self) -> None:
        """Called when the tool becomes current."""

    def deactivate(self) -> None:
        """Called when another tool takes over: remove previews, drop half-done gestures."""

    def press(self, event: ToolEvent) -> None: ...

    def move(self, event: ToolEvent, pressed: bool) -> None: ...

    def release(self, event: ToolEvent) -> None: ...

    def double_click(self, event: ToolEvent) -> None: ...

    def key(self, key: int) -> bool:
        """A key the tool may consume (return True) before the window's shortcuts see it."""
        return False


def discover_tools() -> list[type[Tool]]:
    """Every Tool subclass defined in the modules of this package, in toolbar order."""
    import samdesk.ui.tools as package

    found: dict[str, type[Tool]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Tool)
                and value.name
                and value.__module__ == module.__name__
            ):
                found[value.name] = value
    return sorted(found.values(), key=lambda t: (t.order, t.name))
