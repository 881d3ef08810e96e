"""GUI entry point: ``run_gui(paths, model)`` builds the application and the main window."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def create_window(
    paths: Sequence[str],
    model: str | None = None,
    settings_path: Path | None = None,
    device: str | None = None,
    compile_models: bool = False,
):
    """Build the main window on ``paths`` (the samples when empty) and load the model on
    ``device`` (``--device``; None: the ``device`` setting, "auto" unless the user chose one),
    compiled with ``compile_models`` (``--compile``).

    Files open on the runtime's background thread: the first shows as soon as it is read, and
    the ones that cannot be read are reported when the opening is over. A QApplication must exist.
    """
    from samdesk.resources import sample_images
    from samdesk.ui.main_window import MainWindow
    from samdesk.ui.settings import Settings

    settings = Settings.load(settings_path)
    from model_runtime.runtime import RuntimeConfig

    config = RuntimeConfig(compile=compile_models)
    window = MainWindow(settings, settings_path=settings_path, runtime_config=config)
    if paths:
        window.files.open_paths(list(paths))
    else:
        window.files.recover_unsaved()  # offers the autosave of a session that crashed before saving
        if not window.document.project.media:
            window.files.open_paths([str(p) for p in sample_images()])
    window.use_device(device or settings.device)
    window.model_link.load(model or settings.last_model or "classical")
    return window


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


def run_gui(
    paths: Sequence[str], model: str | None = None, device: str | None = None, compile_models: bool = False
) -> int:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_application(app)
    window = create_window(paths, model, device=device, compile_models=compile_models)
    window.show()
    return int(app.exec())
