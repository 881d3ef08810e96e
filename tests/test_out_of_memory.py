"""Out of device memory (issue 22): the runtime frees its caches and tries once more; out of
memory again, the same checkpoint is loaded on the CPU and the user is told. Never a crash.

The model is a test double whose calls raise ``torch.OutOfMemoryError`` (what CUDA raises) a
given number of times; its ``info.device`` says "cuda" but it computes on the CPU."""

from __future__ import annotations

import threading

import pytest
import torch

from model_runtime.api import Prompts
from model_runtime.runtime import (
    EmbeddingKey,
    ModelChangedError,
    ModelLoaded,
    ModelOutOfMemoryError,
    Runtime,
    RuntimeConfig,
)
from tests.runtime_doubles import WAIT, DoubleModel, provider

CLICK = Prompts(points=[(5, 5)], labels=[1])


class RunsOutOfMemory(DoubleModel):
    """Its next ``encode_failures`` encodes and ``predict_failures`` predicts raise CUDA's
    out-of-memory error; then it works."""

    def __init__(self, device: str = "cuda", source: str = "/models/sam.pt") -> None:
        super().__init__("a", device=device)
        self.info = type(self.info)(**{**self.info.__dict__, "source": source})
        self.encode_failures = 0
        self.predict_failures = 0
        self.encode_calls = 0
        self.predict_calls = 0

    def encode_image(self, image):
        self.encode_calls += 1
        if self.encode_failures:
            self.encode_failures -= 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().encode_image(image)

    def predict(self, embedding, *args, **kwargs):
        self.predict_calls += 1
        if self.predict_gate is not None:
            self.predict_gate.pass_through()
        if self.predict_failures:
            self.predict_failures -= 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 512.00 MiB")
        return super().predict(embedding, *args, **kwargs)


class Loader:
    """Builds the double on the device asked for and records each (source, device)."""

    def __init__(self, gpu: RunsOutOfMemory) -> None:
        self.gpu = gpu
        self.calls: list[tuple[str, str | None]] = []

    def __call__(self, source, device):
        self.calls.append((str(source), device))
        return self.gpu if device != "cpu" else RunsOutOfMemory(device="cpu", source=str(source))


@pytest.fixture
def empty_cuda_cache(monkeypatch) -> list[int]:
    """Counts ``torch.cuda.empty_cache`` calls (no CUDA here: the call is recorded, not made)."""
    calls: list[int] = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append(1))
    return calls


def test_out_of_memory_once_frees_the_cache_and_the_retry_answers(empty_cuda_cache):
    gpu = RunsOutOfMemory()
    loader = Loader(gpu)
    with Runtime(RuntimeConfig(disk_cache=False), loader=loader) as rt:
        rt.load_model("/models/sam.pt", "cuda").result(WAIT)
        rt.encode("other", 0, provider(2)).result(WAIT)
        assert len(rt.memory_cache) == 1
        gpu.encode_failures = 1
        assert rt.encode("m1", 0, provider(1)).result(WAIT).source == "computed"
        # The cache was emptied before the retry; only the retry's embedding is in it now.
        assert rt.memory_cache.lru_order() == [EmbeddingKey("m1", 0, gpu.info.model_id)]
        gpu.predict_failures = 1
        assert rt.predict("o", "m1", 0, CLICK).result(WAIT).prediction.masks.shape[0] == 3
        assert rt.model_info.device == "cuda"
    assert (gpu.encode_calls, gpu.predict_calls) == (3, 2)
    assert len(empty_cuda_cache) == 2
    assert loader.calls == [("/models/sam.pt", "cuda")]  # no fall-back was needed


def test_out_of_memory_twice_loads_the_model_on_the_cpu_and_says_so(empty_cuda_cache):
    gpu = RunsOutOfMemory()
    loader = Loader(gpu)
    announced: list[ModelLoaded] = []
    seen = threading.Event()
    with Runtime(RuntimeConfig(disk_cache=False), loader=loader) as rt:
        rt.watch_models(lambda loaded: (announced.append(loaded), seen.set()))
        rt.load_model("/models/sam.pt", "cuda").result(WAIT)
        gpu.encode_failures = 2
        with pytest.raises(ModelOutOfMemoryError) as failed:
            rt.encode("m1", 0, provider(1)).result(WAIT)
        message = str(failed.value)
        assert "out of memory on cuda" in message and "also after freeing cached embeddings" in message
        assert "being loaded on the CPU" in message and "try again" in message
        assert seen.wait(WAIT)
        # The same request again is answered, by the same checkpoint on the CPU.
        assert rt.encode("m1", 0, provider(1)).result(WAIT).source == "computed"
        assert rt.model_info.device == "cpu"
    assert loader.calls == [("/models/sam.pt", "cuda"), ("/models/sam.pt", "cpu")]
    assert gpu.encode_calls == 2  # tried once more, not again
    [loaded] = announced
    assert loaded.device == "cpu" and "now runs on the CPU" in loaded.note
    assert "out of memory on cuda" in loaded.note


