"""Model download manager: the registry's checkpoints, what is installed, download with progress.

Downloads run on a plain Python thread (network I/O, no Qt objects touched there); progress
crosses to the GUI thread as a queued signal. Cancel sets an Event the downloader polls.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)


class _Relay(QObject):
    progress = Signal(int, object)  # done bytes, total bytes | None
    finished = Signal(object, str)  # installed path | None, error message


def _human(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


class ModelsDialog(QDialog):
    """Lists registry models; "Use" asks the window to load the chosen installed checkpoint."""

    use_model = Signal(str)  # checkpoint path

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        from model_runtime import download, registry  # the manager's modules

        self.download_module = download
        self.registry = registry
        self.setWindowTitle("Models")
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Model", "Family", "Size", "CPU encode", "Status"])
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.download_button = QPushButton("Download")
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setEnabled(False)
        self.use_button = QPushButton("Use")
        close = QPushButton("Close")
        buttons = QHBoxLayout()
        for b in (self.download_button, self.cancel_button, self.use_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.use_button.clicked.connect(self._use)
        close.clicked.connect(self.close)
        self._relay = _Relay()
        self._relay.progress.connect(self._on_progress)
        self._relay.finished.connect(self._on_finished)
        self._cancel: threading.Event | None = None
        self.refresh()
        self.resize(760, 420)

    def refresh(self) -> None:
        names = self.registry.names()
        self.table.setRowCount(len(names))
        for row, name in enumerate(names):
            spec = self.registry.get(name)
            installed = self.download_module.is_installed(name)
            status = (
                "installed"
                if installed
                else ("not installed" if spec.downloadable else "manual download (gated)")
            )
            for col, text in enumerate((name, spec.family, _human(spec.size), spec.cpu_encode_cost, status)):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, name)
                item.setToolTip(f"{spec.description}\nLicence: {spec.licence}")
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()

    def selected_name(self) -> str | None:
        items = self.table.selectedItems()
        return None if not items else str(items[0].data(Qt.ItemDataRole.UserRole))

    def start_download(self) -> None:
        name = self.selected_name()
        if name is None or self._cancel is not None:
            return
        self._cancel = threading.Event()
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.message.setText(f"Downloading {name}…")
        self.download_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        cancel, relay, module = self._cancel, self._relay, self.download_module

        def work() -> None:
            try:
                installed = module.download(
                    name, progress=lambda d, t: relay.progress.emit(d, t), cancel=cancel
                )
                relay.finished.emit(str(installed.path), "")
            except Exception as exc:  # every failure becomes a readable message in the dialog
                relay.finished.emit(None, str(exc) or type(exc).__name__)

        threading.Thread(target=work, name=f"download-{name}", daemon=True).start()

    def cancel_download(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            self.message.setText("Cancelling…")

    def _on_progress(self, done: int, total: int | None) -> None:
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{_human(done)} / {_human(total)}")
        else:
            self.progress.setRange(0, 0)

    def _on_finished(self, path: str | None, error: str) -> None:
        self._cancel = None
        self.download_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setVisible(False)
        self.message.setText(f"Installed: {path}" if path else f"Download failed: {error}")
        self.refresh()

    def _use(self) -> None:
        name = self.selected_name()
        if name is None:
            return
        if not self.download_module.is_installed(name):
            QMessageBox.information(self, "Models", f"{name} is not installed yet: download it first.")
            return
        self.use_model.emit(str(self.download_module.path(name)))
