"""The find-all mode of ``gui_stall.py``: the longest GUI-thread stall while find all runs.

    python bench/gui_stall.py --model synthetic --find-all SAM3.pt [--seconds 60] [--json]

A real offscreen ``MainWindow`` with the click model loaded and the concept model (SAM 3) in the
second slot, as a user has them. During the measurement the find-all bar runs its query on one
image after another (each image new to SAM 3: its encode, the query, the answer's crops and
outlines made off the GUI thread, the proposal drawn on the canvas), and the click model answers
a click 200 ms after each answer. The 5 ms timer ticks measure every stall of the GUI thread,
including drawing the results. Reported: the gaps (as ``gui_stall.summarise``), queries
answered and shown, clicks answered, how long the longest and the median query took, and for
each answer the GUI thread's time to show it (``show_ms``, less sensitive to the machine's load
than the gaps) with its number of instances.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

IMAGES = ("dog.jpg", "truck.jpg", "groceries.jpg", "cars.jpg")


def run(app: QApplication, args, measure_ticks, summarise, wait_for, build_model, media_dir: Path) -> dict:
    from model_runtime.api import Prompts
    from model_runtime.runtime import RuntimeConfig
    from samdesk.runtime_bridge import RuntimeBridge
    from samdesk.ui.main_window import MainWindow
    from samdesk.ui.model_link import media_key
    from samdesk.ui.settings import Settings

    bridge = RuntimeBridge(config=RuntimeConfig(disk_cache_dir=tempfile.mkdtemp(prefix="samdesk-bench-")))
    settings = Settings(find_all_threshold=args.find_all_threshold)
    window = MainWindow(settings, settings_path=None, bridge=bridge)
    window.errors_as_status = True
    window.resize(1400, 900)
    window.show()
    parts = window.instances
    try:
        bridge.load_model(build_model(args.model, args.device))
        wait_for(app, window.model_link.loaded)
        parts.load_concept_model(args.find_all)
        wait_for(app, parts.link.loaded)
        window.files.open_paths([str(media_dir / name) for name in IMAGES])
        wait_for(app, window.files.opened)
        _settle(app, lambda: window.current_image is not None)
        idle = summarise(measure_ticks(app, args.seconds))

        media = list(window.document.project.media)
        queries: list[float] = []
        shown = [0]
        step = [0]
        started = [time.perf_counter()]

        def next_query(*_args: object) -> None:
            item = media[step[0] % len(media)]
            step[0] += 1
            window.navigation.show_media(item.id)
            started[0] = time.perf_counter()
            parts.find_all.bar.field.setText(args.phrases)
            parts.find_all.run()

        # The GUI thread's own share of showing an answer: from the proposal being set (the
        # first listener) to the review's ``shown`` (canvas drawn, strips filled).
        draw_started = [0.0]
        draws_ms: list[float] = []
        instances_shown: list[int] = []

        def drawing() -> None:
            draw_started[0] = time.perf_counter()

        window.controller.pending_instances_changed.insert(0, drawing)

        def on_shown(proposal) -> None:
            draws_ms.append((time.perf_counter() - draw_started[0]) * 1000)
            instances_shown.append(len(proposal))
            shown[0] += 1
            queries.append(time.perf_counter() - started[0])
            QTimer.singleShot(300, next_query)

        parts.review.shown.connect(on_shown)
        clicks = [0]
        clicking = [True]
        rng = np.random.default_rng(0)

        def click() -> None:
            item = window.controller.media
            if item is None or not clicking[0]:
                return
            point = (rng.uniform(0, item.width), rng.uniform(0, item.height))
            bridge.predict("bench-click", media_key(item), 0, Prompts(points=[point], labels=[1]),
                           image_provider=lambda p=item.path: _read(p))

        def on_predicted(*_args: object) -> None:
            clicks[0] += 1
            if clicking[0]:
                QTimer.singleShot(200, click)

        bridge.predicted.connect(on_predicted)
        parts.find_all.open()
        next_query()
        click()
        busy = summarise(measure_ticks(app, args.seconds))
        clicking[0] = False
        parts.review.shown.disconnect(on_shown)
        busy.update(
            queries_shown=shown[0], clicks_answered=clicks[0],
            query_seconds_median=round(statistics.median(queries), 1) if queries else None,
            query_seconds_max=round(max(queries), 1) if queries else None,
            show_ms=[round(ms, 1) for ms in draws_ms], instances_shown=instances_shown,
        )
    finally:
        parts.find_all.cancel()
        second = parts.link.second
        window.close()
        bridge.runtime.close(timeout=None)
        if second is not None:
            second.runtime.close(timeout=None)
    return {"idle": idle, "finding": busy, "concept_model": args.find_all, "phrases": args.phrases,
            "threshold": args.find_all_threshold}


def _read(path: str) -> np.ndarray:
    from model_runtime.media import read_image

    return read_image(path)


def _settle(app: QApplication, condition, timeout_s: float = 120.0) -> None:
    end = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)
