"""Video ▸ Track: follow the video's objects from their keyframes through the other frames.

Runs :func:`model_runtime.runtime.work.track.track_video` on the runtime's background thread (clicks
are still answered while it runs). Each tracked frame lands in the document as soon as it
arrives, so the timeline fills in and the user can watch or stop; the whole run is one undo
step (``samdesk.document.tracking``). Progress and a Stop button sit in the status bar.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QProgressBar, QToolButton

from samdesk.document import masks
from samdesk.document.tracking import TrackingRun, keyframes

DIRECTIONS = {"forward": "forward", "backward": "backward", "both": "both ways"}


class Tracker(QObject):
    """One tracking run at a time for a window, over its :class:`~samdesk.ui.model_link.ModelLink`."""

    def __init__(self, window, link) -> None:
        super().__init__(window)
        self.window = window
        self.link = link
        self.request_id: int | None = None
        self._run: TrackingRun | None = None
        self._frames_done = 0
        self.bar = QProgressBar()
        self.bar.setFixedWidth(140)
        self.bar.setFormat("tracking %v/%m")
        self.bar.setVisible(False)
        self.stop_button = QToolButton()
        self.stop_button.setText("Stop")
        self.stop_button.setToolTip("Stop tracking (tracked frames are kept)")
        self.stop_button.setVisible(False)
        self.stop_button.clicked.connect(self.stop)
        window.statusBar().addPermanentWidget(self.bar)
        window.statusBar().addPermanentWidget(self.stop_button)
        bridge = link.bridge
        bridge.partial.connect(self._tracked)
        bridge.progressed.connect(self._progressed)
        bridge.jobFinished.connect(self._finished)
        bridge.failed.connect(self._failed)

    @property
    def running(self) -> bool:
        return self.request_id is not None

    def start(self, direction: str) -> bool:
        """Track every keyframed object of the video on screen from the frame on screen, in
        ``direction`` ("forward", "backward" or "both"). Returns whether a run started."""
        from model_runtime.api import ModelCapabilityError
        from model_runtime.runtime import TrackPrompt, track_video

        window = self.window
        controller = window.controller
        if self.running:
            window.statusBar().showMessage("Already tracking: stop it first (Video ▸ Stop tracking)", 5000)
            return False
        media = controller.media
        if media is None or not controller.is_video:
            window.show_error("Track", "Tracking follows objects through a video: open a video first.")
            return False
        if self.link.model_id is None:
            window.show_error("Track", "No model is loaded: load a SAM 2 model (Model menu) to track.")
            return False
        found = keyframes(window.document.project, media.id)
        if not found:
            window.show_error(
                "Track",
                "Nothing to track yet: give an object a mask on some frame first (click it, draw "
                "it, or brush it), then track from there.",
            )
            return False
        # Masks are decoded on the runtime's thread: many keyframes of a long video would stall here.
        prompts = [TrackPrompt(k.object_id, k.frame, mask=partial(masks.decode, k.rle)) for k in found]
        job = track_video(
            media.path, prompts, start_frame=controller.frame, direction=direction, convert=masks.encode
        )
        started_from = frozenset(k.object_id for k in found)
        self._run = TrackingRun(media.id, started_from, model_id=self.link.model_id)
        self._frames_done = 0
        try:
            self.request_id = self.link.bridge.run_job(job)
        except ModelCapabilityError as exc:  # the model on hand cannot track: said at once
            window.show_error("Track", str(exc))
            return False
        objects = plural(len(started_from), "object")
        self.bar.setRange(0, 0)
        self.bar.setVisible(True)
        self.stop_button.setVisible(True)
        window.statusBar().showMessage(
            f"Tracking {objects} {DIRECTIONS[direction]} from frame "
            f"{controller.frame + 1}…",
            5000,
        )
        return True

    def stop(self) -> None:
        """Stop after the frame being tracked; the frames tracked so far stay."""
        if self.request_id is None:
            return
        self.link.bridge.cancel(self.request_id)
        self._end(f"Tracking stopped: {plural(self._frames_done, 'frame')} tracked (Ctrl+Z undoes them)")

    # --- answers from the runtime ------------------------------------------------------------
    def _tracked(self, request_id: int, tracked: Any) -> None:
        if request_id != self.request_id or self._run is None:
            return
        project = self.window.document.project
        if not any(m.id == self._run.media_id for m in project.media):
            self.stop()  # the video was removed from the project
            return
        command = self._run.frame_command(project, tracked.frame, tracked.masks)
        if command is not None:
            self.window.document.execute(command)
        self._frames_done += 1

    def _progressed(self, request_id: int, done: int, total: int) -> None:
        if request_id != self.request_id or total < 0:
            return  # before the first frame: the keyframes are being encoded (busy bar)
        self.bar.setRange(0, total)
        self.bar.setValue(done)

    def _finished(self, request_id: int, summary: Any) -> None:
        if request_id == self.request_id:
            objects, frames = plural(len(summary.objects), "object"), plural(summary.frames, "frame")
            self._end(f"Tracked {objects} through {frames}")

    def _failed(self, request_id: int, error: BaseException) -> None:
        if request_id != self.request_id:
            return
        self._end("Tracking failed")
        self.window.show_error("Track", str(error) or type(error).__name__)

    def _end(self, message: str) -> None:
        self.request_id = None
        self.bar.setVisible(False)
        self.stop_button.setVisible(False)
        self.window.statusBar().showMessage(message, 10000)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"
