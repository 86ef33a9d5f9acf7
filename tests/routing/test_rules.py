"""Issue 18, first slice, through the routing core: a rep's ``auto_routing`` opt-out, capacity 0, a step's
``when_unavailable`` fallback and the round-robin ``least_recent`` mode."""

from __future__ import annotations

from datetime import time, timedelta

import numpy as np
import pytest
from tests.routing.conftest import MONDAY_NOON, lead

from leadwise.routing import (
    Capacity,
    InMemoryState,
    InvalidFlow,
    ManualClock,
    Outcome,
    OutOfOffice,
    Rep,
    RepLoad,
    Scores,
    WorkingHours,
    manual_assign,
    parse_flow,
    route_lead,
)
from leadwise.routing.flows import Flow
from leadwise.routing.strategies import MODEL_STRATEGIES, STRATEGIES

AWAY_WEEK = (OutOfOffice(start=MONDAY_NOON - timedelta(days=1), end=MONDAY_NOON + timedelta(days=6)),)


def _excluded(decision) -> dict[str, str]:
    return {e.rep_id: e.reason for e in decision.explanation.excluded}


# ------------------------------------------------------------------------------------ auto_routing


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_a_rep_opted_out_of_auto_routing_is_never_picked_by_any_strategy(strategy, clock) -> None:
    # The opted-out rep is the only one who fits every strategy best: owner, specialist, territory,
    # senior, highest win rate and model score, first in pool order.
    star = dict(
        accounts=frozenset({"Acme"}), sectors=frozenset({"software"}), region="EU", seniority="senior",
        win_rate=0.9,
    )
    reps = [
        Rep(id="out", auto_routing=False, **star),
        Rep(id="in", **{**star, "win_rate": 0.1}),
    ]
    scores = Scores("v1", 0.9, ("out", "in"), np.array([0.9, 0.1]))
    state = InMemoryState()
    flow = Flow.single(strategy)
    for i in range(4):
        d = route_lead(
            lead=lead(i, account="Acme", sector="software", region="EU"),
            reps=reps, loads={}, flow=flow, scores=scores if strategy in MODEL_STRATEGIES else Scores("v1", 0.9),
            state=state, clock=clock,
        )
        assert d.rep_id == "in", (strategy, d.explanation)
        assert _excluded(d)["out"] == "auto routing off: manual assignment only"


def test_a_rep_opted_out_still_takes_a_manual_assignment(clock) -> None:
    rep = Rep(id="out", auto_routing=False)
    d = manual_assign(lead=lead(), rep=rep, manager="boss", clock=clock)
    assert (d.outcome, d.rep_id, d.manual) == (Outcome.assigned, "out", True)


@pytest.mark.parametrize("limit", ["max_open", "max_per_day", "max_per_week"])
def test_a_capacity_of_zero_is_explained_as_taking_no_leads(limit, clock) -> None:
    reps = [Rep(id="zero", capacity=Capacity(**{limit: 0})), Rep(id="one")]
    d = route_lead(lead=lead(), reps=reps, loads={}, flow=Flow.single("round_robin"), state=InMemoryState(), clock=clock)
    assert d.rep_id == "one"
    assert _excluded(d)["zero"] == "capacity 0: takes no leads"
    # A full (non-zero) limit still says its count.
    full = RepLoad(open_leads=1, assigned_today=1, assigned_this_week=1)
    assert full.capacity_block(Capacity(**{limit: 1})).startswith("capacity: 1/1")


# -------------------------------------------------------------------------------- when_unavailable

FALLBACK_FLOW = """\
name = "fallback"

[pools.team]
reps = ["owner", "other", "full"]

[[steps]]
name = "customer"
pool = "team"
strategy = "account_owner"
when_unavailable = "{customer}"

[[steps]]
name = "team"
pool = "team"
strategy = "load_balancing"
when_unavailable = "{team}"
"""


def _fallback(customer: str = "queue", team: str = "queue") -> Flow:
    return parse_flow(FALLBACK_FLOW.format(customer=customer, team=team))


