"""Does the GUI thread stall while the runtime works? The longest gap between 5 ms timer ticks.

    python bench/gui_stall.py --model synthetic [--seconds 10] [--json]
    python bench/gui_stall.py --model synthetic --find-all SAM3.pt [--seconds 60] [--json]

Runs a Qt event loop (offscreen) with a 5 ms ``QTimer`` and records when each tick arrives,
first with nothing else running (the machine's own noise), then while the runtime, driven
through :class:`samdesk.runtime_bridge.RuntimeBridge` exactly as the GUI drives it, encodes
images back to back (decoding the JPEGs on its thread) and answers a click 200 ms after each answer.
Goal: longest gap ≤ 30 ms. ``--json``: the last line is one JSON object. ``--find-all``: the
same measurement in a real window while find all runs with that concept model beside the click
model (``gui_stall_find_all.py``). Gaps during which the
hypervisor stole CPU time from this VM are counted (``gaps_with_steal``) and also left out
(``max_gap_ms_without_steal``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from click_latency import MEDIA_DIR, build_model, read_rgb, stolen_seconds  # noqa: E402
from PySide6.QtCore import QEventLoop, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from model_runtime.api import Prompts  # noqa: E402
from model_runtime.runtime import RuntimeConfig  # noqa: E402
from samdesk.runtime_bridge import RuntimeBridge  # noqa: E402

TICK_MS = 5


def measure_ticks(app: QApplication, seconds: float) -> tuple[np.ndarray, np.ndarray | None]:
    """Run the event loop for ``seconds``; the gaps between timer ticks in ms, and for each
    gap whether the hypervisor stole CPU time during it (None where that is not known)."""
    ticks: list[float] = []
    steal: list[float | None] = []

    def tick() -> None:
        ticks.append(time.perf_counter())
        steal.append(stolen_seconds())

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    timer.start()
    loop.exec()
    timer.stop()
    gaps = np.diff(np.asarray(ticks)) * 1000
    if any(s is None for s in steal):
        return gaps, None
    return gaps, np.diff(np.asarray(steal, dtype=np.float64)) > 0


def summarise(measured: tuple[np.ndarray, np.ndarray | None]) -> dict[str, object]:
    """The longest gap counts every gap; ``max_gap_ms_without_steal`` leaves out the gaps during
    which the hypervisor took CPU time (see click_latency.stolen_seconds)."""
    gaps, stolen = measured
    summary: dict[str, object] = {
        "max_gap_ms": round(float(gaps.max()), 1),
        "p99_gap_ms": round(float(np.percentile(gaps, 99)), 1),
        "mean_gap_ms": round(float(gaps.mean()), 2),
        "ticks": int(len(gaps) + 1),
    }
    if stolen is not None:
        clean = gaps[~stolen]
        summary["gaps_with_steal"] = int(stolen.sum())
        summary["max_gap_ms_without_steal"] = round(float(clean.max()), 1) if clean.size else None
    return summary


def wait_for(app: QApplication, signal, timeout_s: float = 900) -> tuple:
    got: list[tuple] = []
    loop = QEventLoop()
    signal.connect(lambda *args: (got.append(args), loop.quit()))
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    if not got:
        raise SystemExit(f"timed out waiting for {signal}")
    return got[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="checkpoint path, 'classical', or 'synthetic[:depth]'")
    parser.add_argument("--device", default=None)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measurement")
    parser.add_argument("--interactive-threads", type=int, default=None, help="override the runtime's plan")
    parser.add_argument("--switch-interval-ms", type=float, default=None, help="sys.setswitchinterval (GIL)")
    parser.add_argument("--background-nice", type=int, default=None, help="override (0 = no priority drop)")
    parser.add_argument("--interactive-nice", type=int, default=None, help="override (default 0)")
    parser.add_argument("--no-clicks", action="store_true", help="encode only, no clicks meanwhile")
    parser.add_argument(
        "--no-background-idle", action="store_true", help="background thread at nice only, no SCHED_IDLE"
    )
    parser.add_argument("--find-all", default=None, metavar="SAM3_CHECKPOINT",
                        help="measure in a real window while find all runs with this concept model")
    parser.add_argument("--phrases", default="dog; car", help="what --find-all looks for")
    parser.add_argument("--find-all-threshold", type=float, default=0.5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.switch_interval_ms is not None:
        sys.setswitchinterval(args.switch_interval_ms / 1000)

    app = QApplication.instance() or QApplication(["gui_stall"])
    if args.find_all is not None:
        import gui_stall_find_all

        report = gui_stall_find_all.run(app, args, measure_ticks, summarise, wait_for, build_model, MEDIA_DIR)
        report.update(model=args.model, tick_ms=TICK_MS,
                      load_average=[round(x, 1) for x in os.getloadavg()])
        print(f"idle: {report['idle']}\nwhile finding: {report['finding']}", file=sys.stderr)
        if args.json:
            print(json.dumps(report))
        return 0
    config = RuntimeConfig(
        disk_cache_dir=tempfile.mkdtemp(prefix="samdesk-bench-cache-"),
        interactive_threads=args.interactive_threads,
    )
    if args.background_nice is not None:
        config.background_nice = args.background_nice
    if args.interactive_nice is not None:
        config.interactive_nice = args.interactive_nice
    config.background_idle = not args.no_background_idle
    bridge = RuntimeBridge(config=config)
    errors: list[object] = []
    bridge.failed.connect(lambda rid, exc: errors.append(exc))
    try:
        bridge.load_model(build_model(args.model, args.device))
        wait_for(app, bridge.modelLoaded)
        photo = read_rgb(MEDIA_DIR / "truck.jpg")
        bridge.encode("gui-stall-photo", 0, lambda: photo)
        wait_for(app, bridge.encoded)

        idle = summarise(measure_ticks(app, args.seconds))

        files = [MEDIA_DIR / n for n in ("groceries.jpg", "dog.jpg", "cars.jpg", "truck.jpg")]
        started = [0]

        def next_encode(*_args: object) -> None:
            path = files[started[0] % len(files)]
            started[0] += 1
            # a fresh key each time: always a real encode, with the JPEG decoded on the worker
            bridge.encode(f"gui-stall-{started[0]}", 0, lambda: read_rgb(path))

        rng = np.random.default_rng(0)
        h, w = photo.shape[:2]

        def click() -> None:
            point = (rng.uniform(0, w), rng.uniform(0, h))
            bridge.predict("obj", "gui-stall-photo", 0, Prompts(points=[point], labels=[1]))

        bridge.encoded.connect(next_encode)
        # The next click 200 ms after each answer: a user clicking steadily, every click shown.
        answered = [0]
        clicking = [True]

        def on_predicted(*_args: object) -> None:
            answered[0] += 1
            if clicking[0]:
                QTimer.singleShot(200, click)

        bridge.predicted.connect(on_predicted)
        next_encode()
        if not args.no_clicks:
            click()
        busy = summarise(measure_ticks(app, args.seconds))
        clicking[0] = False
        bridge.encoded.disconnect(next_encode)
        busy.update(encodes_started=started[0], clicks_answered=answered[0])
    finally:
        bridge.shutdown()
    if errors:
        print(f"runtime errors: {errors[:3]}", file=sys.stderr)
    report = {
        "model": args.model,
        "tick_ms": TICK_MS,
        "idle": idle,
        "encoding": busy,
        "threads": bridge.runtime.thread_counts(),
        "background_idle": config.background_idle,
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }
    print(f"idle: {idle}\nwhile encoding: {busy}", file=sys.stderr)
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    # The encodes started while measuring may still run (the runtime threads are daemons and a
    # model call cannot be interrupted): leave as the app does, or the interpreter's teardown
    # aborts under them ("terminate called without an active exception") after the report.
    from samdesk.cli import leave_now

    leave_now(main())
