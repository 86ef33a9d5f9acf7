"""The accelerated clock of replays: every worker reading the same anchor reads the same instant; without a
start the system clock rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leadwise import timekeeping

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday


def test_an_accelerated_clock_runs_speed_times_as_fast_from_its_anchor(wall: list[float]) -> None:
    first = timekeeping.from_settings(START, 3600.0, anchor=wall[0] - 2)
    second = timekeeping.from_settings(START.replace(tzinfo=None), 3600.0, anchor=wall[0] - 2)  # naive: UTC
    assert first.now() == second.now() == START + timedelta(hours=2)  # two workers, one instant
    wall[0] += 24
    assert first.now() == START + timedelta(days=1, hours=2)
    assert isinstance(timekeeping.from_settings(None, 3600.0, None), timekeeping.SystemWallClock)


def test_wall_spans_last_speed_times_longer_on_an_accelerated_clock(wall: list[float]) -> None:
    assert timekeeping.seconds(5) == timedelta(seconds=5)
    timekeeping.use(timekeeping.from_settings(START, 3600.0, anchor=wall[0]))
    try:
        assert timekeeping.seconds(5) == timedelta(hours=5)  # a 5 s lease still outlives a few pricer ticks
    finally:
        timekeeping.use(timekeeping.SystemWallClock())
