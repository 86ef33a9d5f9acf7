"""Issue 18 items 1-2 through the HTTP API (and the CLI that edits reps): a lead's custom ``fields``
(bounded, stored, audited, exported, previewed), flow conditions on fields, weekday and hour on the
service clock, errors at their line, and a rep's ``accepts`` / ``prefers``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from tests.api.conftest import make_env
from tests.api.test_api_flows import assert_consistent, publish, route
from typer.testing import CliRunner

from leadwise import timekeeping
from leadwise.cli import app as cli
from leadwise.services.export import export_history
from leadwise.services.reps import import_sales_teams
from leadwise.settings import BUNDLED_DATA_DIR

FIELDS_FLOW = """\
name = "fields"

[pools.everyone]

[pools.bobs]
reps = ["{bob}"]

[[steps]]
name = "urgent"
pool = "bobs"
strategy = "round_robin"
[steps.when]
fields.priority = {{ in = ["urgent", "high"] }}
fields.seats = {{ gte = 100 }}

[[steps]]
name = "rest"
pool = "everyone"
strategy = "load_balancing"
"""


def _explanation(answer: dict) -> dict:
    return answer["explanation"]["explanation"]


def _excluded(answer: dict) -> dict[str, str]:
    return {e["rep_id"]: e["reason"] for e in _explanation(answer)["excluded"]}


def test_lead_fields_are_stored_routed_on_and_shown_in_the_audit(env) -> None:
    bob = env.reps["Bob"]
    publish(env, FIELDS_FLOW.format(bob=bob))
    fields = {"priority": "urgent", "seats": 250, "trial": True, "ratio": 0.5}
    urgent = route(env, "F-1", fields=fields)
    assert urgent.status_code == 201, urgent.text
    assert urgent.json()["rep_id"] == bob and _explanation(urgent.json())["step"] == "urgent"

    small = route(env, "F-2", fields={"priority": "urgent", "seats": 20}).json()
    assert _explanation(small)["step"] == "rest"
    assert _explanation(small)["steps_tried"][0]["note"] == "fields.seats 20 is not ≥ 100"

    audit = env.client.get("/v1/leads/F-1", headers=env.h("manager"))
    assert audit.status_code == 200
    assert audit.json()["lead"]["fields"] == fields  # types kept: a bool stays a bool, a number a number
    assert_consistent(env)


def test_a_preview_reads_the_leads_fields(env) -> None:
    bob = env.reps["Bob"]
    body = {"lead": {"lead_id": "P-1", "fields": {"priority": "high", "seats": 120}}, "source": FIELDS_FLOW.format(bob=bob)}
    answer = env.client.post("/v1/flows/preview", json=body, headers=env.h("admin"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["rule"] == "urgent" and answer.json()["rep_id"] == bob and answer.json()["stored"] is False
    body["lead"]["fields"]["seats"] = 3
    assert env.client.post("/v1/flows/preview", json=body, headers=env.h("admin")).json()["rule"] == "rest"


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({f"f{i}": i for i in range(51)}, ["body", "fields"]),  # more than 50 fields
        ({"note": "x" * 501}, ["body", "fields", "note"]),  # a text over 500 characters
        ({"x" * 65: 1}, ["body", "fields", "x" * 65]),  # a name over 64 characters
        ({"bad name": 1}, ["body", "fields", "bad name"]),  # not letters, digits, underscores
        ({"nested": {"a": 1}}, ["body", "fields", "nested"]),  # strings, numbers and booleans only
        ({"list": [1, 2]}, ["body", "fields", "list"]),
    ],
)
def test_bad_lead_fields_are_422_naming_the_field(env, fields: dict, loc: list[str]) -> None:
    answer = route(env, "bad-fields", fields=fields)
    assert answer.status_code == 422, answer.text
    locs = [e["loc"] for e in answer.json()["detail"]]
    assert any(found[: len(loc)] == loc for found in locs), locs
    assert env.client.get("/v1/leads/bad-fields", headers=env.h("manager")).status_code == 404  # nothing stored


def test_the_field_limits_are_in_the_schema(env) -> None:
    schema = env.client.get("/openapi.json").json()["components"]["schemas"]["LeadIn"]["properties"]["fields"]
    assert schema["maxProperties"] == 50
    assert "at most 50" in schema["description"] and "500 characters" in schema["description"]


def test_a_bad_condition_is_422_naming_its_line_in_toml_and_yaml(env) -> None:
    toml = FIELDS_FLOW.format(bob=1).replace("gte = 100", 'gte = "many"')
    bad = env.client.post("/v1/flows", json={"source": toml}, headers=env.h("admin"))
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_flow", bad.text
    assert "line 14: steps[0].when.fields.seats.gte" in bad.json()["detail"]
    yaml = "name: y\nsteps:\n  - pool: everyone\n    strategy: round_robin\n    when:\n      weekday: {in: [someday]}\n"
    bad = env.client.post("/v1/flows", json={"source": yaml, "format": "yaml"}, headers=env.h("admin"))
    assert bad.status_code == 422 and "line 6: steps[0].when.weekday" in bad.json()["detail"], bad.text
    assert "unknown weekday 'someday'" in bad.json()["detail"]
    preview = env.client.post(
        "/v1/flows/preview", json={"lead": {"lead_id": "p"}, "source": toml}, headers=env.h("admin")
    )
    assert preview.status_code == 422 and "line 14" in preview.json()["detail"]


WEEKEND_FLOW = """\
timezone = "Asia/Tokyo"

