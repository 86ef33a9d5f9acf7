"""``routing.demand``: arrival rates by hour of week, and each rep's scarcest capacity limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from leadwise.routing import Capacity, Rep, RepLoad
from leadwise.routing.demand import ArrivalRates, hour_of_week, open_horizon, scarcity

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, 00:00 UTC


def test_hour_of_week_counts_from_monday_midnight_utc() -> None:
    assert hour_of_week(MONDAY) == 0
    assert hour_of_week(MONDAY + timedelta(days=6, hours=23, minutes=59)) == 167


def test_rates_follow_the_hours_leads_arrive_in_and_integrate_to_the_count() -> None:
    # Four weeks: 10 leads every weekday at 10:00, none at night or at the weekend.
    times = [MONDAY + timedelta(weeks=w, days=d, hours=10, minutes=m) for w in range(4) for d in range(5) for m in range(10)]
    rates = ArrivalRates.from_times(times, source="own log", since=MONDAY, until=MONDAY + timedelta(weeks=4))
    assert rates is not None
    busy = rates.per_hour[hour_of_week(MONDAY + timedelta(hours=10))]
    night = rates.per_hour[hour_of_week(MONDAY + timedelta(hours=3))]
    assert busy > 5 and night < 0.5  # smoothed towards the mean, but the shape is kept
    week = rates.expected(MONDAY, MONDAY + timedelta(weeks=1))
    assert week == pytest.approx(50)  # smoothing keeps the total
    assert rates.expected(MONDAY + timedelta(hours=10), MONDAY + timedelta(hours=11)) == pytest.approx(busy)


def test_less_than_a_week_of_log_gives_a_flat_rate() -> None:
    times = [MONDAY + timedelta(minutes=k) for k in range(120)]  # 120 leads in 2 hours
    rates = ArrivalRates.from_times(times, source="own log", until=MONDAY + timedelta(hours=2))
    assert rates is not None
    assert np.allclose(rates.per_hour, 60.0)
    assert rates.expected(MONDAY, MONDAY + timedelta(days=1)) == pytest.approx(60.0 * 24)
    assert ArrivalRates.from_times([], source="own log", until=MONDAY) is None


def test_expected_over_a_partial_hour_and_many_weeks() -> None:
    rates = ArrivalRates.constant(2.0, source="history")
    assert rates.expected(MONDAY, MONDAY + timedelta(minutes=30)) == pytest.approx(1.0)
    assert rates.expected(MONDAY, MONDAY + timedelta(weeks=3, hours=1)) == pytest.approx(2.0 * (3 * 168 + 1))
    assert rates.expected(MONDAY, MONDAY) == 0.0


def _rep(rep_id: str, **capacity: int) -> Rep:
    return Rep(id=rep_id, name=rep_id, capacity=Capacity(**capacity))


def test_scarcity_picks_each_rep_s_tightest_limit() -> None:
    rates = ArrivalRates.constant(10.0, source="history")  # 240 a day
    now = MONDAY + timedelta(hours=12)  # 12 h left today, 6.5 days this week
    reps = [_rep("open", max_open=100), _rep("daily", max_open=1000, max_per_day=20), _rep("free", max_open=None)]
    loads = {"open": RepLoad(open_leads=40), "daily": RepLoad(assigned_today=15)}
    got = scarcity(reps, loads, now, arrivals=rates, open_horizon=timedelta(days=2))
    assert got.limit == ("open leads", "today", "none")
    assert got.room[:2].tolist() == [60, 5]
    assert got.expected_leads[:2].tolist() == pytest.approx([480, 120])  # 2 days; the rest of today
    assert np.isinf(got.room[2])
    scaled = got.scaled_room(100)
    assert scaled[:2].tolist() == pytest.approx([60 * 100 / 480, 5 * 100 / 120])


def test_an_admin_s_expected_leads_replace_the_estimate_for_open_seats() -> None:
    rates = ArrivalRates.constant(10.0, source="history")
    got = scarcity([_rep("a", max_open=50)], {}, MONDAY, arrivals=rates, open_horizon=timedelta(days=7), open_demand=200)
    assert got.expected_leads.tolist() == [200]
    # 50 seats for 200 leads to come are 125 seats for a sample of 500 of them.
    assert got.scaled_room(500).tolist() == [125]
    assert got.scaled_room(40).tolist() == [10]
    # More seats than leads to come: a seat for every lead of the sample.
    few = scarcity([_rep("a", max_open=50)], {}, MONDAY, arrivals=rates, open_horizon=timedelta(days=7), open_demand=20)
    assert few.scaled_room(500).tolist() == [500]


DAY = timedelta(days=1)
WEEK = timedelta(days=7)


def test_the_open_horizon_is_the_kaplan_meier_median_of_closed_and_open_offers() -> None:
    closed = [d * DAY for d in range(1, 31)]  # closed after 1, 2, ..., 30 days
    assert open_horizon(closed, [], default=WEEK).duration == 15 * DAY
    # The same closes with as many offers still open at 20 days: half of all last beyond 20 days, and the
    # median is later than the closed ones alone say.
    horizon = open_horizon(closed, [20 * DAY] * 30, default=WEEK)
    assert horizon.duration > 15 * DAY and "Kaplan-Meier" in horizon.source


def test_while_most_offers_are_open_the_oldest_bounds_the_horizon_from_below() -> None:
    quick = [DAY] * 20  # only the quick closes are in yet
    horizon = open_horizon(quick, [10 * DAY] * 60, default=WEEK)
    assert horizon.duration == 10 * DAY and "oldest" in horizon.source  # not the 1 day of the closed alone
    assert open_horizon([], [2 * DAY], default=WEEK).duration == WEEK  # younger than the setting: the setting
    assert open_horizon([DAY] * 5, [], default=WEEK).source.startswith("LEADWISE_DEMAND_OPEN_HORIZON_HOURS")
