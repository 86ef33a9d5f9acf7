"""Where routing gets the time: the system clock in production, a hand-driven clock in tests."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, time-zone aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to: SLA and working-hours tests set the time exactly."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2024, 1, 8, 12, 0, tzinfo=UTC)  # a Monday, noon UTC
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a time-zone-aware start")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        with self._lock:
            self._now += delta if delta is not None else timedelta(**kwargs)
            return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("ManualClock needs time-zone-aware instants")
        with self._lock:
            self._now = moment
