"""Regenerates timeline.png: the timeline under the canvas on a video after a real tracking run.

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb \\
        python docs/screenshots/capture_timeline.py

The real main window, runtime and Video ▸ Track on the bundled cat_pan.mp4 (36 frames). No
SAM 2 weights ship with samdesk and none are on the machine that made the picture, so the model
is SAM 2.1 tiny with random weights (``tests/tiny_models.py``, as the GUI tests use): the run,
the lanes and the marks are real, the tracked masks' shapes are not meaningful. Two objects get
a hand-drawn keyframe on frame 1 and are tracked to the end; the cat's mask is then corrected
on frame 21 (a new keyframe; the frames tracked after it are stale until re-tracked); frames
1-8 are marked reviewed; the cursor stands on frame 25 with the cat selected.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
OUT = Path(__file__).resolve().parent


def main() -> int:
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from model_runtime.runtime import RuntimeConfig
    from samdesk.document import AddCategory, AddObject, SetFrame, masks
    from samdesk.document.model import AnnotationObject, FrameAnnotation, Provenance
    from samdesk.resources import sample_video
    from samdesk.runtime_bridge import RuntimeBridge
    from samdesk.ui.main_window import MainWindow
    from samdesk.ui.settings import Settings
    from tests.tiny_models import small_sam2_model

    app = QApplication.instance() or QApplication([])
    bridge = RuntimeBridge(config=RuntimeConfig(disk_cache=False, background_idle=False))
    window = MainWindow(Settings(), settings_path=Path(tempfile.mkdtemp()) / "s.json", bridge=bridge)
    window.errors_as_status = True
    window.resize(1400, 900)
    window.show()

    from shots import waiter

    pump = waiter(app, window, timeout=600.0)

    model = small_sam2_model()
    window.files.open_paths([str(sample_video())])
    window.bridge.load_model(model)
    pump(lambda: window.model_link.model_id == model.info.model_id and not window.files.busy)
    pump(lambda: window.current_image is not None and not window.loader.busy)
    document, media = window.document, window.controller.media

    def region(top: int, left: int, bottom: int, right: int) -> bytes:
        mask = np.zeros((media.height, media.width), bool)
        mask[top:bottom, left:right] = True
        return masks.encode(mask)

    objects = []
    drawn = [("cat", (230, 120, 40), (60, 110, 150, 220)), ("cushion", (60, 150, 230), (150, 20, 215, 140))]
    for name, color, box in drawn:
        add = AddCategory(name, color)
        document.execute(add)
        category_id = add.category_id
        obj = AnnotationObject(0, media.id, category_id=category_id, name=name)
        document.execute(AddObject(obj))
        object_id = obj.id
        document.execute(SetFrame(object_id, 0, FrameAnnotation(region(*box), Provenance.MANUAL)))
        objects.append(object_id)

    window.navigation.show_frame(0)
    window.controller.select_object(None)
    if not window.tracker.start("forward", "end"):
        raise SystemExit(f"tracking did not start: {window.last_error}")
    pump(lambda: not window.tracker.running)
    # A correction on frame 21 (index 20): the frames tracked after it are stale until re-tracked.
    document.execute(SetFrame(objects[0], 20, FrameAnnotation(region(55, 140, 150, 250), Provenance.MANUAL)))
    for frame in range(8):
        window.navigation.show_frame(frame)
        window.timeline.toggle_reviewed()
    window.navigation.show_frame(24)
    window.controller.select_object(objects[0])
    pump(lambda: window.current_image is not None and not window.loader.busy)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    path = OUT / "timeline.png"
    window.grab().save(str(path))
    print(f"wrote {path} ({app.platformName()})")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
