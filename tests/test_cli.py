"""The console entry point: version, help, and routing of paths vs subcommands."""

from __future__ import annotations

import subprocess
import sys

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


def test_paths_route_to_gui(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def gui_double(args):  # test double: no window in a unit test
        seen["paths"] = args.paths
        return 0

    monkeypatch.setattr(cli, "_run_gui", gui_double)
    assert cli.main(["photo.jpg", "clip.mp4"]) == 0
    assert seen["paths"] == ["photo.jpg", "clip.mp4"]
    assert cli.main([]) == 0
    assert seen["paths"] == []


def test_unknown_option_is_an_error() -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--no-such-option"])
    assert exc.value.code == 2


def test_module_entry_point_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "samdesk", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert samdesk.__version__ in result.stdout
