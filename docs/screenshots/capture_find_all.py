"""Regenerates find_all_results.png and find_all_review.png: the find-all bar with results, and
the review (a selected instance, duplicates of accepted objects) in the real window.

    xvfb-run -a python docs/screenshots/capture_find_all.py [--sam3 sam3.pt]

Without ``--sam3`` it builds a reduced-width SAM 3 with random weights in the official layout
(``tests/oracles/sam3_official.py``, which needs the test-only ``sam3`` package: ``make test``
installs it). Random weights find meaningless blobs: the pictures show the interface (bar,
counts per phrase, scores, threshold, duplicates), not what SAM 3 finds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = Path(__file__).resolve().parent
MEDIA = Path(os.environ.get("SAMDESK_TEST_MEDIA", ROOT.parent / "shared" / "media"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sam3", default=None, help="a SAM 3 checkpoint (default: a reduced random one)")
    parser.add_argument("--threshold", type=float, default=0.9)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="samdesk-shots-"))
    sam3 = args.sam3
    if sam3 is None:
        from tests.oracles import sam3_official as oracle

        sam3 = str(oracle.make_checkpoint(work / "sam3.pt", seed=3))

    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from model_runtime.runtime import RuntimeConfig
    from samdesk.runtime_bridge import RuntimeBridge
    from samdesk.ui.main_window import MainWindow
    from samdesk.ui.settings import Settings

    app = QApplication.instance() or QApplication([])
    bridge = RuntimeBridge(config=RuntimeConfig(disk_cache_dir=work / "cache"))
    window = MainWindow(Settings(find_all_threshold=args.threshold, mask_opacity=0.5),
                        settings_path=work / "settings.json", bridge=bridge)
    window.errors_as_status = True
    window.resize(1400, 860)
    window.show()
    parts = window.instances

    from shots import waiter

    pump = waiter(app, window, timeout=900.0)

    def settle(seconds: float = 0.5) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.01)

    window.files.open_paths([str(MEDIA / name) for name in ("dog.jpg", "truck.jpg", "cars.jpg")])
    pump(lambda: window.current_image is not None and not window.files.busy)
    parts.load_concept_model(sam3)
    pump(lambda: parts.link.concept_bridge() is not None)
    shown: list[object] = []
    parts.review.shown.connect(shown.append)

    def find(text: str) -> None:
        count = len(shown)
        parts.find_all.open()
        parts.find_all.bar.field.setText(text)
        parts.find_all.run()
        pump(lambda: len(shown) > count)
        settle()

    find("dog; car")
    window.grab().save(str(OUT / "find_all_results.png"))

    # Review: accept the dogs, ask again: the same instances are duplicates now; select one.
    proposal = window.controller.pending_instances
    dogs = [k for k in proposal.shown() if k[0] == 0]
    parts.review.review.accept(dogs, close=False)
    window.controller.discard()
    find("dog; car")
    proposal = window.controller.pending_instances
    target = next(k for k in proposal.shown() if not proposal.is_duplicate(k))
    mask, (x0, y0) = proposal.crop(target)
    ys, xs = mask.nonzero()
    x, y = x0 + float(xs[len(xs) // 2]) + 0.5, y0 + float(ys[len(ys) // 2]) + 0.5
    if proposal.key_at(x, y) == target:
        pos = window.canvas.mapFromScene(QPointF(x, y))
        left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
        for kind, buttons in ((QEvent.Type.MouseButtonPress, left), (QEvent.Type.MouseButtonRelease, none)):
            event = QMouseEvent(kind, QPointF(pos), QPointF(window.canvas.viewport().mapToGlobal(pos)),
                                Qt.MouseButton.LeftButton, buttons, Qt.KeyboardModifier.NoModifier)
            QApplication.sendEvent(window.canvas.viewport(), event)
    else:
        parts.review.review.select(target)
    settle()
    window.grab().save(str(OUT / "find_all_review.png"))
    print(f"saved to {OUT}: {parts.review.counts_text()}")
    second = parts.link.second
    window.close()
    bridge.runtime.close(timeout=None)
    if second is not None:
        second.runtime.close(timeout=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
