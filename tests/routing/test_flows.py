from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest
from tests.routing.conftest import lead

from leadwise.routing import (
    Capacity,
    InMemoryState,
    InvalidFlow,
    NoEligibleRep,
    Outcome,
    Rep,
    RepLoad,
    Scores,
    Seniority,
    load_flow,
    parse_flow,
    route_lead,
)
from leadwise.routing.directory import leads_from_frame, reps_from_sales_teams
from leadwise.routing.flows import BUNDLED_FLOWS_DIR, bundled_flow
from leadwise.settings import BUNDLED_DATA_DIR

FLOW = """\
name = "test"

[pools.everyone]

[pools.senior]
seniority = ["senior"]

[[steps]]
name = "customer"
when = { existing_customer = true }
pool = "everyone"
strategy = "account_owner"

[[steps]]
name = "hot"
when = { score_at_least = 0.8 }
pool = "senior"
strategy = "best_fit"

[[steps]]
name = "rest"
pool = "everyone"
strategy = "round_robin"
"""

REPS = [
    Rep(id="boss", seniority=Seniority.senior, capacity=Capacity(max_open=1)),
    Rep(id="owner", accounts=frozenset({"Acme"}), capacity=Capacity(max_open=1)),
    Rep(id="c"),
]


def scores(p: float) -> Scores:
    return Scores("v1", p, ("boss", "owner", "c"), np.array([0.9, 0.5, 0.4]))


def test_steps_in_order_and_fall_through_when_pool_has_no_eligible_rep(clock):
    flow = parse_flow(FLOW)
    state = InMemoryState()
    d = route_lead(
        lead=lead(1, account="Acme"),
        reps=REPS,
        loads={},
        flow=flow,
        scores=scores(0.5),
        state=state,
        clock=clock,
    )
    assert (d.rep_id, d.explanation.step) == ("owner", "customer")
    d = route_lead(lead=lead(2), reps=REPS, loads={}, flow=flow, scores=scores(0.9), state=state, clock=clock)
    assert (d.rep_id, d.explanation.step) == ("boss", "hot")
    assert [t.matched for t in d.explanation.steps_tried] == [False, True]
    # The owner and the senior are both full: each of those steps falls through, and says so.
    loads = {"boss": RepLoad(open_leads=1), "owner": RepLoad(open_leads=1)}
    d = route_lead(
        lead=lead(3, account="Acme"),
        reps=REPS,
        loads=loads,
        flow=flow,
        scores=scores(0.9),
        state=state,
        clock=clock,
    )
    assert (d.rep_id, d.explanation.step) == ("c", "rest")
    notes = [t.note for t in d.explanation.steps_tried]
    assert "fell through" in notes[0] and "fell through" in notes[1] and "capacity" in notes[1]


def test_no_eligible_rep_goes_to_manager_queue_or_raises(clock):
    reps = [Rep(id="x", active=False)]
    flow = parse_flow(FLOW)
    d = route_lead(lead=lead(), reps=reps, loads={}, flow=flow, state=InMemoryState(), clock=clock)
    assert d.outcome == Outcome.manager_queue and d.rep_id is None
    strict = parse_flow(FLOW.replace('name = "test"', 'name = "test"\non_no_match = "error"'))
    with pytest.raises(NoEligibleRep):
        route_lead(lead=lead(), reps=reps, loads={}, flow=strict, state=InMemoryState(), clock=clock)


def test_nurture_action(clock):
    flow = parse_flow(
        'name = "n"\n[[steps]]\nwhen = { score_below = 0.2 }\naction = "nurture"\n'
        '[[steps]]\npool = "everyone"\nstrategy = "round_robin"\n'
    )
    d = route_lead(
        lead=lead(), reps=REPS, loads={}, flow=flow, scores=scores(0.1), state=InMemoryState(), clock=clock
    )
    assert d.outcome == Outcome.nurture
    d = route_lead(
        lead=lead(), reps=REPS, loads={}, flow=flow, scores=scores(0.3), state=InMemoryState(), clock=clock
    )
    assert d.outcome == Outcome.assigned


@pytest.mark.parametrize(
    "broken, line, fragment",
    [
        (FLOW.replace('strategy = "best_fit"', 'strategy = "bestfit"'), 18, "unknown strategy 'bestfit'"),
        (FLOW.replace('pool = "senior"', 'pool = "seniors"'), 17, "unknown pool 'seniors'"),
        (FLOW.replace("score_at_least = 0.8", "score_at_least = 1.8"), 16, "score_at_least"),
        (FLOW.replace('seniority = ["senior"]', 'seniority = ["guru"]'), 6, "pools.senior.seniority"),
        (FLOW.replace('name = "rest"', 'name = "rest"\ncolour = "red"'), 22, "colour"),
        (FLOW.replace('strategy = "round_robin"', ""), 20, "needs both a pool and a strategy"),
        (FLOW.replace('[[steps]]\nname = "hot"', '[[steps]\nname = "hot"'), 14, "invalid TOML"),
    ],
)
def test_toml_validation_errors_name_the_line(broken, line, fragment):
    with pytest.raises(InvalidFlow) as err:
        parse_flow(broken, source="flows/x.toml")
    message = str(err.value)
    assert message.startswith(f"flows/x.toml: line {line}:"), message
    assert fragment in message


