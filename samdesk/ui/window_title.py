"""The main window's title: which project, which image, and whether closing would lose work.

``"groceries-run[*] — dog.jpg — samdesk"``: the project file's name without ``.samdesk.json``
("Untitled" before the first save), the media on screen, and Qt's ``[*]`` placeholder, which
the window shows as its unsaved marker ("*", or the platform's own) while
``Document.has_unsaved_work`` holds (``QWidget.setWindowModified``).
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from samdesk.document import Document
from samdesk.document.files import PROJECT_SUFFIX

UNTITLED = "Untitled"


def project_name(document: Document) -> str:
    if document.path is None:
        return UNTITLED
    name = document.path.name
    return name[: -len(PROJECT_SUFFIX)] if name.endswith(PROJECT_SUFFIX) else document.path.stem


def window_title(document: Document, media_name: str | None) -> str:
    parts = [f"{project_name(document)}[*]", *([media_name] if media_name else []), "samdesk"]
    return " — ".join(parts)


def show_title(window: QWidget, document: Document, media_name: str | None) -> None:
    window.setWindowTitle(window_title(document, media_name))
    window.setWindowModified(document.has_unsaved_work)
