"""Tools ▸ Segment boxes: give every box-only object (an imported detection) its model mask.

Submits :func:`samdesk.session.segment_boxes.segment_boxes` to the runtime's background thread
(clicks are still answered meanwhile) and applies the answers when the job ends, as one undo
step; a frame the user changed meanwhile is left as the user made it. What the user should read
leaves as signals (it knows no window).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal

from model_runtime.api import ModelCapabilityError
from samdesk.document import Document
from samdesk.document.media_files import media_present
from samdesk.document.model import MediaKind
from samdesk.runtime_bridge import RuntimeBridge
from samdesk.session.segment_boxes import BoxMasks, BoxTask, apply_box_masks, box_tasks, segment_boxes
from samdesk.ui.model_link import image_provider
from samdesk.ui.shared_frames import VideoFrames
from samdesk.ui.tracking import plural


class BoxSegmenter(QObject):
    """One segment-boxes run at a time for a window's document."""

    message = Signal(str, int)  # status bar text, milliseconds
    error = Signal(str, str)  # title, message

    def __init__(self, bridge: RuntimeBridge, document: Document, frames: VideoFrames) -> None:
        super().__init__(bridge)
        self.bridge = bridge
        self.document = document
        self.frames = frames
        self.request_id: int | None = None
        self._results: list[BoxMasks] = []
        bridge.partial.connect(self._answered)
        bridge.jobFinished.connect(self._finished)
        bridge.failed.connect(self._failed)

    @property
    def running(self) -> bool:
        return self.request_id is not None

    def start(self) -> bool:
        """Segment every box-only object of the project. Returns whether a run started."""
        if self.running:
            self.message.emit("Already segmenting boxes", 5000)
            return False
        if self.bridge.runtime.model_info is None:
            self.error.emit(
                "Segment boxes", "No model is loaded: load a SAM 1, MobileSAM or SAM 2 model first."
            )
            return False
        project = self.document.project
        tasks = box_tasks(project, {m.id for m in project.media if media_present(m.path)})
        if not tasks:
            self.message.emit("No box-only objects to segment (they come from importing detections)", 8000)
            return False
        try:
            self.request_id = self.bridge.run_job(segment_boxes(tasks, self._provider))
        except ModelCapabilityError as exc:  # the model on hand takes no boxes: said at once
            self.error.emit("Segment boxes", str(exc))
            return False
        self._results = []
        boxes = sum(len(t.boxes) for t in tasks)
        self.message.emit(f"Segmenting {_boxes(boxes)} on {plural(len(tasks), 'image')}…", 5000)
        return True

    def _provider(self, task: BoxTask):
        frame = task.frame if task.kind == MediaKind.VIDEO else None
        return image_provider(task.path, frame, self.frames)

    def _answered(self, request_id: int, result: Any) -> None:
        if request_id == self.request_id:
            self._results.append(result)

    def _finished(self, request_id: int, _made: Any) -> None:
        if request_id != self.request_id:
            return
        self.request_id = None
        batch = apply_box_masks(self.document.project, self._results)
        if batch is not None:
            self.document.execute(batch)
        made = 0 if batch is None else len(batch.commands)
        failed = [r for r in self._results if r.error]
        self.message.emit(f"Segmented {_boxes(made)} (Ctrl+Z undoes them)", 10000)
        if failed:
            lines = [f"{r.task.path} frame {r.task.frame}: {r.error}" for r in failed[:10]]
            self.error.emit("Segment boxes", "Some images could not be segmented:\n" + "\n".join(lines))

    def _failed(self, request_id: int, error: BaseException) -> None:
        if request_id != self.request_id:
            return
        self.request_id = None
        self.error.emit("Segment boxes", str(error) or type(error).__name__)


def _boxes(count: int) -> str:
    return f"{count} box" if count == 1 else f"{count} boxes"
