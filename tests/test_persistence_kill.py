"""The kill test: SIGKILL a process in the middle of saving; the file must always stay loadable.

A child process saves a large project (thousands of objects) over and over, alternating between
two versions. The parent kills it at a random moment and checks that the file on disk loads and
is exactly one of the two versions: never half-written, never empty, never gone.
"""

from __future__ import annotations

import copy
import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from samdesk.document.persistence import load_project, save_project
from tests.document_factory import make_project

REPO_ROOT = Path(__file__).resolve().parents[1]
N_OBJECTS = 2000
ITERATIONS = 20

# The child unpickles the two versions (building them again would dominate the test's time) and
# saves them alternately forever. With "replace-hook", it announces each os.replace on stdout and
# pauses briefly first, so the parent can kill it in the most delicate spot: the new file is fully
# written and synced but not yet renamed over the old one.
CHILD = textwrap.dedent(
    """
    import os, pickle, sys, time
    from pathlib import Path
    from samdesk.document.persistence import save_project

    versions = pickle.loads(Path(sys.argv[1]).read_bytes())
    target = Path(sys.argv[2])
    if sys.argv[3] == "replace-hook":
        real_replace = os.replace
        def announced_replace(src, dst):
            print("replacing", flush=True)
            time.sleep(0.05)
            real_replace(src, dst)
        os.replace = announced_replace
    print("ready", flush=True)
    i = 0
    while True:
        save_project(versions[i % 2], target)
        i += 1
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
@pytest.mark.timeout(300)
def test_killed_saves_leave_old_or_new_project(tmp_path: Path) -> None:
    a = make_project(tmp_path, n_objects=N_OBJECTS, speckle=0.0)  # plain blobs: quicker to check
    a.settings["version"] = "A"
    b = copy.deepcopy(a)
    b.settings["version"] = "B"
    del b.objects[::3]  # B differs in size too, so a mix of both could not pass as either
    expected = {"A": a, "B": b}
    pickled = tmp_path / "versions.pickle"
    pickled.write_bytes(pickle.dumps([a, b]))
    path = tmp_path / "big.samdesk.json"
    save_project(a, path)
    save_duration = _time_one_save(b, tmp_path / "probe.samdesk.json")

    rng = random.Random(1234)
    seen = {"A": 0, "B": 0}
    interrupted = 0
    for iteration in range(ITERATIONS):
        hooked = iteration % 2 == 1
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(pickled), str(path), "replace-hook" if hooked else "plain"],
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == b"ready"
            if hooked:
                # Let a few saves complete first, then kill right before a rename.
                for _ in range(rng.randint(1, 3)):
                    assert child.stdout.readline().strip() == b"replacing"
            else:
                time.sleep(rng.uniform(0, 2.5 * save_duration))  # anywhere in a save
            child.send_signal(signal.SIGKILL)
            child.wait()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            if child.stdout is not None:
                child.stdout.close()
        leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".samdesk-tmp")]
        interrupted += bool(leftovers)
        for leftover in leftovers:
            leftover.unlink()

        loaded = load_project(path).project
        version = loaded.settings.get("version")
        assert version in expected, f"unexpected content after kill: {version!r}"
        assert loaded == expected[version]
        seen[version] += 1
    assert interrupted >= ITERATIONS // 2  # the hooked kills all land mid-save: the test tests something
    print(f"versions seen {seen}; kills that interrupted a write: {interrupted}/{ITERATIONS}")


def _time_one_save(project, path: Path) -> float:
    start = time.perf_counter()
    save_project(project, path)
    duration = time.perf_counter() - start
    path.unlink()
    return duration
