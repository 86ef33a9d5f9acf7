"""The pure parts of the live replay: answers as assignments, the timed hindsight LP against brute force,
the violation count, the close schedule, and the workload world that feeds them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from leadwise.simulate.live_replay import (
    CloseSchedule,
    StreamClock,
    TimedLimits,
    assignment_from_answers,
    service_clock_violations,
    timed_optimum,
    timed_violations,
)
from leadwise.simulate.world import generate_world
from leadwise.simulate.world_config import Workload, WorldConfig
from leadwise.simulate.world_files import load_truth, write_world

SMALL = WorldConfig(seed=5, n_history=1_000, n_stream=120, n_reps=6, n_accounts=30)


def test_answers_become_rep_indices_and_an_unknown_rep_is_an_error() -> None:
    chosen = assignment_from_answers(["b", None, "a", "b"], ["a", "b", "c"])
    assert chosen.tolist() == [1, -1, 0, 1]
    with pytest.raises(ValueError, match="zed"):
        assignment_from_answers(["zed"], ["a", "b"])


def _brute_force(values: np.ndarray, limits: TimedLimits) -> float:
    n, m = values.shape
    best = 0.0
    for choice in itertools.product(range(-1, m), repeat=n):
        chosen = np.array(choice)
        if timed_violations(chosen, limits) != (0, 0):
            continue
        rows = np.flatnonzero(chosen >= 0)
        best = max(best, float(values[rows, chosen[rows]].sum()))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_timed_optimum_matches_brute_force_on_small_worlds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = 6, 2
    engage = np.sort(rng.integers(0, 12, n))
    limits = TimedLimits(
        engage_day=engage,
        close_day=engage + rng.integers(1, 6, n),
        max_open=rng.integers(1, 3, m),
        weekly_quota=rng.integers(1, 3, m),
    )
    values = rng.random((n, m))
    brute = _brute_force(values, limits)
    optimum = timed_optimum(values, limits)
    assert optimum.objective == pytest.approx(brute)
    assert optimum.gap == pytest.approx(0.0, abs=1e-3)
    assert timed_violations(optimum.assignment(), limits) == (0, 0)
    relaxed = timed_optimum(values, limits, integral=False)
    assert relaxed.bound >= brute - 1e-9  # the relaxation never does worse


def test_the_relaxation_can_be_fractional_where_the_integral_optimum_is_not() -> None:
    # Two reps, one open slot each; three leads overlap pairwise in a cycle (0-1 on day 1, 1-2 on day 2,
    # and 0-2 never): the LP may split leads, the MIP must not.
    limits = TimedLimits(
        engage_day=np.array([0, 1, 1, 2]),
        close_day=np.array([2, 3, 3, 4]),
        max_open=np.array([1, 1]),
        weekly_quota=np.array([4, 4]),
    )
    values = np.array([[0.9, 0.1], [0.8, 0.7], [0.6, 0.6], [0.5, 0.9]])
    optimum = timed_optimum(values, limits)
    assert optimum.fractional_share == 0
    assert optimum.objective == pytest.approx(_brute_force(values, limits))


def test_a_rep_with_one_open_slot_takes_leads_that_do_not_overlap() -> None:
    # Three leads, one rep (max one open, quota 3): leads 0 and 2 fit (0 closes on day 2), lead 1 overlaps.
    limits = TimedLimits(
        engage_day=np.array([0, 1, 2]),
        close_day=np.array([2, 3, 4]),
        max_open=np.array([1]),
        weekly_quota=np.array([3]),
    )
    optimum = timed_optimum(np.array([[0.5], [0.6], [0.5]]), limits)
    assert optimum.objective == pytest.approx(1.0)
    assert optimum.assignment().tolist() == [0, -1, 0]


def test_violations_count_rep_days_over_the_open_limit_and_rep_weeks_over_the_quota() -> None:
    limits = TimedLimits(
        engage_day=np.array([0, 0, 1, 8, 8]),
        close_day=np.array([5, 5, 5, 9, 9]),
        max_open=np.array([2, 5]),
        weekly_quota=np.array([2, 5]),
    )
    # rep 0: three open on day 1 (one rep-day over), three in week 0 (one rep-week over); week 1 is fine
    assert timed_violations(np.array([0, 0, 0, 0, 0]), limits) == (1, 1)
    assert timed_violations(np.array([0, 1, 0, 0, 1]), limits) == (0, 0)
    with pytest.raises(ValueError):
        TimedLimits(np.array([1, 0]), np.array([2, 2]), np.array([1]), np.array([1]))


def test_on_the_service_s_clock_a_late_post_moves_a_lead_to_another_day_and_week() -> None:
    monday = datetime(2026, 1, 5, tzinfo=UTC)
    at = [monday + timedelta(hours=h) for h in (1, 2, 3)]
    closed = [monday + timedelta(hours=2), None, None]
    # Rep 0 may have 2 open: lead 0 closes at 02:00 just as lead 1 is offered (a close counts first).
    assert service_clock_violations(np.array([0, 0, 0]), at, closed, np.array([2]), np.array([3])) == (0, 0)
    # Lead 0 closed only at 04:00: three open from 03:00, one rep-day over; four in the week is over 3.
    late = [monday + timedelta(hours=4), None, None]
    assert service_clock_violations(np.array([0, 0, 0]), at, late, np.array([2]), np.array([2])) == (1, 1)
    # The stream put lead 2 on Sunday (quota 2 for the week: over); posted 25 h late, the service stamped it
    # the next Monday: not over on its clock. Unassigned leads (-1) count for nobody.
    sunday = monday + timedelta(days=6, hours=23)
    stamped = [sunday - timedelta(hours=2), sunday - timedelta(hours=1), sunday + timedelta(hours=25)]
    assert service_clock_violations(np.array([0, 0, 0]), stamped, [None] * 3, np.array([9]), np.array([2])) == (0, 0)
    assert service_clock_violations(np.array([0, 0, -1]), stamped[:2] + [sunday], [None] * 3, np.array([9]), np.array([1])) == (0, 1)


def test_close_schedule_pops_leads_in_close_order() -> None:
    schedule = CloseSchedule(np.array([5, 3, 9, 3]))
    for lead in (0, 1, 2, 3):
        schedule.add(lead)
    assert schedule.due(2) == []
    assert schedule.due(4) == [1, 3]
    assert schedule.due(5) == [0]
    assert len(schedule) == 1


def test_the_stream_clock_starts_on_a_monday_spreads_each_day_and_paces_the_whole_stream() -> None:
    engage_day = np.array([0, 0, 0, 1, 9])
    clock = StreamClock.for_stream(
        engage_day, wall_seconds=100.0, anchor=5_000.0, first=datetime(2025, 3, 5, 14, 0, tzinfo=UTC)
    )
    assert clock.monday == datetime(2025, 3, 3, tzinfo=UTC) and clock.monday.weekday() == 0
    assert clock.speed == 10 * 86_400 / 100.0  # ten stream days (0-9) in 100 wall seconds
    instants = clock.instants(engage_day)
    assert [t.hour for t in instants[:3]] == [4, 12, 20]  # day 0's three leads at 1/6, 1/2, 5/6 of it
    assert instants[3] == clock.monday + timedelta(days=1, hours=12)
    assert instants == sorted(instants)
    assert clock.wall_time(clock.monday) == 5_000.0
    assert clock.wall_time(clock.monday + timedelta(days=10)) == pytest.approx(5_100.0)
    later = clock.starting_after(5_000.0 + 25.0)  # the server was ready 25 wall seconds in
    week = 7 * 86_400 / clock.speed
    assert later.monday == clock.monday + timedelta(weeks=1) and later.monday.weekday() == 0  # a week: 70 s
    assert later.anchor == pytest.approx(5_000.0 + week) and later.anchor >= 5_025.0
    assert later.settings_env() != clock.settings_env() and later.speed == clock.speed
    assert clock.starting_after(4_000.0) == clock  # not started yet: nothing to move
    env = clock.settings_env()
    assert datetime.fromisoformat(env["LEADWISE_CLOCK_START"]) == clock.monday
    assert (
        float(env["LEADWISE_CLOCK_SPEED"]) == clock.speed and float(env["LEADWISE_CLOCK_ANCHOR"]) == 5_000.0
    )


def test_a_workload_world_adds_close_dates_and_changes_nothing_else(tmp_path: Path) -> None:
    plain = generate_world(SMALL)
    workload = Workload(enabled=True, cycle_days_min=2, cycle_days_max=4, max_open=3, weekly_quota=2)
    busy = generate_world(SMALL.model_copy(update={"workload": workload}))
    assert "close_date" not in plain.stream.columns
    assert busy.stream.drop(columns="close_date").equals(plain.stream)
    assert busy.pipeline.equals(plain.pipeline)
    np.testing.assert_array_equal(busy.p_matrix, plain.p_matrix)
    cycle = (
        busy.stream["close_date"].astype("datetime64[ns]")
        - busy.stream["engage_date"].astype("datetime64[ns]")
    ).dt.days
    assert cycle.between(2, 4).all() and cycle.nunique() == 3

    write_world(plain, tmp_path / "plain")
    assert TimedLimits.from_truth(load_truth(tmp_path / "plain")) is None
    write_world(busy, tmp_path / "busy")
    limits = TimedLimits.from_truth(load_truth(tmp_path / "busy"))
    assert limits is not None
    assert limits.engage_day[0] == 0 and (limits.close_day - limits.engage_day).min() >= 2
    assert (
        limits.max_open.tolist() == [3] * SMALL.n_reps and limits.weekly_quota.tolist() == [2] * SMALL.n_reps
    )


def test_the_weekly_quotas_world_config_loads() -> None:
    config = WorldConfig.from_file(
        Path(__file__).resolve().parents[2] / "training" / "worlds" / "weekly_quotas.toml"
    )
    assert config.workload.enabled
