"""Shared test set-up: headless Qt, the shared test media, and markers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Qt aborts the process without a display unless told to render offscreen; set it before any
# test module imports PySide6.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

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
