"""Where models run (issue 22): CUDA when present, then MPS, then the CPU, unless the user chose
(``--device``, the ``device`` setting); the runtime loads on the choice and never hands one
device's cached tensors to a model on another.

CPU only: CUDA and MPS availability are monkeypatched here, in the tests, never in product code."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from model_runtime.devices import best_device, parse_device_choice, resolve_device
from model_runtime.runtime import Runtime, RuntimeConfig
from samdesk.cli import parse_args
from tests.runtime_doubles import WAIT, DoubleModel, provider


def no_mps(monkeypatch) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_cuda_comes_first_then_mps_then_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert best_device() == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert best_device() == "mps"
    no_mps(monkeypatch)
    assert best_device() == "cpu"
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")


def test_auto_resolves_to_cuda_where_it_is_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(RuntimeError, match="2 CUDA device"):
        resolve_device("cuda:2")


def test_a_device_this_machine_lacks_is_refused_with_the_reason(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    no_mps(monkeypatch)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(RuntimeError, match="MPS is not available"):
        resolve_device("mps")


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, None), ("", None), ("auto", None), (" AUTO ", None), ("cpu", "cpu"), ("CUDA", "cuda"),
     ("cuda:3", "cuda:3"), ("mps", "mps")],
)
def test_device_names(text, expected):
    assert parse_device_choice(text) == expected


@pytest.mark.parametrize("text", ["gpu", "cuda:", "cuda:x", "tpu", "cpu:0"])
def test_an_unknown_device_name_says_what_is_accepted(text):
    with pytest.raises(ValueError, match="auto, cpu, cuda, cuda:N or mps"):
        parse_device_choice(text)


def test_the_gui_takes_a_device_on_its_command_line(capsys):
    assert parse_args(["--device", "cuda:1", "photo.jpg"]).device == "cuda:1"
    assert parse_args(["photo.jpg"]).device is None  # the setting decides
    with pytest.raises(SystemExit):
        parse_args(["--device", "gpu", "photo.jpg"])
    assert "auto, cpu, cuda, cuda:N or mps" in capsys.readouterr().err


@pytest.mark.parametrize("command", [
    ["precompute", "photos", "--model", "m.pt"],
    ["segment-boxes", "p.samdesk.json", "--model", "m.pt"],
])
def test_the_subcommands_take_the_same_device_option(command, capsys):
    assert parse_args([*command, "--device", "CUDA:1"]).device == "cuda:1"
    assert parse_args(command).device is None
    with pytest.raises(SystemExit):
        parse_args([*command, "--device", "gpu"])
    assert "auto, cpu, cuda, cuda:N or mps" in capsys.readouterr().err


def test_the_same_model_on_another_device_never_gets_the_first_devices_tensors():
    """The memory cache holds tensors on the model's device. Reloading the same weights on
    another device (same model id) used to find the first device's embeddings there."""
    models = {"gpu": DoubleModel("a", device="cuda"), "cpu": DoubleModel("a", device="cpu")}
    assert models["gpu"].info.model_id == models["cpu"].info.model_id
    with Runtime(RuntimeConfig(disk_cache=False), loader=lambda s, d: models[s]) as rt:
        rt.load_model("gpu").result(WAIT)
        assert rt.encode("m1", 0, provider(1)).result(WAIT).source == "computed"
        rt.load_model("cpu").result(WAIT)
        assert rt.encode("m1", 0, provider(1)).result(WAIT).source == "computed"
        rt.load_model("cpu").result(WAIT)  # the same device again: the cache is kept
        assert rt.encode("m1", 0, provider(1)).result(WAIT).source == "memory"


def test_the_runtime_loads_on_the_device_asked_for():
    seen: list[str | None] = []
    done = threading.Event()

    def loader(source, device):
        seen.append(device)
        done.set()
        return DoubleModel("a", device=device or "cpu")

    with Runtime(RuntimeConfig(disk_cache=False), loader=loader) as rt:
        assert rt.load_model("x", "cuda:1").result(WAIT).device == "cuda:1"
        rt.load_model("x").result(WAIT)
    assert seen == ["cuda:1", None]


@pytest.mark.gui
@pytest.mark.parametrize(("setting", "argument", "expected"), [
    ("auto", None, None), ("cpu", None, "cpu"), ("cpu", "cuda:1", "cuda:1"), ("cuda", "auto", None),
])
def test_the_window_loads_on_the_command_lines_device_else_the_settings(
    qtbot, tmp_path: Path, media_dir: Path, monkeypatch, setting, argument, expected
):
    from samdesk.runtime_bridge import RuntimeBridge
    from samdesk.ui import app as app_module
    from samdesk.ui.main_window import MainWindow
    from samdesk.ui.settings import Settings

    seen: list[str | None] = []

    def loader(source, device):
        seen.append(device)
        return DoubleModel("a")

    def window_with_recording_loader(settings, settings_path=None, runtime_config=None):
        return MainWindow(settings, settings_path=settings_path, bridge=RuntimeBridge(loader=loader))

    monkeypatch.setattr("samdesk.ui.main_window.MainWindow", window_with_recording_loader)
    settings_path = tmp_path / "settings.json"
    Settings(device=setting).save(settings_path)
    window = app_module.create_window(
        [str(media_dir / "truck.jpg")], "some-model.pt", settings_path=settings_path, device=argument
    )
    window.errors_as_status = True
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.bridge.runtime.model_info is not None, timeout=int(WAIT * 1000))
    assert seen == [expected]
    # The concept model (find all, a second runtime) is loaded on the same choice.
    assert window.instances.link.device == window.model_link.device == (argument or setting)
