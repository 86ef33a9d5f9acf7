"""Fairness: bounds on each rep's share of leads and of expected value, and the measures reported.

A rep's *fair share* is equal (1/n) or weight-proportional (w_i / Σw) over the reps considered. Bounds
are ratios to that share: ``max_lead_ratio=1.5`` lets nobody take more than 1.5× their fair share of
the leads in the rolling window.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from leadwise.routing.domain import Exclusion, Loads, Rep, RepLoad


class FairnessBounds(BaseModel):
    """Optional min/max share bounds, each relative to the fair (equal or weighted) share."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_lead_ratio: float | None = Field(default=None, ge=0, le=1)
    max_lead_ratio: float | None = Field(default=None, ge=1)
    min_value_ratio: float | None = Field(default=None, ge=0, le=1)
    max_value_ratio: float | None = Field(default=None, ge=1)
    weighted: bool = True
    window_days: float = Field(default=7.0, gt=0)

    @property
    def active(self) -> bool:
        return any(
            v is not None
            for v in (self.min_lead_ratio, self.max_lead_ratio, self.min_value_ratio, self.max_value_ratio)
        )

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)


def fair_shares(reps: Sequence[Rep], weighted: bool = True) -> np.ndarray:
    if not reps:
        return np.zeros(0)
    w = np.array([r.weight if weighted else 1.0 for r in reps], dtype=float)
    return w / w.sum()


def screen_fairness(
    reps: Sequence[Rep], loads: Loads, bounds: FairnessBounds, pool: Sequence[Rep]
) -> tuple[list[Rep], list[Exclusion]]:
    """Drop reps that one more lead would push above a max bound; prefer reps owed their min share.

    ``pool`` defines the shares (the whole pool, eligible or not); ``reps`` are the eligible ones.
    """
    if not bounds.active or not reps:
        return list(reps), []
    shares = dict(zip((r.id for r in pool), fair_shares(pool, bounds.weighted), strict=True))
    empty = RepLoad()
    get = loads.get
    total_leads = sum(get(r.id, empty).window_leads for r in pool)
    total_value = sum(get(r.id, empty).window_value for r in pool)
    kept: list[Rep] = []
    excluded: list[Exclusion] = []
    owed: list[Rep] = []
    for rep in reps:
        load = get(rep.id, empty)
        fair = shares[rep.id]
        if bounds.max_lead_ratio is not None:
            # Rounded up: the allowances then sum to at least the window's leads + 1, so the bound alone
            # can never leave a lead without an eligible rep.
            allowed = math.ceil(bounds.max_lead_ratio * fair * (total_leads + 1) - 1e-9)
            if load.window_leads + 1 > allowed:
                excluded.append(Exclusion(rep_id=rep.id, reason="fairness: lead share at max bound"))
                continue
        if (
            bounds.max_value_ratio is not None
            and total_value > 0
            and load.window_value > bounds.max_value_ratio * fair * total_value
        ):
            excluded.append(Exclusion(rep_id=rep.id, reason="fairness: value share at max bound"))
            continue
        kept.append(rep)
        lead_owed = bounds.min_lead_ratio is not None and load.window_leads < math.floor(
            bounds.min_lead_ratio * fair * (total_leads + 1)
        )
        value_owed = (
            bounds.min_value_ratio is not None
            and total_value > 0
            and load.window_value < bounds.min_value_ratio * fair * total_value
        )
        if lead_owed or value_owed:
            owed.append(rep)
    if owed and len(owed) < len(kept):
        owed_ids = {r.id for r in owed}
        for rep in kept:
            if rep.id not in owed_ids:
                excluded.append(Exclusion(rep_id=rep.id, reason="fairness: another rep is below min share"))
        kept = owed
    return kept, excluded


def gini(values: Iterable[float]) -> float:
    """Gini coefficient of non-negative amounts (0 = perfectly even, →1 = one rep takes all)."""
    x = np.sort(np.asarray(list(values), dtype=float))
    n = x.size
    if n == 0 or x.sum() <= 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float((2 * (ranks * x).sum()) / (n * x.sum()) - (n + 1) / n)


@dataclass(frozen=True)
class FairnessReport:
    gini_leads: float
    gini_value: float
    min_share: float
    max_share: float
    min_share_ratio: float  # min over reps of share / fair share
    max_share_ratio: float


def fairness_report(
    lead_counts: Sequence[float] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    weights: Sequence[float] | None = None,
) -> FairnessReport:
    counts = np.asarray(lead_counts, dtype=float)
    vals = np.asarray(values, dtype=float)
    w = np.ones_like(counts) if weights is None else np.asarray(weights, dtype=float)
    fair = w / w.sum()
    share = counts / counts.sum() if counts.sum() > 0 else np.zeros_like(counts)
    return FairnessReport(
        gini_leads=gini(counts),
        gini_value=gini(vals),
        min_share=float(share.min()) if share.size else 0.0,
        max_share=float(share.max()) if share.size else 0.0,
        min_share_ratio=float((share / fair).min()) if share.size else 0.0,
        max_share_ratio=float((share / fair).max()) if share.size else 0.0,
    )


