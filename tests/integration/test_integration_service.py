"""A real ``leadwise serve`` with 2 uvicorn workers, per backend, in order:

1. 300 concurrent ``/v1/route`` calls against reps with small capacities: no capacity exceeded, no lead
   assigned twice, every 2xx answer persisted, every persisted decision answered;
2. a flow preview on the full team: a plain read on either backend, nothing stored;
3. kill -9 of the whole server (master and workers) in the middle of a load, then a restart: the
   stored state is consistent and every answered decision is stored.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict

import httpx
from sqlalchemy import select

from leadwise.services.checks import consistency_problems
from leadwise.store.db import Database
from leadwise.store.models import AssignmentRow, LeadRow, RepRow

CAPACITIES = [3, 2, 1, 4, 2, 3, 1, 2, 3, 2]  # 23 seats for 260 distinct leads


async def _fire(url: str, headers: dict[str, str], lead_ids: list[str]) -> list[tuple[str, int, dict]]:
    limits = httpx.Limits(max_connections=60)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as client:

        async def one(lead_id: str) -> tuple[str, int, dict]:
            r = await client.post(
                "/v1/route", json={"lead_id": lead_id, "product": "GTX Pro", "sector": "retail"}
            )
            return lead_id, r.status_code, r.json()

        return await asyncio.gather(*(one(i) for i in lead_ids))


def test_300_concurrent_routes_keep_every_invariant(server, seed) -> None:
    server.keys, rep_ids = seed(server.database_url, CAPACITIES)
    server.start(workers=2)
    distinct = [f"lead-{k:03d}" for k in range(260)]
    lead_ids = distinct + distinct[::13][:40]  # 40 ids posted twice, concurrently with the first post
    answers = asyncio.run(_fire(server.url, server.h("integration"), lead_ids))

    assert {status for _, status, _ in answers} <= {200, 201}, [a for a in answers if a[1] >= 300][:3]
    by_lead: dict[str, set[int]] = defaultdict(set)
    for lead_id, _, body in answers:
        by_lead[lead_id].add(body["id"])
    assert all(len(ids) == 1 for ids in by_lead.values()), "a lead got two different decisions"
    assert sum(1 for _, status, _ in answers if status == 201) == len(distinct)

    db = Database.connect(server.database_url)
    with db.read_session() as session:
        stored = {a.id: a for a in session.scalars(select(AssignmentRow))}
        leads = {lead.id: lead.external_id for lead in session.scalars(select(LeadRow))}
        reps = {r.id: r for r in session.scalars(select(RepRow))}
        problems = consistency_problems(session=session)
    db.dispose()
    answered = {next(iter(ids)): lead_id for lead_id, ids in by_lead.items()}
    # every 2xx answer persisted, with the rep it announced, and every persisted decision answered
    assert set(answered) == set(stored)
    for _, _, body in answers:
        row = stored[body["id"]]
        assert leads[row.lead_id] == body["lead_id"] and row.rep_id == body["rep_id"]
        assert body["flow_version"] == 1  # the bundled flow, seeded at start
    assert sorted(leads.values()) == sorted(distinct)
    # capacity: every seat filled once, never more
    assert problems == []
    assert all(r.open_leads == r.capacity for r in reps.values())
    assigned = [a for a in stored.values() if a.rep_id is not None]
    assert len(assigned) == sum(CAPACITIES)
    assert len({a.lead_id for a in assigned}) == len(assigned)
    # the bundled flow sends what no rep can take to the manager queue
    assert sum(1 for a in stored.values() if a.queue == "manager") == len(distinct) - sum(CAPACITIES)

    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'leadwise_queue_size{queue="manager"} 237.0' in metrics


def test_flow_preview_on_the_real_server_decides_on_live_loads_and_stores_nothing(server) -> None:
    """After the load above every rep is full: the preview (a plain read, on either backend) says so."""
    db = Database.connect(server.database_url)

    def counts() -> tuple[int, int]:
        with db.read_session() as session:
            return len(session.scalars(select(LeadRow.id)).all()), len(session.scalars(select(AssignmentRow.id)).all())

    before = counts()
    draft = '[[steps]]\nname = "rr"\npool = "everyone"\nstrategy = "round_robin"\n'
    for body in ({"lead": {"lead_id": "preview-1"}}, {"lead": {"lead_id": "preview-2"}, "source": draft}):
        r = httpx.post(f"{server.url}/v1/flows/preview", json=body, headers=server.h("admin"), timeout=30)
        assert r.status_code == 200, r.text
        assert (r.json()["outcome"], r.json()["queue"], r.json()["stored"]) == ("manager_queue", "manager", False)
    tried = r.json()["explanation"]["explanation"]["steps_tried"][0]["note"]
    assert "no eligible rep in pool 'everyone' (10 capacity)" in tried
    assert counts() == before
    db.dispose()


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
    # Fresh seats, so the load is taking capacity (not only queueing) when the server dies.
    keys, _ = seed(server.database_url, [5] * 8, prefix="Crash rep")
    server.keys = server.keys or keys
    if server.process is None or server.process.poll() is not None:
        server.start(workers=2)  # when run on its own
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
        taken = session.scalar(select(RepRow.open_leads).where(RepRow.name == "Crash rep 00"))
    assert set(answered.values()) <= stored
    assert taken is not None and taken > 0  # the load was taking capacity when it died

    server.start(workers=1)  # restart on the same database: serves, and routing carries on
    r = httpx.post(
        f"{server.url}/v1/route", json={"lead_id": "after-restart"}, headers=server.h("integration")
    )
    assert r.status_code == 201
    first = next(iter(answered))
    again = httpx.post(f"{server.url}/v1/route", json={"lead_id": first}, headers=server.h("integration"))
    assert again.status_code == 200 and again.json()["id"] == answered[first]
    with db.read_session() as session:
        assert consistency_problems(session=session) == []
    db.dispose()
