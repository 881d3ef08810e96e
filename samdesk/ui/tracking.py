"""Video ▸ Track: follow the video's objects from their keyframes through the other frames.

What a run tracks is planned first (``samdesk.session.track_plan``): from the frame on screen to
each object's next keyframe ("Track from here", the usual correction), a number of frames, or
the end; the selected objects only, when some are selected. Then
:func:`model_runtime.runtime.work.track.track_video` runs on the runtime's background thread
(clicks are still answered while it runs). Each tracked frame lands in the document as soon as
it arrives, so the timeline fills in and the user can watch or stop; the whole run is one undo
step (``samdesk.document.tracking``). Its progress bar and Stop button go in the status bar;
what the user should read leaves as signals (it knows no window).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QInputDialog, QProgressBar, QToolButton

from model_runtime.api import Capability, ModelCapabilityError, models_with
from model_runtime.runtime import TrackPrompt, track_video
from samdesk.document import Document, masks
from samdesk.document.tracking import TrackingRun
from samdesk.runtime_bridge import RuntimeBridge
from samdesk.session import AnnotationController
from samdesk.session.frame_numbers import frame_number
from samdesk.session.progress_rate import ProgressRate, duration_text
from samdesk.session.requests import media_key
from samdesk.session.track_plan import Extent, NothingToTrack, TrackScope, plan_tracking

DIRECTIONS = {"forward": "forward", "backward": "backward", "both": "both ways"}
REACH = {
    Extent.NEXT_KEYFRAME: {"forward": "to the next keyframe", "backward": "to the previous keyframe",
                           "both": "to the keyframes on either side"},
    Extent.END: {"forward": "to the end", "backward": "to the start", "both": "to both ends"},
}


class Tracker(QObject):
    """One tracking run at a time for a window's session."""

    running_changed = Signal(bool)
    message = Signal(str, int)  # status bar text, milliseconds
    error = Signal(str, str)  # title, message

    def __init__(
        self,
        bridge: RuntimeBridge,
        document: Document,
        controller: AnnotationController,
        selection: Callable[[], list[int]] | None = None,
    ) -> None:
        super().__init__(bridge)
        self.bridge = bridge
        self.document = document
        self.controller = controller
        # The objects the user has selected (the objects panel's rows): a run tracks only those.
        self.selection = selection or (
            lambda: [] if controller.selected_object is None else [controller.selected_object]
        )
        self._last_frames = 30  # what "Track a number of frames" offers next
        self.request_id: int | None = None
        self._run: TrackingRun | None = None
        self._frames_done = 0
        self._keyframes: set[tuple[int, int]] = set()  # (object, frame) the run was given
        self._rate = ProgressRate()
        self.bar = QProgressBar()
        self.bar.setFixedWidth(290)
        self.bar.setFormat("tracking %v/%m")
        self.bar.setVisible(False)
        self.stop_button = QToolButton()
        self.stop_button.setText("Stop")
        self.stop_button.setToolTip("Stop tracking (Esc); the frames tracked so far are kept")
        self.stop_button.setVisible(False)
        self.stop_button.clicked.connect(self.stop)
        bridge.partial.connect(self._tracked)
        bridge.progressed.connect(self._progressed)
        bridge.jobFinished.connect(self._finished)
        bridge.failed.connect(self._failed)

    @property
    def frames_done(self) -> int:
        """Frames the run in progress (or the last one) has tracked so far; a frame where every
        object of the run is the user's keyframe is not tracked, only passed through."""
        return self._frames_done

    @property
    def running(self) -> bool:
        return self.request_id is not None

    def start(self, direction: str, extent: str = Extent.NEXT_KEYFRAME, frames: int = 0) -> bool:
        """Track from the frame on screen in ``direction`` ("forward", "backward" or "both"), to
        ``extent`` ("next_keyframe", "end", or "frames" for ``frames`` frames): the selected
        objects, or with none selected, the ones the extent takes (see ``track_plan``). Returns
        whether a run started."""
        controller = self.controller
        if self.running:
            self.message.emit("Already tracking: stop it first (Video ▸ Stop tracking)", 5000)
            return False
        media = controller.media
        if media is None or not controller.is_video:
            self.error.emit("Track", "Tracking follows objects through a video: open a video first.")
            return False
        info = self.bridge.runtime.model_info
        if info is None:
            self.error.emit("Track", "No model is loaded: load a SAM 2 model (Model menu) to track.")
            return False
        if Capability.VIDEO not in info.capabilities:  # said before anything else is asked of the user
            needed = models_with(Capability.VIDEO)
            self.error.emit("Track", f"Tracking needs {needed}; {info.display_name} is loaded.")
            return False
        selected = frozenset(self.selection())
        scope = TrackScope(direction, Extent(extent), frames, selected or None)
        try:
            plan = plan_tracking(self.document.project, media.id, controller.frame, scope)
        except NothingToTrack as exc:
            self.error.emit("Track", str(exc))
            return False
        # Masks are decoded on the runtime's thread: many keyframes of a long video would stall here.
        prompts = [TrackPrompt(k.object_id, k.frame, mask=partial(masks.decode, k.rle))
                   for k in plan.keyframes]
        job = track_video(
            media.path, prompts, start_frame=plan.start_frame, direction=direction, ranges=plan.ranges,
            stop_when_lost=plan.stop_when_lost, convert=masks.encode, media_key=media_key(media),
        )
        self._run = TrackingRun(
            media.id, plan.objects, model_id=info.model_id, keyframes=plan.keyframes,
            start_frame=plan.start_frame,
        )
        self._frames_done = 0
        self._keyframes = {(k.object_id, k.frame) for k in plan.keyframes}
        self._rate = ProgressRate()
        try:
            self.request_id = self.bridge.run_job(job)
        except ModelCapabilityError as exc:  # the model on hand cannot track: said at once
            self.error.emit("Track", str(exc))
            return False
        objects = plural(len(plan.objects), "selected object" if selected else "object")
        if scope.extent is Extent.FRAMES:
            reach = f"for {plural(frames, 'frame')}"
        else:
            reach = REACH[scope.extent][direction]
        self.bar.setRange(0, 0)
        self.bar.setFormat("tracking %v/%m")
        self.bar.setVisible(True)
        self.stop_button.setVisible(True)
        self.running_changed.emit(True)
        where = f"from frame {frame_number(controller.frame)} {reach}"
        self.message.emit(f"Tracking {objects} {DIRECTIONS[direction]} {where}…", 5000)
        return True

    def ask_frames(self) -> bool:
        """Ask how many frames to track forward from the frame on screen, then track them."""
        media = self.controller.media
        most = max(1, (media.frame_count - 1 - self.controller.frame) if media is not None else 1)
        question = "Frames to track forward from this one:"
        count, ok = QInputDialog.getInt(None, "Track frames", question, min(self._last_frames, most), 1, most)
        if not ok:
            return False
        self._last_frames = count
        return self.start("forward", Extent.FRAMES, count)

    def stop(self) -> None:
        """Stop after the frame being tracked; the frames tracked so far stay."""
        if self.request_id is None:
            return
        self.bridge.cancel(self.request_id)
        self._end(f"Tracking stopped: {plural(self._frames_done, 'frame')} tracked (Ctrl+Z undoes them)")

    # --- answers from the runtime ------------------------------------------------------------
    def _tracked(self, request_id: int, tracked: Any) -> None:
        if request_id != self.request_id or self._run is None:
            return
        project = self.document.project
        if not any(m.id == self._run.media_id for m in project.media):
            self.stop()  # the video was removed from the project
            return
        command = self._run.frame_command(project, tracked.frame, tracked.masks, tracked.scores)
        if command is not None:
            self.document.execute(command)
        if any((o, tracked.frame) not in self._keyframes for o in self._run.tracked_objects):
            self._frames_done += 1

    def _progressed(self, request_id: int, done: int, total: int) -> None:
        if request_id != self.request_id or total < 0:
            return  # before the first frame: the keyframes are being encoded (busy bar)
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        self._rate.add(done, time.monotonic())
        rate, left = self._rate.per_second(), self._rate.seconds_left(total)
        if rate is not None and left is not None:
            # %v/%m are Qt's placeholders for the value and the maximum.
            self.bar.setFormat(f"tracking %v/%m · {rate:.1f} frames/s · {duration_text(left)} left")

    def _finished(self, request_id: int, summary: Any) -> None:
        if request_id == self.request_id:
            objects, frames = plural(len(summary.objects), "object"), plural(self._frames_done, "frame")
            self._end(f"Tracked {objects} through {frames}")

    def _failed(self, request_id: int, error: BaseException) -> None:
        if request_id != self.request_id:
            return
        self._end("Tracking failed")
        self.error.emit("Track", str(error) or type(error).__name__)

    def _end(self, message: str) -> None:
        self.request_id = None
        self.bar.setVisible(False)
        self.stop_button.setVisible(False)
        self.running_changed.emit(False)
        self.message.emit(message, 10000)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"
