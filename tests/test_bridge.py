"""The Qt bridge: signals arrive on the GUI thread, stale and cancelled results never do."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QThread

from model_runtime.api import Prompts
from model_runtime.runtime import ModelNotLoadedError, RuntimeConfig
from samdesk.runtime_bridge import RuntimeBridge
from tests.runtime_doubles import WAIT, DoubleModel, Gate, provider

pytestmark = pytest.mark.gui
TIMEOUT_MS = int(WAIT * 1000)


@pytest.fixture
def model() -> DoubleModel:
    return DoubleModel("a")


@pytest.fixture
def bridge(qtbot, model, tmp_path):
    b = RuntimeBridge(config=RuntimeConfig(disk_cache=False), loader=lambda s, d: model)
    with qtbot.waitSignal(b.modelLoaded, timeout=TIMEOUT_MS):
        b.load_model("a")
    yield b
    b.shutdown()


def click(x: float, y: float) -> Prompts:
    return Prompts(points=[(x, y)], labels=[1])


def record(signal) -> list[tuple]:
    seen: list[tuple] = []
    signal.connect(lambda *args: seen.append((*args, QThread.currentThread())))
    return seen


def test_results_arrive_as_signals_on_the_gui_thread(qtbot, bridge):
    predicted = record(bridge.predicted)
    encoded = record(bridge.encoded)
    with qtbot.waitSignal(bridge.encoded, timeout=TIMEOUT_MS):
        e = bridge.encode("m1", 0, provider(1))
    with qtbot.waitSignal(bridge.predicted, timeout=TIMEOUT_MS):
        p = bridge.predict("obj", "m1", 0, click(5, 5))
    assert [r[0] for r in encoded] == [e] and [r[0] for r in predicted] == [p]
    assert predicted[0][1].object_key == "obj"
    gui_thread = bridge.thread()
    assert encoded[0][2] is gui_thread and predicted[0][2] is gui_thread
    assert bridge.pending() == []


def test_only_the_latest_predict_of_an_object_is_emitted(qtbot, bridge, model):
    with qtbot.waitSignal(bridge.encoded, timeout=TIMEOUT_MS):
        bridge.encode("m1", 0, provider(1))
    predicted = record(bridge.predicted)
    gate = model.predict_gate = Gate()
    first = bridge.predict("obj", "m1", 0, click(1, 1))
    assert gate.entered.wait(WAIT)  # the first is running: it cannot be superseded in the queue
    second = bridge.predict("obj", "m1", 0, click(2, 2))
    other = bridge.predict("other", "m1", 0, click(3, 3))
    gate.release()
    qtbot.waitUntil(lambda: {r[0] for r in predicted} == {second, other}, timeout=TIMEOUT_MS)
    # the runtime did answer the first; the bridge dropped it as stale
    assert (1.0, 1.0) in model.predict_log
    assert first not in {r[0] for r in predicted}


def test_cancelled_requests_emit_nothing_even_if_already_finished(qtbot, bridge):
    encoded = record(bridge.encoded)
    rid = bridge.encode("m2", 0, provider(2))
    # Wait until the runtime has finished it (its signal may already sit in the event queue).
    handle = bridge.handle(rid)
    assert handle.wait(WAIT)
    bridge.cancel(rid)
    with qtbot.waitSignal(bridge.encoded, timeout=TIMEOUT_MS):
        later = bridge.encode("m3", 0, provider(3))
    assert [r[0] for r in encoded] == [later]


def test_errors_and_progress_are_forwarded(qtbot, model):
    b = RuntimeBridge(config=RuntimeConfig(disk_cache=False), loader=lambda s, d: model)
    try:
        with qtbot.waitSignal(b.failed, timeout=TIMEOUT_MS) as blocker:
            rid = b.encode("m1", 0, provider(1))
        assert blocker.args[0] == rid and isinstance(blocker.args[1], ModelNotLoadedError)

        with qtbot.waitSignal(b.modelLoaded, timeout=TIMEOUT_MS):
            b.load_model("a")

        def job(ctx):
            for i in range(3):
                yield i + 1, 3
            return "done"

        progress = record(b.progressed)
        with qtbot.waitSignal(b.jobFinished, timeout=TIMEOUT_MS) as blocker:
            jid = b.run_job(job)
        assert blocker.args == [jid, "done"]
        assert [r[:3] for r in progress] == [(jid, 1, 3), (jid, 2, 3), (jid, 3, 3)]
    finally:
        b.shutdown()


def test_find_all_answers_arrive_as_found_newest_per_object(qtbot):
    from tests.runtime_doubles import ConceptDouble

    concept = ConceptDouble()
    b = RuntimeBridge(config=RuntimeConfig(disk_cache=False), loader=lambda s, d: concept)
    try:
        with qtbot.waitSignal(b.modelLoaded, timeout=TIMEOUT_MS) as loaded:
            b.load_model("concept")
        assert loaded.args[1].can("concept")
        with qtbot.waitSignal(b.encoded, timeout=TIMEOUT_MS):
            b.encode("m1", 0, provider(1))
        found = record(b.found)
        gate = concept.find_gate = Gate()
        first = b.find_all("query", "m1", 0, Prompts(text="cat"))
        assert gate.entered.wait(WAIT)
        concept.find_gate = None
        second = b.find_all("query", "m1", 0, Prompts(text="horse"), threshold=0.0)
        gate.release()
        qtbot.waitUntil(lambda: [r[0] for r in found] == [second], timeout=TIMEOUT_MS)
        assert len(found[0][1].instances) == 5 and first not in b.pending()
    finally:
        b.shutdown()
