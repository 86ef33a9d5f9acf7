"""Rep self-service: ``POST /v1/reps/{id}/status`` with the rep's own key; routing passes an away rep by."""

from __future__ import annotations


def _route(env, lead_id: str) -> dict:
    answer = env.client.post("/v1/route", json={"lead_id": lead_id}, headers=env.h("integration"))
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_an_away_rep_gets_no_leads_until_available_again(env) -> None:
    ann = env.reps["Ann"]
    away = env.client.post(f"/v1/reps/{ann}/status", json={"status": "away"}, headers=env.h("rep"))
    assert away.status_code == 200, away.text
    assert away.json()["status"] == "away" and away.json()["status_changed_at"] is not None
    assert env.client.get(f"/v1/reps/{ann}", headers=env.h("manager")).json()["status"] == "away"

    routed = [_route(env, f"away-{i}") for i in range(3)]
    assert ann not in {r["rep_id"] for r in routed}
    excluded = {e["rep_id"]: e["reason"] for e in routed[0]["explanation"]["explanation"]["excluded"]}
    assert excluded[str(ann)] == "away (set by the rep)"

    back = env.client.post(f"/v1/reps/{ann}/status", json={"status": "available"}, headers=env.h("rep"))
    assert back.json()["status"] == "available"
    assert ann in {_route(env, f"back-{i}")["rep_id"] for i in range(3)}


def test_a_rep_sets_only_its_own_status(env) -> None:
    bob = env.reps["Bob"]
    refused = env.client.post(f"/v1/reps/{bob}/status", json={"status": "away"}, headers=env.h("rep"))
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    assert env.client.post(f"/v1/reps/{bob}/status", json={"status": "away"}, headers=env.h("manager")).status_code == 200
    bad = env.client.post(f"/v1/reps/{bob}/status", json={"status": "asleep"}, headers=env.h("rep_bob"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "status"]
    assert env.client.post("/v1/reps/999/status", json={"status": "away"}, headers=env.h("admin")).status_code == 404


def test_a_manager_assigning_to_an_away_rep_needs_force_and_is_warned(env) -> None:
    ann = env.reps["Ann"]
    env.client.post(f"/v1/reps/{ann}/status", json={"status": "away"}, headers=env.h("rep"))
    env.client.post("/v1/route", json={"lead_id": "away-m"}, headers=env.h("integration"))
    refused = env.client.post("/v1/leads/away-m/assign", json={"rep_id": ann}, headers=env.h("manager"))
    assert refused.status_code == 409 and "set itself away" in refused.json()["detail"]
    forced = env.client.post("/v1/leads/away-m/assign", json={"rep_id": ann, "force": True}, headers=env.h("manager"))
    assert forced.status_code == 201 and forced.json()["rep_id"] == ann
    assert any("has set itself away (assigned with force)" in n for n in forced.json()["explanation"]["explanation"]["notes"])
