"""Regenerates phrase_tracking.png: a phrase tracked through a video in the real window, the
instances' lanes filling the timeline while the run goes on.

    xvfb-run -a python docs/screenshots/capture_phrase_tracking.py [--sam3 sam3.pt]
    QT_QPA_PLATFORM=offscreen python docs/screenshots/capture_phrase_tracking.py   # no X server

The real main window, runtime and find-all bar's Track on ``../shared/media/bedroom.mp4``
(200 frames): the phrase on its first frame, tracked for ``--frames`` frames; the picture is taken while
the run is in progress (the status bar's progress and Stop), after ``--grab-at`` frames have
landed, then the run is stopped. Without ``--sam3`` it builds a reduced-width SAM 3 with random
weights in the official layout (``tests/oracles/sam3_official.py``, which needs the test-only
``sam3`` package: ``make test`` installs it), with the planner's thresholds as the GUI test sets
them: the run, the ids, the lanes and the progress are real; the masks are speckled blobs, not
what SAM 3 finds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = Path(__file__).resolve().parent
MEDIA = Path(os.environ.get("SAMDESK_TEST_MEDIA", ROOT.parent / "shared" / "media"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sam3", default=None, help="a SAM 3 checkpoint (default: a reduced random one)")
    parser.add_argument("--phrase", default="person")
    parser.add_argument("--frames", type=int, default=30, help="how many frames the run tracks")
    parser.add_argument("--grab-at", type=int, default=24, help="frames landed when the picture is taken")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="samdesk-shots-"))
    sam3 = args.sam3
    if sam3 is None:
        from tests.oracles import sam3_official as oracle

        sam3 = str(oracle.make_checkpoint(work / "sam3.pt", seed=3))

    from PySide6.QtWidgets import QApplication

    from model_runtime.models.sam3.planner import PlannerConfig
    from model_runtime.models.sam3.video import ConceptVideoConfig
    from model_runtime.runtime import RuntimeConfig
    from samdesk.runtime_bridge import RuntimeBridge
    from samdesk.ui.main_window import MainWindow
    from samdesk.ui.settings import Settings

    app = QApplication.instance() or QApplication([])
    bridge = RuntimeBridge(config=RuntimeConfig(disk_cache_dir=work / "cache"))
    window = MainWindow(Settings(mask_opacity=0.5), settings_path=work / "settings.json", bridge=bridge)
    window.errors_as_status = True
    window.resize(1400, 900)
    window.show()
    parts = window.instances
    phrases = parts.phrases

    from shots import waiter

    pump = waiter(app, window, timeout=1800.0)

    window.files.open_paths([str(MEDIA / "bedroom.mp4")])
    pump(lambda: window.current_image is not None and not window.files.busy)
    parts.load_concept_model(sam3)
    pump(lambda: parts.link.video_bridge() is not None)
    if args.sam3 is None:  # random weights score low: the planner's thresholds as the GUI test's
        phrases.video_config = ConceptVideoConfig(planner=PlannerConfig(
            score_threshold_detection=0.9, new_det_thresh=0.9, hotstart_delay=0,
            hotstart_unmatch_thresh=0, hotstart_dup_thresh=0,
        ))
    parts.open_tracking()
    bar = parts.find_all.bar
    bar.field.setText(args.phrase)
    bar.set_range("frames", args.frames)
    started = time.monotonic()
    bar.track_button.click()
    if not phrases.running:
        why = window.last_error or window.statusBar().currentMessage()
        raise SystemExit(f"tracking did not start: {why}")
    pump(lambda: phrases.frames_done >= args.grab_at or not phrases.running)
    seconds = time.monotonic() - started
    objects = [o for o in window.document.project.objects if o.frames]
    if objects:
        window.controller.select_object(objects[0].id)
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    path = OUT / "phrase_tracking.png"
    window.grab().save(str(path))
    print(f"wrote {path} ({app.platformName()}): {len(objects)} instances, "
          f"{phrases.frames_done} frames in {seconds:.0f} s")
    phrases.stop()
    pump(lambda: not phrases.running)
    second = parts.link.second
    window.close()
    bridge.runtime.close(timeout=None)
    if second is not None:
        second.runtime.close(timeout=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
