"""Every endpoint: 401 without a key, 403 for a role that may not call it, not 401/403 for one that may."""

from __future__ import annotations

import pytest

ALL = {"admin", "manager", "rep", "integration"}
LEAD = {"lead_id": "role-lead", "product": "GTX Pro"}
TOUCH = {"timestamp": "2024-05-01T09:00:00Z", "channel": "web", "touch_type": "visit"}

# method, path, body, roles allowed
ENDPOINTS = [
    ("GET", "/v1/reps", None, {"admin", "manager"}),
    ("GET", "/v1/reps/1", None, {"admin", "manager"}),
    ("POST", "/v1/reps", {"name": "New Rep"}, {"admin"}),
    ("PATCH", "/v1/reps/1", {"weight": 2.0}, {"admin"}),
    ("POST", "/v1/route", LEAD, {"admin", "manager", "integration"}),
    ("POST", "/v1/route/batch", {"leads": [LEAD]}, {"admin", "manager"}),
    ("POST", "/v1/score", LEAD, {"admin", "manager", "integration"}),
    ("GET", "/v1/assignments/1", None, ALL),
    ("POST", "/v1/assignments/1/accept", None, {"admin", "manager", "rep"}),
    ("POST", "/v1/assignments/1/reject", {"reason": "x"}, {"admin", "manager", "rep"}),
    ("POST", "/v1/assignments/1/outcome", {"result": "won", "value": 10}, ALL),
    ("POST", "/v1/assignments/1/outcome/correction", {"result": "lost", "reason": "x"}, {"admin", "manager"}),
    ("POST", "/v1/assignments/1/return", {"reason": "not_mature"}, {"admin", "manager", "rep"}),
    ("POST", "/v1/leads/role-lead/touches", {"touches": [TOUCH]}, {"admin", "manager", "integration"}),
    ("GET", "/v1/pool", None, {"admin", "manager", "rep"}),
    ("POST", "/v1/pool/some-lead/claim", None, {"rep"}),
    ("POST", "/v1/leads/role-lead/assign", {"rep_id": 2}, {"admin", "manager"}),
    ("GET", "/v1/stats", None, {"admin", "manager"}),
    ("GET", "/v1/reports/conversion", None, {"admin", "manager"}),
    ("GET", "/v1/reports/speed", None, {"admin", "manager"}),
    ("GET", "/v1/reports/returns", None, {"admin", "manager"}),
    ("GET", "/v1/reports/attribution", None, {"admin", "manager"}),
    ("GET", "/v1/reports/model", None, {"admin", "manager"}),
    ("GET", "/v1/reports/fairness", None, {"admin", "manager"}),
    ("POST", "/v1/reports/whatif", {"source": "synthetic", "policies": ["no_such_policy"]}, {"admin", "manager"}),
    ("GET", "/v1/reports/whatif/no-such-job", None, {"admin", "manager"}),
    ("GET", "/v1/flows", None, {"admin"}),
    ("POST", "/v1/flows", {"source": '[[steps]]\npool = "everyone"\nstrategy = "round_robin"\n'}, {"admin"}),
    ("POST", "/v1/flows/preview", {"lead": LEAD}, {"admin", "manager"}),
    ("POST", "/v1/flows/default/versions/1/activate", None, {"admin"}),
    ("GET", "/v1/flows/default/diff?from=1&to=1", None, {"admin"}),
    ("GET", "/v1/admin/model", None, {"admin"}),
    ("POST", "/v1/admin/model/reload", None, {"admin"}),
    ("POST", "/v1/admin/keys", {"role": "integration"}, {"admin"}),
    ("GET", "/v1/admin/keys", None, {"admin"}),
    ("GET", "/v1/assignments", None, {"admin", "manager", "rep"}),
    ("POST", "/v1/admin/webhooks", {"url": "http://127.0.0.1:9/hook", "events": ["won"]}, {"admin"}),
    ("GET", "/v1/admin/webhooks", None, {"admin"}),
    ("DELETE", "/v1/admin/webhooks/1", None, {"admin"}),
    ("GET", "/v1/admin/webhooks/1/deliveries", None, {"admin"}),
    ("POST", "/v1/reps/1/status", {"status": "available"}, {"admin", "manager", "rep"}),  # rep key: Ann (1)
    ("GET", "/v1/leads/role-lead", None, {"admin", "manager", "integration"}),
    ("PATCH", "/v1/leads/role-lead", {"sector": "retail"}, {"admin", "manager", "integration"}),
    ("DELETE", "/v1/admin/keys/5", None, {"admin"}),  # rep_bob's key (no test below needs it)
]


