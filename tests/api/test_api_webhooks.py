"""Webhooks against a local receiver (a real HTTP server on 127.0.0.1): events in order, signed with
HMAC-SHA256, retried with back-off off the request path, a delivery log, and an outbox that survives a
restart."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.api.conftest import make_env

from leadwise.api.app import create_app
from leadwise.services.models import ModelHolder
from leadwise.services.webhooks import SIGNATURE_HEADER, sign, verify_signature
from leadwise.store.models import WEBHOOK_EVENTS

SECRET = "s3cret-for-the-test-receiver"
FAST = {"webhook_poll_seconds": 0.05, "webhook_backoff_seconds": 0.05, "webhook_max_attempts": 3}


@dataclass
class Receiver:
    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    failures_left: int = 0  # answer 500 this many times first
    gate: threading.Event = field(default_factory=threading.Event)  # cleared: hold every request

    def __post_init__(self) -> None:
        self.gate.set()

    def events(self) -> list[str]:
        return [json.loads(body)["event"] for _, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.gate.wait(30)
            if state.failures_left > 0:
                state.failures_left -= 1
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b"try again")
                return
            state.received.append((dict(self.headers), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def fast_env(tmp_path: Path, migrated_template: Path) -> Iterator:
    yield from make_env(tmp_path, migrated_template, **FAST)


def _wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _log(env, subscription_id: int, query: str = "") -> dict:
    url = f"/v1/admin/webhooks/{subscription_id}/deliveries{query}"
    return env.client.get(url, headers=env.h("admin")).json()


def _recorded(env, subscription_id: int, count: int) -> bool:
    """The receiver answering comes a moment before the worker records it: wait for the log too."""
    return _log(env, subscription_id, "?status=delivered")["total"] == count


def _subscribe(env, receiver: Receiver, **fields) -> dict:
    answer = env.client.post(
        "/v1/admin/webhooks", json={"url": receiver.url, "secret": SECRET, **fields}, headers=env.h("admin")
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_manager_s_reassignment_is_reassigned_for_the_old_offer_and_offered_for_the_new(
    fast_env, receiver: Receiver
) -> None:
    env = fast_env
    _subscribe(env, receiver)
    first = env.client.post("/v1/route", json={"lead_id": "hook-m"}, headers=env.h("integration")).json()
    other = next(rep_id for rep_id in env.reps.values() if rep_id != first["rep_id"])
    moved = env.client.post("/v1/leads/hook-m/assign", json={"rep_id": other, "reason": "knows them"}, headers=env.h("manager"))
    assert moved.status_code == 201, moved.text
    _wait_for(lambda: len(receiver.received) == 3)
    bodies = [json.loads(body) for _, body in receiver.received]
    assert [(b["event"], b["assignment_id"]) for b in bodies] == [
        ("offered", first["id"]), ("reassigned", first["id"]), ("offered", moved.json()["id"])
    ]
    assert bodies[2]["source"] == "manual" and bodies[2]["rep_id"] == other


def test_a_lead_s_life_arrives_signed_and_in_order(fast_env, receiver: Receiver) -> None:
    env = fast_env
    sub = _subscribe(env, receiver)
    assert sub["secret"] == SECRET and sub["events"][0] == "offered" and len(sub["events"]) == len(WEBHOOK_EVENTS)
    first = env.client.post("/v1/route", json={"lead_id": "hook-1"}, headers=env.h("integration")).json()
    aid = first["id"]
    rejected = env.client.post(f"/v1/assignments/{aid}/reject", json={"reason": "busy"}, headers=env.h("manager")).json()
    nxt = rejected["next_assignment_id"]
    env.client.post(f"/v1/assignments/{nxt}/accept", headers=env.h("manager"))
    env.client.post(f"/v1/assignments/{nxt}/outcome", json={"result": "won", "value": 900}, headers=env.h("manager"))

    _wait_for(lambda: len(receiver.received) == 5)
    assert receiver.events() == ["offered", "rejected", "offered", "accepted", "won"]
    assert [json.loads(body)["source"] for _, body in receiver.received][:3] == ["route", "route", "reroute"]
    for headers, body in receiver.received:
        assert verify_signature(SECRET, body, headers[SIGNATURE_HEADER])
        assert not verify_signature("another secret", body, headers[SIGNATURE_HEADER])
        assert not verify_signature(SECRET, body + b" ", headers[SIGNATURE_HEADER])
        assert headers["X-Leadwise-Event"] == json.loads(body)["event"]
    payloads = [json.loads(body) for _, body in receiver.received]
    assert payloads[0]["assignment_id"] == aid and payloads[0]["lead_id"] == "hook-1"
    assert payloads[1]["reason"] == "busy" and payloads[2]["assignment_id"] == nxt
    assert payloads[2]["source"] == "reroute" and payloads[4]["state"] == "won"

    _wait_for(lambda: _recorded(env, sub["id"], 5))
    log = _log(env, sub["id"])
    assert log["total"] == 5 and {d["status"] for d in log["data"]} == {"delivered"}
    assert [d["event"] for d in log["data"]] == list(reversed(receiver.events()))  # newest first
    assert all(d["attempts"] == 1 and d["last_status_code"] == 204 for d in log["data"])


def test_only_the_events_asked_for(fast_env, receiver: Receiver) -> None:
    env = fast_env
    sub = _subscribe(env, receiver, events=["accepted"])
    for i in range(2):
        routed = env.client.post("/v1/route", json={"lead_id": f"only-{i}"}, headers=env.h("integration")).json()
        env.client.post(f"/v1/assignments/{routed['id']}/accept", headers=env.h("manager"))
    _wait_for(lambda: len(receiver.received) == 2)
    _wait_for(lambda: _recorded(env, sub["id"], 2))
    time.sleep(0.2)  # nothing else follows
    assert receiver.events() == ["accepted", "accepted"]
    assert _log(env, sub["id"])["total"] == 2


def test_failures_are_retried_with_back_off_then_given_up(fast_env, receiver: Receiver) -> None:
    env = fast_env
    sub = _subscribe(env, receiver, events=["offered"])
    receiver.failures_left = 2
    receiver.gate.clear()  # the receiver holds every request until the gate opens
    routed = env.client.post("/v1/route", json={"lead_id": "retry-1"}, headers=env.h("integration"))
    assert routed.status_code == 201  # answered while the receiver still holds the delivery
    assert receiver.received == []
    receiver.gate.set()
    _wait_for(lambda: len(receiver.received) == 1 and _recorded(env, sub["id"], 1))
    (delivery,) = _log(env, sub["id"])["data"]
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3
    assert delivery["last_error"] is None

    receiver.failures_left = 10  # more than webhook_max_attempts
    env.client.post("/v1/route", json={"lead_id": "retry-2"}, headers=env.h("integration"))
    url = f"/v1/admin/webhooks/{sub['id']}/deliveries?status=failed"
    _wait_for(lambda: env.client.get(url, headers=env.h("admin")).json()["total"] == 1)
    (failed,) = env.client.get(url, headers=env.h("admin")).json()["data"]
    assert failed["attempts"] == 3 and failed["last_status_code"] == 500 and "HTTP 500" in failed["last_error"]


def test_an_unreachable_receiver_is_logged(fast_env) -> None:
    env = fast_env
    sub = env.client.post(
        "/v1/admin/webhooks", json={"url": "http://127.0.0.1:9/nothing", "events": ["offered"]}, headers=env.h("admin")
    ).json()
    assert sub["secret"].startswith("whsec_")
    env.client.post("/v1/route", json={"lead_id": "unreachable"}, headers=env.h("integration"))
    url = f"/v1/admin/webhooks/{sub['id']}/deliveries"
    _wait_for(lambda: env.client.get(url, headers=env.h("admin")).json()["data"][0]["attempts"] >= 1)
    delivery = env.client.get(url, headers=env.h("admin")).json()["data"][0]
    assert delivery["last_status_code"] is None and "Connect" in delivery["last_error"]


def test_the_outbox_survives_a_restart(tmp_path: Path, migrated_template: Path, receiver: Receiver) -> None:
    # A service that does not deliver (as if it died before its worker posted anything) ...
    running = make_env(tmp_path, migrated_template, webhook_poll_seconds=0)
    env = next(running)
    _subscribe(env, receiver, events=["offered"])
    env.client.post("/v1/route", json={"lead_id": "durable"}, headers=env.h("integration"))
    time.sleep(0.2)
    assert receiver.received == []
    env.client.__exit__(None, None, None)  # the service stops (its lifespan ends)
    # ... and the next one to start, on the same database, delivers what was written.
    settings = env.settings.model_copy(update=FAST)
    with TestClient(create_app(settings, db=env.db, models=ModelHolder(settings), load_models=False)):
        _wait_for(lambda: receiver.events() == ["offered"])
    running.close()


def test_subscriptions_are_listed_without_secrets_and_deleted(fast_env, receiver: Receiver) -> None:
    env = fast_env
    sub = _subscribe(env, receiver)
    listed = env.client.get("/v1/admin/webhooks", headers=env.h("admin")).json()
    assert listed["count"] == 1 and SECRET not in json.dumps(listed)
    assert env.client.delete(f"/v1/admin/webhooks/{sub['id']}", headers=env.h("admin")).json()["active"] is False
    assert env.client.get("/v1/admin/webhooks", headers=env.h("admin")).json()["count"] == 0
    assert env.client.delete(f"/v1/admin/webhooks/{sub['id']}", headers=env.h("admin")).status_code == 404
    env.client.post("/v1/route", json={"lead_id": "after-delete"}, headers=env.h("integration"))
    time.sleep(0.3)
    assert receiver.received == []
    bad = env.client.post("/v1/admin/webhooks", json={"url": "ftp://x", "events": ["offered"]}, headers=env.h("admin"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "url"]
    bad = env.client.post("/v1/admin/webhooks", json={"url": receiver.url, "events": ["sold"]}, headers=env.h("admin"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][:2] == ["body", "events"]


def test_signature_is_hmac_sha256_of_timestamp_and_body() -> None:
    import hashlib
    import hmac

    body = b'{"event":"won"}'
    expected = hmac.new(b"key", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("key", body, 1700000000) == f"t=1700000000,v1={expected}"
    assert not verify_signature("key", body, sign("key", body, int(time.time()) - 3600))  # replayed late


def test_the_api_offers_exactly_the_events_the_store_knows() -> None:
    from leadwise.api.schemas import ALL_WEBHOOK_EVENTS
    from leadwise.store.models import WEBHOOK_EVENTS

    assert tuple(ALL_WEBHOOK_EVENTS) == WEBHOOK_EVENTS
