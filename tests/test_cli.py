"""The console entry point: version, help, and routing of paths vs subcommands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import samdesk
from samdesk import cli


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"samdesk {samdesk.__version__}"


def test_help_lists_gui_and_discovered_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "gui" in out
    _, names = cli.build_parser()
    for name in names:
        assert name in out


def test_paths_route_to_gui() -> None:
    args = cli.parse_args(["photo.jpg", "clip.mp4"])
    assert (args.command, args.paths) == ("gui", ["photo.jpg", "clip.mp4"])
    args = cli.parse_args([])
    assert (args.command, args.paths, args.model) == ("gui", [], None)
    # After `--` a file named like a subcommand is a path for the GUI.
    assert cli.parse_args(["--", "export"]).command == "gui"


def test_gui_options_before_paths_route_to_gui() -> None:
    """Issue 18, defect 1: ``samdesk --model FILE photo.jpg`` (the README's form) was refused
    as "invalid choice" because an option came first."""
    for argv in (["--model", "m.pt", "photo.jpg"], ["photo.jpg", "--model", "m.pt"]):
        args = cli.parse_args(argv)
        assert (args.command, args.paths, args.model) == ("gui", ["photo.jpg"], "m.pt")


def test_unknown_option_is_an_error() -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--no-such-option"])
    assert exc.value.code == 2


def test_module_entry_point_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "samdesk", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert samdesk.__version__ in result.stdout


# A command whose model call outlives the runtime's close (Ctrl+C during a long encode, quitting
# the GUI mid-encode): ``run`` must leave with the command's status, not abort under the call.
_OUTLIVING_CALL = """
import sys, threading
sys.path.insert(0, sys.argv[1])
import torch
from model_runtime.runtime import Runtime, RuntimeConfig
from samdesk import cli
from tests.runtime_doubles import DoubleModel, image_with_marker

started = threading.Event()

class SlowEncoder(DoubleModel):
    def encode_image(self, image):
        started.set()
        a = torch.randn(256, 256)
        for _ in range(1_000_000):  # minutes: far longer than the process lives
            a = torch.tanh(a @ a)
        return super().encode_image(image)

def command():
    rt = Runtime(RuntimeConfig(disk_cache_dir=sys.argv[2]), loader=lambda source, device: SlowEncoder())
    rt.load_model("slow").result(60)
    rt.encode("m", 0, lambda: image_with_marker(1))
    assert started.wait(60)
    print("stopped:", rt.close(0.1), flush=True)
    return 3

cli.main = command
cli.run()
"""


def test_run_leaves_cleanly_when_a_model_call_outlives_the_runtime(tmp_path) -> None:
    repo = str(Path(__file__).resolve().parents[1])
    result = subprocess.run(
        [sys.executable, "-c", _OUTLIVING_CALL, repo, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip() == "stopped: False"
    # Python's own exit would abort here: status 134, "terminate called without an active exception".
    assert result.returncode == 3, result.stderr
    assert "terminate called" not in result.stderr
