"""Hostile projects for ``samdesk export``, in every export format, run under a memory limit.

Crafted, huge and negative media sizes and frame counts, missing media, outputs that are the
project, a medium, a file in the way or a symbolic-link loop, media with the same stem: each run
ends with exit status 0 or a clear error naming the file, never a traceback or a crash, and leaves
every input file as it was (see tests/hostile/export_cases.py for the promises checked).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from samdesk.io.formats import BUILTIN_EXPORT_FORMATS
from tests.hostile.limits import run_python

# The tiny projects need ~100 MB; a crafted 100000² mask buffer wants 18.6 GiB.
MEMORY = 1 << 30
FUZZ_EXAMPLES = 12


@pytest.mark.parametrize("fmt", list(BUILTIN_EXPORT_FORMATS))
def test_hostile_projects_export_cleanly(fmt: str, tmp_path: Path) -> None:
    """The named scenarios of issue 15, then generated cases (hypothesis, derandomized)."""
    call = f"run_all({fmt!r}, {str(tmp_path)!r}, {FUZZ_EXAMPLES})"
    outcome = run_python(
        f"from tests.hostile.export_cases import run_all; {call}",
        memory=MEMORY,
        timeout=120,
    )
    assert outcome.returncode == 0 and not outcome.crashed and not outcome.traceback, outcome.describe()
    assert f"fuzz {fmt}: {FUZZ_EXAMPLES} examples passed" in outcome.stdout, outcome.describe()


def test_the_counts_writer_matches_pycocotools() -> None:
    """The hostile projects' masks are written by hand (any size); check the writer on real masks."""
    import numpy as np

    from samdesk.document import masks
    from tests.hostile.export_cases import counts_string

    rng = np.random.default_rng(0)
    for shape in ((1, 1), (48, 64), (7, 3)):
        rle = masks.encode(rng.random(shape) > 0.5)
        assert counts_string([int(v) for v in masks.counts_to_runs(rle["counts"])]) == rle["counts"]
