"""The one condition language (``routing.conditions``): field operators on built-in and custom lead fields,
weekday and hour in the flow's time zone, validation errors at their line (TOML and YAML), and every
example flow loading."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from tests.routing.conftest import lead

from leadwise.routing import (
    InMemoryState,
    InvalidFlow,
    Lead,
    ManualClock,
    Rep,
    Scores,
    load_flow,
    parse_flow,
    route_lead,
)
from leadwise.routing.conditions import Condition, condition_holds, unmet_condition
from leadwise.routing.flows import BUNDLED_FLOWS_DIR

NOW = datetime(2024, 1, 8, 12, 0, tzinfo=UTC)  # a Monday, noon UTC


def holds(condition: dict[str, Any], **lead_fields: Any) -> bool:
    return condition_holds(Condition.model_validate(condition), lead(**lead_fields), NOW)


CUSTOM = {"priority": "high", "seats": 40, "ratio": 0.25, "trial": True, "tags": "partner,emea", "blank": ""}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"fields.priority": {"equals": "high"}}, True),
        ({"fields.priority": {"equals": "low"}}, False),
        ({"fields.priority": {"in": ["urgent", "high"]}}, True),
        ({"fields.priority": {"in": ["urgent"]}}, False),
        ({"fields.priority": {"not_in": ["low"]}}, True),
        ({"fields.priority": {"not_in": ["high", "low"]}}, False),
        ({"fields.seats": {"gt": 39}}, True),
        ({"fields.seats": {"gt": 40}}, False),
        ({"fields.seats": {"gte": 40, "lte": 40}}, True),
        ({"fields.seats": {"lt": 40}}, False),
        ({"fields.ratio": {"lt": 0.5, "gt": 0.2}}, True),
        ({"fields.tags": {"contains": "partner"}}, True),
        ({"fields.tags": {"contains": "apac"}}, False),
        ({"fields.trial": {"equals": True}}, True),
        ({"fields.trial": {"equals": 1}}, False),  # a boolean is not the number 1
        ({"fields.seats": {"equals": "40"}}, False),  # nor a number its text
        ({"fields.seats": {"equals": 40.0}}, True),
        ({"fields.blank": {"is_empty": True}}, True),
        ({"fields.missing": {"is_empty": True}}, True),
        ({"fields.priority": {"is_empty": True}}, False),
        ({"fields.priority": {"is_empty": False}}, True),
        ({"fields.missing": {"equals": "x"}}, False),  # a missing field fails every operator ...
        ({"fields.missing": {"gt": 0}}, False),
        ({"fields.missing": {"not_in": ["x"]}}, True),  # ... but not_in
        ({"fields.priority": {"gt": 1}}, False),  # text is not a number
        ({"fields.seats": {"contains": "4"}}, False),  # a number is not text
        ({"fields": {"priority": {"in": ["high"]}, "seats": {"gte": 10}}}, True),  # the nested form
        ({"fields": {"priority": {"in": ["high"]}, "seats": {"gte": 50}}}, False),  # every test must hold
    ],
)
def test_operators_on_custom_fields(condition: dict[str, Any], expected: bool) -> None:
    assert holds(condition, fields=CUSTOM) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"revenue": {"gt": 1000}}, True),
        ({"revenue": {"gt": 5000}}, False),
        ({"employees": {"lte": 800}}, True),
        ({"year_established": {"in": [1990, 2001]}}, True),
        ({"sector": {"in": ["software", "retail"]}}, True),
        ({"sector": {"not_in": ["software"]}}, False),
        ({"product": {"contains": "GTX"}}, True),
        ({"country": {"equals": "Germany"}}, True),  # the account's office location when no country
        ({"source": {"is_empty": True}}, True),
        ({"sector_in": ["software"], "revenue": {"lt": 2000}, "fields.priority": {"equals": "high"}}, True),
    ],
)
def test_operators_on_built_in_fields(condition: dict[str, Any], expected: bool) -> None:
    built_in = {
        "revenue": 1200.0, "employees": 800.0, "year_established": 2001, "sector": "software",
        "product": "GTX Pro", "office_location": "Germany",
    }  # fmt: skip
    assert holds(condition, fields=CUSTOM, **built_in) is expected


def test_the_unmet_test_is_said_with_the_value() -> None:
    def why(condition: dict[str, Any], **fields: Any) -> str | None:
        return unmet_condition(Condition.model_validate(condition), lead(fields=fields), NOW)

    assert why({"fields.priority": {"in": ["urgent"]}}, priority="low") == "fields.priority 'low' not in ['urgent']"
    assert why({"fields.seats": {"gte": 100}}, seats=40) == "fields.seats 40 is not ≥ 100"
    assert why({"fields.seats": {"gte": 100}}) == "fields.seats is empty"
    assert why({"fields.tags": {"contains": "vip"}}, tags="trial") == "fields.tags 'trial' does not contain 'vip'"
    assert why({"fields.priority": {"not_in": ["low"]}}, priority="low") == "fields.priority 'low' is one of ['low']"
    assert why({"fields.priority": {"in": ["low"]}}, priority="low") is None


@pytest.mark.parametrize(
    ("condition", "percentile", "unmet"),
    [
        ({"score_percentile_at_least": 60}, 75.0, None),
        ({"score_percentile_at_least": 60}, 30.0, "lead score 0.900 at percentile 30.0 < 60"),
        ({"score_percentile_below": 5}, 4.9, None),
        ({"score_percentile_below": 5}, 5.0, "lead score 0.900 at percentile 5.0 ≥ 5"),
        ({"score_percentile_at_least": 20, "score_percentile_below": 40}, 30.0, None),
        ({"score_percentile_at_least": 20, "score_percentile_below": 40}, 40.0, "lead score 0.900 at percentile 40.0 ≥ 40"),
    ],
)
def test_percentile_conditions_read_where_the_score_falls_not_the_score(
    condition: dict[str, Any], percentile: float, unmet: str | None
) -> None:
    # A raw score of 0.9 says nothing here: only its place among the model's own leads counts.
    scores = Scores("m", 0.9, lead_score_percentile=percentile)
    assert unmet_condition(Condition.model_validate(condition), lead(), NOW, scores=scores) == unmet


def test_a_percentile_condition_without_a_percentile_says_why() -> None:
    condition = Condition.model_validate({"score_percentile_at_least": 60})
    assert unmet_condition(condition, lead(), NOW) == "no lead score"
    assert unmet_condition(condition, lead(), NOW, scores=Scores("m", None)) == "no lead score"
    assert unmet_condition(condition, lead(), NOW, scores=Scores("old", 0.9)).startswith(
        "no score percentile (the served model keeps no reference scores"
    )


def test_weekday_and_hour_are_read_in_the_flow_time_zone_at_the_decision_instant() -> None:
    weekend = Condition.model_validate({"weekday": {"in": ["sat", "sun"]}})
    evening = Condition.model_validate({"hour": {"gte": 18}})
    sunday_night_in_new_york = datetime(2024, 1, 8, 3, 30, tzinfo=UTC)  # Monday 03:30 UTC = Sunday 22:30 in NY
    assert condition_holds(weekend, lead(), sunday_night_in_new_york, timezone="America/New_York")
    assert condition_holds(evening, lead(), sunday_night_in_new_york, timezone="America/New_York")
    assert not condition_holds(weekend, lead(), sunday_night_in_new_york)  # UTC: a Monday
    assert unmet_condition(evening, lead(), sunday_night_in_new_york) == "hour 3 is not ≥ 18 (UTC)"
    # Day names in any case and in full are one weekday; stored as mon ... sun.
    assert Condition.model_validate({"weekday": {"in": ["Saturday", "SUN"]}}).weekday.in_ == ("sat", "sun")  # type: ignore[union-attr]


WEEKEND_FLOW = """\
name = "weekend"
timezone = "America/New_York"

