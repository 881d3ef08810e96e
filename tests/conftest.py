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


@pytest.fixture(scope="session")
def media_dir() -> Path:
    if not MEDIA_DIR.is_dir():
        pytest.skip(f"test media not found at {MEDIA_DIR}")
    return MEDIA_DIR
