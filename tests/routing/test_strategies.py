from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta

import numpy as np
import pytest
from tests.routing.conftest import lead, record

from leadwise.routing import (
    Capacity,
    Flow,
    InMemoryState,
    Outcome,
    OutOfOffice,
    Rep,
    RepLoad,
    Scores,
    Seniority,
    WorkingHours,
    route_lead,
)


def run(strategy, reps, n, clock, state=None, loads=None, scores=None, params=None, **kw):
    state = state if state is not None else InMemoryState()
    loads = loads if loads is not None else {}
    flow = Flow.single(strategy, params=params)
    picks = []
    for i in range(n):
        extra = {} if scores is None else {"scores": scores(i)}
        d = route_lead(
            lead=lead(i, **kw.pop("lead_kw", {})),
            reps=reps,
            loads=loads,
            flow=flow,
            state=state,
            clock=clock,
            **extra,
            **kw,
        )
        picks.append(d.rep_id)
        if d.rep_id is not None:
            record(loads, d.rep_id, clock)
    return picks


def test_round_robin_cycles_in_pool_order_and_skips_ineligible(make_reps, clock):
    reps = make_reps(4)
    reps[2] = reps[2].model_copy(update={"active": False})
    assert run("round_robin", reps, 6, clock) == ["r0", "r1", "r3", "r0", "r1", "r3"]


def test_round_robin_pointer_survives_restart_when_persisted(make_reps, clock):
    reps = make_reps(3)
    first = InMemoryState()
    assert run("round_robin", reps, 2, clock, state=first) == ["r0", "r1"]
    # A new process: a fresh state object holding the stored values (the service's ``DbRoutingState``
    # reads them from the database) continues the cycle.
    assert run("round_robin", reps, 2, clock, state=InMemoryState(first.snapshot())) == ["r2", "r0"]
    # An in-memory state forgets, by contrast.
    assert run("round_robin", reps, 1, clock, state=InMemoryState()) == ["r0"]


def test_weighted_round_robin_is_exact_over_each_cycle(make_reps, clock):
    reps = [Rep(id="a", weight=3), Rep(id="b", weight=2), Rep(id="c", weight=1)]
    state = InMemoryState()
    for _ in range(3):  # three full cycles of Σw = 6
        picks = run("weighted_round_robin", reps, 6, clock, state=state)
        assert Counter(picks) == {"a": 3, "b": 2, "c": 1}
    # Smooth: the heavy rep's picks are spread, not bunched.
    assert run("weighted_round_robin", reps, 6, clock, state=InMemoryState()) == [
        "a",
        "b",
        "a",
        "c",
        "b",
        "a",
    ]


def test_load_balancing_picks_fewest_open(make_reps, clock):
    reps = make_reps(3)
    loads = {"r0": RepLoad(open_leads=5), "r1": RepLoad(open_leads=1), "r2": RepLoad(open_leads=3)}
    d = route_lead(
        lead=lead(),
        reps=reps,
        loads=loads,
        flow=Flow.single("load_balancing"),
        state=InMemoryState(),
        clock=clock,
    )
    assert d.rep_id == "r1"
    assert d.explanation.runner_up == "r2"


def test_performance_shares_follow_win_rate_with_a_floor(clock):
    reps = [Rep(id="star", win_rate=0.6), Rep(id="ok", win_rate=0.3), Rep(id="weak", win_rate=0.0)]
    picks = Counter(run("performance", reps, 90, clock, params=None))
    assert picks["star"] > picks["ok"] > picks["weak"] > 0  # the floor keeps the weak rep fed
    # floor 0.5 of the equal share = 1/6 of the leads for the weak rep
    assert picks["weak"] == pytest.approx(90 * (0.5 / 3) / (1 + 0.5 / 3 - 0.0), abs=3)


