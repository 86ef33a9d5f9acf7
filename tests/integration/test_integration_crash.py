"""kill -9 of the whole server (master and workers) in the middle of a load, then a restart: the
stored state is consistent and every answered decision is stored."""

from __future__ import annotations

import threading
import time

import httpx
from sqlalchemy import select

from leadwise.services.routing import consistency_problems
from leadwise.store.db import Database
from leadwise.store.models import AssignmentRow


def _load(
    url: str, headers: dict[str, str], answered: dict[str, int], stop: threading.Event, worker: int
) -> None:
    with httpx.Client(base_url=url, headers=headers, timeout=5) as client:
        k = 0
        while not stop.is_set():
            lead_id = f"crash-{worker}-{k}"
            k += 1
            try:
                r = client.post("/v1/route", json={"lead_id": lead_id})
            except httpx.TransportError:
                continue  # the server died mid-request: no answer, so no promise to keep
            if r.status_code in (200, 201):
                answered[lead_id] = r.json()["id"]
            # a lead whose answer was cut off can be stored or not, but never half-stored


def test_kill9_mid_load_leaves_a_consistent_store(server, seed) -> None:
    server.keys, _ = seed(server.database_url, [5] * 8)
    server.start(workers=2)
    answered: dict[str, int] = {}
    stop = threading.Event()
    threads = [
        threading.Thread(target=_load, args=(server.url, server.h("integration"), answered, stop, w))
        for w in range(8)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(answered) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill9()
    stop.set()
    for t in threads:
        t.join(10)
    assert len(answered) >= 60

    db = Database.connect(server.database_url)
    with db.read_session() as session:
        assert consistency_problems(session=session) == []
        stored = set(session.scalars(select(AssignmentRow.id)))
    assert set(answered.values()) <= stored

    server.start(workers=1)  # restart on the same database: serves, and routing carries on
    r = httpx.post(
        f"{server.url}/v1/route", json={"lead_id": "after-restart"}, headers=server.h("integration")
    )
    assert r.status_code == 201
    again = httpx.post(
        f"{server.url}/v1/route", json={"lead_id": next(iter(answered))}, headers=server.h("integration")
    )
    assert again.status_code == 200 and again.json()["id"] == answered[next(iter(answered))]
    with db.read_session() as session:
        assert consistency_problems(session=session) == []
    db.dispose()
