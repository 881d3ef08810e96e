"""The first click after switching images costs what the later ones do (issue 18, defect 10).

SAM 1's clicks on one image share the mask decoder's image-side projections, which the
embedding does not hold; before, the first click on each image computed them. Now showing an
image (``Runtime.encode`` without ``prefetch``) has the runtime prepare them on its interactive
thread. Tests synchronise on events and callbacks, never on sleeps or durations.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from model_runtime.api import ClickPreparer, ImageEmbedding, Prompts
from model_runtime.runtime import Runtime, RuntimeConfig
from tests.runtime_doubles import WAIT, DoubleModel, Gate, Recorder, image_with_marker, provider

CLICK = Prompts(points=[(20, 12)], labels=[1])


# --- a real SAM 1 (MobileSAM, random weights) ------------------------------------------------------


@pytest.fixture(scope="module")
def mobilesam(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from model_runtime import load_model
    from tests.tiny_models import save_mobile_sam_checkpoint

    return load_model(save_mobile_sam_checkpoint(tmp_path_factory.mktemp("prepare") / "mobile_sam.pt"))


class CountingDecoder:
    """Counts the decoder's image-side computations (``mask_decoder.precompute``) by thread."""

    def __init__(self, model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.threads: list[str] = []
        self.done = threading.Event()
        decoder = model.sam.mask_decoder
        real = decoder.precompute

        def counted(*args: Any, **kwargs: Any) -> Any:
            side = real(*args, **kwargs)
            self.threads.append(threading.current_thread().name)
            self.done.set()
            return side

        monkeypatch.setattr(decoder, "precompute", counted)


def sam_runtime(model: Any, tmp_path, **config: Any) -> Runtime:
    rt = Runtime(RuntimeConfig(disk_cache_dir=tmp_path / "cache", interactive_threads=1,
                               background_threads=1, **config), loader=lambda source, device: model)
    rt.load_model("mobilesam").result(WAIT)
    return rt


def test_showing_an_image_prepares_its_first_click(mobilesam, monkeypatch, tmp_path) -> None:
    assert isinstance(mobilesam, ClickPreparer)
    rt = sam_runtime(mobilesam, tmp_path)
    try:
        for marker in (1, 2):  # both encoded ahead, as a folder's images are
            rt.encode(f"m{marker}", 0, provider(marker), prefetch=True).result(WAIT)
        decoder = CountingDecoder(mobilesam, monkeypatch)
        rt.encode("m1", 0, None).result(WAIT)  # image 1 is shown: answered from the cache
        assert decoder.done.wait(WAIT), "showing the image did not prepare its clicks"
        assert decoder.threads == ["samdesk-runtime-interactive"]
        rt.predict("obj", "m1", 0, CLICK).result(WAIT)
        rt.predict("obj", "m1", 0, Prompts(points=[(20, 12), (30, 20)], labels=[1, 0])).result(WAIT)
        assert len(decoder.threads) == 1, "the first click computed the image side again"
        # A prefetch is not shown: image 2 is prepared by its first click (as before).
        rt.encode("m2", 0, None, prefetch=True).result(WAIT)
        rt.predict("obj", "m2", 0, CLICK).result(WAIT)
        assert len(decoder.threads) == 2
    finally:
        rt.close()


def test_a_prepared_click_answers_as_an_unprepared_one(mobilesam) -> None:
    import dataclasses

    import numpy as np

    embedding = mobilesam.encode_image(image_with_marker(3))
    # The same features under another identity: the model's prepared image side is not for it.
    copy = dataclasses.replace(embedding, features={k: v.clone() for k, v in embedding.features.items()})
    mobilesam.prepare_clicks(embedding)
    prepared = mobilesam.predict(embedding, points=np.array([[20.0, 12.0]]), labels=np.array([1]))
    plain = mobilesam.predict(copy, points=np.array([[20.0, 12.0]]), labels=np.array([1]))
    np.testing.assert_array_equal(prepared.low_res_logits, plain.low_res_logits)
    np.testing.assert_array_equal(np.asarray(prepared.masks), np.asarray(plain.masks))


# --- the runtime's side, with a double ---------------------------------------------------------------


class PreparingDouble(DoubleModel):
    """A click model that prepares: logs (image marker, thread), optionally held at a gate."""

    def __init__(self, variant: str = "p") -> None:
        super().__init__(variant)
        self.prepare_log: list[tuple[int, str]] = []
        self.clicks_before: list[int] = []  # clicks answered before each preparation
        self.prepare_gate: Gate | None = None

    def prepare_clicks(self, embedding: ImageEmbedding) -> None:
        if self.prepare_gate is not None:
            self.prepare_gate.pass_through()
        marker = int(embedding.features["stats"][0])  # the image height: see marked() below
        self.prepare_log.append((marker, threading.current_thread().name))
        self.clicks_before.append(len(self.predict_log))


def marked(marker: int):
    """An image whose height names it (the double's embedding keeps the size)."""
    return lambda: image_with_marker(marker, size=(16 + 8 * marker, 64))


def size_marker(height: int) -> int:
    return (height - 16) // 8


@pytest.fixture
def doubles() -> dict[str, DoubleModel]:
    return {"preparer": PreparingDouble(), "plain": DoubleModel("plain")}


@pytest.fixture
def runtime(doubles, tmp_path):
    config = RuntimeConfig(disk_cache_dir=tmp_path / "cache", interactive_threads=1, background_threads=1)
    rt = Runtime(config, loader=lambda source, device: doubles[source])
    rt.load_model("preparer").result(WAIT)
    yield rt
    rt.close()


def wait_until(condition) -> None:
    done = threading.Event()
    deadline = threading.Timer(WAIT, done.set)
    deadline.start()
    try:
        while not condition() and not done.is_set():
            done.wait(0.01)
    finally:
        deadline.cancel()
    assert condition()


def test_a_shown_image_is_prepared_once_encoded_even_when_computed(runtime, doubles) -> None:
    model = doubles["preparer"]
    rt_handle = runtime.encode("m1", 0, marked(1))  # not cached: computed, then prepared
    rt_handle.result(WAIT)
    wait_until(lambda: len(model.prepare_log) == 1)
    assert [(size_marker(h), t) for h, t in model.prepare_log] == [(1, "samdesk-runtime-interactive")]
    runtime.encode("m2", 0, marked(2), prefetch=True).result(WAIT)
    runtime.encode("m1", 0, None).result(WAIT)  # shown again: prepared again (the model keeps one)
    wait_until(lambda: len(model.prepare_log) == 2)
    assert [size_marker(h) for h, _ in model.prepare_log] == [1, 1]


def test_the_newest_shown_image_supersedes_a_queued_preparation(runtime, doubles) -> None:
    model = doubles["preparer"]
    for marker in (1, 2, 3):
        runtime.encode(f"m{marker}", 0, marked(marker), prefetch=True).result(WAIT)
    model.prepare_gate = Gate()
    runtime.encode("m1", 0, None).result(WAIT)
    assert model.prepare_gate.entered.wait(WAIT)  # image 1's preparation is running, held
    runtime.encode("m2", 0, None).result(WAIT)  # queued behind it ...
    runtime.encode("m3", 0, None).result(WAIT)  # ... and superseded by this one
    model.prepare_gate.release()
    wait_until(lambda: len(model.prepare_log) == 2)
    rec = Recorder()
    runtime.predict("obj", "m3", 0, CLICK, callbacks=rec.callbacks())  # the lane has drained
    rec.wait_for(lambda: len(rec.order) == 1)
    assert [size_marker(h) for h, _ in model.prepare_log] == [1, 3]


def test_clicks_go_before_a_queued_preparation(runtime, doubles) -> None:
    model = doubles["preparer"]
    runtime.encode("m1", 0, marked(1), prefetch=True).result(WAIT)
    runtime.encode("m2", 0, marked(2), prefetch=True).result(WAIT)
    model.predict_gate = Gate()
    rec = Recorder()
    runtime.predict("a", "m1", 0, CLICK, callbacks=rec.callbacks())
    assert model.predict_gate.entered.wait(WAIT)  # the interactive lane is busy with a click
    runtime.encode("m2", 0, None).result(WAIT)  # image 2 shown: its preparation queues
    runtime.predict("b", "m1", 0, CLICK, callbacks=rec.callbacks())  # a click made after it
    model.predict_gate.release()
    rec.wait_for(lambda: len(rec.order) == 2)
    wait_until(lambda: len(model.prepare_log) == 1)
    assert model.clicks_before == [2]  # the click made after it ran before it


def test_no_preparation_for_prefetches_plain_models_or_when_turned_off(doubles, tmp_path) -> None:
    model = doubles["preparer"]
    rt = Runtime(RuntimeConfig(disk_cache_dir=tmp_path / "off", prepare_clicks=False),
                 loader=lambda source, device: doubles[source])
    try:
        rt.load_model("preparer").result(WAIT)
        rt.encode("m1", 0, marked(1)).result(WAIT)
        rt.predict("obj", "m1", 0, CLICK).result(WAIT)  # the interactive lane has drained
    finally:
        rt.close()
    rt = Runtime(RuntimeConfig(disk_cache_dir=tmp_path / "on"), loader=lambda source, device: doubles[source])
    try:
        rt.load_model("preparer").result(WAIT)
        rt.encode("m1", 0, marked(1), prefetch=True).result(WAIT)
        rt.predict("obj", "m1", 0, CLICK).result(WAIT)
        rt.load_model("plain").result(WAIT)
        rt.encode("m1", 0, marked(1)).result(WAIT)
        rt.predict("obj", "m1", 0, CLICK).result(WAIT)
    finally:
        rt.close()
    assert model.prepare_log == []


def test_a_preparation_asked_while_a_load_waits_is_served_by_the_new_model(runtime, doubles) -> None:
    """Like a click made then: it waits for the new model, which here needs no preparation."""
    model = doubles["preparer"]
    runtime.encode("m1", 0, marked(1), prefetch=True).result(WAIT)
    model.predict_gate = Gate()
    runtime.predict("a", "m1", 0, CLICK)
    assert model.predict_gate.entered.wait(WAIT)  # the load waits for the interactive lane
    load = runtime.load_model("plain")
    shown = runtime.encode("m1", 0, marked(1))  # made after the load: waits for it, as does its preparation
    model.predict_gate.release()
    load.result(WAIT)
    shown.result(WAIT)
    runtime.predict("b", "m1", 0, CLICK).result(WAIT)  # the interactive lane has drained
    assert model.prepare_log == []
