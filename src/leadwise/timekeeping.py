"""The service's wall clock: the system's, or, for replays and demos, an accelerated clock that reads
``LEADWISE_CLOCK_START`` at the wall instant ``LEADWISE_CLOCK_ANCHOR`` and runs ``LEADWISE_CLOCK_SPEED``
times as fast.

Every instant the service stores or compares (a lead's arrival, an offer's deadline, today's and this
week's counts, the demand model's windows) comes from ``now()``. With an accelerated clock a replay of
a quarter's leads in minutes is the quarter the service sees: its arrival rates, open durations and weekly
quotas are those of the stream, not of the few minutes it took. Timeouts and schedules (``time.monotonic``)
keep real time. The anchor is a fixed wall instant, not each process's start, so every worker reads the
same clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


class SystemWallClock:
    speed = 1.0  # clock seconds per wall second

    def now(self) -> datetime:
        return datetime.now(UTC)

    def describe(self) -> str:
        return "system"


@dataclass(frozen=True)
class AcceleratedClock:
    start: datetime
    anchor: float  # wall time (seconds since the epoch) at which the clock reads ``start``
    speed: float

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.anchor) * self.speed)

    def describe(self) -> str:
        return f"accelerated x{self.speed:g}: read {self.start.isoformat()} at wall time {self.anchor:.3f}"


WallClock = SystemWallClock | AcceleratedClock
_clock: WallClock = SystemWallClock()


def seconds(wall_seconds: float) -> timedelta:
    """A span of wall time as the clock counts it: a lease of 5 wall seconds lasts 5 x speed clock seconds."""
    return timedelta(seconds=wall_seconds * _clock.speed)


def now() -> datetime:
    return _clock.now()


def use(clock: WallClock) -> None:
    """Install the process's clock (the app factory and ``leadwise serve`` do, from the settings)."""
    global _clock
    _clock = clock


def current() -> WallClock:
    return _clock


def from_settings(
    start: datetime | None, speed: float, anchor: float | None
) -> WallClock:
    if start is None:
        return SystemWallClock()
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    return AcceleratedClock(start=start, anchor=time.time() if anchor is None else anchor, speed=speed)
