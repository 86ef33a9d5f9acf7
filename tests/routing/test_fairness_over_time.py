"""Shares of leads and expected value per period against the fair share and the bounds, checked by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadwise.routing.fairness import FairnessBounds, period_start, shares_over_time


def at(day: int, hour: int) -> datetime:
    return datetime(2024, 3, day, hour, tzinfo=UTC)


GIVEN = [
    ("A", at(3, 23), 50.0),  # the day before the range: left out
    ("A", at(4, 9), 10.0),
    ("A", at(4, 10), 10.0),
    ("B", at(4, 11), 20.0),
    ("C", at(5, 8), 5.0),
    ("D", at(5, 9), 5.0),  # not in the pool's weights (inactive): joins that day's pool with weight 1
]
WEIGHTS = {"A": 1.0, "B": 1.0, "C": 2.0}


def test_shares_per_day_against_weighted_fair_shares_and_the_bound() -> None:
    bounds = FairnessBounds(max_lead_ratio=1.5)
    first, second = shares_over_time(GIVEN, WEIGHTS, bounds, period="day", periods=2, end=at(5, 10))
    assert (first.start, second.start) == (at(4, 0), at(5, 0))
    # Day 1: A 2 leads, B 1, C 0; fair shares 1/4, 1/4, 1/2.
    a, b, c = first.reps
    assert (a.rep, a.leads, a.fair_share, a.lead_ratio) == ("A", 2, 0.25, pytest.approx(8 / 3))
    assert a.outside == ("lead share above 1.5× fair",)
    assert (b.lead_ratio, b.outside) == (pytest.approx(4 / 3), ())
    assert (c.leads, c.lead_ratio, c.outside) == (0, 0.0, ())  # no min bound: nothing owed
    assert a.value_share == pytest.approx(0.5) and b.value_share == pytest.approx(0.5)
    assert first.gini_leads == pytest.approx(4 / 9)  # [0, 1, 2]
    # Day 2: C and D one lead each; the pool is A, B, C (weight 2) and D: total weight 5.
    shares = {r.rep: r for r in second.reps}
    assert shares["C"].fair_share == pytest.approx(0.4) and shares["C"].lead_ratio == pytest.approx(1.25)
    assert shares["D"].fair_share == pytest.approx(0.2) and shares["D"].outside == ("lead share above 1.5× fair",)
    assert second.leads == 2 and second.expected_value == 10.0


def test_min_bounds_unweighted_shares_and_empty_periods() -> None:
    bounds = FairnessBounds(min_lead_ratio=0.5, max_value_ratio=1.2, weighted=False)
    (day,) = shares_over_time(GIVEN[1:4], WEIGHTS, bounds, period="day", periods=1, end=at(4, 23))
    by_rep = {r.rep: r for r in day.reps}
    assert by_rep["C"].fair_share == pytest.approx(1 / 3)  # weights ignored
    assert by_rep["C"].outside == ("lead share below 0.5× fair",)
    # Values 20, 10... A holds 20 of 40 (ratio 1.5), B 20 of 40 too.
    assert by_rep["A"].outside == ("value share above 1.2× fair",)
    (quiet,) = shares_over_time(GIVEN, WEIGHTS, bounds, period="day", periods=1, end=at(20, 12))
    assert quiet.leads == 0 and quiet.gini_leads == 0.0 and all(r.outside == () for r in quiet.reps)


def test_weeks_start_on_monday_and_the_range_ends_with_the_current_period() -> None:
    assert period_start(datetime(2024, 3, 6, 15, tzinfo=UTC), "week") == at(4, 0)  # Wednesday → Monday
    weeks = shares_over_time(GIVEN, WEIGHTS, None, period="week", periods=2, end=at(6, 15))
    assert [w.start for w in weeks] == [datetime(2024, 2, 26, tzinfo=UTC), at(4, 0)]
    assert weeks[0].leads == 1 and weeks[1].leads == 5  # the 3rd is a Sunday: the week before
    assert all(r.outside == () for w in weeks for r in w.reps)  # no bounds, nothing breaks one
