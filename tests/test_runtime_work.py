"""The kinds of runtime work beyond clicks: find-all (concept models), segment everything
(everything models), and what every long job gets (its resources released however it ends).

The models are test doubles of the ``ConceptModel`` / ``EverythingModel`` / ``VideoModel``
protocols (tests/runtime_doubles.py): no SAM 3 exists yet. Tests synchronise on gates and
callbacks, never on sleeps."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pytest

from model_runtime.api import Capability, Instances, ModelCapabilityError, PromptError, Prompts
from model_runtime.runtime import (
    FindAllResult,
    Priority,
    RequestState,
    Runtime,
    RuntimeConfig,
    TrackPrompt,
    segment_everything,
    track_video,
)
from tests.runtime_doubles import (
    WAIT,
    ConceptDouble,
    DoubleModel,
    EverythingDouble,
    Gate,
    Recorder,
    provider,
)

INTERACTIVE, BACKGROUND = "samdesk-runtime-interactive", "samdesk-runtime-background"


@dataclass
class Step:
    """What a video session's propagation yields, as far as ``track_video`` reads it."""

    frame_index: int
    masks: dict[int, np.ndarray]
    object_scores: dict[int, float]
    done: int
    total: int


class RecordingSession:
    """A ``VideoSession`` that records prompts and whether it was closed; propagation fails at
    ``fail_at`` and waits at ``gates[frame]``."""

    def __init__(self, frames: int) -> None:
        self.num_frames = frames
        self.closed = threading.Event()
        self.fail_at: int | None = None
        self.gates: dict[int, Gate] = {}

    def add_prompt(self, frame_index, obj_id, points=None, labels=None, box=None, mask=None):
        return {obj_id: np.zeros((4, 4), bool)}

    def propagate(self, start_frame=None, direction="forward", max_frames=None, ranges=None):
        for frame in range(self.num_frames):
            if frame in self.gates:
                self.gates[frame].pass_through()
            if frame == self.fail_at:
                raise RuntimeError(f"frame {frame} is broken")
            yield Step(frame, {1: np.ones((4, 4), bool)}, {1: 5.0}, frame + 1, self.num_frames)

    def close(self) -> None:
        self.closed.set()


class VideoDouble(DoubleModel):
    def __init__(self) -> None:
        super().__init__("video", capabilities=frozenset({Capability.CLICK, Capability.VIDEO}))
        self.sessions: list[RecordingSession] = []
        self.next_session: RecordingSession | None = None

    def open_video(self, source, config=None) -> RecordingSession:
        session = self.next_session or RecordingSession(len(source))
        self.next_session = None
        self.sessions.append(session)
        return session


@pytest.fixture
def models() -> dict[str, DoubleModel]:
    return {
        "click": DoubleModel("click"),
        "concept": ConceptDouble(),
        "everything": EverythingDouble(),
        "video": VideoDouble(),
    }


@pytest.fixture
def runtime(models):
    config = RuntimeConfig(disk_cache=False, interactive_threads=1, background_threads=1)
    rt = Runtime(config, loader=lambda source, device: models[source])
    yield rt
    rt.close()


def find(rt: Runtime, rec: Recorder, text, marker: int = 1, key: str = "query", **kw):
    return rt.find_all(
        key, f"m{marker}", 0, Prompts(text=text), image_provider=provider(marker),
        callbacks=rec.callbacks(), **kw,
    )


# --- find all ------------------------------------------------------------------------------------


def test_find_all_waits_for_the_encode_then_answers_on_the_interactive_thread(runtime, models):
    runtime.load_model("concept").result(WAIT)
    rec = Recorder()
    handle = find(runtime, rec, "cat", threshold=0.5)
    rec.wait(handle.request_id)
    result = rec.results[handle.request_id]
    assert isinstance(result, FindAllResult)
    assert (result.object_key, result.key.media_key, result.prompts) == ("query", "m1", Prompts(text="cat"))
    # "cat": three instances scored 1/3, 2/3, 1; two above 0.5, the third kept in the pool.
    assert isinstance(result.instances, Instances) and result.instances.phrase == "cat"
    assert result.instances.scores.tolist() == pytest.approx([2 / 3, 1.0])
    assert len(result.instances.above(0.0)) == 3
    concept = models["concept"]
    assert concept.encode_threads == {BACKGROUND}
    assert concept.find_log == [(("cat",), INTERACTIVE)]


