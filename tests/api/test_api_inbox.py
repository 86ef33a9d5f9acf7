"""The inbox (``GET /v1/assignments``) and a lead's audit trail (``GET /v1/leads/{lead_id}``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote


def _route(env, lead_id: str) -> dict:
    answer = env.client.post("/v1/route", json={"lead_id": lead_id, "product": "GTX Pro"}, headers=env.h("integration"))
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_rep_sees_its_own_and_a_manager_everyones_newest_first(env) -> None:
    routed = [_route(env, f"inbox-{i}") for i in range(4)]  # round robin over Ann, Bob and Expert
    anns = [r["id"] for r in reversed(routed) if r["rep_id"] == env.reps["Ann"]]
    assert anns
    mine = env.client.get("/v1/assignments", headers=env.h("rep")).json()
    assert mine["total"] == mine["count"] == len(anns)
    assert [a["id"] for a in mine["data"]] == anns
    everyone = env.client.get("/v1/assignments", headers=env.h("manager")).json()
    assert everyone["total"] == 4
    assert [a["id"] for a in everyone["data"]] == [r["id"] for r in reversed(routed)]

    page = env.client.get("/v1/assignments?limit=3&offset=3", headers=env.h("admin")).json()
    assert (page["count"], page["total"], page["limit"], page["offset"]) == (1, 4, 3, 3)
    assert page["data"][0]["id"] == routed[0]["id"]

    other = env.client.get(f"/v1/assignments?rep_id={env.reps['Bob']}", headers=env.h("rep"))
    assert other.status_code == 403
    assert env.client.get("/v1/assignments", headers=env.h("integration")).status_code == 403


def test_filters_state_rep_lead_and_since(env) -> None:
    first, second = _route(env, "f-1"), _route(env, "f-2")
    env.client.post(f"/v1/assignments/{first['id']}/accept", headers=env.h("manager"))
    get = lambda query: env.client.get(f"/v1/assignments?{query}", headers=env.h("manager")).json()  # noqa: E731

    assert [a["id"] for a in get("state=accepted")["data"]] == [first["id"]]
    assert {a["id"] for a in get("state=accepted&state=offered")["data"]} == {first["id"], second["id"]}
    assert [a["id"] for a in get(f"rep_id={second['rep_id']}")["data"]] == [second["id"]]
    assert [a["id"] for a in get("lead_id=f-2")["data"]] == [second["id"]]
    assert get("lead_id=unknown")["total"] == 0
    later = quote((datetime.now(UTC) + timedelta(minutes=1)).isoformat())
    earlier = quote((datetime.now(UTC) - timedelta(minutes=1)).isoformat())
    assert get(f"since={later}")["total"] == 0
    assert get(f"since={earlier}")["total"] == 2

    bad = env.client.get("/v1/assignments?state=lost-ish", headers=env.h("manager"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "state", 0]
    naive = env.client.get("/v1/assignments?since=2024-01-01T00:00:00", headers=env.h("manager"))
    assert naive.status_code == 422 and naive.json()["detail"][0]["loc"] == ["query", "since"]


def test_the_audit_trail_shows_every_decision_with_its_explanation(env) -> None:
    first = _route(env, "audit-1")
    assert first["rep_id"] == env.reps["Ann"]  # the round robin's first
    rejected = env.client.post(
        f"/v1/assignments/{first['id']}/reject", json={"reason": "not my region"}, headers=env.h("rep")
    ).json()
    second_id = rejected["next_assignment_id"]
    second = env.client.get(f"/v1/assignments/{second_id}", headers=env.h("manager")).json()
    env.client.post(f"/v1/assignments/{second_id}/outcome", json={"result": "won", "value": 1200}, headers=env.h("manager"))

    audit = env.client.get("/v1/leads/audit-1", headers=env.h("manager"))
    assert audit.status_code == 200, audit.text
    body = audit.json()
    assert body["lead_id"] == "audit-1" and body["status"] == "closed"
    assert body["lead"]["product"] == "GTX Pro"
    assert [d["id"] for d in body["decisions"]] == [first["id"], second_id]
    assert [d["state"] for d in body["decisions"]] == ["rejected", "won"]
    assert body["decisions"][0]["reason"] == "not my region"
    assert body["decisions"][1]["rep_id"] == second["rep_id"] != first["rep_id"]
    for decision in body["decisions"]:
        assert decision["explanation"]["explanation"]["step"] == decision["rule"] == "everyone else"
        assert decision["explanation"]["explanation"]["eligible"]
    # The reroute's explanation says the first rep was kept out, and why.
    excluded = {e["rep_id"]: e["reason"] for e in body["decisions"][1]["explanation"]["explanation"]["excluded"]}
    assert "rejected" in excluded[str(first["rep_id"])]
    assert body["outcomes"] == [
        {"assignment_id": second_id, "rep_id": second["rep_id"], "result": "won", "value": 1200.0,
         "recorded_at": body["outcomes"][0]["recorded_at"]}
    ]
    missing = env.client.get("/v1/leads/nope", headers=env.h("manager"))
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    assert env.client.get("/v1/leads/audit-1", headers=env.h("rep")).status_code == 403
