"""Tracking a phrase through a video as runtime jobs (``track_phrase``, ``retrack_instance``):
partials frame by frame, an empty mask for an instance lost on a frame, Stop keeping the frames
the session still held back, a correction re-tracking only its instance in the kept session,
and refusals. The SAM 3 session is a double here (what it answers is scripted); the real model
runs in tests/test_ui_phrase_tracking.py."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import pytest

from model_runtime.api import Capability, PromptError, Prompts
from model_runtime.runtime import (
    ConceptTracks,
    ModelCapabilityError,
    PhraseSummary,
    Runtime,
    RuntimeConfig,
    release_tracks,
    retrack_instance,
    track_phrase,
)
from tests.runtime_doubles import WAIT, DoubleModel, Gate, Recorder

H, W, FRAMES = 6, 8, 6


def mask_of(column: int) -> np.ndarray:
    out = np.zeros((H, W), bool)
    out[:, column] = True
    return out


@dataclass
class Step:
    frame_index: int
    masks: dict[int, np.ndarray]
    object_scores: dict[int, float]
    done: int = 0
    total: int = 0


@dataclass
class ScriptedVideo:
    """Instance 1 on every frame, instance 2 until frame 2; ``hold`` frames are released late
    (as hot start does), all of them at the end of the range or after :meth:`finish`. A frame
    can be held at ``gate``."""

    hold: int = 0
    gate: Gate | None = None
    gate_frame: int = -1
    calls: list[tuple] = field(default_factory=list)
    object_ids: list[int] = field(default_factory=list)
    closed: bool = False
    _finish: bool = False

    def add_concept(self, frame: int, prompts: Prompts) -> dict[int, np.ndarray]:
        self.calls.append(("concept", frame, prompts.phrases))
        self.object_ids = [1, 2]
        return {1: mask_of(1), 2: mask_of(2)}

    def add_prompt(self, frame: int, obj_id: int, points=None, labels=None, box=None, mask=None):
        if mask is not None:
            self.calls.append(("prompt", frame, obj_id, int(mask.sum())))
        else:
            clicked = np.asarray(points).tolist(), np.asarray(labels).tolist()
            self.calls.append(("clicks", frame, obj_id, *clicked))
        if obj_id not in self.object_ids:
            self.object_ids.append(obj_id)
        return {obj_id: mask if mask is not None else mask_of(1)}

    def remove_object(self, obj_id: int) -> None:
        self.calls.append(("remove", obj_id))
        self.object_ids.remove(obj_id)

    def finish(self) -> None:
        self._finish = True

    def propagate(self, start_frame, direction, max_frames):
        self.calls.append(("propagate", start_frame, direction, max_frames))
        self._finish = False
        order = list(range(start_frame, min(FRAMES, start_frame + (max_frames or FRAMES))))
        held: list[Step] = []
        for done, frame in enumerate(order, start=1):
            if self._finish:
                break
            if frame == self.gate_frame and self.gate is not None:
                self.gate.pass_through()
            masks = {o: mask_of(o) for o in self.object_ids if o != 2 or frame < 2}
            held.append(Step(frame, masks, {o: 3.0 for o in masks}, done, len(order)))
            while len(held) > self.hold:
                yield held.pop(0)
        yield from held

    def close(self) -> None:
        self.closed = True


class ConceptVideoDouble(DoubleModel):
    def __init__(self) -> None:
        super().__init__("concept-video", capabilities=frozenset({Capability.CONCEPT_VIDEO}))
        self.opened: list[ScriptedVideo] = []
        self.next_video = ScriptedVideo

    def open_video(self, source, config=None) -> ScriptedVideo:
        video = self.next_video()
        self.opened.append(video)
        return video


@pytest.fixture
def model() -> ConceptVideoDouble:
    return ConceptVideoDouble()


@pytest.fixture
def runtime(model):
    config = RuntimeConfig(
        disk_cache=False, interactive_threads=1, background_threads=1, background_idle=False
    )
    rt = Runtime(config, loader=lambda source, device: model if source == "sam3" else DoubleModel())
    rt.load_model("sam3").result(WAIT)
    yield rt
    rt.close()


def run(runtime: Runtime, job) -> tuple[object, list]:
    rec = Recorder()
    handle = runtime.run_job(job, callbacks=rec.callbacks())
    rec.wait(handle.request_id)
    if handle.request_id in rec.errors:
        raise rec.errors[handle.request_id]
    return rec.results[handle.request_id], [value for _rid, value in rec.partials]


def columns(tracked) -> dict[int, int | None]:
    """Instance id -> the column its mask covers (None: empty mask, the instance is not there)."""
    return {o: (int(np.nonzero(m[0])[0][0]) if m.any() else None) for o, m in tracked.masks.items()}


def test_a_phrase_hands_over_its_first_frame_then_every_tracked_frame(runtime, model) -> None:
    tracks = ConceptTracks(["frames"])
    converted: list[str] = []

    def convert(m: np.ndarray) -> np.ndarray:
        converted.append(threading.current_thread().name)
        return m

    summary, tracked = run(runtime, track_phrase(tracks, "dog", 1, max_frames=4, convert=convert))
    assert model.opened[0].calls[:2] == [("concept", 1, ("dog",)), ("propagate", 1, "forward", 4)]
    assert [t.frame for t in tracked] == [1, 1, 2, 3, 4]
    assert columns(tracked[0]) == {1: 1, 2: 2}
    # Instance 2 is lost from frame 2 on: its empty mask says so, frame by frame.
    assert [columns(t) for t in tracked[2:]] == [{1: 1, 2: None}] * 3
    assert tracked[1].scores == {1: 3.0, 2: 3.0} and tracked[2].scores == {1: 3.0}
    assert summary == PhraseSummary(frames=4, objects=[1, 2], finished_early=False)
    assert set(converted) == {"samdesk-runtime-background"}
    assert tracks.is_open and not model.opened[0].closed  # kept for corrections


def test_stop_ends_after_the_frame_in_progress_and_keeps_the_frames_held_back(runtime, model) -> None:
    gate = Gate()
    model.next_video = lambda: ScriptedVideo(hold=2, gate=gate, gate_frame=3)
    tracks = ConceptTracks(["frames"])
    rec = Recorder()
    handle = runtime.run_job(track_phrase(tracks, "dog", 0), callbacks=rec.callbacks())
    assert gate.entered.wait(WAIT)  # frame 3 is being tracked; frames 1 and 2 are held back
    tracks.finish()
    gate.release()
    rec.wait(handle.request_id)
    summary = rec.results[handle.request_id]
    frames = [value.frame for _rid, value in rec.partials]
    assert frames == [0, 0, 1, 2, 3]  # nothing after frame 3, nothing held back lost
    assert summary.finished_early and summary.frames == 4


def test_a_correction_re_tracks_its_instance_alone_in_the_kept_session(runtime, model) -> None:
    tracks = ConceptTracks(["frames"])
    run(runtime, track_phrase(tracks, "dog", 0))
    video = model.opened[0]
    video.calls.clear()
    clicks = Prompts(points=[(5.0, 3.0)], labels=[0])
    job = retrack_instance(tracks, 1, 3, mask_of(5), clicks=clicks, max_frames=2, forget=[2, 9])
    summary, tracked = run(runtime, job)
    assert len(model.opened) == 1  # the same session: its memory of the phrase run is used
    # The clicks refine the instance as SAM 3 does; only it is reported.
    assert video.calls == [
        ("remove", 2), ("clicks", 3, 1, [[5.0, 3.0]], [0]), ("propagate", 3, "forward", 2)
    ]
    assert [(t.frame, sorted(t.masks)) for t in tracked] == [(3, [1]), (4, [1])]
    assert summary == PhraseSummary(frames=2, objects=[1], finished_early=False)
    # A correction without clicks (a brush edit): the mask replaces what the session knew.
    video.calls.clear()
    corrected = mask_of(5) | mask_of(6)
    run(runtime, retrack_instance(tracks, 1, 4, lambda: corrected))
    assert video.calls[:3] == [("remove", 1), ("prompt", 4, 1, int(corrected.sum())),
                               ("propagate", 4, "forward", None)]


def test_without_a_kept_session_a_correction_opens_one_a_new_model_forgets_the_old(runtime, model) -> None:
    tracks = ConceptTracks(["frames"])
    run(runtime, retrack_instance(tracks, 7, 2, mask_of(3)))
    assert len(model.opened) == 1 and model.opened[0].calls[0] == ("prompt", 2, 7, H)
    other = ConceptVideoDouble()
    runtime.load_model(other).result(WAIT)
    run(runtime, retrack_instance(tracks, 7, 2, mask_of(3)))
    assert model.opened[0].closed and len(other.opened) == 1  # the old model's session closed
    run(runtime, release_tracks(tracks))
    assert other.opened[0].closed and not tracks.is_open


def test_bad_requests_and_models_that_cannot_are_refused_at_once(runtime) -> None:
    tracks = ConceptTracks(["frames"])
    with pytest.raises(PromptError, match="one noun phrase"):
        track_phrase(tracks, "dog; cat", 0)
    with pytest.raises(ValueError, match="direction"):
        track_phrase(tracks, "dog", 0, direction="up")
    with pytest.raises(ValueError, match="max_frames"):
        retrack_instance(tracks, 1, 0, mask_of(1), max_frames=0)
    runtime.load_model("double").result(WAIT)
    with pytest.raises(ModelCapabilityError, match="cannot track a phrase.*SAM 3"):
        runtime.run_job(track_phrase(tracks, "dog", 0))
