"""Capacity windows: the limits on how many leads a rep (or a flow's pool) takes, each one of

- ``open``: at most ``limit`` open (offered or accepted) leads at once;
- ``period``: at most ``limit`` leads per calendar ``hour``, ``day``, ``week`` (from Monday) or ``month``,
  counted in a time zone (a rep's: that of its working hours; a pool's: its ``timezone``);
- ``rolling``: at most ``limit`` leads in the last ``hours`` or ``days``.

Several windows stack: all must hold. A window says when it started (what the caller counts from) and
when its room frees up (the horizon the capacity prices plan over); the caller counts the leads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

WindowKind = Literal["open", "period", "rolling"]
Period = Literal["hour", "day", "week", "month"]
# What a full period window says, after "capacity: 3/3": the span in the words of the legacy limits.
_PERIOD_SPAN = {"hour": "this hour", "day": "today", "week": "this week", "month": "this month"}
MAX_LIMIT = 100_000
MAX_ROLLING_DAYS = 366


class CapacityWindow(BaseModel):
    """One limit: ``{"kind": "open", "limit": 5}``, ``{"kind": "period", "period": "day", "limit": 10}``
    or ``{"kind": "rolling", "hours": 24, "limit": 3}`` (or ``"days": 7``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: WindowKind
    limit: int = Field(ge=0, le=MAX_LIMIT, description="the most leads the window holds; 0 takes none")
    period: Period | None = Field(default=None, description="kind period: hour, day, week or month")
    hours: int | None = Field(default=None, ge=1, le=MAX_ROLLING_DAYS * 24, description="kind rolling")
    days: int | None = Field(default=None, ge=1, le=MAX_ROLLING_DAYS, description="kind rolling")

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> CapacityWindow:
        if self.kind == "period" and self.period is None:
            raise ValueError("a period window needs 'period': hour, day, week or month")
        if self.kind == "rolling" and (self.hours is None) == (self.days is None):
            raise ValueError("a rolling window needs one of 'hours' or 'days'")
        extra = [
            name
            for name, allowed in (("period", "period"), ("hours", "rolling"), ("days", "rolling"))
            if getattr(self, name) is not None and self.kind != allowed
        ]
        if extra:
            article = "an" if self.kind == "open" else "a"
            raise ValueError(f"{article} {self.kind} window takes no {' or '.join(repr(e) for e in extra)}")
        return self

    @model_serializer(mode="wrap")
    def _without_unset_kinds(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Only the fields of the window's kind: {"kind": "rolling", "limit": 3, "hours": 24}."""
        return {k: v for k, v in handler(self).items() if v is not None}

    @cached_property
    def key(self) -> str:
        """What the caller counts the window's leads under: the same key for the same span."""
        if self.kind == "rolling":
            return f"last {self.length / timedelta(hours=1):g}h"
        return self.period or "open"

    @property
    def length(self) -> timedelta:
        """A rolling window's span (zero for the others)."""
        return timedelta(hours=self.hours or 0, days=self.days or 0)

    def span(self) -> str:
        """The window in words, as "capacity: 3/3 <span>" reads."""
        if self.kind == "open":
            return "open"
        if self.kind == "period":
            assert self.period is not None
            return _PERIOD_SPAN[self.period]
        size = f"{self.days} d" if self.days is not None else f"{self.hours} h"
        return f"leads in the rolling {size} window"

    def describe(self, used: int) -> str:
        return f"capacity: {used}/{self.limit} {self.span()}"

    def start(self, now: datetime, zone: ZoneInfo) -> datetime | None:
        """Where the leads counted against the window begin (None: an open window counts open leads)."""
        if self.kind == "open":
            return None
        if self.kind == "rolling":
            return now - self.length
        return _period_start(now.astimezone(zone), self.period or "day")

    def frees_at(self, now: datetime, zone: ZoneInfo, open_horizon: timedelta) -> datetime:
        """When the window's room is renewed: the period's end, a rolling window's span from now (the
        leads counted in it age out by then at the latest), an open lead's expected life."""
        if self.kind == "open":
            return now + open_horizon
        if self.kind == "rolling":
            return now + self.length
        return _period_end(now.astimezone(zone), self.period or "day")


def _period_start(local: datetime, period: str) -> datetime:
    zone = local.tzinfo
    if period == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.date()
    if period == "week":
        day -= timedelta(days=day.weekday())
    elif period == "month":
        day = day.replace(day=1)
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def _period_end(local: datetime, period: str) -> datetime:
    start = _period_start(local, period)
    if period == "hour":  # an hour of elapsed time (wall-clock arithmetic would be off across DST)
        return (start.astimezone(UTC) + timedelta(hours=1)).astimezone(start.tzinfo)
    if period == "month":
        year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
        return start.replace(year=year, month=month)
    # Local midnight to local midnight: a day across a DST change is 23 or 25 hours long.
    naive = start.replace(tzinfo=None) + timedelta(days=7 if period == "week" else 1)
    return naive.replace(tzinfo=start.tzinfo)


def legacy_windows(
    max_open: int | None, max_per_day: int | None, max_per_week: int | None
) -> tuple[CapacityWindow, ...]:
    """The windows of the original three limits (open leads, per day, per week).

    Built without re-validating: the limits are a stored rep's, checked where they came in, and a rep
    stored with a limit above a window's ``MAX_LIMIT`` (an import from an older version, say) must still
    route, not fail every lead."""
    windows = []
    if max_open is not None:
        windows.append(CapacityWindow.model_construct(kind="open", limit=max_open))
    if max_per_day is not None:
        windows.append(CapacityWindow.model_construct(kind="period", period="day", limit=max_per_day))
    if max_per_week is not None:
        windows.append(CapacityWindow.model_construct(kind="period", period="week", limit=max_per_week))
    return tuple(windows)