def test_several_phrases_answer_one_instances_each(runtime, models):
    runtime.load_model("concept").result(WAIT)
    rec = Recorder()
    handle = find(runtime, rec, ("dog", "horse"), threshold=0.0)
    rec.wait(handle.request_id)
    found = rec.results[handle.request_id].instances
    assert [(i.phrase, len(i)) for i in found] == [("dog", 3), ("horse", 5)]


def test_a_newer_query_supersedes_the_queued_one_and_a_cancelled_one_answers_nothing(runtime, models):
    runtime.load_model("concept").result(WAIT)
    rec = Recorder()
    runtime.encode("m1", 0, provider(1)).result(WAIT)
    concept = models["concept"]
    gate = concept.find_gate = Gate()
    first = find(runtime, rec, "cat")
    assert gate.entered.wait(WAIT)  # running: only cancelling drops its answer
    concept.find_gate = None
    second = find(runtime, rec, "dog")
    third = find(runtime, rec, "bird")
    other = find(runtime, rec, "cow", key="another query")
    assert second.state is RequestState.SUPERSEDED
    assert first.cancel()
    gate.release()
    rec.wait(third.request_id)
    rec.wait(other.request_id)
    assert not rec.reported(first.request_id) and not rec.reported(second.request_id)
    assert [phrases for phrases, _ in concept.find_log] == [("cat",), ("bird",), ("cow",)]


def test_a_query_the_user_waits_for_never_queues_behind_a_prefetch(runtime, models):
    runtime.load_model("concept").result(WAIT)
    concept = models["concept"]
    rec = Recorder()
    gate = concept.encode_gates["1"] = Gate()
    runtime.encode("m1", 0, provider(1), callbacks=rec.callbacks())
    assert gate.entered.wait(WAIT)
    runtime.encode("m2", 0, provider(2), prefetch=True, callbacks=rec.callbacks())
    query = find(runtime, rec, "cat", marker=3)  # parks: asks for image 3 at "current" priority
    gate.release()
    rec.wait(query.request_id)
    assert concept.encode_log[:2] == [1, 3]


def test_find_all_needs_a_concept_model_and_a_concept(runtime, models):
    runtime.load_model("click").result(WAIT)
    with pytest.raises(ModelCapabilityError, match="cannot find every instance.*SAM 3"):
        runtime.find_all("q", "m1", 0, Prompts(text="cat"), image_provider=provider(1))
    runtime.load_model("concept").result(WAIT)
    with pytest.raises(PromptError, match="no concept"):
        runtime.find_all("q", "m1", 0, Prompts(points=[(1, 1)], labels=[1]))
    assert models["click"].encode_log == [] and models["concept"].find_log == []


# --- segment everything --------------------------------------------------------------------------


def test_segment_everything_streams_what_is_kept_so_far_then_the_answer(runtime, models):
    runtime.load_model("everything").result(WAIT)
    rec = Recorder()
    job = segment_everything("m1", 0, provider(1), settings={"points_per_side": 4})
    handle = runtime.run_job(job, callbacks=rec.callbacks())
    rec.wait(handle.request_id)
    answer = rec.results[handle.request_id]
    assert isinstance(answer, Instances) and len(answer) == 2
    previews = [value for rid, value in rec.partials if rid == handle.request_id]
    assert [len(p) for p in previews] == [1, 2]  # one row more per point batch
    assert [(d, t) for rid, d, t in rec.progress if rid == handle.request_id] == [(0, None), (1, 3), (2, 3)]
    log = models["everything"].sweep_log
    assert log[0] == "start embedding=True settings={'points_per_side': 4}"
    assert log[1:] == [f"part {i} on {BACKGROUND}" for i in range(3)] + ["closed"]
    assert handle.kind == "segment_everything"


def test_segment_everything_of_a_real_model_answers_as_the_model_does(models):
    from tests.tiny_models import small_sam2_model

    sam2 = small_sam2_model()
    settings = {"points_per_side": 4, "points_per_batch": 4, "pred_iou_thresh": 0.0,
                "stability_score_thresh": 0.0}
    image = np.random.default_rng(5).integers(0, 256, size=(60, 80, 3), dtype=np.uint8)
    rec = Recorder()
    with Runtime(RuntimeConfig(disk_cache=False), loader=lambda s, d: sam2) as rt:
        rt.load_model("sam2").result(WAIT)
        job = segment_everything("img", 0, lambda: image, settings=settings)
        answer = rt.run_job(job, callbacks=rec.callbacks()).result(120)
    expected = sam2.segment_everything(image, **settings)
    assert len(answer) == len(expected) > 0
    np.testing.assert_array_equal(answer.boxes, expected.boxes)
    np.testing.assert_allclose(answer.scores, expected.scores, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(answer.masks), np.asarray(expected.masks))
    assert len(rec.partials) == 3  # 16 points in batches of 4: a preview after each but the last


