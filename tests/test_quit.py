"""Quitting the window leaves the process at once (issue 18, defect 11: it lingered 2.6-5 s).

After the window closed, ``samdesk.cli.run`` runs the exit handlers and flushes, then skips the
interpreter's teardown (1-1.5 s of freeing torch and Qt objects; bench/gui_quit.py). Headless
commands exit normally. Each case runs in its own process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = """
import atexit, sys
sys.path.insert(0, {root!r})

class Teardown:
    def __del__(self):
        print("teardown ran", flush=True)

kept = Teardown()  # freed only by the interpreter's teardown
atexit.register(lambda: print("exit handler ran", flush=True))
from samdesk import cli
if {gui}:
    from PySide6.QtWidgets import QApplication
    app = QApplication([])  # the window ran (and closed) in this process
cli.main = lambda argv=None: 3
print("leaving", flush=True)
cli.run()
"""


def run_program(gui: bool) -> subprocess.CompletedProcess:
    code = textwrap.dedent(PROGRAM.format(root=str(ROOT), gui=gui))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


def test_after_the_window_the_process_leaves_without_the_teardown() -> None:
    done = run_program(gui=True)
    assert done.returncode == 3, done.stderr
    assert "exit handler ran" in done.stdout  # atexit (and weakref.finalize clean-ups) still run
    assert "teardown ran" not in done.stdout, "the interpreter's teardown ran"


def test_a_headless_command_exits_normally() -> None:
    done = run_program(gui=False)
    assert done.returncode == 3, done.stderr
    assert "exit handler ran" in done.stdout and "teardown ran" in done.stdout
