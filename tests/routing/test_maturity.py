"""Maturity: a lead is sales-ready on its score OR a revealing act; otherwise the flow nurtures it."""

from __future__ import annotations

import numpy as np
import pytest

from leadwise.routing import InvalidFlow, Outcome, Scores, parse_flow, route_lead
from leadwise.routing.domain import NO_SCORES
from leadwise.routing.flows import bundled_flow

from .conftest import lead

FLOW = """
name = "mature"

[maturity]
score_at_least = 0.3
acts = ["demo_request", "quote_request"]

[pools.everyone]

[[steps]]
name = "not ready"
when = { sales_ready = false }
action = "nurture"

[[steps]]
name = "ready"
pool = "everyone"
strategy = "round_robin"
"""


def _scores(score: float, reps) -> Scores:
    return Scores(
        model_version="m1",
        lead_score=score,
        rep_ids=tuple(r.id for r in reps),
        p_win=np.full(len(reps), 0.5),
        deal_value=1.0,
    )


def _route(the_lead, scores, reps, state, clock):
    return route_lead(
        lead=the_lead, reps=reps, loads={}, flow=parse_flow(FLOW), scores=scores, state=state, clock=clock
    )


def test_score_threshold_decides_with_a_model(make_reps, state, clock) -> None:
    reps = make_reps(2)
    hot = _route(lead(1), _scores(0.3, reps), reps, state, clock)
    assert hot.outcome == Outcome.assigned
    assert "sales-ready: lead score 0.300 ≥ 0.3" in hot.explanation.steps_tried[0].note
    cold = _route(lead(2), _scores(0.29, reps), reps, state, clock)
    assert cold.outcome == Outcome.nurture
    assert "not sales-ready: lead score 0.290 < 0.3" in cold.explanation.steps_tried[0].note


def test_a_revealing_act_makes_a_cold_lead_sales_ready(make_reps, state, clock) -> None:
    reps = make_reps(2)
    demo = _route(
        lead(1, touch_types=frozenset({"visit", "demo_request"})), _scores(0.05, reps), reps, state, clock
    )
    assert demo.outcome == Outcome.assigned
    assert "revealing act demo_request" in demo.explanation.steps_tried[0].note
    visit = _route(
        lead(2, touch_types=frozenset({"visit", "email_click"})), _scores(0.05, reps), reps, state, clock
    )
    assert visit.outcome == Outcome.nurture


def test_rules_only_only_the_acts_decide_and_the_explanation_says_so(make_reps, state, clock) -> None:
    reps = make_reps(2)
    plain = _route(lead(1), NO_SCORES, reps, state, clock)
    assert plain.outcome == Outcome.nurture
    assert "rules-only (no lead score): only revealing acts decide" in plain.explanation.steps_tried[0].note
    quote = _route(lead(2, touch_types=frozenset({"quote_request"})), NO_SCORES, reps, state, clock)
    assert quote.outcome == Outcome.assigned


def test_custom_act_list_and_default_maturity(make_reps, state, clock) -> None:
    reps = make_reps(1)
    flow = parse_flow(FLOW.replace('acts = ["demo_request", "quote_request"]', 'acts = ["webinar_attended"]'))
    decided = route_lead(
        lead=lead(1, touch_types=frozenset({"webinar_attended"})), reps=reps, loads={}, flow=flow,
        scores=NO_SCORES, state=state, clock=clock,
    )  # fmt: skip
    assert decided.outcome == Outcome.assigned
    # Without a [maturity] table: no score threshold, the default acts.
    default = parse_flow(
        FLOW.replace("score_at_least = 0.3\n", "").replace('acts = ["demo_request", "quote_request"]\n', "")
    )
    assert default.maturity.score_at_least is None
    assert default.maturity.acts == ["demo_request", "quote_request"]


@pytest.mark.parametrize(
    ("broken", "line", "fragment"),
    [
        (
            "score_at_least = 0.3",
            "score_at_leest = 0.3",
            "maturity.score_at_leest: Extra inputs are not permitted",
        ),
        (
            'acts = ["demo_request", "quote_request"]',
            'acts = ["demo_requests"]',
            "maturity.acts: Value error, unknown touch type",
        ),
        (
            "score_at_least = 0.3",
            "score_at_least = 1.5",
            "maturity.score_at_least: Input should be less than or equal to 1",
        ),
    ],
)
def test_a_bad_maturity_key_names_its_line(broken: str, line: str, fragment: str) -> None:
    text = FLOW.replace(broken, line)
    number = text.splitlines().index(line) + 1
    with pytest.raises(InvalidFlow) as err:
        parse_flow(text, source="flows/m.toml")
    assert str(err.value).startswith(f"flows/m.toml: line {number}: {fragment}"), str(err.value)


def test_bad_sales_ready_value_names_its_line() -> None:
    text = FLOW.replace("sales_ready = false", 'sales_ready = "maybe"')
    with pytest.raises(InvalidFlow, match=r"line 12: steps\[0\]\.when\.sales_ready"):
        parse_flow(text)


def test_bundled_marketing_flow_nurtures_leads_without_touches(make_reps, state, clock) -> None:
    flow = bundled_flow("marketing")
    reps = make_reps(2)
    kw = {"reps": reps, "loads": {}, "flow": flow, "state": state, "clock": clock}
    assert route_lead(lead=lead(1), scores=NO_SCORES, **kw).outcome == Outcome.nurture
    # the flow's threshold (0.7) is above every bundled lead's score (0.58 to 0.65): there, acts decide
    assert route_lead(lead=lead(2), scores=_scores(0.66, reps), **kw).outcome == Outcome.nurture
    assert route_lead(lead=lead(4), scores=_scores(0.75, reps), **kw).outcome == Outcome.assigned
    demo = lead(3, touch_types=frozenset({"demo_request"}))
    assert route_lead(lead=demo, scores=NO_SCORES, **kw).outcome == Outcome.assigned