[pools.weekend]
reps = ["oncall"]

[pools.week]
reps = ["desk"]

[[steps]]
name = "weekend"
pool = "weekend"
strategy = "round_robin"
when = { weekday = { in = ["sat", "sun"] } }

[[steps]]
name = "night"
pool = "weekend"
strategy = "round_robin"
[steps.when]
hour = { lt = 8 }

[[steps]]
name = "week"
pool = "week"
strategy = "round_robin"
"""


@pytest.mark.parametrize(
    ("instant", "step"),
    [
        (datetime(2024, 1, 8, 3, 30, tzinfo=UTC), "weekend"),  # Sunday 22:30 in New York
        (datetime(2024, 1, 8, 11, 0, tzinfo=UTC), "night"),  # Monday 06:00 in New York
        (datetime(2024, 1, 8, 15, 0, tzinfo=UTC), "week"),  # Monday 10:00 in New York
    ],
)
def test_a_flow_routes_on_weekday_and_hour_of_the_service_clock(instant: datetime, step: str) -> None:
    flow = parse_flow(WEEKEND_FLOW)
    reps = [Rep(id="oncall"), Rep(id="desk")]
    decision = route_lead(
        lead=lead(), reps=reps, loads={}, flow=flow, state=InMemoryState(), clock=ManualClock(instant)
    )
    assert decision.explanation.step == step
    assert decision.rep_id == ("desk" if step == "week" else "oncall")
    if step == "week":
        assert decision.explanation.steps_tried[0].note == "weekday 'mon' not in ['sat', 'sun'] (America/New_York)"


def test_a_step_on_custom_fields_routes_and_explains_the_steps_it_passed() -> None:
    flow = parse_flow(
        '[pools.everyone]\n[pools.vip]\nreps = ["vip"]\n\n'
        '[[steps]]\nname = "vip"\npool = "vip"\nstrategy = "round_robin"\n'
        'when = { fields.priority = { in = ["urgent"] }, fields.seats = { gte = 100 } }\n\n'
        '[[steps]]\nname = "rest"\npool = "everyone"\nstrategy = "load_balancing"\n'
    )
    reps = [Rep(id="vip"), Rep(id="a")]
    clock = ManualClock(NOW)

    def routed(**fields: Any) -> Any:
        return route_lead(lead=lead(fields=fields), reps=reps, loads={}, flow=flow, state=InMemoryState(), clock=clock)

    assert routed(priority="urgent", seats=250).rep_id == "vip"
    small = routed(priority="urgent", seats=20)
    assert small.explanation.step == "rest"
    assert small.explanation.steps_tried[0].note == "fields.seats 20 is not ≥ 100"


def test_a_custom_field_survives_the_flow_round_trip_the_store_makes() -> None:
    """A stored flow is its validated JSON read back: the conditions must mean the same after."""
    from leadwise.routing.flows import Flow

    flow = parse_flow((BUNDLED_FLOWS_DIR / "conditions.toml").read_text())
    again = Flow.model_validate(flow.model_dump(mode="json"))
    assert again == flow
    when = flow.model_dump(mode="json")["steps"][2]["when"]
    assert when == {"fields": {"priority": {"in": ["urgent", "high"]}, "seats": {"gte": 100.0}}}


# --------------------------------------------------------------------------------------- validation

TOML_BASE = """\
name = "t"

