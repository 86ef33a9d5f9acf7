"""Demand: how many leads are expected before a rep's capacity frees up — what capacity prices cover.

A rep's seat is scarce when the leads still to come before it frees up outnumber it. Each capacity limit
frees on its own schedule (``routing.capacity``): an open-lead seat when a lead closes (``open_horizon``,
how long a lead stays open), a period's quota when the period ends in the rep's time zone, a rolling
window's as its leads age out (at the latest one span from now). ``scarcity`` picks, per rep, the limit whose
room is smallest against the leads expected until it frees; the pricer then scales that room to its
sample of leads (the re-solving scheme of Agrawal, Wang and Ye: remaining capacity against remaining
expected demand, solved again on a schedule).

How long a lead stays open is estimated from the offers that closed and, as right-censored observations,
the ones still open (``open_horizon``, Kaplan-Meier): the median of the closed ones alone would see only
the quick closes early on, and would never see that leads stay open longer than the service has run.

Arrivals are counted by hour of the week (Monday 00:00 UTC is hour 0) and smoothed towards the overall
rate, so an hour seen in one week only does not swing the estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from scipy import stats

from leadwise.routing.domain import Rep, RepLoad

HOURS_PER_WEEK = 168
_HOUR = timedelta(hours=1)


def hour_of_week(moment: datetime) -> int:
    moment = moment.astimezone(UTC)
    return moment.weekday() * 24 + moment.hour


@dataclass(frozen=True)
class OpenHorizon:
    duration: timedelta
    source: str


def kaplan_meier_median(closed: Sequence[timedelta], still_open: Sequence[timedelta]) -> timedelta | None:
    """The median duration, the ones still open (their ages) counted as right-censored; None while more
    than half might still be open (or nothing closed)."""
    if not closed:
        return None
    data = stats.CensoredData(
        uncensored=[d.total_seconds() for d in closed], right=[d.total_seconds() for d in still_open]
    )
    survival = stats.ecdf(data).sf
    below_half = np.flatnonzero(survival.probabilities <= 0.5)
    if not below_half.size:
        return None
    return timedelta(seconds=float(survival.quantiles[below_half[0]]))


def open_horizon(
    closed: Sequence[timedelta],
    still_open: Sequence[timedelta],
    *,
    default: timedelta,
    min_closed: int = 20,
    default_source: str = "LEADWISE_DEMAND_OPEN_HORIZON_HOURS",
) -> OpenHorizon:
    """How long a lead stays open: the Kaplan-Meier median of the offers' durations, the ones still open
    (their ages) counted as censored. With fewer than ``min_closed`` closed, or while more than half are
    still open, the median is not known yet: the oldest open offer is a lower bound for it, and
    ``default`` (from ``default_source``: the setting, or the history kept with the model) the guess
    when it is shorter."""
    oldest = max(still_open, default=timedelta(0))
    median = kaplan_meier_median(closed, still_open) if len(closed) >= min_closed else None
    if median is not None:
        return OpenHorizon(median, f"Kaplan-Meier median of {len(closed)} closed and {len(still_open)} open offers")
    if oldest > default:
        return OpenHorizon(
            oldest, f"the oldest of {len(still_open)} open offers: at least that long, few closed yet"
        )
    return OpenHorizon(default, f"{default_source}, too few closed offers yet")


@dataclass(frozen=True)
class ArrivalRates:
    """Expected leads per hour for each hour of the week; ``source`` says where they were measured."""

    per_hour: np.ndarray
    source: str
    observed: int  # leads behind the estimate

    @classmethod
    def from_times(
        cls,
        times: Sequence[datetime],
        *,
        source: str,
        until: datetime,
        since: datetime | None = None,
        smoothing_weeks: float = 2.0,
    ) -> ArrivalRates | None:
        """Rates from the arrival times of leads (aware datetimes) observed in [since, until) (``since``:
        the first arrival when not given); None with no lead. Each hour's rate is its count over the
        weeks observed, shrunk towards the overall hourly rate with ``smoothing_weeks`` pseudo-weeks."""
        if not times:
            return None
        first = (since or min(times)).astimezone(UTC)
        span_hours = max((until.astimezone(UTC) - first) / _HOUR, 1.0)
        overall = len(times) / span_hours
        if span_hours < HOURS_PER_WEEK:  # less than a week seen: the hours not seen yet say nothing
            return cls.constant(overall, source=source, observed=len(times))
        counts = np.bincount([hour_of_week(t) for t in times], minlength=HOURS_PER_WEEK).astype(float)
        weeks = span_hours / HOURS_PER_WEEK  # how often each hour of the week occurred in the span
        per_hour = (counts + smoothing_weeks * overall) / (weeks + smoothing_weeks)
        return cls(per_hour=per_hour, source=source, observed=len(times))

    @classmethod
    def constant(cls, per_hour: float, *, source: str, observed: int = 0) -> ArrivalRates:
        return cls(per_hour=np.full(HOURS_PER_WEEK, float(per_hour)), source=source, observed=observed)

    def expected(self, start: datetime, end: datetime) -> float:
        """Leads expected in [start, end): the rate integrated hour by hour (whole weeks at once)."""
        if end <= start:
            return 0.0
        total = 0.0
        span = end - start
        whole_weeks = int(span / timedelta(weeks=1))
        if whole_weeks:
            total += whole_weeks * float(self.per_hour.sum())
            start += timedelta(weeks=whole_weeks)
        moment = start
        while moment < end:
            step_end = min(end, moment.replace(minute=0, second=0, microsecond=0) + _HOUR)
            total += float(self.per_hour[hour_of_week(moment)]) * ((step_end - moment) / _HOUR)
            moment = step_end
        return total


@dataclass(frozen=True)
class Scarcity:
    """Per rep (in the order given): the room left under its scarcest limit, the leads expected until
    that limit frees up, and which limit it is."""

    room: np.ndarray
    expected_leads: np.ndarray
    limit: tuple[str, ...]

    def scaled_room(self, sample_size: int) -> np.ndarray:
        """Each rep's room as seats for a sample of ``sample_size`` leads of the same mix: room × sample /
        expected, at most the sample (no lead expected: never scarce)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = np.where(self.expected_leads > 0, self.room * sample_size / self.expected_leads, np.inf)
        return np.minimum(scaled, float(sample_size))


