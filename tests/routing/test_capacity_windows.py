"""Capacity windows (``routing.capacity``): open, period and rolling limits stacked on a rep, pool caps in a
flow, in the online engine, the batch LP and the capacity prices' scarcity."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pydantic import ValidationError
from tests.routing.conftest import lead

from leadwise.routing import (
    Capacity,
    InMemoryState,
    InvalidFlow,
    ManualClock,
    Rep,
    RepLoad,
    Scores,
    parse_flow,
    route_lead,
)
from leadwise.routing.batch import batch_decisions
from leadwise.routing.capacity import CapacityWindow
from leadwise.routing.demand import ArrivalRates, scarcity
from leadwise.routing.domain import WorkingHours
from leadwise.routing.flows import Flow
from leadwise.routing.optimiser import GroupCaps, assign_batch

PARIS = ZoneInfo("Europe/Paris")
# Monday 2024-01-08 23:30 UTC is already Tuesday 00:30 in Paris.
LATE_MONDAY = datetime(2024, 1, 8, 23, 30, tzinfo=UTC)


def rolling(limit: int, **span: int) -> CapacityWindow:
    return CapacityWindow(kind="rolling", limit=limit, **span)


def period(limit: int, name: str) -> CapacityWindow:
    return CapacityWindow.model_validate({"kind": "period", "period": name, "limit": limit})


def _excluded(decision) -> dict[str, str]:
    return {e.rep_id: e.reason for e in decision.explanation.excluded}


# ---------------------------------------------------------------------------------------- windows


def test_period_windows_start_and_end_in_the_given_time_zone() -> None:
    day, week, month, hour = period(1, "day"), period(1, "week"), period(1, "month"), period(1, "hour")
    assert day.start(LATE_MONDAY, PARIS) == datetime(2024, 1, 9, tzinfo=PARIS)  # Paris's Tuesday
    assert day.start(LATE_MONDAY, ZoneInfo("UTC")) == datetime(2024, 1, 8, tzinfo=UTC)
    assert day.frees_at(LATE_MONDAY, PARIS, timedelta(0)) == datetime(2024, 1, 10, tzinfo=PARIS)
    assert week.start(LATE_MONDAY, PARIS) == datetime(2024, 1, 8, tzinfo=PARIS)
    assert week.frees_at(LATE_MONDAY, PARIS, timedelta(0)) == datetime(2024, 1, 15, tzinfo=PARIS)
    assert month.start(LATE_MONDAY, PARIS) == datetime(2024, 1, 1, tzinfo=PARIS)
    assert month.frees_at(datetime(2024, 12, 31, 12, tzinfo=UTC), PARIS, timedelta(0)) == datetime(2025, 1, 1, tzinfo=PARIS)
    assert hour.start(LATE_MONDAY, PARIS) == datetime(2024, 1, 9, 0, tzinfo=PARIS)
    assert hour.frees_at(LATE_MONDAY, PARIS, timedelta(0)) == datetime(2024, 1, 9, 1, tzinfo=PARIS)
    # The day of a DST change is 23 hours long: it still ends at the next local midnight.
    spring = datetime(2024, 3, 31, 12, tzinfo=UTC)
    assert day.frees_at(spring, PARIS, timedelta(0)).astimezone(UTC) - day.start(spring, PARIS).astimezone(UTC) == timedelta(hours=23)
    # In a zone half an hour off UTC the hour starts on the local hour.
    india = datetime(2024, 1, 8, 10, 10, tzinfo=UTC)  # 15:40 in Kolkata
    assert hour.start(india, ZoneInfo("Asia/Kolkata")) == datetime(2024, 1, 8, 9, 30, tzinfo=UTC)


def test_rolling_and_open_windows_count_back_from_now() -> None:
    window = rolling(3, hours=24)
    assert window.start(LATE_MONDAY, PARIS) == LATE_MONDAY - timedelta(hours=24)
    assert window.frees_at(LATE_MONDAY, PARIS, timedelta(0)) == LATE_MONDAY + timedelta(hours=24)
    assert rolling(3, days=7).key == rolling(3, hours=168).key  # the same span counts once
    opened = CapacityWindow(kind="open", limit=2)
    assert opened.start(LATE_MONDAY, PARIS) is None
    assert opened.frees_at(LATE_MONDAY, PARIS, timedelta(hours=5)) == LATE_MONDAY + timedelta(hours=5)


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ({"kind": "period", "limit": 3}, "a period window needs 'period'"),
        ({"kind": "period", "period": "year", "limit": 3}, "period"),
        ({"kind": "rolling", "limit": 3}, "a rolling window needs one of 'hours' or 'days'"),
        ({"kind": "rolling", "hours": 2, "days": 1, "limit": 3}, "one of 'hours' or 'days'"),
        ({"kind": "open", "hours": 2, "limit": 3}, "an open window takes no 'hours'"),
        ({"kind": "rolling", "hours": 0, "limit": 3}, "hours"),
        ({"kind": "open", "limit": -1}, "limit"),
        ({"kind": "weekly", "limit": 1}, "kind"),
    ],
)
def test_a_malformed_window_is_refused_with_what_is_wrong(window, message) -> None:
    with pytest.raises(ValidationError, match=message):
        CapacityWindow.model_validate(window)


def test_the_original_limits_are_windows_and_read_the_same_counters() -> None:
    capacity = Capacity(max_open=5, max_per_day=2, max_per_week=9, windows=(rolling(3, hours=24),))
    assert [w.key for w in capacity.all_windows] == ["open", "day", "week", "last 24h"]
    load = RepLoad(open_leads=1, assigned_today=2, assigned_this_week=2)
    assert load.capacity_block(capacity) == "capacity: 2/2 today"
    assert RepLoad(open_leads=5).capacity_block(capacity) == "capacity: 5/5 open"
    assert RepLoad(assigned_this_week=9).capacity_block(capacity) == "capacity: 9/9 this week"


def test_stacked_windows_all_hold_and_the_full_one_is_named() -> None:
    capacity = Capacity(windows=(period(10, "month"), rolling(3, hours=24), period(2, "hour")))
    load = RepLoad(assigned_in={"month": 4, "last 24h": 2, "hour": 1})
    assert load.capacity_block(capacity) is None
    assert load.room(capacity) == 1  # the hour and the rolling day both have one seat left
    load.record(LATE_MONDAY)  # a lead given since the counts were read falls in every window
    assert load.used(capacity.windows[0]) == 5
    assert load.capacity_block(capacity) == "capacity: 3/3 leads in the rolling 24 h window"
    assert load.room(capacity) == 0
    assert RepLoad(assigned_in={"month": 10}).capacity_block(capacity) == "capacity: 10/10 this month"
    assert RepLoad(assigned_in={"hour": 2}).capacity_block(capacity) == "capacity: 2/2 this hour"
    days = Capacity(windows=(rolling(4, days=7),))
    assert RepLoad(assigned_in={"last 168h": 4}).capacity_block(days) == "capacity: 4/4 leads in the rolling 7 d window"
    assert RepLoad().capacity_block(Capacity(windows=(rolling(0, hours=1),))) == "capacity 0: takes no leads"
    assert RepLoad().room(Capacity()) is None


def test_a_paused_window_is_named_before_an_earlier_full_one() -> None:
    # The open limit comes first and is full, but the rep takes nothing at all: that is what it says.
    capacity = Capacity(max_open=2, windows=(period(0, "day"),))
    assert RepLoad(open_leads=2).capacity_block(capacity) == "capacity 0: takes no leads"
    assert RepLoad(open_leads=2).capacity_block(Capacity(max_open=2)) == "capacity: 2/2 open"


def test_set_used_is_what_used_reads_after_leads_were_recorded() -> None:
    load = RepLoad()
    load.record(LATE_MONDAY)
    window = rolling(5, hours=2)
    load.set_used(window, 3)  # counted again, the recorded lead among them
    assert load.used(window) == 3
    load.set_used(period(5, "day"), 4)
    assert load.assigned_today == 4


def test_a_rep_s_time_zone_is_that_of_its_working_hours() -> None:
    assert Rep(id="a").zone.key == "UTC"
    assert Rep(id="b", working_hours=WorkingHours(timezone="Asia/Tokyo")).zone.key == "Asia/Tokyo"


# ------------------------------------------------------------------------------------------ engine


def test_routing_passes_a_rep_whose_rolling_window_is_full_and_says_which() -> None:
    reps = [
        Rep(id="busy", capacity=Capacity(max_open=10, windows=(rolling(3, hours=24), period(50, "month")))),
        Rep(id="free"),
    ]
    loads = {"busy": RepLoad(assigned_in={"last 24h": 3, "month": 3}), "free": RepLoad(open_leads=5)}
    clock = ManualClock(LATE_MONDAY)
    d = route_lead(lead=lead(), reps=reps, loads=loads, flow=Flow.single("load_balancing"), state=InMemoryState(), clock=clock)
    assert d.rep_id == "free"  # load balancing would prefer the idle rep: its window stops it
    assert _excluded(d)["busy"] == "capacity: 3/3 leads in the rolling 24 h window"


def test_each_window_stops_a_rep_when_it_fills_over_successive_leads() -> None:
    """Leads one after another, counted as the service counts them: at most 2 an hour and 3 a day."""
    rep = Rep(id="a", capacity=Capacity(windows=(period(2, "hour"), period(3, "day"))))
    clock = ManualClock(datetime(2024, 1, 8, 9, 0, tzinfo=UTC))

    def route_four(loads: dict[str, RepLoad]) -> list[str | None]:
        got = []
        for i in range(4):
            d = route_lead(lead=lead(i), reps=[rep], loads=loads, flow=Flow.single("round_robin"),
                           state=InMemoryState(), clock=clock)
            got.append(d.rep_id)
            if d.rep_id is not None:
                loads["a"].record(clock.now())
        return got

    first_hour = {"a": RepLoad()}
    assert route_four(first_hour) == ["a", "a", None, None]
    assert first_hour["a"].capacity_block(rep.capacity) == "capacity: 2/2 this hour"
    # An hour later the service counts again: a new hour, the same day.
    clock.advance(timedelta(hours=1))
    next_hour = {"a": RepLoad(assigned_today=2, assigned_in={"hour": 0})}
    assert route_four(next_hour) == ["a", None, None, None]
    assert next_hour["a"].capacity_block(rep.capacity) == "capacity: 3/3 today"


POOL_CAP_FLOW = """\
name = "capped"