def _team(*, owner_away: bool = True, other_away: bool = True) -> list[Rep]:
    return [
        Rep(id="owner", accounts=frozenset({"Acme"}), away=owner_away),
        Rep(id="other", out_of_office=AWAY_WEEK if other_away else ()),
        Rep(id="full", capacity=Capacity(max_open=0), away=True),
        Rep(id="outsider"),  # not in the pool
    ]


def _route(flow: Flow, reps: list[Rep], account: str | None = "Acme", loads=None, clock=None):
    return route_lead(
        lead=lead(account=account), reps=reps, loads=loads or {}, flow=flow, state=InMemoryState(),
        clock=clock or ManualClock(MONDAY_NOON),
    )


def test_queue_is_the_default_an_unavailable_pool_falls_through_to_the_manager_queue() -> None:
    d = _route(_fallback(), _team())
    assert d.outcome == Outcome.manager_queue and d.rep_id is None
    assert all("fell through" in t.note for t in d.explanation.steps_tried)
    assert not any("when_unavailable" in n for n in d.explanation.notes)


def test_owner_anyway_gives_an_away_owner_their_own_customer() -> None:
    d = _route(_fallback(customer="owner_anyway"), _team())
    assert (d.rep_id, d.explanation.step, d.strategy) == ("owner", "customer", "account_owner")
    assert any(n.startswith("when_unavailable = owner_anyway") for n in d.explanation.notes)
    assert "owner" not in _excluded(d)
    # An available owner is served as before, with no fallback said.
    d = _route(_fallback(customer="owner_anyway"), _team(owner_away=False))
    assert d.rep_id == "owner" and not any("when_unavailable" in n for n in d.explanation.notes)


def test_owner_anyway_without_an_owner_falls_through_and_says_why() -> None:
    d = _route(_fallback(customer="owner_anyway"), _team(), account="Globex")
    assert d.outcome == Outcome.manager_queue
    assert "no unavailable owner of account 'Globex'" in d.explanation.steps_tried[0].note


def test_owner_anyway_never_overrides_capacity_or_the_opt_out() -> None:
    reps = _team()
    full_owner = [reps[0].model_copy(update={"capacity": Capacity(max_open=1)}), *reps[1:]]
    d = _route(_fallback(customer="owner_anyway"), full_owner, loads={"owner": RepLoad(open_leads=1)})
    assert d.outcome == Outcome.manager_queue
    opted_out = [reps[0].model_copy(update={"auto_routing": False}), *reps[1:]]
    assert _route(_fallback(customer="owner_anyway"), opted_out).outcome == Outcome.manager_queue


def test_whole_pool_routes_among_the_unavailable_reps_with_capacity() -> None:
    d = _route(_fallback(team="whole_pool"), _team(), account=None)
    # "full" (capacity 0) and "outsider" (not in the pool) are never candidates.
    assert d.rep_id in {"owner", "other"} and d.explanation.step == "team"
    said = [n for n in d.explanation.notes if n.startswith("when_unavailable = whole_pool")]
    assert said == ["when_unavailable = whole_pool: no available rep of pool 'team' took the lead; "
                    "routed among 2 unavailable rep(s)"]
    assert set(d.explanation.scores) == {"owner", "other"}
    assert "full" in _excluded(d)


def test_whole_pool_only_applies_when_no_available_rep_takes_the_lead() -> None:
    d = _route(_fallback(team="whole_pool"), _team(other_away=False), account=None)
    assert d.rep_id == "other" and not any("when_unavailable" in n for n in d.explanation.notes)


def test_whole_pool_honours_working_hours_as_unavailability() -> None:
    flow = parse_flow(
        'require_availability = true\n[[steps]]\npool = "everyone"\nstrategy = "round_robin"\n'
        'when_unavailable = "whole_pool"\n'
    )
    night = ManualClock(MONDAY_NOON.replace(hour=23))
    reps = [Rep(id="day", working_hours={"start": "09:00", "end": "17:00"})]
    d = _route(flow, reps, clock=night)
    assert d.rep_id == "day" and any("when_unavailable = whole_pool" in n for n in d.explanation.notes)
    assert _route(flow.model_copy(update={"steps": [flow.steps[0].model_copy(update={"when_unavailable": "queue"})]}),
                  reps, clock=night).outcome == Outcome.manager_queue


