"""The harness itself: a runaway allocation fails in the child, not in the machine."""

from __future__ import annotations

from tests.hostile.limits import run_python


def test_a_runaway_allocation_fails_inside_the_limit() -> None:
    outcome = run_python("import numpy as np; np.ones(8 << 30, np.uint8)", memory=1 << 30)
    assert outcome.returncode != 0
    assert "MemoryError" in outcome.stderr or outcome.crashed, outcome.describe()


def test_ordinary_work_runs_under_the_default_limit() -> None:
    outcome = run_python("import torch, model_runtime.api; print('fine')")
    assert outcome.returncode == 0 and outcome.stdout.strip() == "fine", outcome.describe()
