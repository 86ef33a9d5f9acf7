"""Behaviour of the endpoints on a small team (capacity 2 each): idempotency, capacity, queues,
accept/reject/outcome, pools, manual assignment, SLA expiry, scoring and error bodies."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import update

from leadwise.services.checks import consistency_problems
from leadwise.services.keys import create_key
from leadwise.services.sla import sweep_expired
from leadwise.store.models import AssignmentRow, utcnow

# Every rep by round robin; when nobody can take the lead, it waits in the claim pool "default".
OVERFLOW_TO_POOL = """
name = "overflow to pool"
[[steps]]
pool = "everyone"
strategy = "round_robin"
[[steps]]
name = "overflow"
action = "claim_pool"
"""
BEST_FIT = """
[[steps]]
pool = "everyone"
strategy = "best_fit"
"""


def publish(env, source: str, fmt: str = "toml"):
    response = env.client.post("/v1/flows", json={"source": source, "format": fmt}, headers=env.h("admin"))
    assert response.status_code == 201, response.text
    return response.json()


def route(env, lead_id: str, **fields):
    return env.client.post("/v1/route", json={"lead_id": lead_id, **fields}, headers=env.h("integration"))


def _open_leads(env, rep_id: int) -> int:
    return env.client.get(f"/v1/reps/{rep_id}", headers=env.h("admin")).json()["open_leads"]


def assert_consistent(env) -> None:
    with env.db.read_session() as session:
        assert consistency_problems(session=session) == []


def test_route_is_idempotent_on_the_lead_id(env) -> None:
    first = route(env, "L-1", product="GTX Pro")
    again = route(env, "L-1", product="GTX Pro")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["created"] is False
    stats = env.client.get("/v1/stats", headers=env.h("manager")).json()
    assert sum(r["leads_received"] for r in stats["reps"]) == 1


def test_capacity_is_never_exceeded_and_the_overflow_is_queued(env) -> None:
    answers = [route(env, f"L-{i}").json() for i in range(8)]  # 3 reps x capacity 2 = 6 seats
    assigned = [a for a in answers if a["rep_id"] is not None]
    assert len(assigned) == 6
    # the bundled flow: no step finds an eligible rep -> manager queue, and every step tried says why
    assert all(a["queue"] == "manager" and a["state"] == "queued" for a in answers[6:])
    reps = env.client.get("/v1/reps", headers=env.h("admin")).json()["data"]
    assert all(r["open_leads"] == 2 for r in reps)
    explanation = answers[6]["explanation"]["explanation"]
    assert "3 capacity" in explanation["steps_tried"][-1]["note"]
    assert "manager queue" in explanation["notes"][-1]
    assert_consistent(env)


def test_accept_reject_reroutes_away_from_the_rejecting_rep(env) -> None:
    first = route(env, "L-r").json()
    owner = "rep" if first["rep_id"] == env.reps["Ann"] else "rep_bob"
    accepted = env.client.post(f"/v1/assignments/{first['id']}/accept", headers=env.h(owner))
    assert accepted.json()["state"] == "accepted" and accepted.json()["responded_at"]
    again = env.client.post(f"/v1/assignments/{first['id']}/accept", headers=env.h(owner))
    assert again.status_code == 409 and "accepted" in again.json()["detail"]
    rejected = env.client.post(
        f"/v1/assignments/{first['id']}/reject", json={"reason": "no time"}, headers=env.h("manager")
    )
    body = rejected.json()
    assert body["rejected"]["state"] == "rejected" and body["rejected"]["reason"] == "no time"
    assert body["next"]["rep_id"] not in (None, first["rep_id"])
    assert_consistent(env)


def test_outcome_closes_the_lead_and_frees_capacity(env) -> None:
    a = route(env, "L-o").json()
    won = env.client.post(
        f"/v1/assignments/{a['id']}/outcome",
        json={"result": "won", "value": 1200},
        headers=env.h("integration"),
    )
    assert won.json()["state"] == "won" and won.json()["closed_at"]
    twice = env.client.post(
        f"/v1/assignments/{a['id']}/outcome", json={"result": "lost"}, headers=env.h("admin")
    )
    assert twice.status_code == 409
    stats = {r["rep_id"]: r for r in env.client.get("/v1/stats", headers=env.h("manager")).json()["reps"]}
    assert stats[a["rep_id"]]["won"] == 1 and stats[a["rep_id"]]["open_leads"] == 0
    assert stats[a["rep_id"]]["win_rate"] == 1.0
    assert_consistent(env)


def test_a_manager_corrects_an_outcome_and_the_correction_is_audited(env) -> None:
    a = route(env, "L-c").json()
    url = f"/v1/assignments/{a['id']}/outcome/correction"
    early = env.client.post(url, json={"result": "lost", "reason": "x"}, headers=env.h("manager"))
    assert early.status_code == 409 and "no outcome to correct" in early.json()["detail"]
    env.client.post(f"/v1/assignments/{a['id']}/outcome", json={"result": "won", "value": 900}, headers=env.h("admin"))
    rep = "rep" if a["rep_id"] == env.reps["Ann"] else "rep_bob"
    assert env.client.post(url, json={"result": "lost", "reason": "x"}, headers=env.h(rep)).status_code == 403
    fixed = env.client.post(url, json={"result": "lost", "reason": "cancelled after signing"}, headers=env.h("manager"))
    assert fixed.status_code == 200, fixed.text
    body = fixed.json()
    assert body["assignment"]["state"] == "lost"
    (audit,) = body["corrections"]
    assert (audit["previous_result"], audit["previous_value"], audit["result"], audit["value"]) == ("won", 900, "lost", None)
    assert audit["reason"] == "cancelled after signing" and audit["corrected_by"].startswith("manager key ")
    stats = {r["rep_id"]: r for r in env.client.get("/v1/stats", headers=env.h("manager")).json()["reps"]}
    assert (stats[a["rep_id"]]["won"], stats[a["rep_id"]]["lost"]) == (0, 1)
    same = env.client.post(url, json={"result": "lost", "reason": "again"}, headers=env.h("manager"))
    assert same.status_code == 409 and "nothing to correct" in same.json()["detail"]
    back = env.client.post(url, json={"result": "won", "value": 500, "reason": "re-signed"}, headers=env.h("admin"))
    assert [c["result"] for c in back.json()["corrections"]] == ["lost", "won"]
    assert env.client.get(f"/v1/assignments/{a['id']}", headers=env.h("admin")).json()["state"] == "won"
    assert env.client.post(url, json={"result": "lost"}, headers=env.h("manager")).status_code == 422  # reason needed
    assert_consistent(env)


def test_pool_claim_once_and_only_from_own_pools(env) -> None:
    publish(env, OVERFLOW_TO_POOL)
    answers = [route(env, f"P-{i}", account="Secret Corp").json() for i in range(7)]  # 6 seats, 1 pooled
    pool = env.client.get("/v1/pool", headers=env.h("rep")).json()
    assert pool["count"] == 1 and pool["data"][0]["lead"]["account"] == "Secret Corp"
    lead_id = pool["data"][0]["lead_id"]
    expert = {"Authorization": f"Bearer {create_key(db=env.db, role='rep', rep_id=env.reps['Expert'])[1]}"}
    assert env.client.get("/v1/pool", headers=expert).json()["count"] == 0  # Expert is not in "default"
    assert env.client.post(f"/v1/pool/{lead_id}/claim", headers=expert).status_code == 404
    ann = env.reps["Ann"]
    full = env.client.post(f"/v1/pool/{lead_id}/claim", headers=env.h("rep"))
    assert (full.status_code, full.json()["error"]) == (409, "capacity_exhausted")  # refused, not squeezed in
    first_of_ann = next(a for a in answers if a["rep_id"] == ann)
    closed = env.client.post(
        f"/v1/assignments/{first_of_ann['id']}/outcome", json={"result": "lost"}, headers=env.h("admin")
    )
    assert closed.status_code == 200 and _open_leads(env, ann) == 1
    claimed = env.client.post(f"/v1/pool/{lead_id}/claim", headers=env.h("rep"))
    assert claimed.status_code == 200, claimed.text
    assert (claimed.json()["state"], claimed.json()["rep_id"]) == ("accepted", ann)
    assert _open_leads(env, ann) == 2
    assert env.client.post(f"/v1/pool/{lead_id}/claim", headers=env.h("rep_bob")).status_code in (404, 409)
    assert env.client.get("/v1/pool", headers=env.h("rep")).json()["count"] == 0
    assert_consistent(env)


def test_a_rep_beaten_to_a_lead_is_told_it_was_claimed(env) -> None:
    publish(env, '[[steps]]\nname = "to the pool"\naction = "claim_pool"\n')
    route(env, "C-1")
    assert env.client.post("/v1/pool/C-1/claim", headers=env.h("rep")).status_code == 200
    late = env.client.post("/v1/pool/C-1/claim", headers=env.h("rep_bob"))
    assert (late.status_code, late.json()["error"]) == (409, "already_claimed")


def test_blind_pool_hides_details_from_reps(env) -> None:
    publish(env, OVERFLOW_TO_POOL.replace('action = "claim_pool"', 'action = "blind_pool"'))
    for i in range(7):
        route(env, f"B-{i}", account="Secret Corp")
    rep_view = env.client.get("/v1/pool", headers=env.h("rep")).json()["data"][0]
    assert rep_view["blind"] is True and rep_view["lead"] is None and rep_view["score"] is None
    assert "Secret Corp" not in env.client.get("/v1/pool", headers=env.h("rep")).text
    manager_view = env.client.get("/v1/pool", headers=env.h("manager")).json()["data"][0]
    assert manager_view["lead"]["account"] == "Secret Corp"


def test_manual_assign_moves_a_lead_and_respects_capacity(env) -> None:
    a = route(env, "M-1").json()
    target = next(r for r in env.reps.values() if r != a["rep_id"])
    moved = env.client.post(
        "/v1/leads/M-1/assign", json={"rep_id": target, "reason": "key account"}, headers=env.h("manager")
    )
    assert (
        moved.status_code == 201 and moved.json()["rep_id"] == target and moved.json()["source"] == "manual"
    )
    assert moved.json()["reason"] == "key account"  # the manager's reason is stored, not only noted
    old = env.client.get(f"/v1/assignments/{a['id']}", headers=env.h("admin")).json()
    # the previous rep did not reject it: a manager's move has its own state
    assert old["state"] == "reassigned" and f"to rep {target}: key account" in old["reason"]
    stats = env.client.get("/v1/stats", headers=env.h("manager")).json()
    assert stats["assignments_by_state"] == {"reassigned": 1, "offered": 1}
    assert (
        env.client.post(
            "/v1/leads/nope/assign", json={"rep_id": target}, headers=env.h("manager")
        ).status_code
        == 404
    )
    assert (
        env.client.post("/v1/leads/M-1/assign", json={"rep_id": 999}, headers=env.h("manager")).status_code
        == 404
    )
    assert_consistent(env)


def test_manual_assign_to_a_rep_out_of_office_needs_force_and_warns(env) -> None:
    route(env, "M-ooo")
    away = env.reps["Expert"]
    now = utcnow()
    period = {"start": (now - timedelta(hours=1)).isoformat(), "end": (now + timedelta(days=2)).isoformat()}
    patched = env.client.patch(f"/v1/reps/{away}", json={"out_of_office": [period]}, headers=env.h("admin"))
    assert patched.status_code == 200, patched.text
    before = env.client.get("/v1/stats", headers=env.h("manager")).json()["assignments_by_state"]
    refused = env.client.post("/v1/leads/M-ooo/assign", json={"rep_id": away}, headers=env.h("manager"))
    assert (refused.status_code, refused.json()["error"]) == (409, "rep_out_of_office")
    assert "out of office until" in refused.json()["detail"] and '"force": true' in refused.json()["detail"]
    # nothing moved: the lead's offer is still where it was
    assert env.client.get("/v1/stats", headers=env.h("manager")).json()["assignments_by_state"] == before
    forced = env.client.post(
        "/v1/leads/M-ooo/assign", json={"rep_id": away, "force": True}, headers=env.h("manager")
    )
    assert forced.status_code == 201 and forced.json()["rep_id"] == away
    notes = forced.json()["explanation"]["explanation"]["notes"]
    assert any(n.startswith("warning: rep Expert is out of office until") for n in notes)
    assert_consistent(env)


def test_sla_sweep_expires_each_offer_once_and_reroutes(env) -> None:
    a = route(env, "S-1").json()
    with env.db.write_session() as session:
        session.execute(update(AssignmentRow).values(expires_at=utcnow() - timedelta(minutes=1)))
    assert sweep_expired(db=env.db, settings=env.settings, models=env.models) == 1
    assert sweep_expired(db=env.db, settings=env.settings, models=env.models) == 0
    old = env.client.get(f"/v1/assignments/{a['id']}", headers=env.h("admin")).json()
    assert old["state"] == "expired"
    stats = env.client.get("/v1/stats", headers=env.h("manager")).json()
    assert stats["assignments_by_state"] == {"expired": 1, "offered": 1}
    assert_consistent(env)


def test_score_is_503_rules_only_then_200_with_a_model(env, world_models) -> None:
    lead = {"lead_id": "SC-1", "product": "GTX Pro", "account": "Acme"}
    rules_only = env.client.post("/v1/score", json=lead, headers=env.h("integration"))
    assert rules_only.status_code == 503 and rules_only.json()["error"] == "model_not_ready"
    env.models.install(world_models)
    publish(env, BEST_FIT)
    # What the model says of this lead (engaged today) for the team's reps.
    reps = ["Ann", "Bob", "Expert"]
    expected = world_models.predict(pd.DataFrame([lead]), reps)
    p_win = dict(zip(reps, expected.fit[0].tolist(), strict=True))
    best = max(p_win, key=p_win.__getitem__)
    assert best == "Expert"  # the model finds the world's GTX expert
    scored = env.client.post("/v1/score?top=2", json=lead, headers=env.h("integration")).json()
    assert scored["model_version"] == "world-1"
    assert scored["score"] == pytest.approx(float(expected.lead_score[0]), abs=1e-9)
    assert [r["name"] for r in scored["reps"]] == sorted(p_win, key=p_win.__getitem__, reverse=True)[:2]
    routed = route(env, "SC-2", product="GTX Pro", account="Acme").json()
    assert routed["rep_name"] == best and routed["model_version"] == "world-1"
    assert routed["strategy"] == "best_fit" and routed["p_win"] == pytest.approx(p_win[best], abs=1e-6)


def test_errors_name_the_problem(env) -> None:
    bad = env.client.post("/v1/route", json={"lead_id": ""}, headers=env.h("integration"))
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"
    assert (
        env.client.post(
            "/v1/route", json={"lead_id": "x", "oops": 1}, headers=env.h("integration")
        ).status_code
        == 422
    )
    missing = env.client.get("/v1/assignments/999", headers=env.h("admin"))
    assert missing.status_code == 404 and "999" in missing.json()["detail"]
    dup = env.client.post("/v1/reps", json={"name": "Ann"}, headers=env.h("admin"))
    assert dup.status_code == 409 and "Ann" in dup.json()["detail"]
    route(env, "C-1")
    route(env, "C-2")
    busy = next(
        r for r in env.client.get("/v1/reps", headers=env.h("admin")).json()["data"] if r["open_leads"]
    )
    shrink = env.client.patch(f"/v1/reps/{busy['id']}", json={"capacity": 0}, headers=env.h("admin"))
    assert shrink.status_code == 409 and "open leads" in shrink.json()["detail"]
    tz = env.client.patch(
        f"/v1/reps/{busy['id']}", json={"hours": {"timezone": "Mars/Base"}}, headers=env.h("admin")
    )
    assert tz.status_code == 422 and "Mars/Base" in tz.text


def test_reps_crud(env) -> None:
    created = env.client.post(
        "/v1/reps", json={"name": "Zoe", "capacity": 5, "sectors": ["medical"]}, headers=env.h("admin")
    )
    assert created.status_code == 201
    rid = created.json()["id"]
    patched = env.client.patch(
        f"/v1/reps/{rid}",
        json={
            "active": False,
            "out_of_office": [{"start": "2030-01-01T00:00:00Z", "end": "2030-01-08T00:00:00Z"}],
        },
        headers=env.h("admin"),
    ).json()
    assert (
        patched["active"] is False
        and patched["sectors"] == ["medical"]
        and len(patched["out_of_office"]) == 1
    )
    inactive = env.client.get("/v1/reps?active=false", headers=env.h("manager")).json()
    assert [r["name"] for r in inactive["data"]] == ["Zoe"]
