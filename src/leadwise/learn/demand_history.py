"""What the training history says about demand, kept with the registered model: the cold start of the
``optimised`` strategy's capacity prices, until the service has a log of its own.

- **The lead mix:** a sample of the history's most recent leads, as a caller sends them (no rep, no
  outcome). Serving scores them against its current reps (``services.prices``), so a rep added since
  training is priced like any other.
- **Arrivals:** the history's dated leads over the span they were engaged in, by day of the week. The
  history has dates only, so a day's leads are spread evenly over its 24 hours.
- **How long a lead stays open:** engage → close of the closed deals and, right-censored, the age of the
  deals still open when the history ends, for the same Kaplan-Meier median the service computes from its
  own offers (``routing.demand.open_horizon``): the closed ones alone would see only the quick closes.

Written by ``leadwise train`` as the artefact ``demand_history.json`` of every registered model version
(``learn.tracking``) and read back with the model (``learn.pyfunc``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadwise.routing.demand import HOURS_PER_WEEK, ArrivalRates, OpenHorizon, kaplan_meier_median

DEMAND_ARTIFACT = "demand_history"
DEMAND_FILE = "demand_history.json"
SOURCE = "the training history kept with the model"
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class DemandHistory:
    leads: list[dict[str, Any]]  # a sample of recent leads, as a caller sends them
    arrivals_per_hour: list[float]  # HOURS_PER_WEEK rates, Monday 00:00 UTC first
    arrivals_observed: int  # dated leads behind the rates
    closed_days: list[float]  # engage -> close of closed deals (a sample), days
    open_days: list[float]  # age of the deals still open when the history ends (a sample), days

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        leads: pd.DataFrame,
        *,
        sample_size: int = 500,
        max_durations: int = 5_000,
        smoothing_weeks: float = 2.0,
        seed: int = 0,
    ) -> DemandHistory | None:
        """From a training frame (``engage_date``, and ``close_date`` when the history has it) and the
        same rows as a caller sends them (``leads``, aligned with ``frame``); None without dated leads.

        The lead sample is drawn from the most recent ``4 × sample_size`` dated leads (the mix drifts);
        durations are thinned to ``max_durations`` in all, closed and open at the same rate, at random (the
        median does not need them all)."""
        if "engage_date" not in frame:
            return None
        engage = pd.to_datetime(frame["engage_date"])
        dated = np.flatnonzero(engage.notna().to_numpy())
        if dated.size < 2:
            return None
        rng = np.random.default_rng(seed)
        days = engage.iloc[dated].dt.normalize()
        first, last = days.min(), days.max()
        span_days = float((last - first).days) + 1
        weeks = span_days / 7
        per_weekday = np.bincount(days.dt.weekday.to_numpy(), minlength=7).astype(float)
        overall_per_day = dated.size / span_days
        # Each weekday's count over the weeks seen, shrunk towards the overall rate (as the service does).
        daily = (per_weekday + smoothing_weeks * overall_per_day) / (weeks + smoothing_weeks)
        per_hour = np.repeat(daily / 24, 24)
        assert per_hour.size == HOURS_PER_WEEK

        recent = dated[np.argsort(engage.iloc[dated].to_numpy(), kind="stable")][-4 * sample_size :]
        chosen = np.sort(rng.choice(recent, size=min(sample_size, recent.size), replace=False))
        sample = [
            {str(k): v for k, v in row.items() if not _missing(v)}
            for row in leads.iloc[chosen].to_dict("records")
        ]

        closed_days: np.ndarray = np.zeros(0)
        open_days: np.ndarray = np.zeros(0)
        if "close_date" in frame:
            close = pd.to_datetime(frame["close_date"]).iloc[dated]
            ends = close.notna().to_numpy()
            closed_days = ((close[ends] - engage.iloc[dated][ends]) / _DAY).to_numpy(dtype=float)
            open_days = ((last - days[~ends]) / _DAY).to_numpy(dtype=float)
        # Thinned at one rate: the share still open is what the Kaplan-Meier median depends on.
        keep = min(1.0, max_durations / max(closed_days.size + open_days.size, 1))
        return cls(
            leads=sample,
            arrivals_per_hour=[float(v) for v in per_hour],
            arrivals_observed=int(dated.size),
            closed_days=_thin(closed_days, round(keep * closed_days.size), rng),
            open_days=_thin(open_days, round(keep * open_days.size), rng),
        )

    def arrivals(self) -> ArrivalRates:
        return ArrivalRates(
            per_hour=np.array(self.arrivals_per_hour, dtype=float), source=SOURCE, observed=self.arrivals_observed
        )

    def open_horizon(self) -> OpenHorizon | None:
        """How long a lead stays open by the history: the Kaplan-Meier median of its deals; None when the
        history does not know (too few close dates, or more than half its deals still open)."""
        estimate = kaplan_meier_median([d * _DAY for d in self.closed_days], [d * _DAY for d in self.open_days])
        if estimate is None:
            return None
        return OpenHorizon(estimate, f"{SOURCE}: Kaplan-Meier median of {len(self.closed_days)} closed and "
                                     f"{len(self.open_days)} open deals")

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def read(cls, path: str | Path) -> DemandHistory:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _thin(values: np.ndarray, at_most: int, rng: np.random.Generator) -> list[float]:
    if values.size > at_most:
        values = rng.choice(values, size=at_most, replace=False)
    return [round(float(v), 3) for v in values]