def test_territory_routes_by_country_map(clock):
    reps = [
        Rep(id="east", region="East"),
        Rep(id="west", region="West"),
        Rep(id="de", territories=frozenset({"Germany"})),
    ]
    flow = Flow.model_validate(
        {"territories": {"Japan": "West"}, "steps": [{"pool": "everyone", "strategy": "territory"}]}
    )
    from leadwise.routing import route_lead

    d = route_lead(
        lead=lead(country="Japan"), reps=reps, loads={}, flow=flow, state=InMemoryState(), clock=clock
    )
    assert d.rep_id == "west"
    d = route_lead(
        lead=lead(office_location="Germany"),
        reps=reps,
        loads={},
        flow=flow,
        state=InMemoryState(),
        clock=clock,
    )
    assert d.rep_id == "de"
    reasons = {e.rep_id: e.reason for e in d.explanation.excluded}
    assert reasons["east"].startswith("territory")


def test_specialist_needs_the_skill(clock):
    reps = [
        Rep(id="gen"),
        Rep(id="med", sectors=frozenset({"medical"})),
        Rep(id="gtk", series=frozenset({"GTK"})),
    ]
    assert run("specialist", reps, 1, clock, lead_kw={"sector": "medical"}) == ["med"]
    assert run("specialist", reps, 1, clock, lead_kw={"series": "GTK", "sector": "retail"}) == ["gtk"]
    assert run("specialist", reps, 1, clock, lead_kw={"sector": "retail"}) == [None]


def test_priority_tiers_route_by_score_and_nurture_cold_leads(clock):
    reps = [
        Rep(id="sen", seniority=Seniority.senior),
        Rep(id="mid"),
        Rep(id="jun", seniority=Seniority.junior),
    ]

    def scored(s):
        return lambda i: Scores(model_version="v1", lead_score=s)

    assert run("priority_tiers", reps, 1, clock, scores=scored(0.9)) == ["sen"]
    assert run("priority_tiers", reps, 1, clock, scores=scored(0.5)) == ["mid"]
    assert run("priority_tiers", reps, 1, clock, scores=scored(0.3)) == ["jun"]
    d = route_lead(
        lead=lead(),
        reps=reps,
        loads={},
        flow=Flow.single("priority_tiers"),
        scores=Scores("v1", 0.1),
        state=InMemoryState(),
        clock=clock,
    )
    assert d.outcome == Outcome.nurture and d.rep_id is None
    # Senior at capacity: a hot lead drops to the next tier, and the explanation says so.
    full = {"sen": RepLoad(open_leads=1)}
    capped = [reps[0].model_copy(update={"capacity": Capacity(max_open=1)}), *reps[1:]]
    d = route_lead(
        lead=lead(),
        reps=capped,
        loads=full,
        flow=Flow.single("priority_tiers"),
        scores=Scores("v1", 0.9),
        state=InMemoryState(),
        clock=clock,
    )
    assert d.rep_id == "mid" and any("no eligible rep" in n for n in d.explanation.notes)


def test_account_owner_gets_existing_customer(clock):
    reps = [Rep(id="a"), Rep(id="owner", accounts=frozenset({"Acme"}))]
    assert run("account_owner", reps, 1, clock, lead_kw={"account": "Acme"}) == ["owner"]
    assert run("account_owner", reps, 1, clock, lead_kw={"account": "Other"}) == [None]


def test_availability_prefers_rep_free_soonest(clock):
    now = clock.now()  # Monday 12:00 UTC
    reps = [
        Rep(id="tokyo", working_hours=WorkingHours(timezone="Asia/Tokyo")),  # 21:00 there: tomorrow
        Rep(id="ny", working_hours=WorkingHours(timezone="America/New_York")),  # 07:00 there: in 2 h
        Rep(
            id="ooo", out_of_office=(OutOfOffice(start=now - timedelta(days=1), end=now + timedelta(days=3)),)
        ),
    ]
    d = route_lead(
        lead=lead(), reps=reps, loads={}, flow=Flow.single("availability"), state=InMemoryState(), clock=clock
    )
    assert d.rep_id == "ny" and d.explanation.runner_up == "tokyo"
    assert {e.rep_id: e.reason for e in d.explanation.excluded} == {"ooo": "out of office"}