def test_on_the_cpu_there_is_nowhere_to_fall_back_to(empty_cuda_cache):
    cpu = RunsOutOfMemory(device="cpu")
    cpu.encode_failures = 2
    loads: list[str | None] = []
    with Runtime(RuntimeConfig(disk_cache=False), loader=lambda s, d: loads.append(d) or cpu) as rt:
        rt.load_model("x", "cpu").result(WAIT)
        with pytest.raises(ModelOutOfMemoryError, match="use a smaller model or another device"):
            rt.encode("m1", 0, provider(1)).result(WAIT)
        assert rt.encode("m1", 0, provider(1)).result(WAIT).source == "computed"
    assert loads == ["cpu"]  # no second load
    assert cpu.encode_calls == 3  # tried once more, then the next request


def test_a_model_without_a_checkpoint_file_cannot_be_reloaded_and_says_what_to_do(empty_cuda_cache):
    gpu = RunsOutOfMemory(source="")
    gpu.encode_failures = 2
    with Runtime(RuntimeConfig(disk_cache=False), loader=lambda s, d: gpu) as rt:
        rt.load_model(gpu).result(WAIT)  # a built model: nothing to load again
        with pytest.raises(ModelOutOfMemoryError, match="use a smaller model or another device"):
            rt.encode("m1", 0, provider(1)).result(WAIT)
        assert rt.model_info.device == "cuda"


def test_a_long_jobs_step_is_not_run_twice_but_the_model_still_falls_back(empty_cuda_cache):
    """A job's step may have advanced its state (a video session's generator): it is never
    retried; the job fails with the reason and the model moves to the CPU."""
    gpu = RunsOutOfMemory()
    loader = Loader(gpu)
    steps: list[int] = []

    def job(ctx):
        def step():
            steps.append(1)
            raise torch.OutOfMemoryError("CUDA out of memory")

        yield ctx.call(step)

    with Runtime(RuntimeConfig(disk_cache=False), loader=loader) as rt:
        rt.load_model("/models/sam.pt", "cuda").result(WAIT)
        with pytest.raises(ModelOutOfMemoryError, match="being loaded on the CPU"):
            rt.run_job(job).result(WAIT)
        rt.encode("m1", 0, provider(1)).result(WAIT)
        assert rt.model_info.device == "cpu"
    assert steps == [1]


def test_work_queued_for_the_model_that_ran_out_is_told_the_model_changed(empty_cuda_cache):
    from tests.runtime_doubles import Gate

    gpu = RunsOutOfMemory()
    with Runtime(RuntimeConfig(disk_cache=False), loader=Loader(gpu)) as rt:
        rt.load_model("/models/sam.pt", "cuda").result(WAIT)
        rt.encode("m1", 0, provider(1)).result(WAIT)
        predict_gate = gpu.predict_gate = Gate()
        encode_gate = gpu.encode_gates["2"] = Gate()
        gpu.predict_failures = 2
        failing = rt.predict("o", "m1", 0, CLICK)
        running = rt.encode("m2", 0, provider(2), prefetch=True)  # keeps the background thread busy
        assert predict_gate.entered.wait(WAIT) and encode_gate.entered.wait(WAIT)
        queued = rt.encode("m3", 0, provider(3), prefetch=True)
        predict_gate.release()
        with pytest.raises(ModelOutOfMemoryError, match="being loaded on the CPU"):
            failing.result(WAIT)
        encode_gate.release()
        assert running.result(WAIT).source == "computed"  # it was running: it ends on its model
        with pytest.raises(ModelChangedError):
            queued.result(WAIT)
        assert rt.model_info.device == "cpu"


@pytest.mark.gui
def test_the_window_shows_the_cpu_model_and_why(qtbot, empty_cuda_cache):
    from samdesk.runtime_bridge import RuntimeBridge

    gpu = RunsOutOfMemory()
    gpu.encode_failures = 2
    bridge = RuntimeBridge(config=RuntimeConfig(disk_cache=False), loader=Loader(gpu))
    try:
        with qtbot.waitSignal(bridge.modelLoaded, timeout=int(WAIT * 1000)):
            bridge.load_model("/models/sam.pt", "cuda")
        with qtbot.waitSignal(bridge.modelChanged, timeout=int(WAIT * 1000)) as changed:
            bridge.encode("m1", 0, provider(1))
        [loaded] = changed.args
        assert loaded.device == "cpu" and "now runs on the CPU" in loaded.note
    finally:
        bridge.shutdown()
