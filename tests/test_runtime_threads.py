"""How the runtime's two threads use the CPU: the thread plan, each lane's intra-op threads,
nice and SCHED_IDLE for the background lane, and the background lane taking every core while no
click runs."""

from __future__ import annotations

import os
import threading

import pytest
import torch

from model_runtime.api import Prompts
from model_runtime.runtime import Runtime, RuntimeConfig, plan_threads
from tests.runtime_doubles import WAIT, DoubleModel, Gate, Recorder, provider
from tests.test_runtime import click, encode


@pytest.fixture
def models() -> dict[str, DoubleModel]:
    return {"a": DoubleModel("a")}


def test_thread_plan_leaves_a_core_for_the_gui_from_three_cores():
    assert plan_threads(1) == (plan := plan_threads(1)) and (plan.interactive, plan.background) == (1, 1)
    two = plan_threads(2)
    assert (two.interactive, two.background, two.gui_reserved) == (2, 1, 0)
    four = plan_threads(4)
    assert (four.interactive, four.background, four.gui_reserved) == (3, 2, 1)
    # While no click runs the background thread keeps its count unless configured otherwise
    # (bench/README.md, "Tracking in the GUI": 2 threads were slower on the loaded 2-core machine).
    assert (two.background_alone, four.background_alone) == (1, 2)


def test_runtime_threads_use_their_planned_thread_counts_and_priority(models, tmp_path):
    config = RuntimeConfig(disk_cache=False, interactive_threads=2, background_threads=1, background_nice=5)
    rt = Runtime(config, loader=lambda s, d: models[s])
    try:
        rt.load_model("a").result(WAIT)

        def job(ctx):
            yield 1, 1
            return torch.get_num_threads(), threading.get_native_id()

        threads, native_id = rt.run_job(job).result(WAIT)
        assert threads == 1
        if hasattr(os, "getpriority"):
            base = os.getpriority(os.PRIO_PROCESS, 0)
            assert os.getpriority(os.PRIO_PROCESS, native_id) == min(19, base + 5)
        if hasattr(os, "SCHED_IDLE"):
            assert os.sched_getscheduler(native_id) == os.SCHED_IDLE
        assert rt.thread_counts() == {"interactive": 2, "background": 1}
    finally:
        rt.close()


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux-only")
def test_the_background_thread_uses_every_core_while_no_click_runs(models):
    """Under SCHED_IDLE a long job's step uses ``background_threads_alone`` threads while the
    interactive lane is idle, and the planned share for a step that starts during a click."""
    config = RuntimeConfig(
        disk_cache=False, interactive_threads=1, background_threads=1, background_threads_alone=2
    )
    rt = Runtime(config, loader=lambda s, d: models[s])
    rec = Recorder()
    try:
        rt.load_model("a").result(WAIT)
        rec.wait(encode(rt, rec, 1).request_id)
        gate = models["a"].predict_gate = Gate()
        step_gate = Gate()
        seen = []

        def job(ctx):
            seen.append(torch.get_num_threads())
            yield 1, 3
            step_gate.pass_through()  # the click below starts while this step waits
            yield 2, 3
            seen.append(torch.get_num_threads())  # a step that starts during the click
            yield 3, 3
            return seen

        handle = rt.run_job(job, callbacks=rec.callbacks())
        assert step_gate.entered.wait(WAIT)
        running = click(rt, rec, "o", 1)
        assert gate.entered.wait(WAIT)
        step_gate.release()
        rec.wait_for(lambda: len(seen) == 2)
        gate.release()
        rec.wait(running.request_id)
        rec.wait(handle.request_id)
        assert rec.results[handle.request_id] == [2, 1]
        # After the click, the next job's first step has every core again.
        assert rt.run_job(lambda ctx: _threads_job()).result(WAIT) == 2
    finally:
        rt.close()


def _threads_job():
    yield 1, 1
    return torch.get_num_threads()


def _runtime_thread_policies() -> dict[str, int]:
    return {
        t.name: os.sched_getscheduler(t.native_id)
        for t in threading.enumerate()
        if t.name.startswith("samdesk-runtime-") and t.native_id is not None
    }


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux-only")
@pytest.mark.parametrize("idle", [True, False])
def test_only_the_background_thread_runs_under_sched_idle_and_only_if_asked(models, idle):
    rt = Runtime(RuntimeConfig(disk_cache=False, background_idle=idle), loader=lambda s, d: models[s])
    try:
        rt.load_model("a").result(WAIT)
        assert _runtime_thread_policies() == {
            "samdesk-runtime-interactive": os.SCHED_OTHER,
            "samdesk-runtime-background": os.SCHED_IDLE if idle else os.SCHED_OTHER,
        }
    finally:
        rt.close()


def test_interactive_thread_keeps_its_count_when_the_background_one_sets_its_own_later(models):
    # PyTorch fills a thread's count lazily at its first op from the last value set on any
    # thread: a background set_num_threads(1) after the interactive thread's set(2) used to win.
    config = RuntimeConfig(disk_cache=False, interactive_threads=2, background_threads=1)
    rt = Runtime(config, loader=lambda s, d: models[s])
    try:
        rt.load_model("a").result(WAIT)

        def late_background_configuration(ctx):
            torch.set_num_threads(1)
            yield 1, 1

        rt.run_job(late_background_configuration).result(WAIT)
        rt.encode("m", 0, provider(7)).result(WAIT)
        rt.predict("obj", "m", 0, Prompts(points=[(5, 5)], labels=[1])).result(WAIT)
        assert models["a"].predict_torch_threads == [2]
    finally:
        rt.close()
