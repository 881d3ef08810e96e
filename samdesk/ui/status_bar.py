"""The status bar: the active tool's hint, the cursor position, the embedding of the image on
screen being made, the last click's latency, the model, and passing messages.

Other parts never touch its widgets: they emit signals the window connects to these slots.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget

from samdesk.session import AnnotationController

BUSY_TEXTS = ("predicting…", "encoding… click queued")


class StatusBar:
    """Fills ``bar`` (the window's QStatusBar) and keeps it in step with ``controller``."""

    def __init__(self, bar: QStatusBar, controller: AnnotationController) -> None:
        self.bar = bar
        self.controller = controller
        self.hint_label = QLabel("")
        self.model_label = QLabel("no model")
        self.encode_bar = QProgressBar()
        self.encode_bar.setFixedWidth(90)
        self.encode_bar.setRange(0, 0)
        self.encode_bar.setTextVisible(False)
        self.encode_bar.setVisible(False)
        self.encode_label = QLabel("")
        self.click_label = QLabel("click → mask: –")
        self.cursor_label = QLabel("")
        self.encoding = False  # the embedding of the image on screen is being made
        bar.addWidget(self.hint_label, 1)
        right = (self.cursor_label, self.encode_label, self.encode_bar, self.click_label, self.model_label)
        for widget in right:
            bar.addPermanentWidget(widget)
        controller.status_changed.append(self.update)
        controller.pending_changed.append(self.update)
        self._hint_guard = HintUnderMessage(bar, self.hint_label)

    def add_permanent(self, widget: QWidget) -> None:
        self.bar.addPermanentWidget(widget)

    def show_message(self, text: str, milliseconds: int = 0) -> None:
        self.bar.showMessage(text, milliseconds)

    def current_message(self) -> str:
        return self.bar.currentMessage()

    def set_hint(self, text: str) -> None:
        self.hint_label.setText(text)

    def set_model(self, text: str) -> None:
        self.model_label.setText(text)

    def set_cursor(self, x: float, y: float) -> None:
        self.cursor_label.setText(f"{int(x)}, {int(y)}")

    def set_encoding(self, busy: bool, text: str = "") -> None:
        """The embedding of the image on screen: in progress (a busy bar), or how it went."""
        self.encoding = busy
        self.encode_bar.setVisible(busy)
        self.encode_label.setText(text)
        self.update()

    def update(self) -> None:
        """Click latency and waiting state from the session; its error, if any."""
        c = self.controller
        if c.last_click_ms is not None:
            self.click_label.setText(f"click → mask: {c.last_click_ms:.0f} ms")
        if c.waiting and self.encoding:
            self.encode_label.setText("encoding… click queued")  # answered once the embedding is ready
        elif c.waiting:
            self.encode_label.setText("predicting…")
        elif self.encode_label.text() in BUSY_TEXTS:
            self.encode_label.setText("")
        if c.error:
            self.bar.showMessage(c.error, 8000)


class HintUnderMessage(QObject):
    """Keeps the hint hidden while a passing message shows, and only then.

    Qt hides a status bar's normal widgets under a message only if they are visible when the
    message arrives: a message shown before the window is (a restored autosave at start-up) was
    drawn over the hint, both texts on top of each other, until the message timed out.
    """

    def __init__(self, bar: QStatusBar, hint: QWidget) -> None:
        super().__init__(bar)
        self.bar = bar
        self.hint = hint
        bar.messageChanged.connect(self.apply)
        bar.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.bar and event.type() == QEvent.Type.Show:
            self.apply()
        return False

    def apply(self, _message: str = "") -> None:
        self.hint.setVisible(not self.bar.currentMessage())