YAML_FLOW = textwrap.dedent(
    """\
    name: y
    pools:
      everyone: {}
    steps:
      - name: first
        pool: everyone
        strategy: round_robin
      - name: second
        pool: everyone
        strategy: telepathy
    """
)


def test_yaml_flow_loads_and_errors_name_the_line(tmp_path, clock):
    good = tmp_path / "flow.yaml"
    good.write_text(YAML_FLOW.replace("telepathy", "load_balancing"))
    flow = load_flow(good)
    assert [s.strategy for s in flow.steps] == ["round_robin", "load_balancing"]
    bad = tmp_path / "bad.yml"
    bad.write_text(YAML_FLOW)
    with pytest.raises(
        InvalidFlow, match=r"bad.yml: line 10: steps\[1\].strategy: .*unknown strategy 'telepathy'"
    ):
        load_flow(bad)


def test_bundled_default_flow_routes_the_bundled_data(clock):
    flow = bundled_flow("default")
    assert (BUNDLED_FLOWS_DIR / "default.toml").exists()
    d = BUNDLED_DATA_DIR
    teams, pipeline = pd.read_csv(d / "sales_teams.csv"), pd.read_csv(d / "sales_pipeline.csv")
    accounts, products = pd.read_csv(d / "accounts.csv"), pd.read_csv(d / "products.csv")
    reps = reps_from_sales_teams(
        teams, pipeline, accounts, products, capacity=Capacity(max_open=20), assign_account_owners=True
    )
    frame = (
        pipeline.head(300).merge(accounts, on="account", how="left").merge(products, on="product", how="left")
    )
    leads = leads_from_frame(frame)
    rep_ids = tuple(r.id for r in reps)
    rng = np.random.default_rng(0)
    loads: dict[str, RepLoad] = {}
    state = InMemoryState()
    steps = set()
    for item in leads:
        # lead scores as the model trained on the bundled data gives them, placed among its own leads' scores
        s = Scores(
            "v1", float(rng.uniform(0.583, 0.645)), rep_ids, rng.uniform(0.3, 0.8, len(reps)), 1000.0,
            lead_score_percentile=float(rng.uniform(0, 100)),
        )
        dec = route_lead(lead=item, reps=reps, loads=loads, flow=flow, scores=s, state=state, clock=clock)
        steps.add(dec.explanation.step)
        if dec.rep_id:
            loads.setdefault(dec.rep_id, RepLoad()).record(clock.now())
    assert {"existing customer", "cold lead", "hot lead", "specialist sector", "abroad", "everyone else"} <= steps
    assert all(load.open_leads <= 20 for load in loads.values())


def test_bundled_yaml_flow_sends_hot_leads_to_the_claim_pool(clock):
    flow = load_flow(BUNDLED_FLOWS_DIR / "pull-and-hours.yaml")
    assert flow.objective == "revenue" and flow.require_availability
    reps = [Rep(id="a", region="Central"), Rep(id="b")]
    d = route_lead(
        lead=lead(), reps=reps, loads={}, flow=flow, scores=scores(0.9), state=InMemoryState(), clock=clock
    )
    assert d.outcome == Outcome.claim_pool and d.explanation.step == "hot lead"
    ab = Scores("v1", 0.5, ("a", "b"), np.array([0.3, 0.9]), 1000.0)
    gtk = lead(series="GTK")
    d = route_lead(lead=gtk, reps=reps, loads={}, flow=flow, scores=ab, state=InMemoryState(), clock=clock)
    assert d.rep_id == "a" and d.explanation.step == "central products"  # b scores higher but is not Central
    # Reps the model does not know are left out of model-based steps, which then fall through.
    d = route_lead(
        lead=gtk, reps=reps, loads={}, flow=flow, scores=scores(0.5), state=InMemoryState(), clock=clock
    )
    assert d.explanation.step == "everyone else" and "no model score" in d.explanation.steps_tried[3].note


def test_a_pool_is_its_filters_and_the_reps_tagged_with_its_name(clock):
    flow = parse_flow(
        '[pools.senior]\nseniority = ["senior"]\n[[steps]]\npool = "senior"\nstrategy = "round_robin"\n'
    )
    senior, tagged, other = Rep(id="s", seniority="senior"), Rep(id="t", pools=frozenset({"senior"})), Rep(id="o")
    assert [r.id for r in flow.members("senior", [other, tagged, senior])] == ["t", "s"]
    assert flow.pools_of(tagged) == {"senior"} and flow.pools_of(other) == set()
    assert flow.members("no such pool", [other, tagged]) == []
    chosen = {
        route_lead(lead=lead(f"L{i}"), reps=[other, tagged, senior], loads={}, flow=flow, state=InMemoryState(), clock=clock).rep_id
        for i in range(4)
    }
    assert chosen <= {"t", "s"} and "o" not in chosen
