"""The glibc switch that keeps freed decoder memory for the next batch: what it asks of the C
library, nesting, and that it always switches back."""

from __future__ import annotations

from typing import Any

import pytest

from model_runtime.models.common import heap_reuse
from model_runtime.models.common.heap_reuse import is_reusing, reusing_freed_memory


class _RecordingLibc:
    """Records mallopt / malloc_trim calls instead of changing the process's allocator."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


@pytest.fixture
def libc(monkeypatch: pytest.MonkeyPatch) -> _RecordingLibc:
    fake = _RecordingLibc()
    monkeypatch.setattr(heap_reuse._SWITCH, "libc", fake)
    return fake


def test_heap_only_inside_and_trimmed_once_on_the_last_exit(libc: _RecordingLibc) -> None:
    assert not is_reusing()
    with reusing_freed_memory():
        assert libc.calls == [("mallopt", heap_reuse._M_MMAP_MAX, 0),
                              ("mallopt", heap_reuse._M_TRIM_THRESHOLD, heap_reuse._NEVER_TRIM)]
        with reusing_freed_memory():  # nested (e.g. a decode inside segment everything): no change
            assert len(libc.calls) == 2 and is_reusing()
        assert len(libc.calls) == 2 and is_reusing()
    assert not is_reusing()
    assert libc.calls[2:] == [("mallopt", heap_reuse._M_MMAP_MAX, heap_reuse._DEFAULT_MMAP_MAX),
                              ("mallopt", heap_reuse._M_TRIM_THRESHOLD, heap_reuse._TRIM_THRESHOLD_AFTER),
                              ("malloc_trim", 0)]


def test_an_error_inside_still_switches_back(libc: _RecordingLibc) -> None:
    with pytest.raises(RuntimeError), reusing_freed_memory():
        raise RuntimeError("decoder failed")
    assert not is_reusing()
    assert libc.calls[-1] == ("malloc_trim", 0)


def test_without_glibc_it_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap_reuse._SWITCH, "libc", None)
    with reusing_freed_memory():
        assert is_reusing()
    assert not is_reusing()


def test_an_abandoned_segment_everything_run_switches_back(libc: _RecordingLibc) -> None:
    """iter_everything holds the switch while it runs; closing it early (a cancel) releases it."""
    import numpy as np

    from model_runtime.everything import EverythingSettings, iter_everything
    from tests.tiny_models import small_sam2_model

    image = np.random.default_rng(1).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    steps = iter_everything(small_sam2_model(), image, None,
                            EverythingSettings(points_per_side=4, points_per_batch=4))
    next(steps)
    assert is_reusing()
    steps.close()
    assert not is_reusing()
