"""Exploration in a flow and the propensity of every decision (``routing.exploration``)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from tests.routing.conftest import lead

from leadwise.routing import Capacity, InMemoryState, RepLoad, Scores, route_lead
from leadwise.routing.domain import InvalidFlow, Outcome
from leadwise.routing.exploration import Exploration, policy
from leadwise.routing.flows import Flow, parse_flow


def _scores(reps, p) -> Scores:
    return Scores(model_version="v1", lead_score=0.5, rep_ids=tuple(r.id for r in reps), p_win=np.array(p))


def _flow(strategy: str = "best_fit", **exploration) -> Flow:
    flow = Flow.single(strategy)
    return flow.model_copy(update={"exploration": Exploration(**exploration)}) if exploration else flow


def test_without_exploration_every_policy_decision_has_propensity_one(make_reps, state, clock) -> None:
    reps = make_reps(3)
    scores = _scores(reps, [0.2, 0.5, 0.3])
    for strategy in ("best_fit", "round_robin", "load_balancing"):
        decision = route_lead(lead=lead(1), reps=reps, loads={}, flow=Flow.single(strategy), scores=scores,
                              state=state, clock=clock)
        assert decision.propensity == 1.0 and not decision.explanation.explored
    nurture = parse_flow('[[steps]]\naction = "nurture"\n')
    assert route_lead(lead=lead(2), reps=reps, loads={}, flow=nurture, state=state, clock=clock).propensity == 1.0


def test_draws_follow_the_recorded_propensities(make_reps, clock) -> None:
    """Over many leads in the same state, each rep's share of the decisions is its propensity, and
    1/propensity re-weights every rep's share to one (what IPS relies on)."""
    reps = make_reps(4)
    scores = _scores(reps, [0.1, 0.6, 0.2, 0.3])
    flow = _flow(rate=0.4, new_rep_leads=0, thin_segment_leads=0)
    n = 6000
    chosen: Counter[str] = Counter()
    propensity: dict[str, float] = {}
    for i in range(n):
        d = route_lead(lead=lead(i), reps=reps, loads={}, flow=flow, scores=scores, state=InMemoryState(),
                       clock=clock)
        assert d.rep_id is not None and d.propensity is not None
        chosen[d.rep_id] += 1
        propensity[d.rep_id] = d.propensity
    assert propensity == pytest.approx({"r0": 0.1, "r1": 0.7, "r2": 0.1, "r3": 0.1})
    for rep, p in propensity.items():
        assert chosen[rep] / n == pytest.approx(p, abs=0.02)
        assert chosen[rep] / n / p == pytest.approx(1.0, abs=0.15)


def test_budget_caps_the_explored_share_and_keeps_every_propensity_positive(make_reps, clock) -> None:
    reps = make_reps(5)
    scores = _scores(reps, [0.1, 0.6, 0.2, 0.3, 0.25])
    flow = _flow(rate=0.1, budget=0.3, new_rep_leads=1000, priority_boost=8)  # every lead is a priority
    state = InMemoryState()
    decisions = [
        route_lead(lead=lead(i), reps=reps, loads={}, flow=flow, scores=scores, state=state, clock=clock)
        for i in range(600)
    ]
    explored = sum(d.explanation.explored for d in decisions)
    assert 0.27 * 600 <= explored <= 0.3 * 600 + 1  # boosted to 0.8 until the budget, then the base rate
    at_budget = [d for d in decisions if "budget 30% reached" in " ".join(d.explanation.notes)]
    assert len(at_budget) > 300
    greedy = [d.propensity for d in at_budget if not d.explanation.explored]
    drawn = [d.propensity for d in at_budget if d.explanation.explored and d.rep_id != "r1"]
    assert greedy and greedy == pytest.approx([0.9 + 0.1 / 5] * len(greedy))
    assert drawn and drawn == pytest.approx([0.1 / 5] * len(drawn))  # never 0: OPE keeps its support