def test_a_stopped_sweep_ends_between_parts_and_is_closed(runtime, models):
    runtime.load_model("everything").result(WAIT)
    everything = models["everything"]
    gate = everything.part_gates[1] = Gate()
    rec = Recorder()
    handle = runtime.run_job(segment_everything("m1", 0, provider(1)), callbacks=rec.callbacks())
    assert gate.entered.wait(WAIT)
    assert handle.cancel()
    gate.release()
    # The next job runs after the stopped one's current step: by then it is closed.
    runtime.run_job(lambda ctx: iter(())).result(WAIT)
    assert everything.sweep_log[-1] == "closed"
    assert not any(entry.startswith("part 2") for entry in everything.sweep_log)
    assert [len(p) for _, p in rec.partials] == [1] and not rec.reported(handle.request_id)


def test_segment_everything_needs_an_everything_model(runtime):
    runtime.load_model("concept").result(WAIT)
    with pytest.raises(ModelCapabilityError, match="cannot segment everything"):
        runtime.run_job(segment_everything("m1", 0, provider(1)))


def test_a_sweep_can_run_ahead_of_prefetches(runtime, models):
    runtime.load_model("everything").result(WAIT)
    everything = models["everything"]
    gate = everything.encode_gates["1"] = Gate()
    rec = Recorder()
    runtime.encode("m1", 0, provider(1), callbacks=rec.callbacks())
    assert gate.entered.wait(WAIT)
    runtime.encode("m2", 0, provider(2), prefetch=True, callbacks=rec.callbacks())
    sweep = runtime.run_job(segment_everything("m3", 0, provider(3), priority=Priority.CURRENT))
    gate.release()
    sweep.result(WAIT)
    assert everything.encode_log[:2] == [1, 3]


# --- long jobs release what they hold -----------------------------------------------------------


def _track(frames: int = 4):
    video = [np.zeros((4, 4, 3), np.uint8)] * frames
    return track_video(video, [TrackPrompt(1, 0, mask=np.ones((4, 4), bool))])


def test_tracking_closes_its_video_session_when_it_ends(runtime, models):
    runtime.load_model("video").result(WAIT)
    summary = runtime.run_job(_track()).result(WAIT)
    assert summary.frames == 4
    assert models["video"].sessions[0].closed.is_set()


def test_tracking_closes_its_video_session_when_it_fails(runtime, models):
    runtime.load_model("video").result(WAIT)
    session = models["video"].next_session = RecordingSession(4)
    session.fail_at = 2
    with pytest.raises(RuntimeError, match="frame 2 is broken"):
        runtime.run_job(_track()).result(WAIT)
    assert session.closed.is_set()


def test_tracking_closes_its_video_session_when_stopped(runtime, models):
    runtime.load_model("video").result(WAIT)
    session = models["video"].next_session = RecordingSession(4)
    gate = session.gates[2] = Gate()
    handle = runtime.run_job(_track())
    assert gate.entered.wait(WAIT)
    assert handle.cancel()
    gate.release()
    assert session.closed.wait(WAIT)


def test_a_job_still_running_when_the_runtime_closes_is_closed_after_its_step(models):
    runtime = Runtime(RuntimeConfig(disk_cache=False), loader=lambda source, device: models[source])
    runtime.load_model("click").result(WAIT)
    released = threading.Event()
    steps: list[int] = []
    generators = []  # held here, so only the runtime closing it runs its ``finally``

    def run(ctx):
        try:
            runtime.close(timeout=0)  # the runtime closes while this step runs
            steps.append(1)
            yield 1, 2
            steps.append(2)
        finally:
            released.set()

    def job(ctx):
        generators.append(run(ctx))
        return generators[-1]

    runtime.run_job(job)
    assert released.wait(WAIT)
    assert steps == [1]
    runtime.close()