# ------------------------------------------------------------------------------------ shares over time

PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7)}


@dataclass(frozen=True)
class RepShare:
    """One rep's part of a period: its shares of leads and of expected value against its fair share."""

    rep: str
    leads: int
    expected_value: float
    fair_share: float
    lead_share: float
    value_share: float
    lead_ratio: float  # lead_share / fair_share, the figure the bounds limit
    value_ratio: float
    outside: tuple[str, ...]  # the bounds this share breaks, in words ("" when none)


@dataclass(frozen=True)
class PeriodShares:
    start: datetime
    leads: int
    expected_value: float
    gini_leads: float
    gini_value: float
    reps: tuple[RepShare, ...]


def period_start(moment: datetime, period: str) -> datetime:
    """The start of ``moment``'s UTC day, or of its ISO week (Monday 00:00 UTC)."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday()) if period == "week" else day


def _breaches(lead_ratio: float, value_ratio: float, bounds: FairnessBounds | None, any_value: bool) -> tuple[str, ...]:
    if bounds is None:
        return ()
    found = []
    if bounds.max_lead_ratio is not None and lead_ratio > bounds.max_lead_ratio + 1e-9:
        found.append(f"lead share above {bounds.max_lead_ratio:g}× fair")
    if bounds.min_lead_ratio is not None and lead_ratio < bounds.min_lead_ratio - 1e-9:
        found.append(f"lead share below {bounds.min_lead_ratio:g}× fair")
    if any_value and bounds.max_value_ratio is not None and value_ratio > bounds.max_value_ratio + 1e-9:
        found.append(f"value share above {bounds.max_value_ratio:g}× fair")
    if any_value and bounds.min_value_ratio is not None and value_ratio < bounds.min_value_ratio - 1e-9:
        found.append(f"value share below {bounds.min_value_ratio:g}× fair")
    return tuple(found)


def shares_of(
    given: Sequence[tuple[str, float]], weights: dict[str, float], bounds: FairnessBounds | None, start: datetime
) -> PeriodShares:
    """Each rep's shares of the ``(rep, expected value)`` assignments ``given``, with the Ginis.

    The pool is the reps of ``weights`` plus any other rep that was given a lead (weight 1); fair shares
    are weight-proportional unless ``bounds`` says ``weighted = false``.
    """
    pool = dict(weights)
    for rep, _ in given:
        pool.setdefault(rep, 1.0)
    names = sorted(pool)
    leads = {name: 0 for name in names}
    value = {name: 0.0 for name in names}
    for rep, expected in given:
        leads[rep] += 1
        value[rep] += expected
    weighted = bounds.weighted if bounds is not None else True
    w = np.array([pool[n] if weighted else 1.0 for n in names], dtype=float)
    fair = w / w.sum() if len(names) and w.sum() > 0 else np.full(len(names), 1.0 / max(len(names), 1))
    total_leads, total_value = sum(leads.values()), sum(value.values())
    rows = []
    for name, share in zip(names, fair, strict=True):
        lead_share = leads[name] / total_leads if total_leads else 0.0
        value_share = value[name] / total_value if total_value > 0 else 0.0
        lead_ratio = lead_share / share if share > 0 else 0.0
        value_ratio = value_share / share if share > 0 else 0.0
        rows.append(
            RepShare(
                rep=name, leads=leads[name], expected_value=value[name], fair_share=float(share),
                lead_share=lead_share, value_share=value_share, lead_ratio=lead_ratio, value_ratio=value_ratio,
                outside=_breaches(lead_ratio, value_ratio, bounds, total_value > 0) if total_leads else (),
            )
        )  # fmt: skip
    return PeriodShares(
        start=start, leads=total_leads, expected_value=total_value,
        gini_leads=gini(leads.values()), gini_value=gini(value.values()), reps=tuple(rows),
    )  # fmt: skip


def shares_over_time(
    assignments: Sequence[tuple[str, datetime, float]],
    weights: dict[str, float],
    bounds: FairnessBounds | None,
    *,
    period: str,
    periods: int,
    end: datetime,
) -> list[PeriodShares]:
    """Shares per calendar period (``day`` or ``week``, UTC), the last ``periods`` of them up to ``end``
    (the current, partial one included), oldest first; ``assignments`` are ``(rep, assigned at, expected
    value)``."""
    step = PERIODS[period]
    last = period_start(end, period)
    starts = [last - step * k for k in range(periods - 1, -1, -1)]
    by_start: dict[datetime, list[tuple[str, float]]] = {start: [] for start in starts}
    for rep, moment, expected in assignments:
        bucket = by_start.get(period_start(moment, period))
        if bucket is not None:
            bucket.append((rep, expected))
    return [shares_of(by_start[start], weights, bounds, start) for start in starts]
