"""Frame-step latency in the real GUI: key press -> the new video frame on the canvas.

Three cases on one video: stepping forward one frame with "." (the decoder is already there),
stepping back one frame with "," (usually a frame the display cache or the shared reader kept),
and a timeline jump from the end back to a quarter of the video (a seek: in a video with one
keyframe, a decode from the start). Also reports the longest time the GUI thread was
busy inside one key press (decoding runs on the loader's pool thread, so this stays small).

    QT_QPA_PLATFORM=offscreen python bench/gui_frame_step.py --video ../shared/media/cups.mp4

No model is attached: this measures display decoding only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=30, help="samples per case")
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
    window.files.open_paths([args.video])
    while window.files.busy:
        app.processEvents()
        time.sleep(0.01)
    if window.last_error:
        print(window.last_error)
        return 1

    def settle() -> None:
        deadline = time.monotonic() + 30
        while (window.loader.busy or window.current_image is None) and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.0005)

    settle()
    count = window.controller.media.frame_count

    def sample(key: Qt.Key | None, frame: int = 0) -> tuple[float, float]:
        window.navigation.current_image = None
        start = time.perf_counter()
        if key is None:
            window.navigation.show_frame(frame)  # as the timeline slider does
        else:
            QTest.keyClick(window.canvas, key)
        handler = time.perf_counter() - start  # GUI thread busy inside the key press
        settle()
        return (time.perf_counter() - start) * 1000, handler * 1000

    results: dict[str, list[tuple[float, float]]] = {"forward": [], "back": [], "seek back": []}
    window.navigation.show_frame(count // 2)
    settle()
    for _ in range(args.steps):
        results["forward"].append(sample(Qt.Key.Key_Period))
    for _ in range(args.steps):
        results["back"].append(sample(Qt.Key.Key_Comma))
    for i in range(max(3, args.steps // 5)):
        window.navigation.show_frame(count - 1 - i)
        settle()
        # A frame far back that neither the display cache nor the reader holds.
        results["seek back"].append(sample(None, count // 4 + 3 * i))  # 3 apart: not the prefetched next
    size = f"{window.current_image.width()}x{window.current_image.height()}"
    print(f"{args.video.name}: {count} frames, {size}")
    for name, values in results.items():
        shown = [v[0] for v in values]
        busy = [v[1] for v in values]
        print(
            f"  {name:10s} key -> frame shown: median {statistics.median(shown):7.1f} ms, "
            f"max {max(shown):7.1f} ms; GUI thread busy in the key press: max {max(busy):5.1f} ms"
        )
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