[[steps]]
name = "s"
pool = "everyone"
strategy = "round_robin"
[steps.when]
score_at_least = 0.1
"""


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("fields.priority = { greater = 3 }", "steps[0].when.fields.priority: Value error, unknown operator 'greater'"),
        ('revenue = { contains = "x" }', "steps[0].when.revenue: Value error, operator 'contains' does not apply to a number"),
        ("sector = { gt = 3 }", "steps[0].when.sector: Value error, operator 'gt' does not apply to a text"),
        ('weekday = { in = ["funday"] }', "steps[0].when.weekday: Value error, unknown weekday 'funday'"),
        ("hour = { equals = 25 }", "steps[0].when.hour: Value error, an hour is a whole number from 0 to 23"),
        ('"fields.size" = { gt = "x" }', "steps[0].when.fields.size.gt: Input should be a valid number"),
        ("fields.priority = {}", "steps[0].when.fields.priority: Value error, give at least one operator"),
        ('priority = { in = ["a"] }', "steps[0].when.priority: Extra inputs are not permitted: unknown condition 'priority'; a custom field is written fields.priority"),
        ('"fields.9lives" = { equals = 1 }', "steps[0].when.fields.9lives.[key]: String should match pattern"),
        ("score_percentile_at_least = 150", "steps[0].when.score_percentile_at_least: Input should be less than or equal to 100"),
    ],
)
def test_a_bad_condition_names_its_line_in_toml(line: str, fragment: str) -> None:
    with pytest.raises(InvalidFlow) as err:
        parse_flow(TOML_BASE + "\n" + line + "\n", source="flows/c.toml")
    assert str(err.value).startswith(f"flows/c.toml: line 10: {fragment}"), str(err.value)


def test_a_bad_condition_or_time_zone_names_its_line_in_yaml(tmp_path) -> None:
    text = textwrap.dedent(
        """\
        name: y
        timezone: Europe/Berlin
        steps:
          - name: s
            pool: everyone
            strategy: round_robin
            when:
              fields.priority: {in: [high]}
              fields.seats: {lt: many}
        """
    )
    bad = tmp_path / "c.yaml"
    bad.write_text(text)
    with pytest.raises(InvalidFlow, match=r"c.yaml: line 9: steps\[0\].when.fields.seats.lt: Input should be a valid number"):
        load_flow(bad)
    bad.write_text(text.replace("Europe/Berlin", "Mars/Olympus").replace("many", "3"))
    with pytest.raises(InvalidFlow, match=r"c.yaml: line 2: timezone: Value error, unknown time zone 'Mars/Olympus'"):
        load_flow(bad)
    bad.write_text(text.replace("many", "3"))
    assert load_flow(bad).steps[0].when.fields is not None


@pytest.mark.parametrize("path", sorted(p.name for p in BUNDLED_FLOWS_DIR.iterdir() if p.suffix in {".toml", ".yaml", ".yml"}))
def test_every_example_flow_loads(path: str) -> None:
    flow = load_flow(BUNDLED_FLOWS_DIR / path)
    assert flow.steps


def test_the_example_conditions_flow_routes_each_kind_of_lead() -> None:
    flow = load_flow(BUNDLED_FLOWS_DIR / "conditions.toml")
    reps = [Rep(id="night", team="on-call"), Rep(id="boss", seniority="senior"), Rep(id="a")]  # type: ignore[arg-type]
    weekday_noon_berlin = datetime(2024, 1, 8, 11, 0, tzinfo=UTC)
    saturday = datetime(2024, 1, 13, 11, 0, tzinfo=UTC)
    late = datetime(2024, 1, 8, 21, 0, tzinfo=UTC)  # 22:00 in Berlin

    def step(at: datetime, item: Lead) -> str | None:
        scores = Scores("m", 0.5, ("night", "boss", "a"), np.array([0.2, 0.6, 0.3]), 100.0)
        decision = route_lead(
            lead=item, reps=reps, loads={}, flow=flow, scores=scores, state=InMemoryState(), clock=ManualClock(at)
        )
        return decision.explanation.step

    assert step(saturday, lead()) == "weekend"
    assert step(late, lead()) == "night"
    assert step(weekday_noon_berlin, lead(fields={"priority": "urgent", "seats": 250})) == "urgent or big"
    assert step(weekday_noon_berlin, lead(revenue=900.0, fields={"tags": "trial,partner", "priority": "low"})) == "partner trial"
    assert step(weekday_noon_berlin, lead()) == "no priority yet"
    assert step(weekday_noon_berlin, lead(fields={"priority": "low"})) == "everyone else"


def test_flow_check_names_the_file_and_line_of_a_bad_condition(tmp_path) -> None:
    from typer.testing import CliRunner

    from leadwise.cli import app

    ok = CliRunner().invoke(app, ["flow-check", str(BUNDLED_FLOWS_DIR / "conditions.toml")])
    assert ok.exit_code == 0 and "Europe/Berlin" in ok.output and "weekend" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - pool: everyone\n    strategy: round_robin\n    when:\n      hour: {gte: evening}\n")
    result = CliRunner().invoke(app, ["flow-check", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: line 5: steps[0].when.hour.gte: Input should be a valid number" in result.output.replace("\n", "")
