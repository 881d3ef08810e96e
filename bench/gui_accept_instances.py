"""Many proposed objects in the real GUI: show N proposals on the canvas, accept them all (Enter),
undo the accept. What find-all and segment everything cost on the GUI thread beyond the model.

    QT_QPA_PLATFORM=offscreen python bench/gui_accept_instances.py --count 1000

Each phase is timed until the GUI thread is idle again (every queued event processed): the
canvas overlays, the objects panel, the image list and the document. Median of ``--runs``.
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


def blobs(count: int, height: int, width: int, seed: int = 0):
    """``count`` filled discs of radius 8..40 px, scattered over the image, as Instances."""
    from model_runtime.api import CandidateMasks, Instances

    rng = np.random.default_rng(seed)
    radii = rng.integers(8, 40, count)
    centres = np.stack([rng.integers(40, width - 40, count), rng.integers(40, height - 40, count)], 1)
    boxes = np.concatenate([centres - radii[:, None], centres + radii[:, None]], 1).astype(np.float32)

    def make(i: int) -> np.ndarray:
        yy, xx = np.ogrid[0:height, 0:width]
        (x, y), r = centres[i], radii[i]
        return (xx - x) ** 2 + (yy - y) ** 2 <= r * r

    masks = CandidateMasks((count, height, width), make)
    masks.make_all()
    return Instances(masks, boxes, rng.uniform(0.3, 1.0, count).astype(np.float32))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    media = Path(__file__).resolve().parents[2] / "shared/media"
    parser.add_argument("--image", default=str(media / "truck.jpg"))
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from samdesk.ui.main_window import MainWindow
    from samdesk.ui.settings import Settings

    app = QApplication.instance() or QApplication([])
    window = MainWindow(Settings(), settings_path=Path(os.devnull))
    window.errors_as_status = True
    window.resize(1400, 900)
    window.show()
    window.files.open_paths([args.image])
    while window.files.busy:
        app.processEvents()
        time.sleep(0.01)
    window.navigation.wait_idle()
    media = window.controller.media
    if media is None:
        print(f"could not open {args.image}: {window.last_error}", file=sys.stderr)
        return 1
    window.categories_panel.add("thing")
    window.activateWindow()  # window shortcuts (Enter) need the window active
    deadline = time.monotonic() + 10
    while QApplication.activeWindow() is not window and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    proposals = blobs(args.count, media.height, media.width)

    def timed(action) -> float:
        start = time.perf_counter()
        action()
        app.processEvents()
        return (time.perf_counter() - start) * 1000

    results: dict[str, list[float]] = {"show": [], "accept (Enter)": [], "undo": []}
    for _ in range(args.runs):
        results["show"].append(timed(lambda: window.controller.set_pending_instances(proposals)))
        results["accept (Enter)"].append(timed(lambda: QTest.keyClick(window.canvas, Qt.Key.Key_Return)))
        assert len(window.document.project.objects) == args.count
        results["undo"].append(timed(window.controller.undo))
        assert not window.document.project.objects
    print(f"{Path(args.image).name} {media.width}x{media.height}, {args.count} proposals, {args.runs} runs")
    for name, values in results.items():
        print(f"  {name:15s} median {statistics.median(values):8.1f} ms   max {max(values):8.1f} ms")
    window.document.history.mark_clean()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
