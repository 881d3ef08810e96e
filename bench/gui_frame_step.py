"""Scrubbing latency in the real GUI: user action -> that video frame on the canvas.

Four cases on one video, in a real (offscreen) main window with no model attached:

  step forward   "." pressed, one frame at a time, from the middle of the video
  step back      "," pressed, one frame at a time, twice as many (past what a seek keeps)
  random jump    a click on the timeline at a random frame (press and release)
  drag           the timeline cursor dragged: a move every 16 ms (60 Hz) by a few frames

Each sample is timed from the event to the frame's picture on the canvas (``frame_shown``):
"shown" counts the low-resolution preview a long-GOP video gets while dragging or jumping,
"full" the full-resolution frame. A pause between samples (``--pause-ms``) stands for the
user's own pace. Reported per case: p50/p95 wall milliseconds, the GUI thread's CPU time per
sample (its own, so the machine's load barely changes it), and the load average.

    QT_QPA_PLATFORM=offscreen nice -n 0 python bench/gui_frame_step.py --video ../shared/media/cups.mp4

The previews are built in the background when the video opens; the script waits for them and
says how long that took (``--no-wait-previews`` measures a cold start instead).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=30, help="samples per case (step back: twice)")
    parser.add_argument("--pause-ms", type=float, default=100.0, help="the user's pace between samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-wait-previews", action="store_true")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args()

    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from model_runtime.runtime import RuntimeConfig
    from samdesk.runtime_bridge import RuntimeBridge
    from samdesk.ui.main_window import MainWindow
    from samdesk.ui.settings import Settings
    from samdesk.ui.timeline.view import HEADER_WIDTH, RULER_HEIGHT

    app = QApplication.instance() or QApplication([])
    # Not SCHED_IDLE: opening a file runs on the runtime's background thread, which a loaded
    # machine would starve; what is measured here is display decoding.
    bridge = RuntimeBridge(config=RuntimeConfig(disk_cache=False, background_idle=False))
    window = MainWindow(Settings(), settings_path=Path(os.devnull), bridge=bridge)
    window.errors_as_status = True
    window.resize(1400, 900)
    window.show()
    window.activateWindow()
    load_before = os.getloadavg()
    window.files.open_paths([args.video])
    while window.files.busy:
        app.processEvents()
        time.sleep(0.01)
    if window.last_error:
        print(window.last_error)
        return 1
    navigation = window.navigation
    shown: dict[int, dict[bool, float]] = {}  # frame -> {full?: when}

    def record(frame: int, full: bool) -> None:
        shown.setdefault(frame, {}).setdefault(full, time.perf_counter())

    if hasattr(navigation, "frame_shown"):
        navigation.frame_shown.connect(record)
    else:  # the code before previews (for "before" numbers): a frame shown is a set_image
        set_image = window.canvas.set_image

        def set_image_recorded(image, *args, **kwargs):
            set_image(image, *args, **kwargs)
            if image is not None and window.controller.is_video:
                record(window.controller.frame, True)

        window.canvas.set_image = set_image_recorded

    def pump(until, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                return False
            app.processEvents()
            time.sleep(0.0005)
        return True

    def pause() -> None:
        end = time.monotonic() + args.pause_ms / 1000
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.002)

    pump(lambda: window.current_image is not None and not window.loader.busy)
    media = window.controller.media
    count = media.frame_count
    proxy = getattr(navigation, "proxies", {}).get(media.path)
    build_start, cpu_start = time.monotonic(), time.process_time()
    if proxy is not None and not args.no_wait_previews:
        pump(lambda: proxy.done, timeout=600)
    build = (time.monotonic() - build_start, time.process_time() - cpu_start)
    previews = "none needed" if proxy is None or not proxy.needed else f"{proxy.built} frames"

    def timed(action, frame: int) -> tuple[float, float, float]:
        """(ms to first picture, ms to full picture, GUI-thread CPU ms) of ``action`` showing ``frame``."""
        shown.pop(frame, None)
        start, cpu = time.perf_counter(), time.thread_time()
        action()
        ok = pump(lambda: True in shown.get(frame, {}))
        busy = (time.thread_time() - cpu) * 1000
        if not ok:
            return float("nan"), float("nan"), busy
        got = shown[frame]
        first = min(got.values())
        return (first - start) * 1000, (got[True] - start) * 1000, busy

    results: dict[str, list[tuple[float, float, float]]] = {}
    rng = random.Random(args.seed)
    window.navigation.show_frame(count // 2)
    pump(lambda: window.current_image is not None and not window.loader.busy)
    pause()

    def key(k):
        return lambda: QTest.keyClick(window.canvas, k)

    results["step forward"] = []
    for _ in range(args.steps):
        target = window.controller.frame + 1
        results["step forward"].append(timed(key(Qt.Key.Key_Period), target))
        pause()
    results["step back"] = []
    for _ in range(2 * args.steps):
        target = window.controller.frame - 1
        results["step back"].append(timed(key(Qt.Key.Key_Comma), target))
        pause()

    area = window.timeline.view.area
    view = window.timeline.view

    def point(frame: int) -> QPoint:
        return QPoint(int(HEADER_WIDTH + view.x_of(frame + 0.5)), RULER_HEIGHT // 2)

    results["random jump"] = []
    for _ in range(args.steps):
        target = rng.randrange(count)
        while target == window.controller.frame:
            target = rng.randrange(count)

        def click(frame=target):
            QTest.mousePress(area, Qt.MouseButton.LeftButton, pos=point(frame))
            QTest.mouseRelease(area, Qt.MouseButton.LeftButton, pos=point(frame))

        results["random jump"].append(timed(click, target))
        pause()

    # Drag: press, then a move every 16 ms by a few frames (a random walk), then release.
    drag: list[tuple[float, float, float]] = []
    for _ in range(max(1, args.steps // 10)):
        frame = rng.randrange(count)
        QTest.mousePress(area, Qt.MouseButton.LeftButton, pos=point(frame))
        for _ in range(10):
            step = rng.choice([-1, 1]) * rng.randint(2, 12)
            frame = min(count - 1, max(0, frame + step))
            shown.pop(frame, None)
            start, cpu = time.perf_counter(), time.thread_time()
            QTest.mouseMove(area, point(frame))
            pump(lambda f=frame: bool(shown.get(f)), timeout=5)
            got = shown.get(frame, {})
            wall = (min(got.values()) - start) * 1000 if got else float("nan")
            full = (got[True] - start) * 1000 if True in got else float("nan")
            drag.append((wall, full, (time.thread_time() - cpu) * 1000))
            while time.perf_counter() - start < 0.016:
                app.processEvents()
        QTest.mouseRelease(area, Qt.MouseButton.LeftButton, pos=point(frame))
        pump(lambda: not window.loader.busy and not getattr(navigation, "showing_preview", False))
        pause()
    results["drag"] = drag

    load_after = os.getloadavg()
    size = f"{media.width}x{media.height}"
    print(f"{args.video.name}: {count} frames, {size}; previews: {previews} "
          f"(built in {build[0]:.1f} s wall, {build[1]:.1f} s process CPU)")
    print(f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after, on {os.cpu_count()} cores; "
          f"pause between samples {args.pause_ms:.0f} ms")
    report = {"video": args.video.name, "load": [load_before[0], load_after[0]], "previews": previews}
    header = f"{'shown p50':>9s} {'p95':>7s}   {'full p50':>8s} {'p95':>7s}"
    print(f"  {'case':12s} {'n':>3s}  {header}   GUI CPU p50")
    for name, values in results.items():
        first = [v[0] for v in values if v[0] == v[0]]
        full = [v[1] for v in values if v[1] == v[1]]
        busy = [v[2] for v in values]
        missing = len(values) - len(first)
        row = {
            "shown_p50_ms": statistics.median(first), "shown_p95_ms": percentile(first, 0.95),
            "full_p50_ms": statistics.median(full) if full else None,
            "full_p95_ms": percentile(full, 0.95) if full else None,
            "gui_cpu_p50_ms": statistics.median(busy), "samples": len(values), "never_shown": missing,
        }
        report[name] = row
        full_text = f"{row['full_p50_ms']:8.1f} {row['full_p95_ms']:7.1f}" if full else f"{'-':>8s} {'-':>7s}"
        never = f"  ({missing} never shown)" if missing else ""
        print(f"  {name:12s} {len(values):3d}  {row['shown_p50_ms']:9.1f} {row['shown_p95_ms']:7.1f}   "
              f"{full_text}   {row['gui_cpu_p50_ms']:6.1f} ms{never}")
    if args.json:
        print(json.dumps(report))
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