def test_when_unavailable_errors_name_the_line() -> None:
    with pytest.raises(InvalidFlow) as err:
        parse_flow(FALLBACK_FLOW.format(customer="queue", team="maybe"), source="f.toml")
    assert str(err.value).startswith("f.toml: line 16: steps[1].when_unavailable:"), str(err.value)
    assert "'queue', 'whole_pool' or 'owner_anyway'" in str(err.value)


# ----------------------------------------------------------------------------------- least_recent


def _rr_flow(strategy: str, mode: str) -> Flow:
    return parse_flow(f'[[steps]]\npool = "everyone"\nstrategy = "{strategy}"\nparams = {{ mode = "{mode}" }}\n')


def _serve(flow: Flow, reps: list[Rep], n: int, clock: ManualClock, loads: dict, state) -> list[str]:
    picked = []
    for i in range(n):
        d = route_lead(lead=lead(i), reps=reps, loads=loads, flow=flow, state=state, clock=clock)
        assert d.rep_id is not None
        loads.setdefault(d.rep_id, RepLoad()).record(clock.now())
        picked.append(d.rep_id)
        clock.advance(minutes=10)
    return picked


@pytest.mark.parametrize("mode, first_after_return", [("pointer", "c"), ("least_recent", "a")])
def test_a_rep_back_from_away_is_served_first_only_in_least_recent_mode(mode, first_after_return) -> None:
    clock, loads, state = ManualClock(MONDAY_NOON), {}, InMemoryState()
    flow = _rr_flow("round_robin", mode)
    team = [Rep(id=r) for r in "abc"]
    assert _serve(flow, team, 3, clock, loads, state) == ["a", "b", "c"]
    away_a = [team[0].model_copy(update={"away": True}), *team[1:]]
    assert _serve(flow, away_a, 4, clock, loads, state) == ["b", "c", "b", "c"]
    assert _serve(flow, away_a, 1, clock, loads, state) == ["b"]  # the pointer now sits on "b"
    # "a" is back after seven leads without one: the pointer serves "c" (next after "b") and makes "a"
    # wait its turn; least_recent serves "a" first.
    assert _serve(flow, team, 1, clock, loads, state) == [first_after_return]


def test_least_recent_is_round_robin_when_leads_arrive_at_the_same_instant() -> None:
    clock, loads, state = ManualClock(MONDAY_NOON), {}, InMemoryState()
    flow = _rr_flow("round_robin", "least_recent")
    picked = []
    for i in range(6):
        d = route_lead(lead=lead(i), reps=[Rep(id=r) for r in "abc"], loads=loads, flow=flow, state=state, clock=clock)
        loads.setdefault(d.rep_id, RepLoad()).record(clock.now())
        picked.append(d.rep_id)
    assert picked == ["a", "b", "c", "a", "b", "c"]
    assert state.snapshot() == {}  # no pointer kept


@pytest.mark.parametrize("mode", ["pointer", "least_recent"])
def test_weights_are_honoured_in_both_modes(mode) -> None:
    clock, loads, state = ManualClock(MONDAY_NOON), {}, InMemoryState()
    reps = [Rep(id="heavy", weight=2.0), Rep(id="light", weight=1.0)]
    picked = _serve(_rr_flow("weighted_round_robin", mode), reps, 30, clock, loads, state)
    assert picked.count("heavy") == 20 and picked.count("light") == 10


def test_least_recent_explains_the_wait_and_a_never_served_rep_goes_first() -> None:
    clock = ManualClock(MONDAY_NOON)
    loads = {"a": RepLoad(last_assigned_at=MONDAY_NOON - timedelta(hours=3)), "b": RepLoad()}
    d = route_lead(
        lead=lead(), reps=[Rep(id="a"), Rep(id="b")], loads=loads, flow=_rr_flow("round_robin", "least_recent"),
        state=InMemoryState(), clock=clock,
    )
    assert d.rep_id == "b" and d.explanation.scores == {"b": 1e6, "a": 3.0}
    assert "hours since the rep's last lead" in (d.explanation.score_means or "")


