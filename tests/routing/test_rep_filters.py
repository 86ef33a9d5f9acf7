"""A rep's own filter (``accepts``: no strategy offers it a lead it refuses) and soft preference
(``prefers``: ``optimised`` and the batch LP price it, other strategies break ties with it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from tests.routing.conftest import lead

from leadwise.routing import Flow, InMemoryState, ManualClock, Rep, RepLoad, Scores, WorkingHours, route_lead
from leadwise.routing.batch import batch_decisions
from leadwise.routing.conditions import Condition

NOW = datetime(2024, 1, 8, 12, 0, tzinfo=UTC)
GERMAN = Condition.model_validate({"fields.language": {"in": ["de"]}})
BIG = Condition.model_validate({"fields.seats": {"gte": 100}})


def decide(reps: list[Rep], flow: Flow, scores: Scores | None = None, loads: dict[str, RepLoad] | None = None, **lead_kw: Any):
    kw = {"scores": scores} if scores is not None else {}
    return route_lead(
        lead=lead(**lead_kw), reps=reps, loads=loads or {}, flow=flow, state=InMemoryState(), clock=ManualClock(NOW), **kw
    )


@pytest.mark.parametrize("strategy", ["round_robin", "load_balancing", "weighted_round_robin", "availability"])
def test_a_strategy_only_considers_reps_whose_filter_accepts_the_lead(strategy: str) -> None:
    reps = [Rep(id="de", accepts=GERMAN), Rep(id="any")]
    flow = Flow.single(strategy)
    french = decide(reps, flow, fields={"language": "fr"})
    assert french.rep_id == "any"
    excluded = {e.rep_id: e.reason for e in french.explanation.excluded}
    assert excluded == {"de": "does not accept: fields.language 'fr' not in ['de']"}
    assert decide(reps, flow, fields={"language": "de"}).rep_id == "de"  # first in pool order, accepted


def test_no_rep_accepting_falls_through_to_the_next_step_and_the_manager_queue() -> None:
    reps = [Rep(id="de", accepts=GERMAN), Rep(id="big", accepts=BIG)]
    decision = decide(reps, Flow.single("load_balancing"), fields={"language": "fr", "seats": 5})
    assert decision.rep_id is None and decision.outcome == "manager_queue"
    assert "2 does not accept" in decision.explanation.steps_tried[0].note


def test_a_filter_holds_in_the_when_unavailable_fallback_too() -> None:
    flow = Flow.model_validate(
        {"steps": [{"pool": "everyone", "strategy": "load_balancing", "when_unavailable": "whole_pool"}]}
    )
    reps = [Rep(id="de", accepts=GERMAN, away=True), Rep(id="any", away=True)]
    assert decide(reps, flow, fields={"language": "fr"}).rep_id == "any"
    reps = [Rep(id="de", accepts=GERMAN, away=True), Rep(id="any", away=True, accepts=BIG)]
    assert decide(reps, flow, fields={"language": "fr"}).rep_id is None


def test_a_rep_filter_reads_the_hour_in_the_reps_own_time_zone() -> None:
    mornings = Condition.model_validate({"hour": {"lt": 12}})
    hours = WorkingHours(timezone="Asia/Tokyo", start="00:00", end="23:59", weekdays=(0, 1, 2, 3, 4, 5, 6))  # type: ignore[arg-type]
    tokyo = Rep(id="tokyo", accepts=mornings, working_hours=hours)  # noon UTC: 21:00 in Tokyo
    utc = Rep(id="utc", accepts=mornings)  # the flow's zone (UTC): 12:00, not before noon
    decision = decide([tokyo, utc, Rep(id="any")], Flow.single("load_balancing"))
    assert decision.rep_id == "any"
    reasons = {e.rep_id: e.reason for e in decision.explanation.excluded}
    assert reasons == {
        "tokyo": "does not accept: hour 21 is not < 12 (Asia/Tokyo)",
        "utc": "does not accept: hour 12 is not < 12 (UTC)",
    }


def _scores(p: dict[str, float], deal_value: float = 1000.0) -> Scores:
    return Scores("m", 0.5, tuple(p), np.array(list(p.values())), deal_value)


def test_optimised_prices_a_preference_as_a_bonus_in_expected_value() -> None:
    reps = [Rep(id="best"), Rep(id="keen", prefers=BIG)]
    scores = _scores({"best": 0.50, "keen": 0.47})
    big = decide(reps, Flow.single("optimised", prefers_bonus=0.05), scores, fields={"seats": 250})
    assert big.rep_id == "keen"  # 0.47 + 0.05 > 0.50
    top = {c.rep_id: c for c in big.explanation.eligible}
    assert top["keen"].bonus == pytest.approx(0.05) and top["keen"].score == pytest.approx(0.52)
    assert top["best"].bonus is None
    assert any(n.startswith("prefers: 1 rep(s) prefer this lead: +0.05 P(win)") for n in big.explanation.notes)
    assert "prefers bonus" in (big.explanation.score_means or "")
    # A smaller bonus does not outweigh a bigger edge; a lead the rep does not prefer gets none.
    assert decide(reps, Flow.single("optimised", prefers_bonus=0.02), scores, fields={"seats": 250}).rep_id == "best"
    assert decide(reps, Flow.single("optimised"), scores, fields={"seats": 5}).rep_id == "best"


def test_under_the_revenue_objective_the_bonus_is_in_revenue() -> None:
    reps = [Rep(id="best"), Rep(id="keen", prefers=BIG)]
    flow = Flow.single("optimised", objective="revenue", prefers_bonus=0.05)
    decision = decide(reps, flow, _scores({"best": 0.50, "keen": 0.47}, deal_value=2000.0), fields={"seats": 250})
    assert decision.rep_id == "keen"
    assert {c.rep_id: c.bonus for c in decision.explanation.eligible}["keen"] == pytest.approx(100.0)


def test_best_fit_uses_a_preference_only_to_break_a_tie() -> None:
    reps = [Rep(id="best"), Rep(id="keen", prefers=BIG)]
    flow = Flow.single("best_fit", prefers_bonus=1.0)  # the bonus is optimised's: best_fit never adds it
    assert decide(reps, flow, _scores({"best": 0.50, "keen": 0.49}), fields={"seats": 250}).rep_id == "best"
    tie = decide(reps, flow, _scores({"best": 0.50, "keen": 0.50}), fields={"seats": 250})
    assert tie.rep_id == "keen"
    assert "tie broken by preference: rep keen prefers the lead" in tie.explanation.notes
    assert decide(reps, flow, _scores({"best": 0.50, "keen": 0.50}), fields={"seats": 5}).rep_id == "best"


def test_load_balancing_gives_an_equal_load_tie_to_the_rep_who_prefers_the_lead() -> None:
    reps = [Rep(id="a"), Rep(id="keen", prefers=BIG)]
    flow = Flow.single("load_balancing")
    assert decide(reps, flow, fields={"seats": 250}).rep_id == "keen"
    assert decide(reps, flow, fields={"seats": 5}).rep_id == "a"
    busier = {"keen": RepLoad(open_leads=1)}
    assert decide(reps, flow, loads=busier, fields={"seats": 250}).rep_id == "a"  # a tie-break, no more


def test_round_robin_pointer_ignores_preferences() -> None:
    reps = [Rep(id="a"), Rep(id="keen", prefers=BIG)]
    state, flow, clock = InMemoryState(), Flow.single("round_robin"), ManualClock(NOW)
    order = [
        route_lead(lead=lead(i, fields={"seats": 250}), reps=reps, loads={}, flow=flow, state=state, clock=clock).rep_id
        for i in range(4)
    ]
    assert order == ["a", "keen", "a", "keen"]


def test_the_batch_lp_honours_filters_and_prices_preferences() -> None:
    reps = [Rep(id="best"), Rep(id="keen", prefers=BIG), Rep(id="de", accepts=GERMAN)]
    leads = [lead(1, fields={"seats": 250, "language": "fr"}), lead(2, fields={"seats": 5, "language": "fr"})]
    p = {"best": 0.50, "keen": 0.47, "de": 0.9}
    loads = {r.id: RepLoad() for r in reps}
    decisions = batch_decisions(
        leads,
        [_scores(p), _scores(p)],
        reps=reps,
        loads=loads,
        flow=Flow.single("optimised", prefers_bonus=0.05),
        state=InMemoryState(),
        clock=ManualClock(NOW),
    )
    assert [d.rep_id for d in decisions] == ["keen", "best"]  # "de" refuses French leads despite its 0.9
    keen = {c.rep_id: c for c in decisions[0].explanation.eligible}["keen"]
    assert keen.bonus == pytest.approx(0.05)


def test_a_preference_counts_among_the_unavailable_reps_of_a_when_unavailable_fallback() -> None:
    flow = Flow.model_validate(
        {"steps": [{"pool": "everyone", "strategy": "load_balancing", "when_unavailable": "whole_pool"}]}
    )
    reps = [Rep(id="a", away=True), Rep(id="keen", away=True, prefers=BIG)]
    assert decide(reps, flow, fields={"seats": 250}).rep_id == "keen"
    assert decide(reps, flow, fields={"seats": 5}).rep_id == "a"
