"""Issue 18, item 6 in the routing core (``routing.lifecycle``): what an update of a lead does
(close, unassign, re-route: only when the update makes the rule hold), ``close_when`` at routing time,
a due date from a lead field, the duplicate key, and the flow file's checks naming the line."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.routing.conftest import MONDAY_NOON, lead

from leadwise.routing import (
    NO_SCORES,
    InMemoryState,
    InvalidFlow,
    ManualClock,
    Outcome,
    Rep,
    RepLoad,
    Scores,
    route_lead,
)
from leadwise.routing.batch import batch_decisions
from leadwise.routing.flows import BUNDLED_FLOWS_DIR, Flow, load_flow, parse_flow
from leadwise.routing.lifecycle import closing_rule, due_date, duplicate_key, on_update
from leadwise.routing.sla import SlaPolicy, start_acceptance

STEPS = """
[[steps]]
pool = "everyone"
strategy = "round_robin"
"""

LIFECYCLE = """
[lifecycle]
reroute_when = [{ country_in = ["Philippines"] }, { product_in = ["GTK 500"] }]
unassign_when = { source_in = ["partner"] }
due_from = "engage_date"
due_after = "2d"

[[lifecycle.close_when]]
name = "spam"
when = { source_in = ["spam"] }

[[lifecycle.close_when]]
when = { sector_in = ["won-elsewhere"] }
result = "lost"

