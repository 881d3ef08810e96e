"""Track a phrase through a video (the find-all bar's Track on a video) and re-track a corrected
instance (Video ▸ Re-track instance from here), with the concept model (SAM 3).

A run is a long job on the concept model's runtime (``model_runtime.runtime.track_phrase`` /
``retrack_instance``), one frame per step on its background thread; each tracked frame lands in
the document as it arrives (``samdesk.document.tracking.TrackingRun``): instances become objects
of the phrase's category, their lanes fill the timeline, and the whole run is one undo step.
Stop ends the run after the frame in progress and keeps every frame computed; the video's SAM 3
session is kept (``ConceptTracks``) so a correction re-tracks only its instance, with the
memory the run built. Which object each instance became is :class:`PhraseTracks`'s.

It knows no window: it reports through signals, its progress bar and Stop button go in the
status bar.
"""

from __future__ import annotations

import contextlib
import time
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QProgressBar, QToolButton

from model_runtime.api import Capability, ModelCapabilityError, PromptError, models_with
from model_runtime.runtime import (
    ConceptTracks,
    RuntimeClosedError,
    release_tracks,
    retrack_instance,
    track_phrase,
)
from samdesk.document import AddCategory, Document, masks
from samdesk.document.tracking import TrackingRun
from samdesk.runtime_bridge import RuntimeBridge
from samdesk.session import AnnotationController
from samdesk.session.find_all import category_for, split_phrases
from samdesk.session.frame_numbers import frame_number
from samdesk.session.phrase_tracks import (
    RANGE_TEXT,
    NothingToRetrack,
    PhraseTracks,
    TrackRange,
    plan_retrack,
    range_arguments,
)
from samdesk.session.progress_rate import ProgressRate, duration_text
from samdesk.ui.actions import LOAD_SAM3
from samdesk.ui.concept_link import ConceptLink
from samdesk.ui.tracking import plural

# A corrected object that is none of the kept session's instances gets this id plus its own:
# far above the ids the session gives the instances it finds, so the two never meet.
CLICKED_ID_BASE = 1_000_000


def tracking_refusal(link: ConceptLink) -> str | None:
    """Why no loaded model can track a phrase (what is loaded, and what to do), or None."""
    if link.video_bridge() is not None:
        return None
    _capabilities, name = link.capabilities()
    loaded = f"{name} is loaded" if name else "no model is loaded"
    return f"Tracking a phrase needs {models_with(Capability.CONCEPT_VIDEO)} ({loaded}): {LOAD_SAM3}"