def test_new_reps_come_first_and_capacity_holds(make_reps, clock) -> None:
    reps = make_reps(4, capacity=Capacity(max_open=1000))
    full = reps[3].model_copy(update={"capacity": Capacity(max_open=1)})
    reps = [*reps[:3], full]
    loads = {"r3": RepLoad(open_leads=1)}
    scores = _scores(reps, [0.6, 0.2, 0.2, 0.9])
    state = InMemoryState({"explore:everyone": {"decided": 500, "explored": 0,
                                                "reps": {"r0": 300, "r1": 200}, "segments": {"?|?": 500}}})
    flow = _flow(rate=0.3, new_rep_leads=20)
    got = Counter()
    for i in range(3000):
        d = route_lead(lead=lead(i), reps=reps, loads=loads, flow=flow, scores=scores, state=InMemoryState(
            state.snapshot()), clock=clock)
        assert d.rep_id != "r3"  # at capacity: never explored to
        got[d.rep_id] += 1
    # r2 is new (weight 2), r1 is not (weight 1); the lead is a priority one: chance 0.6
    assert got["r2"] / 3000 == pytest.approx(0.6 * 2 / 4, abs=0.03)
    assert got["r1"] / 3000 == pytest.approx(0.6 * 1 / 4, abs=0.03)


def test_policy_distribution_sums_to_one() -> None:
    pi = policy(config=Exploration(rate=0.2), lead=lead(0), greedy="b", candidates=["a", "b", "c"], counts={})
    assert sum(pi.probability.values()) == pytest.approx(1.0)
    assert pi.probability["b"] > pi.probability["a"] == pi.probability["c"]


def test_the_exploration_table_parses_and_bad_values_name_the_line(make_reps, clock) -> None:
    flow = parse_flow('[exploration]\nrate = 0.1\n\n[[steps]]\npool = "everyone"\nstrategy = "best_fit"\n')
    assert flow.exploration == Exploration(rate=0.1)
    with pytest.raises(InvalidFlow, match=r"line 2: exploration.rate"):
        parse_flow('[exploration]\nrate = 1.5\n\n[[steps]]\npool = "everyone"\nstrategy = "best_fit"\n')
    with pytest.raises(InvalidFlow, match="budget 0.05 is below rate 0.1"):
        parse_flow('[exploration]\nrate = 0.1\nbudget = 0.05\n[[steps]]\npool = "everyone"\nstrategy = "best_fit"\n')
    queue = parse_flow('[exploration]\nrate = 1.0\n[[steps]]\naction = "manager_queue"\n')
    d = route_lead(lead=lead(0), reps=make_reps(2), loads={}, flow=queue, state=InMemoryState(), clock=clock)
    assert d.outcome == Outcome.manager_queue and d.propensity == 1.0


def test_decisions_are_reproducible(make_reps, clock) -> None:
    reps = make_reps(6)
    scores = _scores(reps, [0.1, 0.6, 0.2, 0.3, 0.25, 0.2])
    flow = _flow(rate=0.5)
    runs = [
        [route_lead(lead=lead(i), reps=reps, loads={}, flow=flow, scores=scores, state=s, clock=clock).rep_id
         for i in range(50)]
        for s in (InMemoryState(), InMemoryState())
    ]
    assert runs[0] == runs[1] and len(set(runs[0])) > 2


def test_thompson_draws_follow_their_recorded_propensities(make_reps, clock) -> None:
    """The explored rep is drawn from the Monte Carlo estimate the propensity is read from: over many leads
    in one state each rep's share is its recorded propensity, and 1/propensity re-weights it to one."""
    reps = make_reps(4)
    scores = _scores(reps, [0.1, 0.6, 0.2, 0.5])
    flow = _flow(method="thompson", rate=0.5, new_rep_leads=0, thin_segment_leads=0, draws=400)
    n = 4000
    chosen: Counter[str] = Counter()
    propensity: dict[str, list[float]] = {}
    for i in range(n):
        d = route_lead(lead=lead(i), reps=reps, loads={}, flow=flow, scores=scores, state=InMemoryState(),
                       clock=clock)
        assert d.rep_id is not None and d.propensity is not None and d.propensity > 0
        chosen[d.rep_id] += 1
        propensity.setdefault(d.rep_id, []).append(d.propensity)
    for rep, ps in propensity.items():
        assert chosen[rep] / n == pytest.approx(np.mean(ps), abs=0.025)
    # with no lead tried yet every Beta is wide: the 0.5 rep wins many draws, the 0.1 rep few
    assert chosen["r3"] > 0.15 * n > chosen["r0"] > 0


