"""Issue 18, item 6 through the HTTP API: ``PATCH /v1/leads/{lead_id}`` and the flow's ``[lifecycle]``
(re-route, unassign, close on a condition; a due date from a lead field), closed leads and duplicates of
an open lead not routed again, and the webhook events of each new transition."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from tests.api.test_api_flows import assert_consistent, publish, route

from leadwise.routing.flows import BUNDLED_FLOWS_DIR
from leadwise.services.sla import sweep_expired
from leadwise.store.models import AssignmentRow, LeadRow, utcnow

# The bundled example flow, so it is shown to work through the API (its reps: no regions, no accounts).
FLOW = (BUNDLED_FLOWS_DIR / "lifecycle.toml").read_text()


def _patch(env, lead: str, /, **changes):
    return env.client.patch(f"/v1/leads/{lead}", json=changes, headers=env.h("integration"))


def _open_leads(env, rep_id: int) -> int:
    return env.client.get(f"/v1/reps/{rep_id}", headers=env.h("admin")).json()["open_leads"]


def _audit(env, lead_id: str) -> dict:
    return env.client.get(f"/v1/leads/{lead_id}", headers=env.h("manager")).json()


def _subscribe(env) -> int:
    # Nobody listens there: the outbox rows (written with each change) are what this test reads.
    answer = env.client.post("/v1/admin/webhooks", json={"url": "http://127.0.0.1:9/hook"}, headers=env.h("admin"))
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def _events(env, subscription: int) -> list[tuple[str, int, str]]:
    log = env.client.get(f"/v1/admin/webhooks/{subscription}/deliveries?limit=100", headers=env.h("admin")).json()
    rows = sorted(log["data"], key=lambda d: d["id"])
    return [(d["event"], d["payload"]["assignment_id"], d["payload"]["source"]) for d in rows]


def test_patch_changes_only_the_fields_sent_and_names_bad_ones(env) -> None:
    publish(env, FLOW)
    route(env, "P-1", account="Acme", product="GTX Pro", sector="retail")
    patched = _patch(env, "P-1", sector="software", region=None)
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["changed"] == ["sector"] and body["action"] == "none" and body["why"] is None
    # The catalogue's series of the product came with the lead when it was routed.
    assert body["lead"] == {"account": "Acme", "product": "GTX Pro", "series": "GTX", "sector": "software"}
    assert _audit(env, "P-1")["lead"]["sector"] == "software"
    same = _patch(env, "P-1", sector="software").json()
    assert (same["changed"], same["action"], same["why"]) == ([], "none", "no field changed")
    assert _patch(env, "P-1", account=None).json()["lead"] == {"product": "GTX Pro", "series": "GTX", "sector": "software"}
    # A new product brings its own series (the old one came from the catalogue, not from the caller).
    assert _patch(env, "P-1", product="MG Special").json()["changed"] == ["product", "series"]

    bad = _patch(env, "P-1", revenue="lots")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "revenue"]
    unknown = _patch(env, "P-1", colour="red")
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "colour"]
    assert _patch(env, "P-1", lead_id="P-2").json()["detail"][0]["loc"] == ["body", "lead_id"]
    empty = _patch(env, "P-1")
    assert empty.status_code == 422 and "at least one field" in empty.json()["detail"][0]["msg"]
    missing = _patch(env, "nobody", sector="retail")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert _audit(env, "P-1")["lead"] == {"product": "MG Special", "series": "MG", "sector": "software"}  # nothing bad stored


def test_reroute_when_ends_the_offer_and_routes_the_lead_again(env) -> None:
    publish(env, FLOW)
    hooks = _subscribe(env)
    first = route(env, "R-1", country="Norway").json()
    rep = first["rep_id"]
    assert _open_leads(env, rep) == 1
    body = _patch(env, "R-1", country="Philippines").json()
    assert body["action"] == "rerouted" and body["why"] == "reroute_when[0] (in_territory_map=True) met"
    assert body["ended"]["id"] == first["id"] and body["ended"]["state"] == "withdrawn"
    assert body["ended"]["reason"] == "re-routed: reroute_when[0] (in_territory_map=True) met"
    new = body["decision"]
    assert new["source"] == "update" and new["state"] == "offered" and new["id"] != first["id"]
    assert new["explanation"]["explanation"]["notes"][0].startswith("re-routed after an update: reroute_when")
    assert _open_leads(env, rep) == (1 if new["rep_id"] == rep else 0)  # the first offer's capacity was freed
    assert [d["state"] for d in _audit(env, "R-1")["decisions"]] == ["withdrawn", "offered"]
    assert _events(env, hooks) == [
        ("offered", first["id"], "route"), ("withdrawn", first["id"], "route"), ("offered", new["id"], "update")
    ]
    # The rule held before this update already: another change does not route the lead once more.
    again = _patch(env, "R-1", sector="retail").json()
    assert again["action"] == "none" and again["decision"] is None
    assert len(_audit(env, "R-1")["decisions"]) == 2
    assert_consistent(env)


def test_patch_changes_custom_fields_key_by_key_and_rules_read_them(env) -> None:
    publish(env, FLOW.replace("[lifecycle]\n", '[lifecycle]\nreroute_when = { "fields.priority" = { in = ["urgent"] } }\n', 1)
            .replace("reroute_when = [{ in_territory_map = true }, { existing_customer = true }]\n", ""))
    first = route(env, "F-1", fields={"priority": "low", "seats": 40, "trial": True}).json()
    body = _patch(env, "F-1", fields={"priority": "urgent", "trial": None}).json()
    assert body["changed"] == ["fields"] and body["action"] == "rerouted"
    assert body["why"] == "reroute_when (fields.priority in ['urgent']) met"
    assert body["ended"]["id"] == first["id"] and body["decision"]["source"] == "update"
    # The key sent changed, the null removed its key, the key not sent stayed.
    assert _audit(env, "F-1")["lead"]["fields"] == {"priority": "urgent", "seats": 40}
    cleared = _patch(env, "F-1", fields=None).json()
    assert cleared["changed"] == ["fields"] and "fields" not in _audit(env, "F-1")["lead"]
    bad = _patch(env, "F-1", fields={"bad name": 1})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][:2] == ["body", "fields"]
    too_many = _patch(env, "F-1", fields={f"f{i}": i for i in range(51)})
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"] == ["body", "fields"]
    assert_consistent(env)


def test_reroute_when_routes_a_queued_lead_out_of_its_queue(env) -> None:
    publish(env, FLOW.replace('strategy = "round_robin"', 'strategy = "round_robin"\nwhen = { region_in = ["West"] }'))
    queued = route(env, "Q-1", country="Norway").json()
    assert queued["queue"] == "manager"
    body = _patch(env, "Q-1", country="Philippines", region="West").json()
    assert body["action"] == "rerouted" and body["ended"] is None and body["decision"]["state"] == "offered"
    assert body["status"] == "assigned" and body["queue"] is None
    assert_consistent(env)


def test_unassign_when_withdraws_the_offer_to_the_manager_queue(env) -> None:
    publish(env, FLOW)
    first = route(env, "U-1", source="web").json()
    body = _patch(env, "U-1", source="partner").json()
    assert body["action"] == "unassigned" and body["ended"]["state"] == "withdrawn"
    assert body["decision"]["queue"] == "manager" and body["decision"]["source"] == "update"
    assert body["decision"]["reason"] == "unassign_when (source_in=['partner']) met"
    assert body["status"] == "queued" and body["queue"] == "manager"
    assert _open_leads(env, first["rep_id"]) == 0
    pool = env.client.get("/v1/pool?queue=manager", headers=env.h("manager")).json()
    assert "U-1" in {lead["lead_id"] for lead in pool["data"]}
    # A manager may still hand it to a rep; an unrelated update then leaves it there.
    moved = env.client.post("/v1/leads/U-1/assign", json={"rep_id": first["rep_id"]}, headers=env.h("manager"))
    assert moved.status_code == 201, moved.text
    assert _patch(env, "U-1", sector="retail").json()["action"] == "none"
    assert _audit(env, "U-1")["decisions"][-1]["state"] == "offered"
    assert_consistent(env)


def test_close_when_on_an_update_closes_the_offer_and_frees_capacity(env) -> None:
    publish(env, FLOW)
    hooks = _subscribe(env)
    first = route(env, "C-1", source="web").json()
    body = _patch(env, "C-1", source="spam").json()
    assert body["action"] == "closed" and body["status"] == "closed" and body["decision"] is None
    assert body["ended"]["state"] == "closed" and body["ended"]["reason"] == "close_when spam (source_in=['spam', 'test']) met"
    assert _open_leads(env, first["rep_id"]) == 0
    assert _audit(env, "C-1")["outcomes"] == []  # closed: no outcome to learn from
    assert _events(env, hooks)[-1] == ("closed", first["id"], "route")
    # A closed lead keeps its new fields but is not re-evaluated, and posting it again does not route it.
    later = _patch(env, "C-1", source="partner").json()
    assert later["action"] == "none" and later["why"] == "the lead is closed (closed): not re-evaluated"
    again = route(env, "C-1", source="web")
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["result"] == "closed"
    assert f"assignment {first['id']}): not routed again" in again.json()["why"]
    assert_consistent(env)


def test_close_when_lost_records_the_reps_outcome(env) -> None:
    publish(env, FLOW)
    first = route(env, "C-2").json()
    env.client.post(f"/v1/assignments/{first['id']}/accept", headers=env.h("manager"))
    body = _patch(env, "C-2", source="lost-to-competitor").json()
    assert body["ended"]["state"] == "lost"
    outcomes = _audit(env, "C-2")["outcomes"]
    assert [(o["result"], o["rep_id"], o["assignment_id"]) for o in outcomes] == [("lost", first["rep_id"], first["id"])]
    assert_consistent(env)


def test_close_when_at_routing_closes_the_lead_without_an_offer(env) -> None:
    publish(env, FLOW)
    hooks = _subscribe(env)
    answer = route(env, "C-3", source="spam")
    assert answer.status_code == 201
    body = answer.json()
    assert (body["state"], body["rep_id"], body["queue"], body["result"]) == ("closed", None, None, "closed")
    assert body["why"] == "close_when spam (source_in=['spam', 'test']) met: closed as closed, not routed"
    assert all(_open_leads(env, rep) == 0 for rep in env.reps.values())
    assert _audit(env, "C-3")["status"] == "closed"
    assert _events(env, hooks) == [("closed", body["id"], "route")]
    repeat = route(env, "C-3", source="spam")
    assert repeat.status_code == 200 and repeat.json()["id"] == body["id"] and repeat.json()["result"] == "closed"
    assert_consistent(env)


def test_a_won_lead_posted_again_is_not_routed_and_says_why(env) -> None:
    publish(env, FLOW)
    first = route(env, "W-1").json()
    assert first["result"] == "routed"
    assert route(env, "W-1").json()["result"] == "already_routed"
    env.client.post(f"/v1/assignments/{first['id']}/outcome", json={"result": "won", "value": 10}, headers=env.h("manager"))
    again = route(env, "W-1")
    assert again.status_code == 200
    body = again.json()
    assert (body["id"], body["state"], body["result"]) == (first["id"], "won", "closed")
    assert body["why"].startswith("lead 'W-1' is closed (won ") and len(_audit(env, "W-1")["decisions"]) == 1


def test_a_duplicate_of_an_open_lead_is_refused_naming_the_original(env) -> None:
    publish(env, FLOW)
    first = route(env, "D-1", account="Acme", product="GTX Pro").json()
    dup = route(env, "D-2", account="Acme", product="GTX Pro", source="web")
    assert dup.status_code == 409
    problem = dup.json()
    assert problem["error"] == "duplicate_lead"
    assert problem["original"] == {"lead_id": "D-1", "assignment_id": first["id"]}
    assert "duplicates open lead 'D-1' (same account 'Acme', product 'GTX Pro'" in problem["detail"]
    assert env.client.get("/v1/leads/D-2", headers=env.h("manager")).status_code == 404  # nothing stored
    # The original itself posted again is idempotent, not its own duplicate; other keys are routed.
    assert route(env, "D-1", account="Acme", product="GTX Pro").status_code == 200
    assert route(env, "D-3", account="Acme", product="MG Special").status_code == 201
    assert route(env, "D-4", account="Acme").status_code == 201  # no product: no key
    batch = env.client.post(
        "/v1/route/batch", json={"leads": [{"lead_id": "D-5", "account": "Acme", "product": "GTX Pro"}]},
        headers=env.h("manager"),
    )
    assert batch.status_code == 409 and batch.json()["original"]["lead_id"] == "D-1"
    # Once the original is closed, or older than the window, the same key is a new lead.
    env.client.post(f"/v1/assignments/{first['id']}/outcome", json={"result": "lost"}, headers=env.h("manager"))
    assert route(env, "D-6", account="Acme", product="GTX Pro").status_code == 201
    with env.db.write_session() as session:
        session.execute(update(LeadRow).where(LeadRow.external_id == "D-6").values(created_at=utcnow() - timedelta(days=31)))
    assert route(env, "D-7", account="Acme", product="GTX Pro").status_code == 201
    assert_consistent(env)


def test_duplicates_in_one_request_burst_see_each_other(env) -> None:
    """Leads posted at once are routed together in one transaction: the second of two duplicates still
    sees the first (``services.route_queue``)."""
    publish(env, FLOW)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda i: route(env, f"B-{i}", account="Burst", product="GTX Pro"), range(4)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    assert_consistent(env)


def test_the_due_date_comes_from_the_lead_and_the_sla_expiry_honours_it(env) -> None:
    publish(env, FLOW)
    engaged = utcnow().replace(microsecond=0) - timedelta(hours=1)
    first = route(env, "T-1", engage_date=engaged.isoformat()).json()
    due = engaged + timedelta(days=2)  # not the service's SLA (LEADWISE_ACCEPT_SLA_MINUTES)
    assert first["expires_at"].startswith(due.replace(tzinfo=None).isoformat())
    notes = first["explanation"]["explanation"]["notes"]
    assert f"due {due.isoformat()} from the lead's engage_date + 2d" in notes
    # Moving the lead's date moves the open offer's deadline.
    later = engaged + timedelta(days=1)
    moved = _patch(env, "T-1", engage_date=later.isoformat()).json()
    assert moved["action"] == "due_moved" and moved["decision"]["id"] == first["id"]
    assert moved["decision"]["expires_at"].startswith((later + timedelta(days=2)).replace(tzinfo=None).isoformat())
    assert sweep_expired(db=env.db, settings=env.settings, models=env.models) == 0
    # A date long past leaves the service's SLA counted from the offer (made 90 minutes ago here): lapsed,
    # so the sweep expires the offer and routes the lead again.
    with env.db.write_session() as session:
        session.execute(update(AssignmentRow).values(created_at=utcnow() - timedelta(minutes=90)))
    past = _patch(env, "T-1", engage_date=(engaged - timedelta(days=9)).isoformat()).json()
    assert past["action"] == "due_moved" and "has passed: the acceptance SLA applies" in past["why"]
    assert sweep_expired(db=env.db, settings=env.settings, models=env.models) == 1
    assert [d["state"] for d in _audit(env, "T-1")["decisions"]][:1] == ["expired"]
    assert_consistent(env)


def test_a_preview_says_a_lead_would_be_closed(env) -> None:
    publish(env, FLOW)
    seen = env.client.post("/v1/flows/preview", json={"lead": {"lead_id": "V-1", "source": "spam"}}, headers=env.h("manager"))
    assert seen.status_code == 200, seen.text
    body = seen.json()
    assert (body["outcome"], body["rep_id"], body["queue"], body["stored"]) == ("closed", None, None, False)
    assert body["explanation"]["closed_as"] == "closed"
    assert env.client.get("/v1/leads/V-1", headers=env.h("manager")).status_code == 404


def test_reroute_when_a_leads_score_percentile_rises_past_the_line(env, world_models) -> None:
    env.models.install(world_models)
    publish(env, FLOW.replace("[lifecycle]\n", "[lifecycle]\nreroute_when = { score_percentile_at_least = 75 }\n", 1)
            .replace("reroute_when = [{ in_territory_map = true }, { existing_customer = true }]\n", ""))
    first = route(env, "P-1", account="Acme Corporation", product="MG Special").json()  # percentile ~3
    assert first["explanation"]["explanation"]["lead_score_percentile"] < 75
    body = _patch(env, "P-1", product="GTX Plus Pro").json()  # percentile ~96 in the world's model
    assert body["action"] == "rerouted", body
    assert body["why"] == "reroute_when (score_percentile_at_least=75.0) met"
    assert body["decision"]["explanation"]["explanation"]["lead_score_percentile"] >= 75
    # Above the line before this update already (its stored score, placed by the served model): no re-route.
    again = _patch(env, "P-1", sector="retail").json()
    assert again["action"] == "none" and again["decision"] is None, again
    assert_consistent(env)
