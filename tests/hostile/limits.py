"""Run hostile input through an entry point in a child process with bounded memory and time.

A regression that makes a crafted file allocate without bound must fail its test, not take the
machine down: the child runs under ``RLIMIT_AS`` (address space), so a runaway allocation fails
there (MemoryError, or the child dies) while the test process and the machine carry on.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_MEMORY = 3 << 30  # bytes of address space: torch + numpy + a model fit; 20 GB does not
DEFAULT_TIMEOUT = 180.0


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str

    @property
    def crashed(self) -> bool:
        """Killed by a signal (segfault, abort) rather than exiting."""
        return self.returncode < 0

    @property
    def traceback(self) -> bool:
        """An uncaught Python exception reached the top."""
        return "Traceback (most recent call last)" in self.stderr

    def describe(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"


def _limit(memory: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def run_python(code: str, *, memory: int = DEFAULT_MEMORY, timeout: float = DEFAULT_TIMEOUT,
               cwd: Path | None = None) -> Outcome:
    """Run ``code`` (dedented) in a fresh interpreter with the repository importable."""
    return _run([sys.executable, "-c", textwrap.dedent(code)], memory, timeout, cwd)


def run_cli(*args: str, memory: int = DEFAULT_MEMORY, timeout: float = DEFAULT_TIMEOUT,
            cwd: Path | None = None) -> Outcome:
    """Run ``samdesk ARGS...`` (as ``python -m samdesk``) under the limits."""
    return _run([sys.executable, "-m", "samdesk", *args], memory, timeout, cwd)


def _run(argv: list[str], memory: int, timeout: float, cwd: Path | None) -> Outcome:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run(
        argv, cwd=cwd or REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
        preexec_fn=_limit(memory),
    )
    return Outcome(done.returncode, done.stdout, done.stderr)
