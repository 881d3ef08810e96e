"""Frames per second and time left of a long run (samdesk.session.progress_rate)."""

from __future__ import annotations

import pytest

from samdesk.session.progress_rate import ProgressRate, duration_text


def test_rate_and_time_left_follow_the_recent_pace() -> None:
    rate = ProgressRate(window_s=10.0)
    assert rate.per_second() is None and rate.seconds_left(100) is None
    rate.add(0, 0.0)
    assert rate.per_second() is None  # one sample: no pace yet
    for second in range(1, 11):
        rate.add(2 * second, float(second))  # 2 frames/s
    assert rate.per_second() == pytest.approx(2.0)
    assert rate.seconds_left(100) == pytest.approx(40.0)
    for second in range(11, 31):
        rate.add(20 + (second - 10), float(second))  # slows to 1 frame/s
    assert rate.per_second() == pytest.approx(1.0)
    assert rate.seconds_left(100) == pytest.approx(60.0)
    assert rate.seconds_left(10) == 0.0


def test_durations_read_as_clock_times() -> None:
    assert duration_text(7) == "0:07"
    assert duration_text(725.4) == "12:05"
    assert duration_text(3723) == "1:02:03"
