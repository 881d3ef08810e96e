"""Shared test set-up: headless Qt, the shared test media, and markers."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

# Qt aborts the process without a display unless told to render offscreen; set it before any
# test module imports PySide6.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The app keeps autosaves, embedding caches and downloaded models in the user's folders
# (platformdirs). Tests get folders of their own run: an autosave left by a test process that
# died (or by a second test run at the same time) must not be offered to a later test's window,
# and no test may touch the user's real recovery files or caches. Child processes inherit these.
_USER_DIRS = Path(tempfile.mkdtemp(prefix="samdesk-test-home-"))
for _variable in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
    os.environ[_variable] = str(_USER_DIRS / _variable.lower())

REPO_ROOT = Path(__file__).resolve().parents[1]
# CI and developers have shared/ beside the checkout (../shared/media); see its README.
MEDIA_DIR = Path(os.environ.get("SAMDESK_TEST_MEDIA", REPO_ROOT.parent / "shared" / "media"))
# Only when this is set to 1 do tests that need the media skip without it; otherwise a missing
# folder is an error, so a misplaced checkout cannot pass by silently skipping a third of the suite.
ALLOW_MISSING_MEDIA = "SAMDESK_ALLOW_MISSING_MEDIA"


@pytest.fixture(scope="session")
def media_dir() -> Path:
    if not MEDIA_DIR.is_dir():
        message = (
            f"test media not found at {MEDIA_DIR}: put the shared media folder there (../shared/media "
            f"beside the checkout) or point SAMDESK_TEST_MEDIA at it"
        )
        if os.environ.get(ALLOW_MISSING_MEDIA) == "1":
            pytest.skip(f"{message} ({ALLOW_MISSING_MEDIA}=1)")
        pytest.fail(f"{message}; set {ALLOW_MISSING_MEDIA}=1 to skip these tests instead", pytrace=False)
    return MEDIA_DIR


# How long the end of a run waits for a runtime thread to finish the model call it was in.
_MODEL_CALL_GRACE_S = 60.0
_exit_status: list[int] = [0]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status[0] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the run's user folders, then leave as the app does if a model call still runs.

    Windows close their runtimes with a short timeout (as a user's quit does), so a test that
    stopped a run mid-frame leaves a runtime thread inside a torch call; the interpreter's exit
    would then abort (exit status 134 after every test passed; see
    ``model_runtime.runtime.model_calls_running``). Such a call ends within seconds: wait for it,
    and if one outlives the grace period, exit with the run's status without the teardown.
    """
    shutil.rmtree(_USER_DIRS, ignore_errors=True)
    from model_runtime.runtime import model_calls_running

    deadline = time.monotonic() + _MODEL_CALL_GRACE_S
    while model_calls_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    if model_calls_running():
        from samdesk.cli import leave_now

        leave_now(_exit_status[0])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.gpu`` tests run only where CUDA is present (CI has none): skipped, with
    the reason, elsewhere. torch is imported only when such a test was collected."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False here)")
    for item in gpu_items:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def sam3_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reduced-width SAM 3 checkpoint with random weights (seed 3), written once per run for
    the GUI tests that load SAM 3 (find all, phrase tracking)."""
    import importlib.util

    if importlib.util.find_spec("sam3") is None:
        pytest.skip("the official sam3 package builds the test checkpoint (make test installs it)")
    from tests.oracles import sam3_official as oracle

    return oracle.make_checkpoint(tmp_path_factory.mktemp("sam3") / "sam3.pt", seed=3)