[lifecycle.duplicates]
key = ["account", "product"]
window = "30d"
""" + STEPS

REPS = [Rep(id="a"), Rep(id="b")]


@pytest.fixture
def flow() -> Flow:
    return parse_flow(LIFECYCLE)


def _update(flow: Flow, before: dict, after: dict) -> tuple[str, str, str | None]:
    change = on_update(
        before=lead(**before), after=lead(**after), scores_before=NO_SCORES, scores_after=NO_SCORES, reps=REPS, flow=flow,
        now=MONDAY_NOON,
    )
    return change.action, change.why, change.result


def test_an_update_that_makes_a_rule_hold_acts(flow: Flow) -> None:
    action, why, _ = _update(flow, {"country": "Kenya"}, {"country": "Philippines"})
    assert action == "reroute" and why == "reroute_when[0] (country_in=['Philippines']) met"
    assert _update(flow, {"product": "GTX Pro"}, {"product": "GTK 500"})[:2] == (
        "reroute", "reroute_when[1] (product_in=['GTK 500']) met"
    )
    assert _update(flow, {}, {"source": "partner"})[:2] == ("unassign", "unassign_when (source_in=['partner']) met")
    assert _update(flow, {}, {"source": "spam"}) == ("close", "close_when spam (source_in=['spam']) met", "closed")
    assert _update(flow, {}, {"sector": "won-elsewhere"}) == (
        "close", "close_when [1] (sector_in=['won-elsewhere']) met", "lost"
    )


def test_rules_read_custom_fields_and_operators_as_steps_do() -> None:
    flow = parse_flow(
        '[lifecycle]\nreroute_when = { "fields.priority" = { in = ["urgent"] } }\n'
        'unassign_when = { "fields.seats" = { gte = 500 } }\n' + STEPS
    )
    assert _update(flow, {"fields": {"priority": "low"}}, {"fields": {"priority": "urgent"}})[0] == "reroute"
    assert _update(flow, {"fields": {"seats": 40}}, {"fields": {"seats": 800}})[0] == "unassign"
    assert _update(flow, {"fields": {"seats": 800}}, {"fields": {"seats": 900}})[0] == "none"  # held before
    assert _update(flow, {}, {"fields": {"priority": "low"}})[0] == "none"


def test_a_rule_that_already_held_does_not_act_again(flow: Flow) -> None:
    # The lead was in the Philippines before: changing its sector must not re-route it once more.
    assert _update(flow, {"country": "Philippines"}, {"country": "Philippines", "sector": "retail"})[0] == "none"
    assert _update(flow, {"country": "Kenya"}, {"country": "Norway"})[0] == "none"


def test_closing_wins_over_unassigning_and_unassigning_over_rerouting(flow: Flow) -> None:
    both = {"country": "Philippines", "source": "partner"}
    assert _update(flow, {}, both)[0] == "unassign"
    assert _update(flow, {}, {**both, "sector": "won-elsewhere"})[0] == "close"


def test_conditions_read_scores_as_steps_do() -> None:
    flow = parse_flow("[lifecycle]\nreroute_when = { score_at_least = 0.8 }\n" + STEPS)
    low, high = Scores(model_version="m", lead_score=0.3), Scores(model_version="m", lead_score=0.9)
    change = on_update(before=lead(), after=lead(), scores_before=low, scores_after=high, reps=REPS, flow=flow, now=MONDAY_NOON)
    assert change.action == "reroute"
    assert on_update(before=lead(), after=lead(), scores_before=high, scores_after=high, reps=REPS, flow=flow, now=MONDAY_NOON).action == "none"


def test_a_lead_meeting_close_when_is_not_routed(flow: Flow) -> None:
    clock, state = ManualClock(MONDAY_NOON), InMemoryState()
    d = route_lead(lead=lead(source="spam"), reps=REPS, loads={}, flow=flow, state=state, clock=clock)
    assert (d.outcome, d.closed_as, d.rep_id) == (Outcome.closed, "closed", None)
    assert d.explanation.notes == ["close_when spam (source_in=['spam']) met: closed as closed, not routed"]
    assert state.snapshot() == {}  # no pointer moved: nobody was considered
    assert start_acceptance(d, SlaPolicy()) is None
    assert closing_rule(lead(source="web"), NO_SCORES, REPS, flow, MONDAY_NOON) is None
    # The backlog's LP does not place it either.
    decisions = batch_decisions(
        [lead(1, source="spam"), lead(2, source="web")], [NO_SCORES, NO_SCORES], reps=REPS,
        loads={r.id: RepLoad() for r in REPS},
        flow=flow, state=state, clock=clock,
    )
    assert [d.outcome for d in decisions] == [Outcome.closed, Outcome.assigned]


def test_the_due_date_comes_from_the_lead_and_sets_the_offers_deadline(flow: Flow) -> None:
    clock = ManualClock(MONDAY_NOON)
    engaged = MONDAY_NOON - timedelta(hours=6)
    d = route_lead(lead=lead(engage_date=engaged), reps=REPS, loads={}, flow=flow, state=InMemoryState(), clock=clock)
    assert d.due_at == engaged + timedelta(days=2)
    assert f"due {d.due_at.isoformat()} from the lead's engage_date + 2d" in d.explanation.notes
    pending = start_acceptance(d, SlaPolicy(accept_within=timedelta(hours=1)))
    assert pending is not None and pending.deadline == d.due_at
    assert not pending.is_overdue(MONDAY_NOON + timedelta(days=1)) and pending.is_overdue(d.due_at)


def test_without_a_usable_due_date_the_acceptance_sla_applies(flow: Flow) -> None:
    clock, sla = ManualClock(MONDAY_NOON), SlaPolicy(accept_within=timedelta(hours=1))
    d = route_lead(lead=lead(), reps=REPS, loads={}, flow=flow, state=InMemoryState(), clock=clock)
    assert d.due_at is None and "no engage_date on the lead: the acceptance SLA applies" in d.explanation.notes
    pending = start_acceptance(d, sla)
    assert pending is not None and pending.deadline == MONDAY_NOON + timedelta(hours=1)
    past, note = due_date(lead(engage_date=MONDAY_NOON - timedelta(days=3)), flow, MONDAY_NOON)
    assert past is None and note is not None and "has passed: the acceptance SLA applies" in note
    assert due_date(lead(engage_date=MONDAY_NOON), parse_flow(STEPS), MONDAY_NOON) == (None, None)


def test_the_duplicate_key_needs_every_field(flow: Flow) -> None:
    assert duplicate_key(lead(account="Acme", product="GTX Pro"), flow) == {"account": "Acme", "product": "GTX Pro"}
    assert duplicate_key(lead(account="Acme"), flow) is None
    assert duplicate_key(lead(account="Acme", product="  "), flow) is None
    assert duplicate_key(lead(account="Acme", product="GTX Pro"), parse_flow(STEPS)) is None


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("[lifecycle]\nreroute_when = {}\n", 2, "needs at least one condition"),
        ("[lifecycle]\ndue_from = \"country\"\n", 2, "not a lead date field: 'country'"),
        ("[lifecycle]\n\n[lifecycle.duplicates]\nkey = [\"email\"]\n", 4, "not a lead text field: ['email']"),
        ("[lifecycle]\n\n[lifecycle.duplicates]\nkey = [\"account\"]\nwindow = \"-3d\"\n", 5, "lifecycle.duplicates.window: Value error, must be positive"),
        ("[[lifecycle.close_when]]\nwhen = { source_in = [\"x\"] }\nresult = \"maybe\"\n", 3, "lifecycle.close_when[0].result"),
        ("[[lifecycle.close_when]]\nresult = \"won\"\n", 1, "lifecycle.close_when[0].when: Field required"),
        ("[lifecycle]\nunassign_when = { colour_in = [\"red\"] }\n", 2, "colour_in"),
    ],
)
def test_a_bad_lifecycle_names_its_line(text: str, line: int, says: str) -> None:
    with pytest.raises(InvalidFlow) as error:
        parse_flow(text + STEPS, source="f.toml")
    assert f"f.toml: line {line}:" in str(error.value) and says in str(error.value)


def test_every_bundled_flow_loads() -> None:
    files = sorted([*BUNDLED_FLOWS_DIR.glob("*.toml"), *BUNDLED_FLOWS_DIR.glob("*.yaml")])
    assert {f.stem for f in files} >= {"default", "availability", "lifecycle"}
    for path in files:
        load_flow(path)


def test_the_bundled_lifecycle_flow_closes_reroutes_and_sets_due_dates() -> None:
    flow = load_flow(BUNDLED_FLOWS_DIR / "lifecycle.toml")
    assert flow.lifecycle.close_when and flow.lifecycle.reroute_when and flow.lifecycle.unassign_when
    assert flow.lifecycle.describe() == [
        "reroute_when: in_territory_map=True",
        "reroute_when: existing_customer=True",
        "unassign_when: source_in=['partner']",
        "close_when spam (source_in=['spam', 'test']) → closed",
        "close_when bought elsewhere (source_in=['lost-to-competitor']) → lost",
        "due: engage_date + 2d",
        "duplicates: same account, product within 30d",
    ]