[pools.everyone]

[pools.weekend]
reps = ["{ann}"]

[[steps]]
name = "weekend in Tokyo"
pool = "weekend"
strategy = "round_robin"
when = {{ weekday = {{ in = ["sat", "sun"] }}, hour = {{ gte = 8, lt = 20 }} }}

[[steps]]
name = "otherwise"
pool = "everyone"
strategy = "load_balancing"
"""
# Friday 23:30 UTC is Saturday 08:30 in Tokyo.
FRIDAY_NIGHT_UTC = datetime(2024, 1, 12, 23, 30, tzinfo=UTC)


@pytest.fixture
def clocked(tmp_path: Path, migrated_template: Path, wall: list[float]) -> Iterator[object]:
    """A service whose clock starts at FRIDAY_NIGHT_UTC and runs at wall speed (a hand-set wall clock)."""
    generator = make_env(tmp_path, migrated_template, clock_start=FRIDAY_NIGHT_UTC, clock_speed=1.0, clock_anchor=wall[0])
    yield next(generator)
    generator.close()
    timekeeping.use(timekeeping.SystemWallClock())


def test_weekday_and_hour_conditions_read_the_service_clock_in_the_flow_zone(clocked, wall: list[float]) -> None:
    env = clocked
    ann = env.reps["Ann"]
    publish(env, WEEKEND_FLOW.format(ann=ann))
    saturday_morning = route(env, "W-1").json()
    assert _explanation(saturday_morning)["step"] == "weekend in Tokyo" and saturday_morning["rep_id"] == ann
    wall[0] += 12 * 3600  # Saturday 20:30 in Tokyo: the hour no longer holds
    evening = route(env, "W-2").json()
    assert _explanation(evening)["step"] == "otherwise"
    assert _explanation(evening)["steps_tried"][0]["note"] == "hour 20 is not < 20 (Asia/Tokyo)"
    publish(env, WEEKEND_FLOW.format(ann=ann).replace("Asia/Tokyo", "UTC"))  # Saturday 11:30 UTC
    assert _explanation(route(env, "W-3").json())["step"] == "weekend in Tokyo"


GERMAN = {"fields.language": {"in": ["de"]}}


def test_a_reps_accepts_filter_is_edited_through_the_api_and_honoured_by_routing(env) -> None:
    publish(env, "[[steps]]\npool = \"everyone\"\nstrategy = \"load_balancing\"\n")
    ann, bob = env.reps["Ann"], env.reps["Bob"]
    env.client.patch(f"/v1/reps/{env.reps['Expert']}", json={"active": False}, headers=env.h("admin"))
    patched = env.client.patch(f"/v1/reps/{ann}", json={"accepts": GERMAN}, headers=env.h("admin"))
    assert patched.status_code == 200, patched.text
    assert patched.json()["accepts"] == {"fields": {"language": {"in": ["de"]}}}
    assert env.client.get(f"/v1/reps/{ann}", headers=env.h("manager")).json()["accepts"] == patched.json()["accepts"]

    french = [route(env, f"fr-{i}", fields={"language": "fr"}).json() for i in range(2)]
    assert {a["rep_id"] for a in french} == {bob}
    assert _excluded(french[0])[str(ann)] == "does not accept: fields.language 'fr' not in ['de']"
    assert route(env, "de-1", fields={"language": "de"}).json()["rep_id"] == ann  # fewer open leads, accepted

    # A manager may still hand a refused lead to the rep: the filter is for automatic routing.
    moved = env.client.post("/v1/leads/fr-0/assign", json={"rep_id": ann}, headers=env.h("manager"))
    assert moved.status_code == 201 and moved.json()["rep_id"] == ann

    cleared = env.client.patch(f"/v1/reps/{ann}", json={"accepts": None}, headers=env.h("admin"))
    assert cleared.status_code == 200 and cleared.json()["accepts"] is None
    assert "excluded" not in json.dumps(_excluded(route(env, "fr-9", fields={"language": "fr"}).json()))
    assert_consistent(env)


def test_the_batch_endpoint_honours_rep_filters(env) -> None:
    publish(env, "[[steps]]\npool = \"everyone\"\nstrategy = \"load_balancing\"\n")
    ann = env.reps["Ann"]
    for rep in env.reps.values():
        env.client.patch(f"/v1/reps/{rep}", json={"capacity": 10}, headers=env.h("admin"))
    env.client.patch(f"/v1/reps/{ann}", json={"accepts": GERMAN}, headers=env.h("admin"))
    leads = [{"lead_id": f"b-{i}", "fields": {"language": "fr"}} for i in range(4)]
    out = env.client.post("/v1/route/batch", json={"leads": leads}, headers=env.h("manager"))
    assert out.status_code in (200, 201), out.text
    assert [d["rep_id"] is not None and d["rep_id"] != ann for d in out.json()["data"]] == [True] * 4
    assert_consistent(env)


def test_a_bad_rep_filter_is_422_naming_the_field(env) -> None:
    created = env.client.post(
        "/v1/reps", json={"name": "Picky", "accepts": {"revenue": {"contains": "x"}}}, headers=env.h("admin")
    )
    assert created.status_code == 422 and created.json()["detail"][0]["loc"][:3] == ["body", "accepts", "revenue"]
    typo = env.client.patch(
        f"/v1/reps/{env.reps['Ann']}", json={"prefers": {"fields.seats": {"greater": 3}}}, headers=env.h("admin")
    )
    assert typo.status_code == 422 and typo.json()["detail"][0]["loc"][:3] == ["body", "prefers", "fields"], typo.text
    assert "unknown operator 'greater'" in typo.json()["detail"][0]["msg"]
    assert env.client.get(f"/v1/reps/{env.reps['Ann']}", headers=env.h("admin")).json()["prefers"] is None


def test_prefers_breaks_a_load_tie_for_rules_only_strategies(env) -> None:
    publish(env, "[[steps]]\npool = \"everyone\"\nstrategy = \"load_balancing\"\n")
    bob = env.reps["Bob"]
    env.client.patch(f"/v1/reps/{env.reps['Expert']}", json={"active": False}, headers=env.h("admin"))
    created = env.client.patch(
        f"/v1/reps/{bob}", json={"prefers": {"fields.seats": {"gte": 100}}}, headers=env.h("admin")
    )
    assert created.status_code == 200 and created.json()["prefers"] == {"fields": {"seats": {"gte": 100.0}}}
    big = route(env, "big-1", fields={"seats": 250}).json()
    assert big["rep_id"] == bob
    assert f"tie broken by preference: rep {bob} prefers the lead" in _explanation(big)["notes"]


def test_optimised_prices_prefers_with_the_flows_bonus(env, world_models) -> None:
    env.models.install(world_models)
    bob = env.reps["Bob"]
    env.client.patch(f"/v1/reps/{bob}", json={"prefers": {"fields.seats": {"gte": 100}}}, headers=env.h("admin"))
    publish(env, 'prefers_bonus = 1.0\n[[steps]]\npool = "everyone"\nstrategy = "optimised"\n')
    big = route(env, "opt-big", product="GTX Pro", fields={"seats": 250}).json()
    assert big["rep_id"] == bob and big["strategy"] == "optimised", big
    candidates = {c["rep_id"]: c for c in _explanation(big)["eligible"]}
    assert candidates[str(bob)]["bonus"] == pytest.approx(1.0)
    assert any(n.startswith("prefers: 1 rep(s) prefer this lead: +1 P(win)") for n in _explanation(big)["notes"])
    small = route(env, "opt-small", product="GTX Pro", fields={"seats": 5}).json()
    assert all(c["bonus"] is None for c in _explanation(small)["eligible"])


def test_export_writes_the_leads_custom_fields(env, tmp_path: Path) -> None:
    publish(env, "[[steps]]\npool = \"everyone\"\nstrategy = \"load_balancing\"\n")
    route(env, "E-1", product="GTX Pro", fields={"priority": "high", "seats": 40})
    route(env, "E-2", product="GTX Pro")
    summary = export_history(db=env.db, out=tmp_path / "out", base=BUNDLED_DATA_DIR)  # the base prices products
    assert summary.with_fields == 1
    lines = (tmp_path / "out" / "lead_fields.csv").read_text().splitlines()
    assert lines == ["lead_id,priority,seats", "E-1,high,40"]


def test_reps_import_reads_accepts_and_prefers_columns(env, tmp_path: Path) -> None:
    teams = tmp_path / "sales_teams.csv"
    teams.write_text(
        "sales_agent,manager,regional_office,accepts,prefers\n"
        'Dora,Max,East,"{""fields.language"": {""in"": [""de""]}}",\n'
        'Ann,Max,East,,"{""revenue"": {""gt"": 1000}}"\n'
    )
    result = import_sales_teams(db=env.db, path=teams, capacity=5)
    assert (result.created, result.updated) == (1, 1)
    reps = {r["name"]: r for r in env.client.get("/v1/reps", headers=env.h("admin")).json()["data"]}
    assert reps["Dora"]["accepts"] == {"fields": {"language": {"in": ["de"]}}} and reps["Dora"]["prefers"] is None
    assert reps["Ann"]["prefers"] == {"revenue": {"gt": 1000.0}}

    teams.write_text('sales_agent,manager,regional_office,accepts\nEve,Max,East,"{""hour"": {""equals"": 30}}"\n')
    bad = CliRunner().invoke(cli, ["reps", "import", str(teams), "--database-url", env.settings.database_url])
    assert bad.exit_code == 2
    assert f"{teams}: column 'accepts' at row 2: hour: Value error, an hour is a whole number" in bad.stderr


PERCENTILE_FLOW = """\
name = "by percentile"
[pools.everyone]
[[steps]]
name = "cold"
when = { score_percentile_below = 25 }
action = "nurture"
[[steps]]
name = "hot"
when = { score_percentile_at_least = 75 }
pool = "everyone"
strategy = "best_fit"
[[steps]]
name = "rest"
pool = "everyone"
strategy = "round_robin"
"""


def test_percentile_steps_route_by_where_the_score_falls_among_the_models_leads(env, world_models) -> None:
    env.models.install(world_models)
    publish(env, PERCENTILE_FLOW)
    rules = []
    for product in ("MG Special", "GTK 500", "GTX Plus Pro"):
        lead = {"lead_id": f"pct-{product}", "account": "Acme Corporation", "product": product}
        scored = env.client.post("/v1/score", json=lead, headers=env.h("integration")).json()
        percentile = scored["score_percentile"]
        assert percentile == pytest.approx(float(world_models.lead_score_percentile(np.array([scored["score"]]))[0]))
        routed = route(env, **lead).json()
        explanation = _explanation(routed)
        assert explanation["lead_score_percentile"] == pytest.approx(percentile)
        expected = "cold" if percentile < 25 else "hot" if percentile >= 75 else "rest"
        assert routed["rule"] == expected, (product, percentile, routed)
        rules.append(routed["rule"])
    # The world's products span its model's scores: every step is reached, each for its own reason.
    assert rules == ["cold", "rest", "hot"]
    passed = {s["name"]: s["note"] for s in explanation["steps_tried"] if not s["matched"]}
    assert passed["cold"].startswith("lead score") and "at percentile" in passed["cold"]