def test_working_hours_respected_when_flow_asks(clock):
    reps = [
        Rep(id="berlin", working_hours=WorkingHours(timezone="Europe/Berlin", start=time(9), end=time(17))),
        Rep(id="la", working_hours=WorkingHours(timezone="America/Los_Angeles")),
    ]
    flow = Flow.model_validate(
        {"require_availability": True, "steps": [{"pool": "everyone", "strategy": "round_robin"}]}
    )
    from leadwise.routing import route_lead

    picks = {
        route_lead(lead=lead(i), reps=reps, loads={}, flow=flow, state=InMemoryState(), clock=clock).rep_id
        for i in range(3)
    }
    assert picks == {"berlin"}
    clock.set(datetime(2024, 1, 13, 12, tzinfo=UTC))  # Saturday: nobody works
    d = route_lead(lead=lead(), reps=reps, loads={}, flow=flow, state=InMemoryState(), clock=clock)
    assert d.outcome == Outcome.manager_queue
    assert "2 outside working hours" in d.explanation.steps_tried[0].note


def test_best_fit_and_optimised_use_scores_and_explain(clock):
    reps = [Rep(id="a"), Rep(id="b"), Rep(id="c")]
    s = Scores("v7", 0.5, ("a", "b", "c"), np.array([0.2, 0.9, 0.6]), deal_value=1000.0)
    d = route_lead(
        lead=lead(),
        reps=reps,
        loads={},
        flow=Flow.single("best_fit"),
        scores=s,
        state=InMemoryState(),
        clock=clock,
    )
    assert d.rep_id == "b" and d.explanation.runner_up == "c"
    assert d.explanation.margin == pytest.approx(0.3) and d.explanation.model_version == "v7"
    # A high capacity price on b leaves the lead to c, where b's edge is too small to pay it.
    d = route_lead(
        lead=lead(),
        reps=reps,
        loads={},
        flow=Flow.single("optimised"),
        scores=s,
        state=InMemoryState(),
        clock=clock,
        prices={"a": 0.0, "b": 0.5, "c": 0.0},
    )
    assert d.rep_id == "c"
    assert {c.rep_id: c.price for c in d.explanation.eligible} == {"a": 0.0, "b": 0.5, "c": 0.0}
    # Revenue objective scales by deal value.
    d = route_lead(
        lead=lead(),
        reps=reps,
        loads={},
        flow=Flow.single("best_fit", objective="revenue"),
        scores=s,
        state=InMemoryState(),
        clock=clock,
    )
    assert d.explanation.eligible[0].expected_value == pytest.approx(900.0)


@pytest.mark.parametrize("name", ["best_fit", "optimised"])
def test_model_strategies_fall_back_to_load_balancing_without_a_model(name, clock):
    reps = [Rep(id="a"), Rep(id="b")]
    loads = {"a": RepLoad(open_leads=3)}
    d = route_lead(
        lead=lead(), reps=reps, loads=loads, flow=Flow.single(name), state=InMemoryState(), clock=clock
    )
    assert d.rep_id == "b" and d.strategy == "load_balancing"
    assert any("fell back to load_balancing" in n for n in d.explanation.notes)


@pytest.mark.parametrize(
    "rep, load, reason",
    [
        (Rep(id="x", active=False), RepLoad(), "inactive"),
        (Rep(id="x", capacity=Capacity(max_open=2)), RepLoad(open_leads=2), "capacity: 2/2 open"),
        (Rep(id="x", capacity=Capacity(max_per_day=1)), RepLoad(assigned_today=1), "capacity: 1/1 today"),
        (
            Rep(id="x", capacity=Capacity(max_per_week=5)),
            RepLoad(assigned_this_week=5),
            "capacity: 5/5 this week",
        ),
    ],
)
@pytest.mark.parametrize(
    "strategy",
    [
        "round_robin",
        "weighted_round_robin",
        "load_balancing",
        "performance",
        "availability",
        "best_fit",
        "optimised",
    ],
)
def test_every_strategy_skips_blocked_reps(strategy, rep, load, reason, clock):
    reps = [rep, Rep(id="free")]
    s = Scores("v", 0.5, ("x", "free"), np.array([0.99, 0.01]))
    d = route_lead(
        lead=lead(),
        reps=reps,
        loads={"x": load},
        flow=Flow.single(strategy),
        scores=s,
        state=InMemoryState(),
        clock=clock,
    )
    assert d.rep_id == "free"
    assert {"rep_id": "x", "reason": reason} in [e.model_dump() for e in d.explanation.excluded]