def test_every_v1_route_is_in_the_role_table(env) -> None:
    schema = env.client.get("/openapi.json").json()
    served = {(m.upper(), p) for p, ops in schema["paths"].items() if p.startswith("/v1") for m in ops}
    templates = {
        "/v1/reps/1": "/v1/reps/{rep_id}",
        "/v1/reps/1/status": "/v1/reps/{rep_id}/status",
        "/v1/pool/some-lead/claim": "/v1/pool/{lead_id}/claim",
        "/v1/leads/role-lead/assign": "/v1/leads/{lead_id}/assign",
        "/v1/leads/role-lead/touches": "/v1/leads/{lead_id}/touches",
        "/v1/flows/default/versions/1/activate": "/v1/flows/{name}/versions/{version}/activate",
        "/v1/flows/default/diff?from=1&to=1": "/v1/flows/{name}/diff",
        "/v1/admin/keys/5": "/v1/admin/keys/{key_id}",
        "/v1/leads/role-lead": "/v1/leads/{lead_id}",
        "/v1/reports/whatif/no-such-job": "/v1/reports/whatif/{job_id}",
        "/v1/admin/webhooks/1": "/v1/admin/webhooks/{subscription_id}",
        "/v1/admin/webhooks/1/deliveries": "/v1/admin/webhooks/{subscription_id}/deliveries",
    }
    table = {
        (m, templates.get(p, p).replace("/assignments/1", "/assignments/{assignment_id}"))
        for m, p, _, _ in ENDPOINTS
    }
    assert served == table


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS]
)
def test_roles(env, method: str, path: str, body: dict | None, allowed: set[str]) -> None:
    # A lead routed to Ann (rep key "rep") so the assignment endpoints have something to act on.
    env.client.post("/v1/route", json=LEAD, headers=env.h("integration"))
    assert env.client.request(method, path, json=body).status_code == 401
    assert env.client.request(method, path, json=body, headers={"X-API-Key": "lw_wrong"}).status_code == 401
    for role in sorted(ALL):
        response = env.client.request(method, path, json=body, headers=env.h(role))
        if role in allowed:
            assert response.status_code not in (401, 403), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.text)
            assert response.json()["error"] == "forbidden"


def test_rep_cannot_see_or_act_on_another_reps_assignment(env) -> None:
    routed = env.client.post("/v1/route", json=LEAD, headers=env.h("integration")).json()
    owner = "rep" if routed["rep_id"] == env.reps["Ann"] else "rep_bob"
    other = "rep_bob" if owner == "rep" else "rep"
    aid = routed["id"]
    assert env.client.get(f"/v1/assignments/{aid}", headers=env.h(other)).status_code == 404
    assert env.client.post(f"/v1/assignments/{aid}/accept", headers=env.h(other)).status_code == 404
    assert (
        env.client.post(
            f"/v1/assignments/{aid}/outcome", json={"result": "won"}, headers=env.h(other)
        ).status_code
        == 404
    )
    assert env.client.get(f"/v1/assignments/{aid}", headers=env.h(owner)).status_code == 200
    assert (
        env.client.post(f"/v1/assignments/{aid}/accept", headers=env.h(owner)).json()["state"] == "accepted"
    )


def test_public_probes_need_no_key(env) -> None:
    assert env.client.get("/healthz").json() == {"status": "ok"}
    ready = env.client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["mode"] == "rules-only"
    assert "leadwise_http_request_duration_seconds" in env.client.get("/metrics").text
