"""Adding many objects in one command (segment everything, find-all "accept all"), and undoing it.

    python bench/add_objects.py                  # 1,000 objects, median of 5 runs, document and GUI
    python bench/add_objects.py --objects 3000 --runs 7
    python bench/add_objects.py --no-gui         # the document alone

Masks are realistic answers of segment everything on an 1800×1200 photo: ellipses and irregular
polygons whose sizes spread log-uniformly from a few dozen pixels to a third of the image, each
encoded once as COCO RLE before the clock starts (a model's answer arrives encoded). Every run
starts from a fresh project that already holds the image and 200 objects on another image.

* ``document``: ``Document.execute`` of one :class:`AddObjects` command, then ``Document.undo``,
  with no observer.
* ``gui``: the same through a real offscreen ``MainWindow`` showing the image, so every observer
  (canvas layer, objects panel, media list, timeline) handles the change; the clock stops after
  the queued events are processed and the canvas has repainted.

Goal (issue 14): each under 0.5 s on this CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_runtime.api import Prompts  # noqa: E402
from samdesk.document import (  # noqa: E402
    AddMedia,
    AddObjects,
    Document,
    MediaItem,
    MediaKind,
    NewObject,
    Provenance,
    masks,
)

WIDTH, HEIGHT = 1800, 1200


def everything_masks(count: int, seed: int = 0) -> list[masks.Rle]:
    """``count`` distinct masks like an automatic sweep gives: many small parts, a few large regions."""
    rng = np.random.default_rng(seed)
    found = []
    for i in range(count):
        mask = np.zeros((HEIGHT, WIDTH), np.uint8)
        cx, cy = int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT))
        size = float(np.exp(rng.uniform(np.log(6), np.log(420))))
        if i % 2 == 0:
            axes = (max(2, int(size)), max(2, int(size * rng.uniform(0.3, 1.0))))
            cv2.ellipse(mask, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        else:
            n = int(rng.integers(6, 16))
            angles = np.sort(rng.uniform(0, 2 * np.pi, n))
            radii = size * rng.uniform(0.4, 1.0, n)
            points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
            cv2.fillPoly(mask, [points.astype(np.int32)], 1)
        found.append(masks.encode(mask.astype(bool)))
    return found


def new_objects(media_id: int, rles: list[masks.Rle]) -> list[NewObject]:
    """One item per mask, as segment everything gives them: a point prompt, a score, the model."""
    rng = np.random.default_rng(1)
    items = []
    for rle in rles:
        x, y, w, h = masks.bbox(rle)
        prompts = Prompts(points=[(x + w / 2, y + h / 2)], labels=[1])
        score = float(rng.uniform(0.8, 1.0))
        items.append(NewObject(media_id, rle, score=score, prompts=prompts, model_id="sam2.1-hiera_t",
                               provenance=Provenance.MODEL))
    return items


# Masks of the 200 objects already on the other image (made once).
_OTHERS: list[masks.Rle] = []


def fresh_document(image: Path, other: Path) -> tuple[Document, int]:
    document = Document()
    document.execute(AddMedia(MediaItem(0, MediaKind.IMAGE, str(image), WIDTH, HEIGHT)))
    document.execute(AddMedia(MediaItem(0, MediaKind.IMAGE, str(other), WIDTH, HEIGHT)))
    media_id, other_id = (m.id for m in document.project.media)
    if not _OTHERS:
        _OTHERS.extend(everything_masks(200, seed=9))
    document.execute(AddObjects(new_objects(other_id, _OTHERS)))
    document.history.clear()
    return document, media_id


Sample = tuple[float, float]  # seconds of wall-clock time, seconds of this thread's CPU time
Timings = tuple[list[Sample], list[Sample]]  # adding, undoing: one sample per run


def timed(action: Callable[[], object]) -> Sample:
    wall, cpu = time.perf_counter(), time.thread_time()
    action()
    return time.perf_counter() - wall, time.thread_time() - cpu


def report(samples: list[Sample]) -> str:
    """Median wall and CPU time. CPU time is what the work costs when the machine is shared
    (the wall clock also counts time other processes held the cores)."""
    walls, cpus = [s[0] * 1000 for s in samples], [s[1] * 1000 for s in samples]
    runs = ", ".join(f"{w:.0f}" for w in walls)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    return f"{wall:6.0f} ms wall, {cpu:6.0f} ms CPU (wall runs: {runs})"


def bench_document(items: list[NewObject], media: tuple[Path, Path], runs: int) -> Timings:
    adds, undos = [], []
    for _ in range(runs):
        document, media_id = fresh_document(*media)
        command = AddObjects([_on(item, media_id) for item in items])
        adds.append(timed(lambda d=document, c=command: d.execute(c)))
        assert len(document.project.objects_of(media_id)) == len(items)
        undos.append(timed(document.undo))
        assert not document.project.objects_of(media_id)
    return adds, undos


def _on(item: NewObject, media_id: int) -> NewObject:
    return dataclasses.replace(item, media_id=media_id)


def bench_gui(items: list[NewObject], media: tuple[Path, Path], runs: int) -> Timings:
    from PySide6.QtWidgets import QApplication

    from samdesk.ui.main_window import MainWindow
    from samdesk.ui.settings import Settings

    app = QApplication.instance() or QApplication([])
    adds, undos = [], []
    with tempfile.TemporaryDirectory() as settings_dir:
        for _ in range(runs):
            window = MainWindow(Settings(), settings_path=Path(settings_dir) / "settings.json")
            window.errors_as_status = True
            window.resize(1400, 900)
            window.show()
            document, media_id = fresh_document(*media)
            window.document.replace_project(document.project)
            window.navigation.show_media(media_id)
            _settle(app, lambda w=window: w.current_image is not None)
            assert window.controller.media_id == media_id
            command = AddObjects([_on(item, media_id) for item in items])
            adds.append(_timed(app, window, lambda w=window, c=command: w.document.execute(c)))
            assert window.objects_panel.tree.topLevelItemCount() == len(items)
            undos.append(_timed(app, window, window.document.undo))
            assert window.objects_panel.tree.topLevelItemCount() == 0
            window.document.mark_saved()
            window.close()
            window.deleteLater()
            app.processEvents()
    return adds, undos


def _timed(app, window, action: Callable[[], object]) -> Sample:
    """From the action until the observers are done and the canvas has repainted."""

    def whole() -> None:
        action()
        app.processEvents()
        window.canvas.viewport().repaint()

    return timed(whole)


def _settle(app, ready: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not show the image")
        app.processEvents()
        time.sleep(0.005)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-gui", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        media = (Path(folder) / "photo.jpg", Path(folder) / "other.jpg")
        rng = np.random.default_rng(2)
        for path in media:
            cv2.imwrite(str(path), rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8))
        start = time.perf_counter()
        items = new_objects(0, everything_masks(args.objects))
        counts = sum(len(item.rle["counts"]) for item in items)
        made = time.perf_counter() - start
        print(f"{args.objects} masks on {WIDTH}×{HEIGHT}, {counts / len(items):.0f} RLE characters each on"
              f" average, made in {made:.1f} s")
        adds, undos = bench_document(items, media, args.runs)
        print(f"document add {args.objects}: {report(adds)}")
        print(f"document undo:     {report(undos)}")
        if not args.no_gui:
            adds, undos = bench_gui(items, media, args.runs)
            print(f"gui      add {args.objects}: {report(adds)}")
            print(f"gui      undo:     {report(undos)}")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
