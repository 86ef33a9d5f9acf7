"""Issue 18, first slice, through the HTTP API: a rep's ``auto_routing`` opt-out (stored, patched,
honoured by routing, not by manual assignment), capacity 0 explained, a step's ``when_unavailable`` and
the round-robin ``least_recent`` mode."""

from __future__ import annotations

from tests.api.test_api_flows import assert_consistent, publish, route

ROUND_ROBIN = """
[[steps]]
pool = "everyone"
strategy = "round_robin"
"""


def _excluded(answer: dict) -> dict[str, str]:
    return {e["rep_id"]: e["reason"] for e in answer["explanation"]["explanation"]["excluded"]}


def _notes(answer: dict) -> list[str]:
    return answer["explanation"]["explanation"]["notes"]


def _patch(env, rep: int, **changes) -> dict:
    patched = env.client.patch(f"/v1/reps/{rep}", json=changes, headers=env.h("admin"))
    assert patched.status_code == 200, patched.text
    return patched.json()


def test_a_rep_opted_out_of_auto_routing_gets_only_manual_assignments(env) -> None:
    publish(env, ROUND_ROBIN)
    ann = env.reps["Ann"]
    assert env.client.get(f"/v1/reps/{ann}", headers=env.h("manager")).json()["auto_routing"] is True
    assert _patch(env, ann, auto_routing=False)["auto_routing"] is False

    routed = [route(env, f"opt-{i}").json() for i in range(4)]
    assert ann not in {r["rep_id"] for r in routed}
    assert _excluded(routed[0])[str(ann)] == "auto routing off: manual assignment only"

    moved = env.client.post("/v1/leads/opt-0/assign", json={"rep_id": ann}, headers=env.h("manager"))
    assert moved.status_code == 201 and moved.json()["rep_id"] == ann and moved.json()["source"] == "manual"

    _patch(env, ann, auto_routing=True)
    assert ann in {route(env, f"back-{i}").json()["rep_id"] for i in range(3)}
    assert_consistent(env)


def test_a_rep_created_opted_out_and_bad_values_name_the_field(env) -> None:
    created = env.client.post(
        "/v1/reps", json={"name": "Quiet", "auto_routing": False, "pools": ["default"]}, headers=env.h("admin")
    )
    assert created.status_code == 201 and created.json()["auto_routing"] is False, created.text
    bad = env.client.patch(f"/v1/reps/{created.json()['id']}", json={"auto_routing": "sometimes"}, headers=env.h("admin"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "auto_routing"]


def test_a_rep_with_capacity_zero_is_explained_not_refused(env) -> None:
    publish(env, ROUND_ROBIN)
    bob = env.reps["Bob"]
    assert _patch(env, bob, capacity=0)["capacity"] == 0
    answer = route(env, "zero-1").json()
    assert answer["rep_id"] != bob
    assert _excluded(answer)[str(bob)] == "capacity 0: takes no leads"


# In YAML, so the line an error names is checked in that format too.
FALLBACK = """\
name: fallback
pools:
  team: {teams: [field]}
steps:
  - {name: customer, when: {existing_customer: true}, pool: team, strategy: account_owner,
     when_unavailable: owner_anyway}
  - name: team
    pool: team
    strategy: load_balancing
    when_unavailable: whole_pool
"""


def _away(env, rep: int) -> None:
    answer = env.client.post(f"/v1/reps/{rep}/status", json={"status": "away"}, headers=env.h("manager"))
    assert answer.status_code == 200, answer.text


def test_when_unavailable_owner_anyway_and_whole_pool_over_http(env) -> None:
    ann, bob = env.reps["Ann"], env.reps["Bob"]
    _patch(env, ann, team="field", accounts_owned=["Acme"])
    _patch(env, bob, team="field")
    publish(env, FALLBACK, "yaml")
    _away(env, ann)
    _away(env, bob)

    owned = route(env, "acme-1", account="Acme", existing_customer=True)
    assert owned.status_code == 201, owned.text
    owned = owned.json()
    assert owned["rep_id"] == ann and owned["explanation"]["explanation"]["step"] == "customer"
    assert any(n.startswith("when_unavailable = owner_anyway") for n in _notes(owned))

    anyone = route(env, "other-1").json()
    assert anyone["rep_id"] in {ann, bob} and anyone["explanation"]["explanation"]["step"] == "team"
    assert any(n.startswith("when_unavailable = whole_pool") for n in _notes(anyone))

    publish(env, FALLBACK.replace("whole_pool", "queue"), "yaml")  # a new version of the flow
    left = route(env, "other-2").json()
    assert left["rep_id"] is None and left["queue"] == "manager"
    assert_consistent(env)


def test_flow_errors_for_the_new_settings_name_the_line(env) -> None:
    bad = env.client.post(
        "/v1/flows", json={"source": FALLBACK.replace("whole_pool", "anyone"), "format": "yaml"}, headers=env.h("admin")
    )
    assert bad.status_code == 422 and "line 10: steps[1].when_unavailable" in bad.json()["detail"], bad.text
    mode = env.client.post(
        "/v1/flows",
        json={"source": ROUND_ROBIN + 'params = { mode = "oldest" }\n'},
        headers=env.h("admin"),
    )
    assert mode.status_code == 422 and "line 2: steps[0]" in mode.json()["detail"], mode.text
    assert "unknown mode 'oldest'" in mode.json()["detail"]


def test_least_recent_serves_a_rep_back_from_away_first(env) -> None:
    ann, bob = env.reps["Ann"], env.reps["Bob"]
    expert = env.reps["Expert"]
    _patch(env, expert, active=False)
    for rep in (ann, bob):
        _patch(env, rep, capacity=20)
    publish(env, ROUND_ROBIN + 'params = { mode = "least_recent" }\n')
    first = route(env, "lr-0").json()
    assert "hours since the rep's last lead" in first["explanation"]["explanation"]["score_means"]
    _away(env, ann)
    assert {route(env, f"lr-away-{i}").json()["rep_id"] for i in range(3)} == {bob}
    back = env.client.post(f"/v1/reps/{ann}/status", json={"status": "available"}, headers=env.h("manager"))
    assert back.status_code == 200
    assert route(env, "lr-back").json()["rep_id"] == ann  # waited longest: served first
    assert route(env, "lr-next").json()["rep_id"] == bob
