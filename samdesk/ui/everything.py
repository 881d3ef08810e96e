"""Image ▸ Segment everything (Ctrl+Shift+A): every object of the image proposed at once by the
click model (SAM 1, MobileSAM, SAM 2), reviewed like find all.

The sweep is a long job on the runtime's background thread (``model_runtime.runtime.
segment_everything``); what each point batch keeps streams in as the proposal's one group, so
the first objects show while the rest computes, and Cancel keeps what was found. A box dragged
first (the pending object's box, nothing else) restricts the grid to it. Instances found go to
the category chosen in the review strip when accepted ("object" by default); the strip's
minimum area hides small ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QElapsedTimer, QObject, Signal

from model_runtime.api import Instances, ModelCapabilityError, Prompts
from model_runtime.runtime import segment_everything
from samdesk.labelling.request import EVERYTHING_KEY
from samdesk.runtime_bridge import RuntimeBridge
from samdesk.session import AnnotationController
from samdesk.session.instances import InstanceGroup
from samdesk.ui.model_link import image_provider, media_key
from samdesk.ui.review import InstanceReview
from samdesk.ui.shared_frames import VideoFrames


class SegmentEverything(QObject):
    message = Signal(str, int)
    running_changed = Signal(bool)

    def __init__(self, controller: AnnotationController, bridge: RuntimeBridge, review: InstanceReview,
                 frames: VideoFrames, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.bridge = bridge
        self.review = review
        self.frames = frames
        self.settings: dict[str, Any] = {}  # extra sweep settings (tests, benchmarks)
        self.last_settings: dict[str, Any] = {}  # what the last sweep was asked with
        self.refusal: Callable[[], str | None] = lambda: None  # as FindAll.refusal
        self._request: int | None = None
        self._target: tuple[int, int] | None = None  # (media id, frame) being swept
        self._clock = QElapsedTimer()
        bridge.partial.connect(self._partial)
        bridge.progressed.connect(self._progressed)
        bridge.jobFinished.connect(self._finished)
        bridge.failed.connect(self._failed)
        controller.media_changed.append(self._moved_on)
        controller.frame_changed.append(self._moved_on)

    @property
    def running(self) -> bool:
        return self._request is not None

    def start(self) -> bool:
        """Sweep the image on screen (inside the pending object's box, if it is only a box)."""
        controller, media = self.controller, self.controller.media
        if media is None:
            self.message.emit("Open an image first", 4000)
            return False
        if (refused := self.refusal()) is not None:
            self.message.emit(refused, 8000)
            return False
        self.cancel()
        settings = dict(self.settings)
        pending = controller.pending
        if pending is not None and pending.prompts.box is not None and not pending.prompts.points:
            settings["region"] = pending.prompts.box
        self.last_settings = settings
        frame = controller.frame
        video = media.frame_count > 1 or media.kind == "video"
        provider = image_provider(media.path, frame, self.frames) if video else image_provider(media.path)
        job = segment_everything(media_key(media), frame, provider, settings=settings)
        try:
            self._request = self.bridge.run_job(job)
        except ModelCapabilityError as exc:
            self.message.emit(str(exc), 10000)
            return False
        self._target = (media.id, frame)
        info = self.bridge.runtime.model_info
        empty = Instances.empty((media.height, media.width))
        self.review.review.propose([InstanceGroup(empty, "", EVERYTHING_KEY)],
                                   None if info is None else info.model_id, Prompts(), None)
        self._clock.start()
        self._show_busy(0, 0)
        self.running_changed.emit(True)
        return True

    def cancel(self) -> None:
        """Stop the sweep; what it found so far stays proposed."""
        if self._request is not None:
            self.bridge.cancel(self._request)
            self._end()

    # --- answers -------------------------------------------------------------------------------

    def _partial(self, rid: int, instances: Any) -> None:
        if rid == self._request and isinstance(instances, Instances):
            self.review.review.update_group(0, instances)

    def _progressed(self, rid: int, done: int, total: int) -> None:
        if rid == self._request:
            self._show_busy(done, total)

    def _finished(self, rid: int, instances: Any) -> None:
        if rid != self._request:
            return
        self._end()
        if isinstance(instances, Instances):
            self.review.review.update_group(0, instances)
            seconds = self._clock.elapsed() / 1000
            found = f"Segment everything: {len(instances)} objects in {seconds:.1f} s"
            self.message.emit(f"{found}: Enter accepts, Del rejects the selected one", 6000)

    def _failed(self, rid: int, error: BaseException) -> None:
        if rid == self._request:
            self._end()
            self.message.emit(f"Segment everything failed: {error}", 10000)

    # --- plumbing --------------------------------------------------------------------------------

    def _show_busy(self, done: int, total: int) -> None:
        seconds = self._clock.elapsed() / 1000
        where = f" {done}/{total}" if total > 0 else ""
        self.review.set_busy(f"segmenting everything{where} · {seconds:.0f} s", self.cancel, done, total)

    def _moved_on(self) -> None:
        if self._target is not None and self._target != (self.controller.media_id, self.controller.frame):
            self.cancel()

    def _end(self) -> None:
        self._request = None
        self._target = None
        self.review.set_busy("", None)
        self.running_changed.emit(False)
