"""Touches on leads, hand-off back to marketing (return) and re-entry when the lead matures again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadwise.routing.flows import BUNDLED_FLOWS_DIR
from leadwise.services.checks import consistency_problems
from leadwise.store.models import AssignmentRow, LeadReturnRow, LeadRow, RepRow, TouchRow

from .conftest import make_env

VISIT = {"timestamp": "2024-05-01T09:00:00Z", "channel": "web", "touch_type": "visit", "cost": 2.5}
DEMO = {"timestamp": "2024-05-03T09:00:00Z", "channel": "ads", "touch_type": "demo_request", "campaign": "q2"}


def _route(env, lead_id: str, **fields) -> dict:
    response = env.client.post("/v1/route", json={"lead_id": lead_id, **fields}, headers=env.h("integration"))
    assert response.status_code == 201, response.text
    return response.json()


def _owner(env, routed: dict) -> str:
    return "rep" if routed["rep_id"] == env.reps["Ann"] else "rep_bob"


def _open_leads(env, rep_id: int) -> int:
    with env.db.read_session() as s:
        return s.get(RepRow, rep_id).open_leads


def _publish_marketing_flow(env) -> None:
    source = (BUNDLED_FLOWS_DIR / "marketing.toml").read_text()
    response = env.client.post("/v1/flows", json={"source": source}, headers=env.h("admin"))
    assert response.status_code == 201, response.text


def test_touches_are_stored_with_the_lead_and_appended(env) -> None:
    routed = _route(env, "t-1", product="GTX Pro", touches=[VISIT])
    assert routed["state"] == "offered"
    added = env.client.post("/v1/leads/t-1/touches", json={"touches": [DEMO]}, headers=env.h("integration"))
    assert added.status_code == 201, added.text
    body = added.json()
    assert (body["added"], body["touches"], body["rerouted"], body["sales_ready"]) == (1, 2, False, None)
    with env.db.read_session() as s:
        rows = s.execute(
            select(TouchRow.channel, TouchRow.touch_type, TouchRow.cost, TouchRow.campaign)
        ).all()
        payload = s.scalar(select(LeadRow.payload).where(LeadRow.external_id == "t-1"))
    assert sorted(rows) == [("ads", "demo_request", None, "q2"), ("web", "visit", 2.5, None)]
    assert "touches" not in payload  # touches live in their own table
    h = env.h("integration")
    assert env.client.post("/v1/leads/nobody/touches", json={"touches": [DEMO]}, headers=h).status_code == 404
    bad_type = env.client.post(
        "/v1/leads/t-1/touches", json={"touches": [DEMO | {"touch_type": "hug"}]}, headers=h
    )
    assert bad_type.status_code == 422 and bad_type.json()["detail"][0]["loc"][-1] == "touch_type"
    naive = env.client.post(
        "/v1/leads/t-1/touches", json={"touches": [DEMO | {"timestamp": "2024-05-03T09:00:00"}]}, headers=h
    )
    assert naive.status_code == 422
    negative = env.client.post("/v1/leads/t-1/touches", json={"touches": [DEMO | {"cost": -1}]}, headers=h)
    assert negative.status_code == 422


def test_batch_stores_touches(env) -> None:
    response = env.client.post(
        "/v1/route/batch",
        json={"leads": [{"lead_id": "b-1", "touches": [VISIT, DEMO]}, {"lead_id": "b-2"}]},
        headers=env.h("manager"),
    )
    assert response.status_code == 200, response.text
    with env.db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(TouchRow)) == 2


def test_return_ends_the_assignment_frees_capacity_and_stores_the_reason(env) -> None:
    routed = _route(env, "r-1", product="GTX Pro")
    owner, rep_id = _owner(env, routed), routed["rep_id"]
    assert _open_leads(env, rep_id) == 1
    env.client.post(f"/v1/assignments/{routed['id']}/accept", headers=env.h(owner))
    response = env.client.post(
        f"/v1/assignments/{routed['id']}/return",
        json={"reason": "project_postponed", "note": "budget in Q3"},
        headers=env.h(owner),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["state"] == "returned" and body["closed_at"] is not None
    assert body["reason"] == "returned to marketing: project_postponed (budget in Q3)"
    assert _open_leads(env, rep_id) == 0
    with env.db.read_session() as s:
        (stored,) = s.scalars(select(LeadReturnRow)).all()
        lead = s.scalar(select(LeadRow).where(LeadRow.external_id == "r-1"))
        assert (stored.reason, stored.note, stored.rep_id, stored.returned_by) == (
            "project_postponed",
            "budget in Q3",
            rep_id,
            "rep",
        )
        assert (lead.status, lead.queue) == ("queued", "nurture")
        assert consistency_problems(session=s) == []
    again = env.client.post(
        f"/v1/assignments/{routed['id']}/return", json={"reason": "bad_data"}, headers=env.h("manager")
    )
    assert again.status_code == 409
    # The manager sees it in the nurture queue.
    queued = env.client.get("/v1/pool", headers=env.h("manager")).json()["data"]
    assert [(q["lead_id"], q["queue"]) for q in queued] == [("r-1", "nurture")]


def test_unknown_reason_is_422_naming_the_field(env) -> None:
    routed = _route(env, "r-2")
    response = env.client.post(
        f"/v1/assignments/{routed['id']}/return", json={"reason": "bored"}, headers=env.h("admin")
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "reason"] and "unknown return reason 'bored'" in error["msg"]
    assert (
        env.client.post(f"/v1/assignments/{routed['id']}/return", json={}, headers=env.h("admin")).status_code
        == 422
    )
    assert _open_leads(env, routed["rep_id"]) == 1  # nothing changed


def test_return_reasons_are_configurable(tmp_path: Path, migrated_template: Path) -> None:
    for env in make_env(tmp_path, migrated_template, return_reasons=["went_quiet"]):
        routed = _route(env, "r-3")
        url = f"/v1/assignments/{routed['id']}/return"
        assert env.client.post(url, json={"reason": "not_mature"}, headers=env.h("admin")).status_code == 422
        assert env.client.post(url, json={"reason": "went_quiet"}, headers=env.h("admin")).status_code == 200
        report = env.client.get("/v1/reports/returns", headers=env.h("manager")).json()
        assert report["reasons"] == [{"reason": "went_quiet", "count": 1}]


def test_only_the_assigned_rep_or_a_manager_may_return(env) -> None:
    routed = _route(env, "r-4")
    owner = _owner(env, routed)
    other = "rep_bob" if owner == "rep" else "rep"
    url = f"/v1/assignments/{routed['id']}/return"
    wrong = env.client.post(url, json={"reason": "not_mature"}, headers=env.h(other))
    # Another rep's assignment answers as a missing one would: its existence does not leak.
    missing = env.client.post("/v1/assignments/999/return", json={"reason": "not_mature"}, headers=env.h(other))
    assert wrong.status_code == missing.status_code == 404 and wrong.json()["error"] == "not_found"
    assert wrong.json()["detail"] == f"assignment {routed['id']} not found"
    assert (
        env.client.post(url, json={"reason": "not_mature"}, headers=env.h("integration")).status_code == 403
    )
    assert (
        env.client.post(
            "/v1/assignments/999/return", json={"reason": "not_mature"}, headers=env.h("admin")
        ).status_code
        == 404
    )
    assert env.client.post(url, json={"reason": "not_mature"}, headers=env.h("manager")).status_code == 200


def test_a_returned_lead_reenters_the_flow_when_it_matures_again(env) -> None:
    _publish_marketing_flow(env)
    first = _route(env, "m-1", touches=[DEMO])  # a demo request: sales-ready without a model
    assert first["state"] == "offered", first["explanation"]
    owner = _owner(env, first)
    returned = env.client.post(
        f"/v1/assignments/{first['id']}/return", json={"reason": "not_mature"}, headers=env.h(owner)
    )
    assert returned.status_code == 200
    h = env.h("integration")
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    # The demo request before the return no longer counts, nor does an old one posted now.
    visit = env.client.post(
        "/v1/leads/m-1/touches", json={"touches": [VISIT | {"timestamp": later}]}, headers=h
    )
    assert (visit.json()["sales_ready"], visit.json()["rerouted"]) == (False, False)
    old = env.client.post("/v1/leads/m-1/touches", json={"touches": [DEMO]}, headers=h)
    assert (old.json()["sales_ready"], old.json()["rerouted"]) == (False, False)
    again = env.client.post(
        "/v1/leads/m-1/touches", json={"touches": [DEMO | {"timestamp": later}]}, headers=h
    )
    body = again.json()
    assert body["sales_ready"] is True and body["rerouted"] is True
    assert body["decision"]["state"] == "offered" and body["decision"]["source"] == "matured"
    assert body["decision"]["id"] != first["id"]
    with env.db.read_session() as s:
        states = s.scalars(
            select(AssignmentRow.state)
            .join(LeadRow)
            .where(LeadRow.external_id == "m-1")
            .order_by(AssignmentRow.id)
        ).all()
        assert states == ["returned", "offered"]  # the old decision stays
        assert consistency_problems(session=s) == []


def test_a_nurtured_lead_waits_until_a_revealing_act(env) -> None:
    _publish_marketing_flow(env)
    cold = _route(env, "m-2", touches=[VISIT])  # rules-only, no revealing act: nurture
    assert (cold["state"], cold["queue"]) == ("queued", "nurture")
    steps = cold["explanation"]["explanation"]["steps_tried"]
    assert any("rules-only (no lead score): only revealing acts decide" in s["note"] for s in steps)
    h = env.h("integration")
    still = env.client.post("/v1/leads/m-2/touches", json={"touches": [VISIT]}, headers=h).json()
    assert (still["sales_ready"], still["rerouted"]) == (False, False)
    assert "not sales-ready" in still["why"]
    ready = env.client.post("/v1/leads/m-2/touches", json={"touches": [DEMO]}, headers=h).json()
    assert (ready["sales_ready"], ready["rerouted"]) == (True, True)
    assert ready["decision"]["state"] == "offered" and ready["decision"]["rep_id"] is not None
    with env.db.read_session() as s:
        rows = s.execute(
            select(AssignmentRow.state, AssignmentRow.closed_at.is_not(None))
            .join(LeadRow)
            .where(LeadRow.external_id == "m-2")
            .order_by(AssignmentRow.id)
        ).all()
        assert rows == [("queued", True), ("offered", False)]  # the nurture decision is closed, kept
        assert consistency_problems(session=s) == []
    # Later touches on an assigned lead are stored but route nothing.
    after = env.client.post("/v1/leads/m-2/touches", json={"touches": [VISIT]}, headers=h).json()
    assert (after["rerouted"], after["sales_ready"], after["touches"]) == (False, None, 4)


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_a_manager_may_return_any_assignment(env, role: str) -> None:
    routed = _route(env, f"r-{role}")
    response = env.client.post(
        f"/v1/assignments/{routed['id']}/return", json={"reason": "bad_data"}, headers=env.h(role)
    )
    assert response.status_code == 200
    with env.db.read_session() as s:
        assert s.scalar(select(LeadReturnRow.returned_by)).startswith(f"{role} key")


def test_the_api_takes_every_marketing_touch_type_and_no_other(env) -> None:
    # What a CRM may send, checked at the HTTP edge: every type the marketing package (and so
    # attribution and the features) knows is accepted and stored as sent; the published schema
    # lists exactly those; any other name is refused. Comparing ``get_args(TouchType)`` with
    # ``TOUCH_TYPES`` checked nothing: ``TouchType`` is built from ``TOUCH_TYPES``.
    from leadwise.marketing.touchpoints import TOUCH_TYPES

    _route(env, "types-1")
    h = env.h("integration")
    touches = [VISIT | {"touch_type": kind} for kind in TOUCH_TYPES]
    response = env.client.post("/v1/leads/types-1/touches", json={"touches": touches}, headers=h)
    assert response.status_code == 201, response.text
    with env.db.read_session() as s:
        assert sorted(s.scalars(select(TouchRow.touch_type))) == sorted(TOUCH_TYPES)
    schema = env.client.get("/openapi.json").json()["components"]["schemas"]["TouchIn"]
    assert schema["properties"]["touch_type"]["enum"] == list(TOUCH_TYPES)
    unknown = env.client.post(
        "/v1/leads/types-1/touches", json={"touches": [VISIT | {"touch_type": "demo request"}]}, headers=h
    )
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"][-1] == "touch_type"
