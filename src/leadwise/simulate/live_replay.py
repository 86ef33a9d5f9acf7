"""The pure parts of replaying a world's stream through a live ``leadwise serve``
(``benchmarks/bench_optimiser_live.py`` is the edge: processes, HTTP).

- what the service answered, as an assignment vector over the world's reps (``assignment_from_answers``);
- a workload world's limits over the stream's own clock (``TimedLimits``: each lead's engage and close day,
  each rep's open-lead limit and weekly quota), their hindsight optimum (``timed_optimum``, the assignment
  MIP with one capacity row per rep and day and one quota row per rep and week), and the limits an
  assignment broke (``timed_violations``);
- the stream's clock as an accelerated service clock reads it (``StreamClock``: when each lead arrives,
  and at what wall time to post it), and which assigned leads have closed by a day (``CloseSchedule``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from leadwise.simulate.world_files import WorldTruth

DAYS_PER_WEEK = 7


def assignment_from_answers(rep_names: Sequence[str | None], reps: Sequence[str]) -> np.ndarray:
    """Each lead's rep index in ``reps`` (-1: the service sent it to a queue); a name not in ``reps`` is an
    error (the service routed to a rep the world does not know)."""
    index = {name: j for j, name in enumerate(reps)}
    unknown = sorted({n for n in rep_names if n is not None and n not in index})
    if unknown:
        raise ValueError(f"the service assigned reps the world does not have: {', '.join(unknown[:3])}")
    return np.array([-1 if n is None else index[n] for n in rep_names], dtype=int)


def stream_days(truth: WorldTruth) -> np.ndarray:
    """Each stream lead's engage day, counted from the stream's first day."""
    engage = pd.to_datetime(truth.stream["engage_date"])
    return (engage - engage.min()).dt.days.to_numpy(dtype=int)


@dataclass(frozen=True)
class StreamClock:
    """The stream's time on the service's accelerated clock (``leadwise.timekeeping``).

    Stream day 0 is ``monday``, so the service's weeks (Monday to Sunday) are the stream's weeks; a day's
    leads arrive evenly spread over it, in stream order. The clock reads ``monday`` at wall time ``anchor``
    and runs ``speed`` times as fast: a lead is posted at ``wall_time(instant)``. ``settings_env`` is the
    server's clock; ``starting_after`` moves the stream (not that clock) past the server's start.
    """

    monday: datetime
    anchor: float
    speed: float

    @classmethod
    def for_stream(
        cls, engage_day: np.ndarray, *, wall_seconds: float, anchor: float, first: datetime
    ) -> StreamClock:
        """The whole stream (its last day included) in ``wall_seconds``; day 0 on the Monday of ``first``."""
        days = int(engage_day.max()) + 1 if len(engage_day) else 1
        day0 = datetime(first.year, first.month, first.day, tzinfo=UTC)
        monday = day0 - timedelta(days=day0.weekday())
        return cls(monday=monday, anchor=anchor, speed=days * 86_400 / wall_seconds)

    def instants(self, engage_day: np.ndarray) -> list[datetime]:
        days = np.asarray(engage_day, dtype=int)
        instants = []
        for i, day in enumerate(days):
            same = np.flatnonzero(days == day)
            rank, count = int(np.searchsorted(same, i)), len(same)
            instants.append(self.monday + timedelta(days=int(day), seconds=86_400 * (rank + 0.5) / count))
        return instants

    def starting_after(self, wall: float) -> StreamClock:
        """The same service clock with the stream moved on by whole weeks (its days keep their weekdays)
        so that it starts at ``wall`` or later: a server slow to start does not eat into the stream."""
        week = 7 * 86_400 / self.speed  # wall seconds of a stream week
        weeks = max(0, math.ceil((wall - self.anchor) / week))
        return replace(self, monday=self.monday + timedelta(weeks=weeks), anchor=self.anchor + weeks * week)

    def wall_time(self, instant: datetime) -> float:
        return self.anchor + (instant - self.monday).total_seconds() / self.speed

    def settings_env(self) -> dict[str, str]:
        """The environment of a ``leadwise serve`` on this clock."""
        return {
            "LEADWISE_CLOCK_START": self.monday.isoformat(),
            "LEADWISE_CLOCK_SPEED": repr(self.speed),
            "LEADWISE_CLOCK_ANCHOR": repr(self.anchor),
        }


@dataclass(frozen=True)
class TimedLimits:
    """A workload world's limits on the stream's clock (days counted from the stream's first day)."""

    engage_day: np.ndarray  # (n_leads,) int, non-decreasing in stream order
    close_day: np.ndarray  # (n_leads,) int, > engage_day: the lead stops counting as open that day
    max_open: np.ndarray  # (n_reps,) int
    weekly_quota: np.ndarray  # (n_reps,) int

    def __post_init__(self) -> None:
        if np.any(self.close_day <= self.engage_day):
            raise ValueError("every lead must close after the day it was engaged")
        if np.any(np.diff(self.engage_day) < 0):
            raise ValueError("the stream must be in engage order")

    @property
    def week(self) -> np.ndarray:
        return self.engage_day // DAYS_PER_WEEK

    @classmethod
    def from_truth(cls, truth: WorldTruth) -> TimedLimits | None:
        """The limits of a world written with ``[workload] enabled = true``; None for any other world."""
        workload = truth.config.workload
        if not workload.enabled or "close_date" not in truth.stream.columns:
            return None
        start = pd.to_datetime(truth.stream["engage_date"]).min()
        n_reps = len(truth.reps)
        return cls(
            engage_day=stream_days(truth),
            close_day=(pd.to_datetime(truth.stream["close_date"]) - start).dt.days.to_numpy(dtype=int),
            max_open=np.full(n_reps, workload.max_open, dtype=int),
            weekly_quota=np.full(n_reps, workload.weekly_quota, dtype=int),
        )


@dataclass(frozen=True)
class TimedOptimum:
    objective: float  # of ``x``
    x: np.ndarray  # (n_leads, n_reps) in [0, 1]
    bound: float  # no assignment does better (the MIP's dual bound; the LP's own value when relaxed)
    fractional_share: float  # share of the assigned mass on entries strictly between 0 and 1

    @property
    def gap(self) -> float:
        return (self.bound - self.objective) / self.bound if self.bound > 0 else 0.0

    def assignment(self) -> np.ndarray:
        """Each lead's rep with the largest share (-1: less than half a lead assigned)."""
        best = self.x.argmax(axis=1)
        return np.where(self.x.max(axis=1) >= 0.5, best, -1)


def _timed_rows(limits: TimedLimits, n_reps: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    """The capacity rows (rep, day) and quota rows (rep, week) over variables x[i, r] at i * n_reps + r."""
    n = len(limits.engage_day)
    days = np.unique(limits.engage_day)  # open counts only grow on a day a lead arrives
    # Lead i is open on each arrival day t with engage_i <= t < close_i: a run of ``days``.
    first = np.searchsorted(days, limits.engage_day, side="left")
    last = np.searchsorted(days, limits.close_day, side="left")
    span = last - first
    lead = np.repeat(np.arange(n), span)
    day = np.concatenate([np.arange(a, b) for a, b in zip(first, last, strict=True)]) if n else np.array([])
    rows, cols = [], []
    rep = np.arange(n_reps)
    # capacity row of (rep r, day k): r * len(days) + k
    rows.append((rep[None, :] * len(days) + day[:, None]).ravel())
    cols.append((lead[:, None] * n_reps + rep[None, :]).ravel())
    weeks = np.unique(limits.week)
    week_pos = np.searchsorted(weeks, limits.week)
    offset = n_reps * len(days)
    all_leads = np.arange(n)
    rows.append((offset + rep[None, :] * len(weeks) + week_pos[:, None]).ravel())
    cols.append((all_leads[:, None] * n_reps + rep[None, :]).ravel())
    r, c = np.concatenate(rows), np.concatenate(cols)
    matrix = sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(offset + n_reps * len(weeks), n * n_reps))
    bounds = np.concatenate(
        [np.repeat(limits.max_open, len(days)), np.repeat(limits.weekly_quota, len(weeks))]
    ).astype(float)
    return matrix, bounds


def timed_optimum(
    values: np.ndarray, limits: TimedLimits, *, integral: bool = True, time_limit: float = 300.0
) -> TimedOptimum:
    """The best assignment under the limits over time: at most one rep per lead, at most ``max_open[r]``
    of r's leads open on any day, at most ``weekly_quota[r]`` new leads for r in any week.

    Integral by default (HiGHS MIP, stopped after ``time_limit`` seconds with its best assignment and
    bound; ``gap`` says how far apart): unlike the stream-capacity LP, this LP's relaxation is far from
    integral when the open-lead limits bind (half the mass fractional on a 600-lead world), so its value
    would overstate the optimum. ``integral=False`` solves the relaxation (an upper bound)."""
    values = np.asarray(values, dtype=float)
    n, m = values.shape
    if len(limits.engage_day) != n or len(limits.max_open) != m:
        raise ValueError(f"limits are for {len(limits.engage_day)} leads x {len(limits.max_open)} reps, "
                         f"values for {n} x {m}")  # fmt: skip
    timed, timed_bounds = _timed_rows(limits, m)
    one_rep = sparse.csr_matrix(
        (np.ones(n * m), (np.repeat(np.arange(n), m), np.arange(n * m))), shape=(n, n * m)
    )
    matrix = sparse.vstack([one_rep, timed]).tocsr()
    upper = np.concatenate([np.ones(n), timed_bounds])
    if integral:
        result = milp(
            -values.ravel(),
            integrality=np.ones(n * m),
            bounds=Bounds(0.0, 1.0),
            constraints=LinearConstraint(matrix, -np.inf, upper),
            options={"time_limit": time_limit, "mip_rel_gap": 1e-4},
        )
        if result.x is None:
            raise RuntimeError(f"the timed assignment MIP found no assignment: {result.message}")
        bound = -float(result.mip_dual_bound)
    else:
        result = linprog(-values.ravel(), A_ub=matrix, b_ub=upper, bounds=(0.0, 1.0), method="highs")
        if result.status != 0:
            raise RuntimeError(f"the timed assignment LP failed: {result.message}")
        bound = -float(result.fun)
    x = np.clip(result.x.reshape(n, m), 0.0, 1.0)
    if integral:
        x = np.round(x)
    mass = x.sum()
    fractional = x[(x > 1e-6) & (x < 1 - 1e-6)].sum()
    objective = float((values * x).sum())
    return TimedOptimum(objective, x, max(bound, objective), float(fractional / mass) if mass > 0 else 0.0)


def timed_violations(chosen: np.ndarray, limits: TimedLimits) -> tuple[int, int]:
    """(rep-days over ``max_open``, rep-weeks over ``weekly_quota``) of an assignment (-1: unassigned)."""
    m = len(limits.max_open)
    matrix, bounds = _timed_rows(limits, m)
    x = np.zeros(len(chosen) * m)
    rows = np.flatnonzero(chosen >= 0)
    x[rows * m + chosen[rows]] = 1.0
    over = matrix @ x > bounds + 1e-9
    n_capacity = m * len(np.unique(limits.engage_day))
    return int(over[:n_capacity].sum()), int(over[n_capacity:].sum())


class CloseSchedule:
    """Assigned leads waiting to close, in close-day order: ``due(day)`` pops those closed by ``day`` (a
    lead closing on a day no longer counts against its rep for the leads engaged that day)."""

    def __init__(self, close_day: np.ndarray) -> None:
        self._close_day = np.asarray(close_day, dtype=int)
        self._waiting: list[tuple[int, int]] = []  # (close day, lead), kept sorted

    def add(self, lead: int) -> None:
        import bisect

        bisect.insort(self._waiting, (int(self._close_day[lead]), lead))

    def due(self, day: int) -> list[int]:
        k = 0
        while k < len(self._waiting) and self._waiting[k][0] <= day:
            k += 1
        done, self._waiting = [lead for _, lead in self._waiting[:k]], self._waiting[k:]
        return done

    def __len__(self) -> int:
        return len(self._waiting)


def service_clock_violations(
    chosen: np.ndarray,
    offered_at: Sequence[datetime | None],
    closed_at: Sequence[datetime | None],
    max_open: np.ndarray,
    weekly_quota: np.ndarray,
) -> tuple[int, int]:
    """(rep-days over ``max_open``, rep-weeks over ``weekly_quota``) of an assignment on the instants the
    service stamped: each lead open from its offer to its close (None: still open), weeks from Monday
    00:00 UTC and days from midnight UTC of the service's clock, as the service counts them. Unlike
    ``timed_violations`` (the stream's calendar), a lead posted late or closed late counts when it did.

    A rep-day is over when, at some instant of that day, more of the rep's leads are open than allowed."""
    over_open: set[tuple[int, date]] = set()
    events: dict[int, list[tuple[datetime, int]]] = {}
    weeks: dict[tuple[int, date], int] = {}
    for rep, offered, closed in zip(chosen, offered_at, closed_at, strict=True):
        if rep < 0 or offered is None:
            continue
        events.setdefault(int(rep), []).append((offered, 1))
        if closed is not None:
            events[int(rep)].append((closed, -1))
        day = offered.astimezone(UTC).date()
        monday = day - timedelta(days=day.weekday())
        weeks[int(rep), monday] = weeks.get((int(rep), monday), 0) + 1
    for rep, timeline in events.items():
        open_now = 0
        for instant, step in sorted(timeline, key=lambda e: (e[0], e[1])):  # a close before an offer at one instant
            open_now += step
            if open_now > max_open[rep]:
                over_open.add((rep, instant.astimezone(UTC).date()))
    over_quota = sum(1 for (rep, _), count in weeks.items() if count > weekly_quota[rep])
    return len(over_open), over_quota
