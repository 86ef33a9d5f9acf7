"""What the training history says about demand, kept with the model for the capacity prices' cold start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from leadwise.learn.demand_history import SOURCE, DemandHistory


def _history(n_weeks: int = 10, per_weekday: tuple[int, ...] = (6, 6, 6, 6, 6, 1, 1)) -> pd.DataFrame:
    """Leads engaged on weekdays more than weekends (starting Monday 2024-01-01); each closes 10 days
    after its engage date, except the last week's, still open when the history ends."""
    start = pd.Timestamp("2024-01-01")
    engage = [
        start + pd.Timedelta(days=7 * week + day)
        for week in range(n_weeks)
        for day, count in enumerate(per_weekday)
        for _ in range(count)
    ]
    frame = pd.DataFrame({"lead_id": [f"L{i}" for i in range(len(engage))], "engage_date": engage})
    last_week = frame["engage_date"] >= start + pd.Timedelta(weeks=n_weeks - 1)
    frame["close_date"] = frame["engage_date"].where(last_week.__invert__()) + pd.Timedelta(days=10)
    frame["account"] = "Acme"
    frame["product"] = np.where(np.arange(len(frame)) % 2, "GTX Pro", None)
    return frame


def test_arrivals_follow_the_history_s_weekdays_and_integrate_to_its_count() -> None:
    frame = _history()
    history = DemandHistory.from_frame(frame, frame[["lead_id", "account", "product"]], smoothing_weeks=0.0)
    assert history is not None
    rates = history.arrivals()
    assert rates.source == SOURCE and rates.observed == len(frame)
    monday = datetime(2025, 1, 6, tzinfo=UTC)
    # The last engage day is a Sunday: the span is whole weeks, so each weekday's rate is its count.
    assert abs(rates.expected(monday, monday + timedelta(days=1)) - 6) < 1e-9
    assert abs(rates.expected(monday + timedelta(days=5), monday + timedelta(days=6)) - 1) < 1e-9
    assert abs(rates.expected(monday, monday + timedelta(weeks=1)) - len(frame) / 10) < 1e-9
    smoothed = DemandHistory.from_frame(frame, frame[["lead_id", "account", "product"]]).arrivals()
    saturday = smoothed.expected(monday + timedelta(days=5), monday + timedelta(days=6))
    assert 1 < saturday < 32 / 7  # pulled towards the overall daily rate


def test_how_long_a_lead_stays_open_counts_the_open_deals_as_censored() -> None:
    frame = _history()
    history = DemandHistory.from_frame(frame, frame[["lead_id"]])
    assert history is not None and len(history.open_days) == 32 and set(history.closed_days) == {10.0}
    horizon = history.open_horizon()
    assert horizon is not None and horizon.duration == timedelta(days=10)
    assert horizon.source.startswith(SOURCE) and "288 closed and 32 open deals" in horizon.source
    # Most deals still open: the history cannot say how long they stay open.
    mostly_open = frame.assign(close_date=frame["close_date"].where(frame.index < 40))
    unknown = DemandHistory.from_frame(mostly_open, mostly_open[["lead_id"]])
    assert unknown is not None and unknown.open_horizon() is None
    no_dates = DemandHistory.from_frame(frame.drop(columns="close_date"), frame[["lead_id"]])
    assert no_dates is not None and no_dates.open_horizon() is None


def test_the_lead_sample_is_recent_and_as_a_caller_sends_it(tmp_path: Path) -> None:
    frame = _history()
    history = DemandHistory.from_frame(frame, frame[["lead_id", "account", "product"]], sample_size=20)
    assert history is not None and len(history.leads) == 20
    recent = set(frame["lead_id"].iloc[-80:])
    assert {lead["lead_id"] for lead in history.leads} <= recent
    assert all("product" not in lead or lead["product"] == "GTX Pro" for lead in history.leads)  # no None
    history.write(tmp_path / "demand.json")
    assert DemandHistory.read(tmp_path / "demand.json") == history


def test_a_history_without_dates_keeps_nothing() -> None:
    frame = _history()
    assert DemandHistory.from_frame(frame.drop(columns=["engage_date"]), frame[["lead_id"]]) is None
    assert DemandHistory.from_frame(frame.assign(engage_date=pd.NaT), frame[["lead_id"]]) is None


def test_thinning_keeps_the_share_of_open_deals() -> None:
    frame = _history(n_weeks=40)  # 1,248 closed, 32 open
    history = DemandHistory.from_frame(frame, frame[["lead_id"]], max_durations=320)
    assert history is not None and len(history.closed_days) == 312 and len(history.open_days) == 8