class PhraseTracker(QObject):
    """One phrase run or re-track at a time, on the concept model's runtime."""

    running_changed = Signal(bool)
    message = Signal(str, int)  # status bar text, milliseconds
    error = Signal(str, str)  # title, message

    def __init__(self, link: ConceptLink, document: Document, controller: AnnotationController,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.link = link
        self.document = document
        self.controller = controller
        # The SAM 3 session's settings (a ConceptVideoConfig); None: the released ones.
        self.video_config: Any = None
        self.tracks: ConceptTracks | None = None
        self.state: PhraseTracks | None = None
        self._tracks_bridge: RuntimeBridge | None = None
        self._request: tuple[RuntimeBridge, int] | None = None
        self._run: TrackingRun | None = None
        self._rekey: dict[int, int] | None = None  # tracker id -> object id (re-tracks)
        self._what = ""
        self._frames: set[int] = set()
        self._started = False  # the job has reported: Stop may finish it instead of dropping it
        self._connected: list[RuntimeBridge] = []
        self._rate = ProgressRate()
        self.bar = QProgressBar()
        self.bar.setFixedWidth(320)
        self.bar.setVisible(False)
        self.stop_button = QToolButton()
        self.stop_button.setText("Stop")
        self.stop_button.setToolTip("Stop after this frame (Esc); every frame tracked so far is kept")
        self.stop_button.setVisible(False)
        self.stop_button.clicked.connect(self.stop)

    @property
    def running(self) -> bool:
        return self._request is not None

    @property
    def frames_done(self) -> int:
        return len(self._frames)

    # --- starting ------------------------------------------------------------------------------

    def start(self, text: str, extent: str = TrackRange.FROM_HERE, frames: int = 0) -> bool:
        """Track the phrase ``text`` from the frame on screen over ``extent`` (a
        :class:`TrackRange`; ``frames`` for N frames). Returns whether a run started."""
        media, frame = self.controller.media, self.controller.frame
        phrases = split_phrases(text)
        if len(phrases) != 1:
            self.message.emit("Type one phrase to track (car, person): one phrase per run", 6000)
            return False
        if (bridge := self._ready("Track a phrase")) is None or media is None:
            return False
        phrase = phrases[0]
        direction, max_frames = range_arguments(TrackRange(extent), frame, media.frame_count, frames)
        project = self.document.project
        category = category_for(project, phrase)
        first: list[AddCategory] = []
        if category is None:
            from samdesk.io.common import import_color  # find all's colours; not at start-up

            first.append(AddCategory(phrase, import_color(len(project.categories)),
                                     category_id=project.allocate_id("category")))
            category = first[0].category_id
        tracks = self._tracks_for(bridge, media.id, media.path)
        try:
            job = track_phrase(tracks, phrase, frame, direction=direction, max_frames=max_frames,
                               convert=masks.encode)
        except (PromptError, ValueError) as exc:
            self.error.emit("Track a phrase", str(exc))
            return False
        info = bridge.runtime.model_info
        run = TrackingRun(media.id, frozenset(), model_id=None if info is None else info.model_id,
                          category_id=category, first_commands=first, start_frame=frame)
        assert self.state is not None
        self.state.start(phrase)
        if extent == TrackRange.WHOLE:
            where = "through the whole video"
        else:
            span = f" for {plural(max_frames, 'frame')}" if max_frames else ""
            where = f"from frame {frame_number(frame)}{span}"
        return self._submit(bridge, job, run, None, f"“{phrase}”", f"Tracking “{phrase}” {where}…")

    def retrack_selected(self) -> bool:
        """Re-track the selected object from the frame on screen, where the user corrected it,
        up to its next correction (or the end)."""
        media, frame = self.controller.media, self.controller.frame
        if (bridge := self._ready("Re-track")) is None or media is None:
            return False
        project = self.document.project
        try:
            plan = plan_retrack(project, self.controller.selected_object, frame)
        except NothingToRetrack as exc:
            self.message.emit(str(exc), 8000)
            return False
        tracks = self._tracks_for(bridge, media.id, media.path)
        state = self.state
        assert state is not None
        tracker_id = state.tracker_id(project, plan.object_id)
        if tracker_id is None:  # not one of the session's instances: it joins as a clicked object
            tracker_id = CLICKED_ID_BASE + plan.object_id
            state.add({tracker_id: project.object(plan.object_id)})
        gone = state.gone(project)
        job = retrack_instance(tracks, tracker_id, frame, partial(masks.decode, plan.keyframe.rle),
                               clicks=plan.clicks, max_frames=plan.max_frames, forget=gone,
                               convert=masks.encode)
        state.take(gone)
        info = bridge.runtime.model_info
        model_id = None if info is None else info.model_id
        run = TrackingRun(media.id, frozenset({plan.object_id}), model_id=model_id,
                          keyframes=[plan.keyframe], start_frame=frame)
        span = plural(plan.max_frames, "frame")
        text = f"Re-tracking object {plan.object_id} from frame {frame_number(frame)} ({span})…"
        return self._submit(bridge, job, run, {tracker_id: plan.object_id}, f"object {plan.object_id}", text)

    def _ready(self, title: str) -> RuntimeBridge | None:
        """The bridge a run goes to, or None after saying why not."""
        if self.running:
            self.message.emit("Already tracking: stop it first (Esc)", 5000)
            return None
        if self.controller.media is None or not self.controller.is_video:
            self.error.emit(title, "Tracking follows instances through a video: open a video first.")
            return None
        if (refused := tracking_refusal(self.link)) is not None:
            self.error.emit(title, refused)
            return None
        return self.link.video_bridge()

    def _tracks_for(self, bridge: RuntimeBridge, media_id: int, path: str) -> ConceptTracks:
        """The kept session of this video on this bridge, or a new one (the old one released)."""
        if self.tracks is None or self.state is None or self.state.media_id != media_id or (
            self._tracks_bridge is not bridge
        ):
            self.drop()
            self.tracks = ConceptTracks(path, self.video_config)
            self.state = PhraseTracks(media_id)
            self._tracks_bridge = bridge
        return self.tracks

    def _submit(self, bridge: RuntimeBridge, job: Any, run: TrackingRun, rekey: dict[int, int] | None,
                what: str, text: str) -> bool:
        if bridge not in self._connected:
            self._connected.append(bridge)
            bridge.partial.connect(lambda rid, value, b=bridge: self._tracked(b, rid, value))
            bridge.progressed.connect(
                lambda rid, done, total, b=bridge: self._progressed(b, rid, done, total)
            )
            bridge.jobFinished.connect(lambda rid, summary, b=bridge: self._finished(b, rid, summary))
            bridge.failed.connect(lambda rid, exc, b=bridge: self._failed(b, rid, exc))
        try:
            request_id = bridge.run_job(job)
        except ModelCapabilityError as exc:
            self.error.emit("Track a phrase", str(exc))
            return False
        self._request = (bridge, request_id)
        self._run, self._rekey, self._what = run, rekey, what
        self._frames = set()
        self._started = False
        self._rate = ProgressRate()
        self.bar.setRange(0, 0)
        self.bar.setFormat(f"finding {what}…")
        self.bar.setVisible(True)
        self.stop_button.setVisible(True)
        self.running_changed.emit(True)
        self.message.emit(text, 5000)
        return True

    # --- stopping --------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop after the frame in progress, keeping every frame computed (a second Stop, or a
        Stop before the run has started, drops the run at once: what landed stays)."""
        if self._request is None:
            return
        if self._started and self.tracks is not None and not self.tracks.stopping:
            self.tracks.finish()
            self.bar.setFormat("stopping after this frame…")
            return
        bridge, request_id = self._request
        bridge.cancel(request_id)
        kept = plural(self.frames_done, "frame")
        self._end(f"Tracking {self._what} stopped: {kept} kept (Ctrl+Z undoes them)")

    def drop(self) -> None:
        """Forget the kept session (closed on its runtime's background thread)."""
        if self._request is not None:
            running, request_id = self._request
            running.cancel(request_id)
            self._end(f"Tracking {self._what} stopped: {plural(self.frames_done, 'frame')} kept")
        tracks, bridge = self.tracks, self._tracks_bridge
        self.tracks = self.state = self._tracks_bridge = None
        if tracks is not None and bridge is not None and bridge.runtime.model_info is not None:
            with contextlib.suppress(RuntimeClosedError):  # closing: the session goes with it
                bridge.run_job(release_tracks(tracks))

    # --- answers from the runtime ----------------------------------------------------------------

    def _mine(self, bridge: RuntimeBridge, request_id: int) -> bool:
        return self._request == (bridge, request_id) and self._run is not None

    def _tracked(self, bridge: RuntimeBridge, request_id: int, tracked: Any) -> None:
        if not self._mine(bridge, request_id):
            return
        run = self._run
        assert run is not None
        project = self.document.project
        if not any(m.id == run.media_id for m in project.media):
            self.stop()  # the video was removed from the project
            return
        self._started = True
        found = tracked.masks
        scores = tracked.scores
        if self._rekey is not None:
            found = {self._rekey[t]: m for t, m in found.items() if t in self._rekey}
            scores = {self._rekey[t]: s for t, s in scores.items() if t in self._rekey}
        command = run.frame_command(project, tracked.frame, found, scores)
        if command is not None:
            self.document.execute(command)
        if self._rekey is None and self.state is not None:
            self.state.add(run.created_objects)
        self._frames.add(tracked.frame)

    def _progressed(self, bridge: RuntimeBridge, request_id: int, done: int, total: int) -> None:
        if not self._mine(bridge, request_id):
            return
        self._started = True
        if total < 0 or (self.tracks is not None and self.tracks.stopping):
            return  # still finding the phrase (busy bar), or stopping
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        self._rate.add(done, time.monotonic())
        rate, left = self._rate.per_second(), self._rate.seconds_left(total)
        eta = "" if rate is None or left is None else f" · {rate:.2f} frames/s · {duration_text(left)} left"
        self.bar.setFormat(f"tracking {self._what} %v/%m{eta}")  # %v/%m: Qt's value and maximum

    def _finished(self, bridge: RuntimeBridge, request_id: int, summary: Any) -> None:
        if not self._mine(bridge, request_id):
            return
        run = self._run
        assert run is not None
        if self._rekey is None and (end := run.end_command(self.document.project)) is not None:
            self.document.execute(end)
        if self._rekey is None:
            count = sum(1 for o in run.created_objects.values() if self._in_project(o.id))
            found = f"{plural(count, 'instance')} of {self._what}"
        else:
            found = self._what
        how = "Stopped: " if summary.finished_early else ""
        self._end(f"{how}Tracked {found} through {plural(self.frames_done, 'frame')} (Ctrl+Z undoes the run)")

    def _failed(self, bridge: RuntimeBridge, request_id: int, error: BaseException) -> None:
        if not self._mine(bridge, request_id):
            return
        self._end(f"Tracking {self._what} failed")
        self.error.emit("Track a phrase", str(error) or type(error).__name__)

    def _end(self, message: str) -> None:
        self._request = None
        self._run = None
        self.bar.setVisible(False)
        self.stop_button.setVisible(False)
        self.running_changed.emit(False)
        self.message.emit(message, 10000)

    def _in_project(self, object_id: int) -> bool:
        try:
            self.document.project.object(object_id)
        except KeyError:
            return False
        return True


__all__ = ["RANGE_TEXT", "PhraseTracker", "TrackRange", "tracking_refusal"]