def test_thompson_favours_the_reps_the_service_has_not_tried_and_narrows_with_evidence() -> None:
    config = Exploration(method="thompson", rate=1.0, new_rep_leads=0, thin_segment_leads=0)
    p_win = [0.40, 0.35]  # the model prefers a veteran (tried 500 times here) to a rep never tried
    tried = {"decided": 500, "rep_segments": {"?|?": {"vet": 500}}}
    pi = policy(config=config, lead=lead(0), greedy="vet", candidates=["vet", "new"], counts=tried,
                p_win=p_win, key="k")
    assert pi.thompson and 0.3 < pi.probability["new"] < 0.5  # wide Beta(0.7, 1.3) beats 0.40 ± 0.02 often
    both = {"decided": 1000, "rep_segments": {"?|?": {"vet": 500, "new": 500}}}
    narrow = policy(config=config, lead=lead(0), greedy="vet", candidates=["vet", "new"], counts=both,
                    p_win=p_win, key="k")
    assert narrow.probability["new"] < 0.1 < pi.probability["new"]
    assert sum(narrow.probability.values()) == pytest.approx(1.0)
    same = policy(config=config, lead=lead(0), greedy="vet", candidates=["vet", "new"], counts=both,
                  p_win=p_win, key="k")
    assert same.probability == narrow.probability  # seeded by the key: the propensity is reproducible


def test_thompson_counts_its_evidence_and_keeps_capacity_and_the_budget(make_reps, clock) -> None:
    reps = make_reps(4, capacity=Capacity(max_open=1000))
    reps = [*reps[:3], reps[3].model_copy(update={"capacity": Capacity(max_open=1)})]
    loads = {"r3": RepLoad(open_leads=1)}
    scores = _scores(reps, [0.3, 0.6, 0.2, 0.9])
    flow = _flow(method="thompson", rate=0.1, budget=0.2, new_rep_leads=1000, priority_boost=8)
    state = InMemoryState()
    decisions = [
        route_lead(lead=lead(i), reps=reps, loads=loads, flow=flow, scores=scores, state=state, clock=clock)
        for i in range(500)
    ]
    assert all(d.rep_id != "r3" for d in decisions)  # at capacity: never sampled
    assert sum(d.explanation.explored for d in decisions) <= 0.2 * 500 + 1
    assert any("Thompson draw" in " ".join(d.explanation.notes) for d in decisions)
    tried = state.get("explore:everyone")["rep_segments"]["?|?"]
    assert sum(tried.values()) == 500 and set(tried) <= {"r0", "r1", "r2"}


def test_thompson_without_model_scores_draws_uniformly(make_reps, clock) -> None:
    reps = make_reps(3)
    flow = _flow("round_robin", method="thompson", rate=1.0, new_rep_leads=0, thin_segment_leads=0)
    d = route_lead(lead=lead(0), reps=reps, loads={}, flow=flow, state=InMemoryState(), clock=clock)
    assert d.propensity == pytest.approx(1 / 3)
    assert "uniform draw: no P(win) for every candidate" in " ".join(d.explanation.notes)


@pytest.mark.parametrize("floor", [0.0, 0.1, 0.5])
def test_thompson_floor_keeps_every_propensity_above_rate_times_floor_over_candidates(floor: float) -> None:
    """A rep the Beta draws almost never favour (the model is sure it is worst) still gets e·floor/n."""
    config = Exploration(method="thompson", rate=0.2, new_rep_leads=0, thin_segment_leads=0, floor=floor)
    candidates = ["best", "mid", "worst", "worse"]
    tried = {"decided": 4000, "rep_segments": {"?|?": dict.fromkeys(candidates, 1000)}}
    pi = policy(config=config, lead=lead(0), greedy="best", candidates=candidates, counts=tried,
                p_win=[0.8, 0.6, 0.05, 0.1], key="k")
    lowest = min(pi.probability.values())
    assert sum(pi.probability.values()) == pytest.approx(1.0)
    if floor:
        assert lowest >= 0.2 * floor / 4 - 1e-12
        assert lowest < 0.2 * floor / 4 * 1.05  # the floor is what holds it up
    else:
        assert lowest < 1e-4  # without it the propensity (and 1 / it) are extreme
