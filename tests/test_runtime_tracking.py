"""Tracking objects through a video as a runtime job (``jobs.track_video``) with a real SAM 2.1
network (random weights, 256² input so a frame takes a fraction of a second): frames arrive one
by one as partial results, equal to what the video session computes on its own; clicks are
answered while it runs; it stops when cancelled; a model without video support says so."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from model_runtime.api import Prompts
from model_runtime.models.sam2.model import Sam2ImageModel
from model_runtime.runtime import (
    ModelCapabilityError,
    Runtime,
    RuntimeConfig,
    TrackedFrame,
    TrackingSummary,
    TrackPrompt,
    track_video,
)
from model_runtime.runtime.requests import video_frames_key
from tests.runtime_doubles import WAIT, DoubleModel, Gate, Recorder, provider
from tests.tiny_models import small_sam2_model

SLOW_WAIT = 120.0


@pytest.fixture(scope="module")
def small_sam2() -> Sam2ImageModel:
    return small_sam2_model()


def moving_square(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    background = rng.integers(0, 80, size=(96, 128, 3), dtype=np.uint8)
    frames = []
    for i in range(count):
        frame = background.copy()
        frame[30:70, 10 + 6 * i : 50 + 6 * i] = 230
        frames.append(frame)
    return frames


def square_mask(frame: np.ndarray) -> np.ndarray:
    return frame[..., 0] > 200


@pytest.fixture
def runtime(small_sam2, tmp_path):
    # Not SCHED_IDLE: on a loaded machine an idle-class thread gets next to no CPU, and these
    # tests are about what tracking delivers, not about how it yields (test_runtime.py is).
    config = RuntimeConfig(
        disk_cache=False, interactive_threads=1, background_threads=1, background_idle=False
    )
    rt = Runtime(config, loader=lambda source, device: small_sam2 if source == "sam2" else DoubleModel())
    rt.load_model("sam2").result(SLOW_WAIT)
    yield rt
    rt.close()


def test_frames_arrive_as_partials_equal_to_the_session_computing_alone(runtime, small_sam2):
    frames = moving_square(5)
    prompts = [
        TrackPrompt(obj_id=1, frame=0, mask=lambda: square_mask(frames[0])),
        TrackPrompt(obj_id=2, frame=1, prompts=Prompts(points=[(20.0, 20.0)], labels=[1])),
    ]
    converted = []

    def convert(mask: np.ndarray) -> tuple[int, bytes]:
        converted.append(threading.current_thread().name)
        return int(mask.sum()), np.packbits(mask).tobytes()

    rec = Recorder()
    handle = runtime.run_job(track_video(frames, prompts, convert=convert), callbacks=rec.callbacks())
    rec.wait(handle.request_id, SLOW_WAIT)
    summary = rec.results[handle.request_id]
    assert isinstance(summary, TrackingSummary)
    assert summary == TrackingSummary(frames=5, objects=[1, 2])
    tracked = [value for rid, value in rec.partials if rid == handle.request_id]
    assert [t.frame for t in tracked] == [0, 1, 2, 3, 4]
    assert all(isinstance(t, TrackedFrame) and set(t.masks) == {1, 2} for t in tracked)
    assert set(converted) == {"samdesk-runtime-background"}
    # One progress report per prompt (total unknown yet), then per frame (done of 5).
    steps = [(done, total) for rid, done, total in rec.progress if rid == handle.request_id]
    assert steps == [(1, None), (2, None), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]

    # The same prompts on a session of its own give the same masks and scores.
    with torch.no_grad():
        video = small_sam2.open_video(frames)
        video.add_prompt(0, 1, mask=square_mask(frames[0]))
        video.add_prompt(1, 2, points=np.array([[20.0, 20.0]]), labels=np.array([1]))
        for step, got in zip(video.propagate(), tracked, strict=True):
            assert step.frame_index == got.frame
            for obj in (1, 2):
                assert got.masks[obj] == convert(step.masks[obj])
                assert got.scores[obj] == pytest.approx(step.object_scores[obj])
    # The conditioning mask itself comes back on its frame (as the official predictor does).
    assert tracked[0].masks[1][0] > 0


def test_objects_are_tracked_over_their_own_range_and_no_further_once_lost(runtime):
    frames = moving_square(6)
    prompts = [
        TrackPrompt(obj_id=1, frame=0, mask=lambda: square_mask(frames[0])),
        TrackPrompt(obj_id=2, frame=0, mask=lambda: square_mask(frames[0])),
        # An empty mask: the tracker finds this object gone on its very first frame.
        TrackPrompt(obj_id=3, frame=0, mask=lambda: np.zeros(frames[0].shape[:2], bool)),
    ]
    rec = Recorder()
    job = track_video(frames, prompts, ranges={1: (0, 2), 3: (0, 5)}, stop_when_lost=True)
    handle = runtime.run_job(job, callbacks=rec.callbacks())
    rec.wait(handle.request_id, SLOW_WAIT)
    tracked = [value for rid, value in rec.partials if rid == handle.request_id]
    assert [(t.frame, sorted(t.masks)) for t in tracked] == [
        (0, [1, 2, 3]), (1, [1, 2]), (2, [1, 2]), (3, [2]), (4, [2]), (5, [2])
    ]
    assert tracked[0].scores[3] <= 0 < tracked[0].scores[1]


def test_clicks_are_answered_while_tracking_runs(runtime):
    frames = moving_square(40)
    rec = Recorder()
    job = runtime.run_job(
        track_video(frames, [TrackPrompt(1, 0, mask=square_mask(frames[0]))]), callbacks=rec.callbacks()
    )
    rec.wait_for(lambda: len(rec.partials) >= 1, SLOW_WAIT)
    image = frames[7]
    click = runtime.predict(
        "obj", "still", 0, Prompts(points=[(60.0, 50.0)], labels=[1]),
        image_provider=lambda: image, callbacks=rec.callbacks(),
    )
    rec.wait(click.request_id, SLOW_WAIT)
    assert click.request_id in rec.results
    # The click (and the encode it needed) went ahead of the remaining frames.
    assert not rec.reported(job.request_id)
    assert len(rec.partials) < 40
    assert job.cancel()


def test_cancelled_tracking_stops_and_reports_nothing_more(runtime):
    frames = moving_square(40)
    rec = Recorder()
    converts = []
    job = runtime.run_job(
        track_video(frames, [TrackPrompt(1, 0, mask=square_mask(frames[0]))], convert=converts.append),
        callbacks=rec.callbacks(),
    )
    rec.wait_for(lambda: len(rec.partials) >= 2, SLOW_WAIT)
    assert job.cancel()
    seen = len(rec.partials)
    # The next request runs only after the job's current step ends: by then it is closed.
    after = runtime.run_job(lambda ctx: iter(()), callbacks=rec.callbacks())
    rec.wait(after.request_id, SLOW_WAIT)
    assert len(rec.partials) == seen
    assert len(converts) <= seen + 1  # at most the frame that was running when cancelled
    assert not rec.reported(job.request_id)


def test_a_model_without_video_support_is_refused_at_once(runtime):
    runtime.load_model("double").result(WAIT)
    job = track_video(moving_square(2), [TrackPrompt(1, 0, mask=np.ones((96, 128), bool))])
    with pytest.raises(ModelCapabilityError, match="cannot track.*SAM 2"):
        runtime.run_job(job)
    # The runtime keeps working.
    rec = Recorder()
    click = runtime.predict("o", "m1", 0, Prompts(points=[(5, 5)], labels=[1]), image_provider=provider(1),
                            callbacks=rec.callbacks())
    rec.wait(click.request_id)
    assert click.request_id in rec.results


def test_a_job_asked_during_a_load_is_refused_by_the_model_loaded(runtime):
    # Which model serves it is known only when the load ends: it fails then, through on_error.
    gate = Gate()

    def hold(ctx):
        gate.pass_through()  # the background thread is busy: the load below stays queued
        yield 1, 1

    runtime.run_job(hold)
    assert gate.entered.wait(WAIT)
    load = runtime.load_model("double")
    rec = Recorder()
    job = track_video(moving_square(2), [TrackPrompt(1, 0, mask=np.ones((96, 128), bool))])
    handle = runtime.run_job(job, callbacks=rec.callbacks())
    gate.release()
    load.result(WAIT)
    rec.wait(handle.request_id)
    assert isinstance(rec.errors[handle.request_id], ModelCapabilityError)


def test_tracking_needs_a_prompt():
    with pytest.raises(ValueError, match="nothing to track"):
        track_video(moving_square(2), [])


def test_a_frame_clicked_before_a_run_is_not_encoded_again_and_a_tracked_frame_serves_clicks(
    runtime, small_sam2
):
    """Video frames are keyed apart and encoded as tracking encodes them: the run reads the
    clicked frame's embedding instead of encoding it, and keeps the frames it encoded for the
    clicks after it; the tracked masks are those of a session computing alone."""
    frames = moving_square(4)
    key = video_frames_key("clip")
    encoded = []
    hook = small_sam2.network.image_encoder.register_forward_hook(lambda *_: encoded.append(1))
    try:
        rec = Recorder()
        first = runtime.encode(key, 0, lambda: frames[0], callbacks=rec.callbacks())
        rec.wait(first.request_id, SLOW_WAIT)
        assert rec.results[first.request_id].source == "computed" and len(encoded) == 1
        # The click path encoded the video frame as tracking does.
        clicked = runtime.predict("o", key, 0, Prompts(points=[(30.0, 50.0)], labels=[1]),
                                  callbacks=rec.callbacks())
        rec.wait(clicked.request_id, SLOW_WAIT)
        assert len(encoded) == 1

        job = track_video(frames, [TrackPrompt(1, 0, mask=lambda: square_mask(frames[0]))], media_key="clip")
        handle = runtime.run_job(job, callbacks=rec.callbacks())
        rec.wait(handle.request_id, SLOW_WAIT)
        assert len(encoded) == 4  # frames 1-3 only: frame 0 came from the click's embedding
        tracked = [value for rid, value in rec.partials if rid == handle.request_id]

        # A click on a tracked frame: its embedding is there, nothing is encoded.
        after = runtime.encode(key, 2, None, callbacks=rec.callbacks())
        rec.wait(after.request_id, SLOW_WAIT)
        assert rec.results[after.request_id].source == "memory" and len(encoded) == 4
        click = runtime.predict("o", key, 2, Prompts(points=[(40.0, 50.0)], labels=[1]),
                                callbacks=rec.callbacks())
        rec.wait(click.request_id, SLOW_WAIT)
        assert len(encoded) == 4
    finally:
        hook.remove()

    # The answer is that of the frame encoded afresh for clicks (video preprocessing; to float
    # rounding: a tracked frame's embedding has no precomputed first decoder block) ...
    fresh = small_sam2.encode_video_frame(frames[2])
    expected = small_sam2.predict(fresh, points=np.array([[40.0, 50.0]]), labels=np.array([1]))
    got = rec.results[click.request_id].prediction
    np.testing.assert_allclose(got.low_res_logits, expected.low_res_logits, atol=1e-5, rtol=0)
    # ... which is not the still-image encoding of the same pixels.
    still = small_sam2.predict(small_sam2.encode_image(frames[2]), points=np.array([[40.0, 50.0]]),
                               labels=np.array([1]))
    assert np.abs(still.low_res_logits - expected.low_res_logits).max() > 1e-3
    # And sharing changed no tracked mask.
    with torch.no_grad():
        video = small_sam2.open_video(frames)
        video.add_prompt(0, 1, mask=square_mask(frames[0]))
        for step, got_frame in zip(video.propagate(), tracked, strict=True):
            np.testing.assert_array_equal(step.masks[1], got_frame.masks[1])
            assert step.object_scores[1] == got_frame.scores[1]
