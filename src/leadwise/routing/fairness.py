"""Fairness: bounds on each rep's share of leads and of expected value, and the measures reported.

A rep's *fair share* is equal (1/n) or weight-proportional (w_i / Σw) over the reps considered. Bounds
are ratios to that share: ``max_lead_ratio=1.5`` lets nobody take more than 1.5× their fair share of
the leads in the rolling window.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

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