def scarcity(
    reps: Sequence[Rep],
    loads: dict[str, RepLoad],
    now: datetime,
    *,
    arrivals: ArrivalRates,
    open_horizon: timedelta,
    open_demand: float | None = None,
) -> Scarcity:
    """Each rep's scarcest capacity window: every window (``Capacity.all_windows``) has its room left and
    the leads expected until it frees up (``CapacityWindow.frees_at``: an open lead's expected life, the
    end of the period in the rep's time zone, a rolling window's span). ``open_demand``, when given,
    replaces the arrival estimate for open-lead windows (an admin's ``[demand] expected_leads``)."""
    expected_until: dict[datetime, float] = {}  # reps share their windows' ends: integrated once each

    def leads_until(end: datetime) -> float:
        if end not in expected_until:
            expected_until[end] = arrivals.expected(now, end)
        return expected_until[end]

    rooms, expected, limits = [], [], []
    for rep in reps:
        load = loads.get(rep.id, RepLoad())
        options: list[tuple[float, float, str]] = []
        for window in rep.capacity.all_windows:
            if window.kind == "open" and open_demand is not None:
                leads = open_demand
            else:
                leads = leads_until(window.frees_at(now, rep.zone, open_horizon))
            options.append((max(window.limit - load.used(window), 0), leads, _LIMIT_NAMES.get(window.key, window.span())))
        if not options:  # no limit: never scarce
            rooms.append(np.inf)
            expected.append(0.0)
            limits.append("none")
            continue
        room, leads, limit = min(options, key=lambda o: o[0] / max(o[1], 1e-9))
        rooms.append(room)
        expected.append(leads)
        limits.append(limit)
    return Scarcity(room=np.array(rooms, dtype=float), expected_leads=np.array(expected), limit=tuple(limits))


# The names the price book's notes used for the original three limits.
_LIMIT_NAMES = {"open": "open leads", "day": "today", "week": "this week"}
