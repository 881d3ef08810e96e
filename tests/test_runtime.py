"""The runtime service: priorities, parking, staleness, cancellation, swaps and faults.

Every test synchronises on gates and callbacks (tests/runtime_doubles.py), never on sleeps, and
asserts on order and outcome, never on durations."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from model_runtime.api import Capability, PromptError, Prompts
from model_runtime.runtime import (
    EmbeddingUnavailableError,
    Job,
    MediaReadError,
    ModelCapabilityError,
    ModelChangedError,
    ModelNotLoadedError,
    ModelOutOfMemoryError,
    Priority,
    RequestState,
    Runtime,
    RuntimeClosedError,
    RuntimeConfig,
    WorkerCrashedError,
    model_calls_running,
)
from tests.runtime_doubles import WAIT, DoubleModel, Gate, Recorder, provider

CLICK = Prompts(points=[(1, 1)], labels=[1])


class Boom(BaseException):
    """Escapes ``except Exception``: kills the runtime thread that runs it."""


@pytest.fixture
def models() -> dict[str, DoubleModel]:
    return {"a": DoubleModel("a"), "b": DoubleModel("b")}


@pytest.fixture
def runtime(models, tmp_path):
    config = RuntimeConfig(disk_cache_dir=tmp_path / "cache", interactive_threads=1, background_threads=1)
    rt = Runtime(config, loader=lambda source, device: models[source])
    rt.load_model("a").result(WAIT)
    yield rt
    rt.close()


def click(rt: Runtime, rec: Recorder, obj: object, marker: int, x: float = 10, y: float = 10, **kw):
    return rt.predict(
        obj,
        f"m{marker}",
        0,
        Prompts(points=[(x, y)], labels=[1]),
        image_provider=provider(marker),
        callbacks=rec.callbacks(),
        **kw,
    )


def encode(rt: Runtime, rec: Recorder, marker: int, **kw):
    return rt.encode(f"m{marker}", 0, provider(marker), callbacks=rec.callbacks(), **kw)


def test_predict_after_encode_runs_on_the_interactive_thread(runtime, models):
    rec = Recorder()
    e = encode(runtime, rec, 1)
    rec.wait(e.request_id)
    assert rec.results[e.request_id].source == "computed"
    p = click(runtime, rec, "obj", 1)
    rec.wait(p.request_id)
    result = rec.results[p.request_id]
    assert result.object_key == "obj" and result.key.media_key == "m1"
    assert result.prediction.masks.shape == (3, 48, 64)
    assert models["a"].predict_threads == {"samdesk-runtime-interactive"}
    assert models["a"].encode_threads == {"samdesk-runtime-background"}
    assert p.state is RequestState.DONE


def test_the_other_candidates_are_made_on_the_runtime_thread_after_the_answer(runtime, models):
    models["a"].lazy_masks = True
    rec = Recorder()
    rec.wait(encode(runtime, rec, 1).request_id)
    p = click(runtime, rec, "obj", 1)
    rec.wait(p.request_id)
    masks = rec.results[p.request_id].prediction.masks
    runtime.close()  # joins the interactive thread: whatever it does after answering is done
    # 0, the best, before answering; the others after it, all on the runtime's thread.
    assert models["a"].mask_log == [(i, "samdesk-runtime-interactive") for i in range(3)]
    assert all(masks.is_made(i) for i in range(3))


def test_a_waiting_click_comes_before_the_previous_answers_other_candidates(runtime, models):
    model = models["a"]
    model.lazy_masks = True
    rec = Recorder()
    rec.wait(encode(runtime, rec, 1).request_id)
    gate = model.mask_gate = Gate()
    first = click(runtime, rec, "obj", 1, x=1)
    rec.wait(first.request_id)
    assert gate.entered.wait(WAIT)  # the runtime is making candidate 1 of the first answer
    second = click(runtime, rec, "obj", 1, x=2)
    gate.release()
    rec.wait(second.request_id)
    masks = rec.results[first.request_id].prediction.masks
    assert masks.is_made(1) and not masks.is_made(2)
    assert masks[2].shape == (48, 64)  # made when read, by the reader
    assert (2, threading.current_thread().name) in model.mask_log


def test_click_is_answered_while_a_long_encode_runs(runtime, models):
    rec = Recorder()
    rec.wait(encode(runtime, rec, 1).request_id)
    gate = models["a"].encode_gates["2"] = Gate()
    slow = encode(runtime, rec, 2)
    assert gate.entered.wait(WAIT)
    p = click(runtime, rec, "obj", 1)
    rec.wait(p.request_id)  # answered although the encode of image 2 is still held
    assert not rec.reported(slow.request_id)
    gate.release()
    rec.wait(slow.request_id)


def test_encodes_of_the_current_image_go_before_prefetch_and_jobs(runtime, models):
    rec = Recorder()
    gate = models["a"].encode_gates["1"] = Gate()
    first = encode(runtime, rec, 1)
    assert gate.entered.wait(WAIT)
    steps: list[str] = []

    def job(ctx):
        steps.append("job")
        yield 1, 1
        return "ok"

    pre = encode(runtime, rec, 2, prefetch=True)
    j = runtime.run_job(job, callbacks=rec.callbacks())
    cur = encode(runtime, rec, 3)
    gate.release()
    for h in (first, pre, j, cur):
        rec.wait(h.request_id)
    assert models["a"].encode_log == [1, 3, 2]
    assert rec.order.index(cur.request_id) < rec.order.index(pre.request_id) < rec.order.index(j.request_id)


def test_a_job_the_user_waits_for_goes_before_prefetches(runtime, models):
    rec = Recorder()
    gate = models["a"].encode_gates["1"] = Gate()
    first = encode(runtime, rec, 1)
    assert gate.entered.wait(WAIT)
    order: list[str] = []

    def query(ctx):
        order.append("query")
        yield 1, 1

    pre = encode(runtime, rec, 2, prefetch=True)
    background = runtime.run_job(query, callbacks=rec.callbacks())
    waited_for = runtime.run_job(query, priority=Priority.CURRENT, callbacks=rec.callbacks())
    gate.release()
    for h in (first, pre, background, waited_for):
        rec.wait(h.request_id)
    assert rec.order.index(waited_for.request_id) < rec.order.index(pre.request_id)
    assert rec.order.index(pre.request_id) < rec.order.index(background.request_id)
    with pytest.raises(ValueError, match="model loads only"):
        runtime.run_job(query, priority=Priority.CONTROL)


def test_the_load_result_says_what_the_model_can_do(runtime, models):
    assert runtime.load_model("b").result(WAIT).capabilities == frozenset({Capability.CLICK})
    models["c"] = DoubleModel("c", capabilities=frozenset({Capability.CONCEPT}))
    loaded = runtime.load_model("c").result(WAIT)
    assert loaded.can(Capability.CONCEPT) and not loaded.can(Capability.CLICK)


def test_a_request_the_model_cannot_serve_is_refused_at_once(runtime, models):
    models["c"] = DoubleModel("c", capabilities=frozenset({Capability.CONCEPT}))
    runtime.load_model("c").result(WAIT)
    with pytest.raises(ModelCapabilityError, match="cannot answer a click"):
        runtime.predict("o", "m1", 0, CLICK, image_provider=provider(1))
    with pytest.raises(ModelCapabilityError, match="cannot track"):
        runtime.run_job(Job(lambda ctx: iter(()), requires=Capability.VIDEO, purpose="track"))
    assert models["c"].encode_log == [] and models["c"].predict_log == []


def test_parked_clicks_trigger_the_encode_and_are_answered_in_order(runtime, models):
    rec = Recorder()
    gate = models["a"].encode_gates["5"] = Gate()
    handles = [click(runtime, rec, f"o{i}", 5, x=i) for i in range(3)]
    assert gate.entered.wait(WAIT)
    assert not any(rec.reported(h.request_id) for h in handles)
    gate.release()
    for h in handles:
        rec.wait(h.request_id)
    assert rec.order == [h.request_id for h in handles]
    assert models["a"].encode_log == [5]  # one encode served all three


def test_prefetch_is_promoted_when_a_click_needs_it(runtime, models):
    rec = Recorder()
    gate = models["a"].encode_gates["1"] = Gate()
    encode(runtime, rec, 1)
    assert gate.entered.wait(WAIT)
    later = encode(runtime, rec, 2, prefetch=True)
    needed = encode(runtime, rec, 3, prefetch=True)
    p = runtime.predict("o", "m3", 0, CLICK, callbacks=rec.callbacks())
    gate.release()
    rec.wait(p.request_id)
    rec.wait(later.request_id)
    assert models["a"].encode_log == [1, 3, 2]
    assert rec.order.index(needed.request_id) < rec.order.index(later.request_id)


def test_only_the_newest_queued_predict_of_an_object_runs(runtime, models):
    rec = Recorder()
    rec.wait(encode(runtime, rec, 1).request_id)
    gate = models["a"].predict_gate = Gate()
    blocker = click(runtime, rec, "other", 1, x=1)
    assert gate.entered.wait(WAIT)
    old = [click(runtime, rec, "obj", 1, x=x) for x in (2, 3)]
    newest = click(runtime, rec, "obj", 1, x=4)
    assert [h.state for h in old] == [RequestState.SUPERSEDED] * 2
    gate.release()
    rec.wait(newest.request_id)
    rec.wait(blocker.request_id)
    assert models["a"].predict_log == [(1.0, 10.0), (4.0, 10.0)]
    assert not any(rec.reported(h.request_id) for h in old)


def test_cancelled_requests_never_call_back(runtime, models):
    rec = Recorder()
    rec.wait(encode(runtime, rec, 1).request_id)
    gate = models["a"].predict_gate = Gate()
    running = click(runtime, rec, "a", 1)
    assert gate.entered.wait(WAIT)
    queued = click(runtime, rec, "b", 1)
    assert running.cancel() and queued.cancel()
    assert running.state is RequestState.CANCELLED and queued.state is RequestState.CANCELLED
    gate.release()
    after = click(runtime, rec, "c", 1)
    rec.wait(after.request_id)
    assert not rec.reported(running.request_id) and not rec.reported(queued.request_id)
    assert not running.cancel()  # already terminal
    assert not after.cancel()  # finished: its callback was delivered


def test_a_cancelled_encode_still_serves_clicks_waiting_for_it(runtime, models):
    rec = Recorder()
    gate = models["a"].encode_gates["1"] = Gate()
    encode(runtime, rec, 1)
    assert gate.entered.wait(WAIT)
    wanted = rt_encode = encode(runtime, rec, 2)
    p = runtime.predict("o", "m2", 0, CLICK, callbacks=rec.callbacks())
    assert rt_encode.cancel()
    gate.release()
    rec.wait(p.request_id)
    assert p.request_id in rec.results
    assert not rec.reported(wanted.request_id)


def test_jobs_report_progress_and_stop_when_cancelled(runtime, models):
    rec = Recorder()
    closed = threading.Event()
    step_gate = Gate()

    def job(ctx):
        try:
            for i in range(100):
                if i == 2:
                    step_gate.pass_through()
                ctx.embedding(f"m{i}", 0, provider(i))
                yield i + 1, 100
        finally:
            closed.set()

    h = runtime.run_job(job, callbacks=rec.callbacks())
    assert step_gate.entered.wait(WAIT)
    assert h.cancel()
    step_gate.release()
    assert closed.wait(WAIT)
    assert [p[1] for p in rec.progress] == [1, 2]
    assert not rec.reported(h.request_id)
    assert models["a"].encode_log == [0, 1, 2]

    def short(ctx):
        yield 1, None
        return ctx.model_id

    s = runtime.run_job(short, callbacks=rec.callbacks())
    rec.wait(s.request_id)
    assert rec.results[s.request_id] == "double-a"
    assert (s.request_id, 1, None) in rec.progress


def test_model_exception_is_reported_and_the_runtime_keeps_working(runtime, models):
    rec = Recorder()
    rec.wait(encode(runtime, rec, 1).request_id)
    models["a"].predict_error = ValueError("bad weights")
    p = click(runtime, rec, "o", 1)
    rec.wait(p.request_id)
    assert isinstance(rec.errors[p.request_id], ValueError) and p.state is RequestState.FAILED
    models["a"].predict_error = None
    ok = click(runtime, rec, "o", 1)
    rec.wait(ok.request_id)
    assert ok.request_id in rec.results


def test_out_of_memory_becomes_a_clear_error(runtime, models):
    rec = Recorder()
    models["a"].encode_error = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
    e = encode(runtime, rec, 1)
    rec.wait(e.request_id)
    err = rec.errors[e.request_id]
    assert isinstance(err, ModelOutOfMemoryError) and "out of memory" in str(err)
    models["a"].encode_error = None
    rec.wait((again := encode(runtime, rec, 1)).request_id)
    assert again.request_id in rec.results


def test_close_says_whether_a_running_model_call_outlived_it(runtime, models):
    rec = Recorder()
    gate = models["a"].encode_gates["1"] = Gate()
    encode(runtime, rec, 1)
    assert gate.entered.wait(WAIT)
    assert runtime.close(timeout=0.05) is False  # the encode cannot be interrupted
    assert model_calls_running()
    gate.release()
    assert runtime.close(timeout=WAIT) is True  # a second close waits for it again


@pytest.mark.parametrize("lane", ["background", "interactive"])
def test_a_dead_runtime_thread_is_restarted(runtime, models, lane):
    rec = Recorder()
    if lane == "background":
        models["a"].encode_error = Boom()
        bad = encode(runtime, rec, 1)
        parked = click(runtime, rec, "o", 1)
    else:
        rec.wait(encode(runtime, rec, 1).request_id)
        models["a"].predict_error = Boom()
        bad = parked = click(runtime, rec, "o", 1)
    rec.wait(bad.request_id)
    rec.wait(parked.request_id)
    assert isinstance(rec.errors[bad.request_id], WorkerCrashedError)
    assert isinstance(rec.errors[parked.request_id], WorkerCrashedError)
    models["a"].encode_error = models["a"].predict_error = None
    rec.wait((e := encode(runtime, rec, 2)).request_id)
    rec.wait((p := click(runtime, rec, "o", 2)).request_id)
    assert e.request_id in rec.results and p.request_id in rec.results


def test_queued_work_survives_a_thread_crash(runtime, models):
    rec = Recorder()
    gate = models["a"].encode_gates["1"] = Gate()
    crashing = encode(runtime, rec, 1)
    assert gate.entered.wait(WAIT)
    # The restarted thread may take the queued encode before the test clears the error: hold it.
    queued_gate = models["a"].encode_gates["2"] = Gate()
    queued = encode(runtime, rec, 2)
    models["a"].encode_error = Boom()
    gate.release()
    rec.wait(crashing.request_id)
    models["a"].encode_error = None
    queued_gate.release()
    rec.wait(queued.request_id)
    assert isinstance(rec.errors[crashing.request_id], WorkerCrashedError)
    assert queued.request_id in rec.results


def test_model_swap_fails_stale_work_and_serves_new_requests_with_the_new_model(runtime, models):
    rec = Recorder()
    rec.wait(encode(runtime, rec, 1).request_id)
    gate = models["a"].encode_gates["2"] = Gate()
    encode(runtime, rec, 2)
    assert gate.entered.wait(WAIT)
    stale_encode = encode(runtime, rec, 3)
    stale_click = click(runtime, rec, "o", 4)  # parks: image 4 is not encoded
    load = runtime.load_model("b", callbacks=rec.callbacks())
    fresh = click(runtime, rec, "o2", 1)
    gate.release()
    for h in (stale_encode, stale_click, load, fresh):
        rec.wait(h.request_id)
    assert isinstance(rec.errors[stale_encode.request_id], ModelChangedError)
    assert isinstance(rec.errors[stale_click.request_id], ModelChangedError)
    assert rec.results[load.request_id].model_id == "double-b"
    assert rec.results[fresh.request_id].key.model_id == "double-b"
    assert models["b"].encode_log == [1]
    assert all(k.model_id == "double-b" for k in runtime.memory_cache.lru_order())


def test_a_failed_load_keeps_the_old_model(runtime, models):
    rec = Recorder()
    load = runtime.load_model("missing", callbacks=rec.callbacks())
    rec.wait(load.request_id)
    assert isinstance(rec.errors[load.request_id], KeyError)
    assert runtime.model_info.model_id == "double-a"
    rec.wait((p := click(runtime, rec, "o", 1)).request_id)
    assert p.request_id in rec.results


def test_requests_without_a_model_fail_clearly(tmp_path):
    rt = Runtime(RuntimeConfig(disk_cache=False))
    try:
        rec = Recorder()
        e = encode(rt, rec, 1)
        rec.wait(e.request_id)
        assert isinstance(rec.errors[e.request_id], ModelNotLoadedError)
        loaded = rt.load_model(DoubleModel("x"))  # an already built model is adopted as is
        assert loaded.result(WAIT).model_id == "double-x"
    finally:
        rt.close()
    with pytest.raises(RuntimeClosedError):
        encode(rt, Recorder(), 1)


def test_missing_embedding_without_an_image_is_a_clear_error(runtime):
    rec = Recorder()
    p = runtime.predict("o", "unknown", 0, CLICK, callbacks=rec.callbacks())
    rec.wait(p.request_id)
    assert isinstance(rec.errors[p.request_id], EmbeddingUnavailableError)
    assert "unknown" in str(rec.errors[p.request_id])


def test_a_failing_image_provider_is_reported_with_the_media(runtime):
    rec = Recorder()
    e = runtime.encode("broken", 0, lambda: np.zeros((4, 4), np.uint8), callbacks=rec.callbacks())
    rec.wait(e.request_id)
    err = rec.errors[e.request_id]
    assert isinstance(err, MediaReadError) and "broken" in str(err)


def test_malformed_prompts_are_rejected_at_once(runtime):
    with pytest.raises(PromptError, match="1 points but 2 labels"):
        runtime.predict("o", "m1", 0, Prompts(points=[(1, 2)], labels=[1, 0]))
    with pytest.raises(PromptError, match="no prompt"):
        runtime.predict("o", "m1", 0, Prompts(text="dog"))


def test_embeddings_restored_from_disk_give_identical_predictions(models, tmp_path):
    config = RuntimeConfig(disk_cache_dir=tmp_path / "c")
    rec = Recorder()
    outputs = []
    for expected_source in ("computed", "disk"):
        rt = Runtime(config, loader=lambda s, d: DoubleModel("a"))
        try:
            rt.load_model("a").result(WAIT)
            assert encode(rt, rec, 7).result(WAIT).source == expected_source
            outputs.append(click(rt, rec, "o", 7, x=30, y=20).result(WAIT).prediction)
        finally:
            rt.close()
    fresh, restored = outputs
    assert np.array_equal(fresh.masks, restored.masks)
    assert np.array_equal(fresh.scores, restored.scores)
    assert np.array_equal(fresh.low_res_logits, restored.low_res_logits)


def test_importing_the_runtime_and_bridge_does_not_import_torch():
    # torch takes seconds to import; the GUI imports these at start, the runtime threads import
    # torch later, off the GUI thread.
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys; import model_runtime.runtime, samdesk.runtime_bridge, samdesk.subcommands.precompute; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_clicks_made_while_a_model_loads_wait_for_the_new_model(models, tmp_path):
    loading = Gate()

    def loader(source, device):
        if source == "b":
            loading.pass_through()
        return models[source]

    rt = Runtime(RuntimeConfig(disk_cache=False), loader=loader)
    try:
        rt.load_model("a").result(WAIT)
        rec = Recorder()
        rec.wait(encode(rt, rec, 1).request_id)
        load = rt.load_model("b")
        assert loading.entered.wait(WAIT)  # the load is running now, no longer queued
        models["a"].predict_error = AssertionError("a click made after load_model ran on the old model")
        after = click(rt, rec, "o", 1)
        loading.release()
        assert load.result(WAIT).model_id == "double-b"
        rec.wait(after.request_id)
        assert after.request_id not in rec.errors, rec.errors.get(after.request_id)
        assert rec.results[after.request_id].key.model_id == "double-b"
    finally:
        rt.close()


def test_a_job_that_needs_no_model_runs_without_one_and_survives_a_swap(models, tmp_path):
    """Opening files, importing and exporting run as jobs on the background thread: they must
    run before any model is loaded and must not fail because the user switched models."""
    config = RuntimeConfig(disk_cache_dir=tmp_path / "cache", interactive_threads=1, background_threads=1)
    rt = Runtime(config, loader=lambda source, device: models[source])
    rec = Recorder()
    gate = Gate()

    def read_files(ctx):
        for i in range(3):
            if i == 1:
                gate.pass_through()
            yield i + 1, 3
        return ctx.cancelled

    try:
        first = rt.run_job(Job(read_files, name="open", needs_model=False), callbacks=rec.callbacks())
        assert gate.entered.wait(WAIT)
        load = rt.load_model("a", callbacks=rec.callbacks())
        gate.release()
        rec.wait(first.request_id)
        rec.wait(load.request_id)
        assert rec.results[first.request_id] is False and first.request_id not in rec.errors
        assert [p[1:] for p in rec.progress if p[0] == first.request_id] == [(1, 3), (2, 3), (3, 3)]

        def asks_the_model(ctx):
            yield 1, 1
            return ctx.model_id

        refused = rt.run_job(Job(asks_the_model, needs_model=False), callbacks=rec.callbacks())
        rec.wait(refused.request_id)
        assert isinstance(rec.errors[refused.request_id], ModelNotLoadedError)
    finally:
        rt.close()