@pytest.mark.parametrize(
    "params, fragment",
    [
        ('{ mode = "random" }', "unknown mode 'random'; known: pointer, least_recent"),
        ('{ mode = "least_recent" }', "only round_robin and weighted_round_robin take a mode"),
    ],
)
def test_round_robin_mode_errors_name_the_line(params, fragment) -> None:
    strategy = "load_balancing" if "least_recent" in params else "round_robin"
    text = f'name = "x"\n\n[[steps]]\npool = "everyone"\nstrategy = "{strategy}"\nparams = {params}\n'
    with pytest.raises(InvalidFlow) as err:
        parse_flow(text, source="f.toml")
    assert str(err.value).startswith("f.toml: line 3: steps[0]"), str(err.value)
    assert fragment in str(err.value)


@pytest.mark.parametrize("mode, picked", [("pointer", "b"), ("least_recent", "c")])
def test_a_narrowing_strategy_passes_the_mode_to_its_inner_round_robin(mode, picked, clock) -> None:
    flow = parse_flow(
        '[[steps]]\npool = "everyone"\nstrategy = "territory"\n'
        f'params = {{ then = "round_robin", mode = "{mode}" }}\n'
    )
    reps = [Rep(id=r, region="EU") for r in "abc"] + [Rep(id="us", region="US")]
    state = InMemoryState()
    state.set("rr:everyone/territory", "a")  # the inner pointer: "b" is next
    loads = {  # "c" waited longest
        "a": RepLoad(last_assigned_at=MONDAY_NOON - timedelta(hours=1)),
        "b": RepLoad(last_assigned_at=MONDAY_NOON - timedelta(hours=2)),
        "c": RepLoad(last_assigned_at=MONDAY_NOON - timedelta(hours=5)),
    }
    d = route_lead(lead=lead(region="EU"), reps=reps, loads=loads, flow=flow, state=state, clock=clock)
    assert d.rep_id == picked and _excluded(d)["us"].startswith("territory")


def test_bundled_availability_flow_on_the_bundled_reps() -> None:
    import pandas as pd

    from leadwise.routing.directory import reps_from_sales_teams
    from leadwise.routing.flows import bundled_flow
    from leadwise.settings import BUNDLED_DATA_DIR

    flow = bundled_flow("availability")
    d = BUNDLED_DATA_DIR
    teams, pipeline = pd.read_csv(d / "sales_teams.csv"), pd.read_csv(d / "sales_pipeline.csv")
    accounts, products = pd.read_csv(d / "accounts.csv"), pd.read_csv(d / "products.csv")
    reps = reps_from_sales_teams(
        teams, pipeline, accounts, products, capacity=Capacity(max_open=20), assign_account_owners=True
    )
    owner = next(r for r in reps if r.accounts)
    account = sorted(owner.accounts)[0]
    # Saturday night: every rep is outside working hours, and the owner is away besides.
    night = ManualClock(MONDAY_NOON + timedelta(days=5, hours=10))
    hours = WorkingHours(start=time(9), end=time(17))
    everyone_off = [
        r.model_copy(update={"working_hours": hours, "away": r.id == owner.id}) for r in reps
    ]
    state, loads = InMemoryState(), {}
    d = route_lead(
        lead=lead(1, account=account, existing_customer=True), reps=everyone_off, loads=loads, flow=flow,
        state=state, clock=night,
    )
    assert (d.rep_id, d.explanation.step) == (owner.id, "existing customer")
    picked = set()
    for i in range(len(reps)):
        d = route_lead(lead=lead(10 + i), reps=everyone_off, loads=loads, flow=flow, state=state, clock=night)
        assert d.explanation.step == "everyone else" and d.rep_id is not None
        assert any("when_unavailable = whole_pool" in n for n in d.explanation.notes)
        loads.setdefault(d.rep_id, RepLoad()).record(night.now())
        picked.add(d.rep_id)
    assert len(picked) == len(reps)  # least_recent at one instant still goes round everyone once
