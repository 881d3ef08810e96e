"""``--compile`` (issue 22): the models' image encoders (and SAM 2's memory attention) under
``torch.compile``, compiled and warmed up while the model loads, on the background thread, so
the user's first click never waits for a compilation.

The default tests use torch's "eager" backend (it traces, generates no kernels: fast on a CPU);
the slow one compiles a small SAM 2 with inductor and checks its embedding is unchanged."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

from model_runtime.api import Prompts
from model_runtime.models.common.compilation import CompileOptions, compile_model, is_compiled
from model_runtime.runtime import Runtime, RuntimeConfig
from samdesk.cli import parse_args
from tests.runtime_doubles import WAIT, DoubleModel, provider

BACKGROUND_THREAD = "samdesk-runtime-background"
COMPILE_WAIT = 300.0  # tracing takes seconds, more on a loaded machine; an upper bound, not a timing


class WithEncoder(DoubleModel):
    """A double whose encode runs a small module it offers for compilation; records the thread
    of each encode and click and whether the module was compiled by then."""

    def __init__(self) -> None:
        super().__init__("c")
        self.encoder = nn.Conv2d(3, 3, 1)
        self.calls: list[tuple[str, str, bool]] = []  # (what, thread, compiled at the time)

    def compilable_modules(self):
        return {"image_encoder": (self.encoder, False)}

    def encode_image(self, image):
        self.calls.append(("encode", threading.current_thread().name, is_compiled(self.encoder)))
        pixels = torch.from_numpy(image).permute(2, 0, 1)[None].float()
        self.encoder(pixels)
        return super().encode_image(image)

    def predict(self, embedding, *args, **kwargs):
        self.calls.append(("predict", threading.current_thread().name, is_compiled(self.encoder)))
        return super().predict(embedding, *args, **kwargs)


def test_with_compile_the_model_is_compiled_and_warmed_up_on_the_background_thread_before_it_is_current():
    model = WithEncoder()
    seen_at_load: list[list] = []

    def loader(source, device):
        return model

    config = RuntimeConfig(disk_cache=False, compile=True, compile_backend="eager")
    with Runtime(config, loader=loader) as rt:
        rt.load_model("x").result(COMPILE_WAIT)
        seen_at_load.append(list(model.calls))
        click = Prompts(points=[(5, 5)], labels=[1])
        rt.predict("o", "m1", 0, click, image_provider=provider(1)).result(COMPILE_WAIT)
    assert is_compiled(model.encoder)
    # The warm-up: one encode and one click, both compiled, on the background thread, all
    # before the load answered; the user's click then ran on the interactive thread.
    assert seen_at_load == [[("encode", BACKGROUND_THREAD, True), ("predict", BACKGROUND_THREAD, True)]]
    assert model.calls[-1][:2] == ("predict", "samdesk-runtime-interactive")


def test_without_compile_nothing_is_compiled_nor_run_at_load():
    model = WithEncoder()
    with Runtime(RuntimeConfig(disk_cache=False), loader=lambda s, d: model) as rt:
        rt.load_model("x").result(WAIT)
    assert not is_compiled(model.encoder) and model.calls == []


def test_a_model_that_offers_nothing_to_compile_loads_as_it_is():
    model = DoubleModel("plain")
    config = RuntimeConfig(disk_cache=False, compile=True, compile_backend="eager")
    with Runtime(config, loader=lambda s, d: model) as rt:
        assert rt.load_model("x").result(COMPILE_WAIT).model_id == model.info.model_id
    assert model.encode_log == []  # no warm-up: nothing was compiled


def test_the_gui_takes_compile_on_its_command_line():
    assert parse_args(["--compile", "photo.jpg"]).compile is True
    assert parse_args(["photo.jpg"]).compile is False


def test_our_models_offer_their_image_encoders():
    from tests.tiny_models import small_sam2_model

    model = small_sam2_model()
    names = compile_model(model, CompileOptions(backend="eager"))
    assert names == ["image_encoder", "memory_attention"]
    assert is_compiled(model.network.image_encoder) and is_compiled(model.network.memory_attention)
    assert model.info.model_id == small_sam2_model().info.model_id  # weights and names unchanged


@pytest.mark.slow
def test_inductor_compiled_sam2_encodes_as_the_uncompiled_one():
    from tests.tiny_models import small_sam2_model

    image = np.random.default_rng(0).integers(0, 256, size=(96, 128, 3), dtype=np.uint8)
    plain = small_sam2_model(seed=3)
    compiled = small_sam2_model(seed=3)
    compile_model(compiled)
    expected = plain.encode_image(image).features["image_embed"]
    got = compiled.encode_image(image).features["image_embed"]
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