[pools.inbound]
teams = ["inbound"]
timezone = "Europe/Paris"
capacity_windows = [{ kind = "period", period = "day", limit = 2 }, { kind = "open", limit = 5 }]

[pools.everyone]

[[steps]]
name = "inbound first"
pool = "inbound"
strategy = "round_robin"

[[steps]]
name = "overflow"
pool = "everyone"
strategy = "load_balancing"
"""


def test_a_full_pool_falls_through_to_the_next_step_and_says_which_cap() -> None:
    flow = parse_flow(POOL_CAP_FLOW)
    reps = [Rep(id="in", team="inbound"), Rep(id="out", team="field")]
    clock = ManualClock(LATE_MONDAY)
    d = route_lead(lead=lead(), reps=reps, loads={}, flow=flow, state=InMemoryState(), clock=clock,
                   pool_loads={"inbound": RepLoad(assigned_today=1)})
    assert (d.rep_id, d.explanation.step) == ("in", "inbound first")
    full = route_lead(lead=lead(1), reps=reps, loads={}, flow=flow, state=InMemoryState(), clock=clock,
                      pool_loads={"inbound": RepLoad(assigned_today=2)})
    assert full.explanation.step == "overflow"
    assert full.explanation.steps_tried[0].note == "pool 'inbound' is full (capacity: 2/2 today): fell through"
    opened = route_lead(lead=lead(2), reps=reps, loads={}, flow=flow, state=InMemoryState(), clock=clock,
                        pool_loads={"inbound": RepLoad(open_leads=5)})
    assert opened.explanation.steps_tried[0].note.startswith("pool 'inbound' is full (capacity: 5/5 open)")
    # Without the pool's load the engine counts it as empty.
    assert route_lead(lead=lead(3), reps=reps, loads={}, flow=flow, state=InMemoryState(), clock=clock).rep_id == "in"


def test_a_bad_pool_window_in_a_flow_names_its_line() -> None:
    broken = POOL_CAP_FLOW.replace('period = "day", limit = 2', 'period = "fortnight", limit = 2')
    with pytest.raises(InvalidFlow, match=r"line 6: pools.inbound.capacity_windows\[0\].period: Input should be"):
        parse_flow(broken)
    with pytest.raises(InvalidFlow, match=r"line 5: pools.inbound.timezone"):
        parse_flow(POOL_CAP_FLOW.replace("Europe/Paris", "Mars/Olympus"))


# -------------------------------------------------------------------------------------------- batch


def _scores(rep_ids: list[str], p: list[float]) -> Scores:
    return Scores(model_version="t", rep_ids=tuple(rep_ids), p_win=np.array(p))


def test_the_batch_lp_holds_every_window_of_every_rep() -> None:
    star = Rep(id="star", capacity=Capacity(max_open=50, windows=(period(5, "month"), rolling(2, hours=24))))
    other = Rep(id="other")
    loads = {"star": RepLoad(assigned_in={"month": 1, "last 24h": 0}), "other": RepLoad()}
    leads = [lead(i) for i in range(6)]
    scores = [_scores(["star", "other"], [0.9, 0.1]) for _ in leads]
    decisions = batch_decisions(leads, scores, reps=[star, other], loads=loads, flow=Flow.single("best_fit"),
                                state=InMemoryState(), clock=ManualClock(LATE_MONDAY))
    assert [d.rep_id for d in decisions].count("star") == 2  # the rolling day's two seats, not the month's four
    assert loads["star"].capacity_block(star.capacity) == "capacity: 2/2 leads in the rolling 24 h window"


def test_the_batch_lp_holds_a_pool_cap_and_routes_the_rest_through_the_flow() -> None:
    flow = parse_flow(POOL_CAP_FLOW)
    reps = [Rep(id="in1", team="inbound"), Rep(id="in2", team="inbound"), Rep(id="out", team="field")]
    leads = [lead(i) for i in range(5)]
    scores = [_scores(["in1", "in2", "out"], [0.5 + i / 100, 0.4, 0.2]) for i in range(5)]
    pool_loads = {"inbound": RepLoad(assigned_today=1)}
    decisions = batch_decisions(leads, scores, reps=reps, loads={r.id: RepLoad() for r in reps}, flow=flow,
                                state=InMemoryState(), clock=ManualClock(LATE_MONDAY), pool_loads=pool_loads)
    by_step = [d.explanation.step for d in decisions]
    assert by_step.count("inbound first") == 1  # one seat left of the pool's 2 a day
    assert by_step.count("overflow") == 4
    # The LP keeps the seat for the lead that gains most from an inbound rep (the highest P(win)).
    assert decisions[4].explanation.step == "inbound first"
    assert pool_loads["inbound"].assigned_today == 2


def _brute_force(values: np.ndarray, cap: np.ndarray, group: np.ndarray, group_cap: np.ndarray) -> float:
    n, m = values.shape
    best = 0.0
    for choice in itertools.product(range(-1, m), repeat=n):
        used = np.bincount([j for j in choice if j >= 0], minlength=m)
        placed = np.bincount([group[i] for i, j in enumerate(choice) if j >= 0 and group[i] >= 0], minlength=group_cap.size)
        if np.all(used <= cap) and np.all(placed <= group_cap):
            best = max(best, sum(values[i, j] for i, j in enumerate(choice) if j >= 0))
    return best


@pytest.mark.parametrize("seed", range(8))
def test_group_caps_in_the_lp_match_a_brute_force_optimum(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 1, size=(6, 3))
    cap = rng.integers(1, 4, size=3).astype(float)
    group = rng.integers(-1, 2, size=6)
    group_cap = rng.integers(0, 3, size=2).astype(float)
    result = assign_batch(values, cap, assign_all=False, groups=GroupCaps(group, group_cap))
    placed = result.assignment
    assert np.all(result.counts(3) <= cap)
    for g in range(2):
        assert sum(1 for i in range(6) if placed[i] >= 0 and group[i] == g) <= group_cap[g]
    assert result.objective == pytest.approx(_brute_force(values, cap, group, group_cap), abs=1e-6)


def _full_lp(values: np.ndarray, cap: np.ndarray, group: np.ndarray, group_cap: np.ndarray) -> float:
    """The LP with every column, written out densely here (an oracle independent of the optimiser)."""
    from scipy.optimize import linprog

    n, m = values.shape
    rows = [np.kron(np.eye(n)[i], np.ones(m)) for i in range(n)]  # each lead at most once
    rows += [np.kron(np.ones(n), np.eye(m)[j]) for j in range(m)]  # each rep within its capacity
    rows += [np.kron((group == g).astype(float), np.ones(m)) for g in range(group_cap.size)]
    rhs = np.concatenate([np.ones(n), cap, group_cap])
    res = linprog(-values.ravel(), A_ub=np.array(rows), b_ub=rhs, bounds=(0, 1), method="highs")
    return float(-res.fun)


@pytest.mark.parametrize("seed", range(3))
def test_group_caps_hold_when_the_lp_generates_columns(seed: int) -> None:
    """More reps than the first columns per lead (10): column generation must price the group caps."""
    rng = np.random.default_rng(100 + seed)
    values = rng.uniform(0, 1, size=(40, 16))
    values[:, :3] += 1.0  # three reps everyone wants first
    cap = np.full(16, 4.0)
    group = rng.integers(-1, 3, size=40)
    group_cap = np.array([2.0, 5.0, 0.0])
    result = assign_batch(values, cap, assign_all=False, groups=GroupCaps(group, group_cap))
    for g in range(3):
        assert sum(1 for i in range(40) if result.assignment[i] >= 0 and group[i] == g) <= group_cap[g]
    assert result.lp_bound == pytest.approx(_full_lp(values, cap, group, group_cap), rel=1e-6)
    assert result.objective == pytest.approx(result.lp_bound, rel=1e-6)  # integral: the caps keep the LP exact


# ------------------------------------------------------------------------------------------ prices


def test_scarcity_weighs_each_window_against_the_leads_until_it_frees() -> None:
    rates = ArrivalRates.constant(10.0, source="history")  # 240 leads a day
    now = datetime(2026, 1, 5, 12, tzinfo=UTC)  # a Monday noon UTC: 21:00 in Tokyo
    tokyo = WorkingHours(timezone="Asia/Tokyo")
    reps = [
        Rep(id="tokyo", working_hours=tokyo, capacity=Capacity(windows=(period(20, "day"),))),
        Rep(id="rolling", capacity=Capacity(max_open=1000, windows=(rolling(30, hours=48),))),
        Rep(id="monthly", capacity=Capacity(windows=(period(100, "month"), rolling(50, days=7)))),
    ]
    loads = {"tokyo": RepLoad(assigned_today=15), "rolling": RepLoad(assigned_in={"last 48h": 10})}
    got = scarcity(reps, loads, now, arrivals=rates, open_horizon=timedelta(days=2))
    assert got.limit == ("today", "leads in the rolling 48 h window", "this month")
    assert got.room.tolist() == [5, 20, 100]
    # Tokyo's day ends at 15:00 UTC (3 h from now); the rolling window frees within its 48 h; the month
    # (January) on February 1st, 26.5 days away, against the rolling week's 7 days: 100/6360 < 50/1680.
    assert got.expected_leads.tolist() == pytest.approx([30, 480, 10 * (26 * 24 + 12)])


def test_the_bundled_capacity_flow_caps_its_inbound_pool() -> None:
    from leadwise.routing.flows import BUNDLED_FLOWS_DIR, load_flow

    flow = load_flow(BUNDLED_FLOWS_DIR / "capacity.toml")
    assert [w.key for w in flow.pools["inbound"].capacity.all_windows] == ["day", "last 1h", "open"]
    reps = [Rep(id="c", region="Central"), Rep(id="w", region="West")]
    clock = ManualClock(LATE_MONDAY)
    burst = RepLoad(assigned_today=20, assigned_in={"last 1h": 12}, open_leads=30)
    d = route_lead(lead=lead(), reps=reps, loads={}, flow=flow, state=InMemoryState(), clock=clock,
                   pool_loads={"inbound": burst})
    assert d.explanation.step == "overflow"
    assert d.explanation.steps_tried[0].note == (
        "pool 'inbound' is full (capacity: 12/12 leads in the rolling 1 h window): fell through"
    )
    calm = RepLoad(assigned_today=20, assigned_in={"last 1h": 3}, open_leads=30)
    assert route_lead(lead=lead(), reps=reps, loads={}, flow=flow, state=InMemoryState(), clock=clock,
                      pool_loads={"inbound": calm}).rep_id == "c"
