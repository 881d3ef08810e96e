"""Track a phrase: every instance of a noun phrase followed through a video with stable ids
(``concept_video``: SAM 3), and one instance re-tracked after a correction.

Two long jobs on the background lane share one :class:`ConceptTracks`, the video's SAM 3
session kept between runs, so that a correction re-tracks with the memory the phrase run built
and re-propagates only the corrected instance (the session's partial propagation):

- :func:`track_phrase`: ``add_concept`` on the frame on screen (its instances are handed over at
  once, as the first partial), then ``propagate`` over the chosen range, one frame per step;
- :func:`retrack_instance`: ``add_prompt`` with the correction's clicks (or mask) on one frame,
  then ``propagate`` from there, reporting only that instance.

Each step hands a :class:`~model_runtime.runtime.work.track.TrackedFrame` to ``on_partial``: the
instances shown on that frame, and an empty mask for each instance seen before and not shown
there (the tracker lost it), so a frame of a retired instance does not keep an earlier answer.

Threads: only the background thread touches the session (inside job steps; one step at a time,
so the caller runs one of these jobs at a time per ``ConceptTracks``). :meth:`ConceptTracks.finish`
(Stop) is the one method for any thread: the propagation ends after the frame in progress and
hands out the frames hot start still held back, so Stop keeps everything computed. Cancelling
the job instead drops those held frames.

Memory: the kept session holds at most its caches' bounds (``ConceptVideoConfig``: 512 MB of
frame features and 64 MB of compressed masks by default) plus its objects' bounded memories,
until :func:`release_tracks` closes it or the object is dropped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model_runtime.api import Capability, PromptError, Prompts
from model_runtime.runtime.work.job import Job, JobContext, JobSteps
from model_runtime.runtime.work.track import TrackedFrame

PURPOSE = "track a phrase through a video"
DIRECTIONS = ("forward", "backward", "both")


@dataclass
class PhraseSummary:
    """What a run did: ``frames`` propagated (the phrase's own frame included once),
    ``objects`` the instance ids it reported, ``finished_early`` when Stop ended it."""

    frames: int = 0
    objects: list[int] = field(default_factory=list)
    finished_early: bool = False


class ConceptTracks:
    """The SAM 3 video session of one video (``source``: a file, a folder of frames or RGB
    arrays), kept between the runs that use it. Made on the GUI thread, handed to each job; the
    session inside is opened, used and closed only by job steps on the runtime's background
    thread. ``config``: the session's settings (a ``ConceptVideoConfig``; None: the released
    ones)."""

    def __init__(self, source: str | os.PathLike[str] | Sequence[np.ndarray], config: Any = None) -> None:
        self.source = source
        self.config = config
        self._video: Any = None
        self._model: Any = None
        self._stop = False

    def finish(self) -> None:
        """Stop the run in progress after its frame in progress, keeping what it computed
        (frames held back by hot start included). Any thread."""
        self._stop = True
        video = self._video
        if video is not None:
            video.finish()

    @property
    def stopping(self) -> bool:
        return self._stop

    @property
    def is_open(self) -> bool:
        return self._video is not None and not self._video.closed

    # -- job steps only (background thread) -------------------------------------------------------

    def session(self, ctx: JobContext) -> tuple[Any, bool]:
        """The session for the job's model: the kept one, or a new one (True) when there is none
        or the model changed since."""
        self._stop = False
        model = ctx.model
        if self.is_open and self._model is model:
            return self._video, False
        self.close()
        self._video = ctx.call(model.open_video, self.source, self.config)  # type: ignore[attr-defined]
        self._model = model
        return self._video, True

    def forget(self, obj_ids: Iterable[int]) -> None:
        """Remove instances the user deleted or merged into another from the session: they no
        longer take pixels from the others."""
        if not self.is_open:
            return
        known = set(self._video.object_ids)
        for obj_id in obj_ids:
            if int(obj_id) in known:
                self._video.remove_object(int(obj_id))

    def close(self) -> None:
        video, self._video, self._model = self._video, None, None
        if video is not None:
            video.close()


def track_phrase(
    tracks: ConceptTracks,
    phrase: str,
    frame: int,
    *,
    direction: str = "forward",
    max_frames: int | None = None,
    convert: Callable[[np.ndarray], Any] | None = None,
) -> Job:
    """Find every instance of ``phrase`` on ``frame`` and track them in ``direction``
    ("forward", "backward" or "both") for at most ``max_frames`` frames per direction (None:
    to the end). A phrase starts the session over: earlier instances are forgotten and the ids
    start again. ``convert`` runs on each mask on the background thread (e.g. RLE-encode it).
    The result is a :class:`PhraseSummary`."""
    phrase = phrase.strip()
    if not phrase or ";" in phrase:
        raise PromptError("give one noun phrase to track (e.g. 'person')")
    _check_range(direction, max_frames)

    def steps(ctx: JobContext) -> JobSteps:
        video, _ = tracks.session(ctx)
        found = ctx.call(video.add_concept, frame, Prompts(text=phrase))
        reporter = _Reporter(convert)
        yield 0, None, reporter.frame(frame, found, {})
        if tracks.stopping:
            return reporter.summary(True)
        propagation = ctx.call(video.propagate, frame, direction, max_frames)
        yield from reporter.propagate(ctx, propagation, tracks)
        return reporter.summary(tracks.stopping)

    return Job(steps, name="track_phrase", requires=Capability.CONCEPT_VIDEO, purpose=PURPOSE)


def retrack_instance(
    tracks: ConceptTracks,
    obj_id: int,
    frame: int,
    mask: np.ndarray | Callable[[], np.ndarray],
    *,
    clicks: Prompts | None = None,
    direction: str = "forward",
    max_frames: int | None = None,
    forget: Sequence[int] = (),
    convert: Callable[[np.ndarray], Any] | None = None,
) -> Job:
    """Correct instance ``obj_id`` on ``frame`` and track it from there in ``direction`` for at
    most ``max_frames`` frames; only ``obj_id`` is reported (its corrected frame too: a user's
    mask there stays, see ``samdesk.document.tracking``). The result is a :class:`PhraseSummary`.

    The correction is ``clicks`` (points with labels and/or a box, in video pixels) or ``mask``
    (bool H×W at video resolution, or a function returning it, called on the background
    thread). In the kept session an instance it holds is refined by the clicks as SAM 3 does
    (``add_prompt`` with points: the tracker keeps its memory of the earlier run) and only it
    is re-tracked. Without clicks, or for an instance the session does not hold (the model
    changed, the app was restarted: a new session), the mask conditions it afresh (an instance
    held is removed first: the mask replaces what the session knew of it). ``forget``:
    instances to remove from the session first.
    """
    _check_range(direction, max_frames)
    if clicks is not None and (not clicks.has_click or clicks.mask_input is not None):
        raise PromptError("a correction's clicks are points with labels and/or a box")

    def steps(ctx: JobContext) -> JobSteps:
        video, _ = tracks.session(ctx)
        tracks.forget(i for i in forget if int(i) != int(obj_id))
        held = int(obj_id) in video.object_ids
        if clicks is not None and held:
            arrays = clicks.click_arrays()
            ctx.call(video.add_prompt, frame, obj_id, points=arrays["points"], labels=arrays["labels"],
                     box=arrays["box"])
        else:
            if held:
                video.remove_object(obj_id)
            ctx.call(video.add_prompt, frame, obj_id, mask=mask() if callable(mask) else mask)
        yield 0, None
        reporter = _Reporter(convert, only=int(obj_id))
        if tracks.stopping:
            return reporter.summary(True)
        propagation = ctx.call(video.propagate, frame, direction, max_frames)
        yield from reporter.propagate(ctx, propagation, tracks)
        return reporter.summary(tracks.stopping)

    return Job(steps, name="retrack_instance", requires=Capability.CONCEPT_VIDEO, purpose=PURPOSE)


def release_tracks(tracks: ConceptTracks) -> Job:
    """Close the kept session (its features, masks, memories and frame reader)."""

    def steps(ctx: JobContext) -> JobSteps:
        tracks.close()
        return None
        yield  # a generator: closed on the background thread like every job

    return Job(steps, name="release_tracks", needs_model=False)


class _Reporter:
    """Turns session answers into partials: known ids not shown get an empty mask."""

    def __init__(self, convert: Callable[[np.ndarray], Any] | None, only: int | None = None) -> None:
        self.convert = convert
        self.only = only
        self.seen: dict[int, tuple[int, int]] = {}  # id -> mask shape
        self.frames: set[int] = set()

    def frame(self, frame: int, masks: dict[int, np.ndarray], scores: dict[int, float]) -> TrackedFrame:
        if self.only is not None:
            masks = {o: m for o, m in masks.items() if o == self.only}
        for obj_id, mask in masks.items():
            self.seen[obj_id] = mask.shape
        out: dict[int, Any] = {}
        for obj_id, shape in self.seen.items():
            mask = masks.get(obj_id)
            if mask is None:
                mask = np.zeros(shape, bool)
            out[obj_id] = mask if self.convert is None else self.convert(mask)
        self.frames.add(frame)
        return TrackedFrame(frame, out, {o: float(s) for o, s in scores.items() if o in out})

    def propagate(self, ctx: JobContext, propagation: Any, tracks: ConceptTracks) -> JobSteps:
        """One step per frame the session releases."""
        try:
            while (step := ctx.call(next, propagation, None)) is not None:
                if tracks.stopping:  # Stop came before the propagation started: say it again
                    tracks.finish()
                yield step.done, step.total, self.frame(step.frame_index, step.masks, step.object_scores)
        finally:
            propagation.close()

    def summary(self, finished_early: bool) -> PhraseSummary:
        return PhraseSummary(len(self.frames), sorted(self.seen), finished_early)


def _check_range(direction: str, max_frames: int | None) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")
