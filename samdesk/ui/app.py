"""GUI entry point: ``run_gui(paths, model)`` builds the application and the main window."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def create_window(paths: Sequence[str], model: str | None = None, settings_path: Path | None = None):
    """Build the main window on ``paths`` (the samples when empty) and attach the model side.

    Returns ``(window, problems)``; a QApplication must exist.
    """
    from samdesk.resources import sample_images
    from samdesk.ui.main_window import MainWindow
    from samdesk.ui.settings import Settings

    settings = Settings.load(settings_path)
    window = MainWindow(settings, settings_path=settings_path)
    if paths:
        problems = window.open_paths(list(paths))
    else:
        window.recover_unsaved()  # offers the autosave of a session that crashed before saving
        restored = bool(window.document.project.media)
        problems = [] if restored else window.open_paths([str(p) for p in sample_images()])
    attach_model(window, model or settings.last_model or "classical")
    return window, problems


def attach_model(window, source: str) -> None:
    """Connect the window to the model runtime through the Qt bridge, if this build has it."""
    try:
        from samdesk.ui.model_link import ModelLink
    except ImportError as exc:
        window.set_service(None, f"no model runtime ({exc.name or exc})")
        return
    from samdesk.ui.tracking import Tracker

    link = ModelLink(window)
    window.model_requested = link.load
    window.tracker = Tracker(window, link)
    link.load(source, quiet=True)


def configure_application(app) -> None:
    """Give the QApplication samdesk's identity: names, icon, desktop entry id."""
    from PySide6.QtGui import QIcon

    from samdesk.resources import DESKTOP_ID, icon_path

    app.setApplicationName("samdesk")
    app.setOrganizationName("samdesk")
    # The application icon covers every window and dialog. The desktop file name lets Wayland
    # shells match our windows to packaging/linux's .desktop entry (its icon, its name).
    app.setWindowIcon(QIcon(str(icon_path("png"))))
    app.setDesktopFileName(DESKTOP_ID)


def run_gui(paths: Sequence[str], model: str | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_application(app)
    window, problems = create_window(paths, model)
    window.show()
    if problems:
        window.show_error("Some files could not be opened", "\n".join(problems[:20]))
    return int(app.exec())
