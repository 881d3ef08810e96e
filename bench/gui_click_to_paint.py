"""Click-to-painted-mask latency through the real GUI: mouse event on the canvas -> overlay repainted.

Each sample sends a real press/release to the canvas viewport and stops the clock when the
canvas has finished the paint event that shows the answer (Qt's own update path, which repaints
only the changed region); the time covers the tool, the controller, the service round trip, the
overlay conversion (mask -> QImage, contours) and the paint. Clicks refine an object up to 4
times, then Esc starts a new one.

    QT_QPA_PLATFORM=offscreen python bench/gui_click_to_paint.py --image ../shared/media/truck.jpg
    ... --service runtime --model classical      # real runtime + model through the bridge

``--service double`` answers with precomputed masks (no model): it isolates the GUI's own cost.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class InstantService:
    """Answers on the next event-loop turn with masks prepared before the click (no model), so
    the measured time is the GUI's own: event handling, controller, overlay conversion, paint."""

    model_id = "bench-instant"

    def __init__(self, window) -> None:
        self.window = window
        self.count = 0
        self.next_masks: np.ndarray | None = None

    def prepare(self, width: int, height: int, x: float, y: float) -> None:
        yy, xx = np.ogrid[0:height, 0:width]
        self.next_masks = np.stack([(xx - x) ** 2 + (yy - y) ** 2 <= r * r for r in (80, 160, 240)])

    def prefetch(self, media) -> None:
        pass

    def prefetch_frames(self, media, frames) -> None:
        pass

    def predict(self, request) -> int:
        from PySide6.QtCore import QTimer

        self.count += 1
        request_id, masks = self.count, self.next_masks
        scores = np.array([0.8, 0.9, 0.7], np.float32)
        logits = np.zeros((3, 256, 256), np.float32)
        QTimer.singleShot(
            0, lambda: self.window.controller.prediction_ready(request_id, masks, scores, logits)
        )
        return request_id


def controller_service(window):
    return window.controller.service


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--image", default=str(Path(__file__).resolve().parents[2] / "shared/media/truck.jpg")
    )
    parser.add_argument("--clicks", type=int, default=200)
    parser.add_argument("--service", choices=["double", "runtime"], default="double")
    parser.add_argument(
        "--model", default="classical", help="with --service runtime: checkpoint or 'classical'"
    )
    args = parser.parse_args()

    from PySide6.QtCore import QEvent, QEventLoop, QPointF, Qt, QTimer
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from samdesk.ui.canvas.view import CanvasView
    from samdesk.ui.main_window import MainWindow
    from samdesk.ui.settings import Settings

    paints: list[float] = []
    original_paint = CanvasView.paintEvent

    def timed_paint(view, event):  # the clock stops when a paint has really finished
        original_paint(view, event)
        paints.append(time.perf_counter())

    CanvasView.paintEvent = timed_paint

    app = QApplication.instance() or QApplication([])
    window = MainWindow(Settings(), settings_path=Path("/nonexistent/settings.json"))
    window.errors_as_status = True
    window.resize(1400, 900)
    window.show()
    double = None
    if args.service == "double":
        double = InstantService(window)
        window.set_service(double, "bench double")
    else:
        window.model_link.load(args.model)
    window.files.open_paths([args.image])
    while window.files.busy:
        app.processEvents()
        time.sleep(0.01)
    if window.last_error:
        print(window.last_error, file=sys.stderr)
        return 1
    window.navigation.wait_idle()
    app.processEvents()
    deadline = time.monotonic() + 300
    while controller_service(window) is None and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    if controller_service(window) is None:
        model = window.status.model_label.text()
        print(f"no model: {model} {window.statusBar().currentMessage()}", file=sys.stderr)
        return 1
    painted = []
    window.layer.painted.append(lambda: painted.append(True))
    controller = window.controller
    viewport = window.canvas.viewport()
    media = controller.media
    rng = np.random.default_rng(0)

    def send(kind, pos):
        buttons = (
            Qt.MouseButton.LeftButton if kind == QEvent.Type.MouseButtonPress else Qt.MouseButton.NoButton
        )
        event = QMouseEvent(
            kind,
            QPointF(pos),
            QPointF(viewport.mapToGlobal(pos)),
            Qt.MouseButton.LeftButton,
            buttons,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(viewport, event)

    # Wait like a real event loop: sleeping until an event arrives. Spinning on processEvents()
    # would keep a core busy and slow the model's own threads on a 2-core machine. A timer wakes
    # the loop now and then so the deadline below is still checked.
    waker = QTimer()
    waker.start(50)

    def wait_for_events() -> None:
        app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)

    # Warm-up: the first answer may include the embedding of the image (not what we measure).
    warm_deadline = time.monotonic() + 600
    samples: list[float] = []
    for i in range(args.clicks + 3):
        if i % 4 == 0:
            controller.discard()
            app.processEvents()
        x = float(rng.uniform(0.2, 0.8) * media.width)
        y = float(rng.uniform(0.2, 0.8) * media.height)
        pos = window.canvas.mapFromScene(QPointF(x, y))
        if double is not None:
            double.prepare(media.width, media.height, x, y)
        app.processEvents()
        painted.clear()
        t0 = time.perf_counter()
        send(QEvent.Type.MouseButtonPress, pos)
        send(QEvent.Type.MouseButtonRelease, pos)
        while not (painted and not controller.waiting):
            wait_for_events()
            if time.monotonic() > warm_deadline:
                print("timed out waiting for an answer", file=sys.stderr)
                return 1
        answered = len(paints)
        while len(paints) == answered:  # the paint that shows the answer
            wait_for_events()
        elapsed = (paints[-1] - t0) * 1000
        if i >= 3:
            samples.append(elapsed)
    samples.sort()
    p95 = samples[int(round(0.95 * (len(samples) - 1)))]
    print(
        f"image {Path(args.image).name} {media.width}x{media.height}, service={args.service}, "
        f"model={window.status.model_label.text()}"
    )
    print(
        f"click -> painted mask over {len(samples)} clicks: median {statistics.median(samples):.1f} ms, "
        f"p95 {p95:.1f} ms, min {samples[0]:.1f} ms, max {samples[-1]:.1f} ms"
    )
    window.document.history.mark_clean()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
