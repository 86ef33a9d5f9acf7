"""Reps racing for pooled leads through ``POST /v1/pool/{lead_id}/claim`` on a real ``leadwise serve``
(2 worker processes), per backend: many threads released together by a barrier.

1. Every rep claims the same lead at once, lead after lead: one claim wins each lead, every other
   one gets 409 ``already_claimed``, and the store holds one claim per lead.
2. One rep claims many different leads at once: exactly its capacity of them succeed, the rest get
   409 ``capacity_exhausted``, and its counter equals its open assignments.
3. Several reps with small capacities, several threads each, all claiming all leads in their own
   orders: no lead claimed twice, no rep over capacity, every seat filled.

The test goes through HTTP only (and reads the store afterwards), so it checks the guarantee and not
how the service module happens to implement it.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from sqlalchemy import func, select

from leadwise.services.checks import consistency_problems
from leadwise.services.keys import create_key
from leadwise.services.reps import create_rep
from leadwise.store.db import Database
from leadwise.store.migrate import upgrade
from leadwise.store.models import AssignmentRow, LeadRow, PoolClaimRow, RepRow

# Every lead waits in the claim pool "default" (no step assigns): the reps take them from there.
ALL_TO_POOL = '[[steps]]\nname = "to the pool"\naction = "claim_pool"\n'
# A claim that lost the race is refused with 409 already_claimed, whether it read the lead before or
# after the winner committed.
LOST = {(409, "already_claimed")}


@dataclass
class Claim:
    lead_id: str
    rep_id: int
    status: int
    body: dict


def _reps_with_keys(server, capacities: list[int], prefix: str) -> dict[int, str]:
    """Reps of the pool "default" with those capacities, each with a rep key: {rep_id: key}."""
    db = Database.connect(server.database_url)
    upgrade(db.engine)
    if not server.keys:
        server.keys = {role: create_key(db=db, role=role)[1] for role in ("admin", "integration")}
    keys = {}
    for k, capacity in enumerate(capacities):
        rep = create_rep(db=db, fields={"name": f"{prefix} {k}", "capacity": capacity, "pools": ["default"]})
        keys[rep.id] = create_key(db=db, role="rep", rep_id=rep.id)[1]
    db.dispose()
    return keys


def _start_with_pool_flow(server) -> None:
    if server.process is None or server.process.poll() is not None:
        server.start(workers=2)
    flow = httpx.post(f"{server.url}/v1/flows", json={"source": ALL_TO_POOL}, headers=server.h("admin"))
    assert flow.status_code == 201, flow.text


def _pool(server, lead_ids: list[str]) -> None:
    with httpx.Client(base_url=server.url, headers=server.h("integration"), timeout=30) as client:
        for lead_id in lead_ids:
            routed = client.post("/v1/route", json={"lead_id": lead_id})
            assert routed.status_code == 201, routed.text
            assert (routed.json()["queue"], routed.json()["rep_id"]) == ("pool", None)


def _race(server, claimants: list[tuple[int, str]], plan: Callable[[int], list[list[str]]]) -> list[Claim]:
    """One thread per claimant (rep_id, key). ``plan(k)`` gives thread k its rounds: all threads pass
    a barrier together before each round, then claim that round's leads in order."""
    rounds = [plan(k) for k in range(len(claimants))]
    assert len({len(r) for r in rounds}) == 1, "every thread needs the same number of rounds"
    barrier = threading.Barrier(len(claimants), timeout=60)
    claims: list[Claim] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def run(k: int) -> None:
        rep_id, key = claimants[k]
        try:
            with httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
            ) as client:
                assert client.get("/readyz").status_code == 200  # connected before the race starts
                for leads in rounds[k]:
                    barrier.wait()
                    for lead_id in leads:
                        r = client.post(f"/v1/pool/{lead_id}/claim")
                        with lock:
                            claims.append(Claim(lead_id, rep_id, r.status_code, r.json()))
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(claimants))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a claimant hung"
    assert not failures, failures
    return claims


def _won(claims: list[Claim]) -> list[Claim]:
    wins = [c for c in claims if c.status == 200]
    for c in wins:
        assert (c.body["lead_id"], c.body["rep_id"], c.body["state"]) == (c.lead_id, c.rep_id, "accepted")
    return wins


def _check_store(server, wins: list[Claim]) -> None:
    """The store agrees with the answers: one claim row and one accepted assignment per won lead, with
    the winner; every counter equals its open assignments and stays within capacity."""
    lead_ids = sorted({c.lead_id for c in wins})
    db = Database.connect(server.database_url)
    with db.read_session() as s:
        assert consistency_problems(session=s) == []
        claimed = s.execute(
            select(LeadRow.external_id, PoolClaimRow.rep_id)
            .join(PoolClaimRow, PoolClaimRow.lead_id == LeadRow.id)
            .where(LeadRow.external_id.in_(lead_ids))
        ).all()
        accepted = s.execute(
            select(LeadRow.external_id, AssignmentRow.rep_id)
            .join(AssignmentRow, AssignmentRow.lead_id == LeadRow.id)
            .where(LeadRow.external_id.in_(lead_ids), AssignmentRow.state == "accepted")
        ).all()
        statuses = set(s.scalars(select(LeadRow.status).where(LeadRow.external_id.in_(lead_ids))))
    db.dispose()
    expected = sorted((c.lead_id, c.rep_id) for c in wins)
    assert sorted(map(tuple, claimed)) == expected
    assert sorted(map(tuple, accepted)) == expected
    assert statuses == {"assigned"}


def _open_leads(server, rep_ids: list[int]) -> dict[int, int]:
    db = Database.connect(server.database_url)
    with db.read_session() as s:
        rows = s.execute(select(RepRow.id, RepRow.open_leads).where(RepRow.id.in_(rep_ids))).all()
    db.dispose()
    return dict(rows)


def _waiting(server, lead_ids: list[str]) -> int:
    db = Database.connect(server.database_url)
    with db.read_session() as s:
        count = s.scalar(
            select(func.count())
            .select_from(LeadRow)
            .where(LeadRow.external_id.in_(lead_ids), LeadRow.status == "queued")
        )
    db.dispose()
    return int(count or 0)


def test_each_pooled_lead_is_claimed_once_and_the_others_are_told(server) -> None:
    keys = _reps_with_keys(server, [20] * 6, prefix="Racer")
    _start_with_pool_flow(server)
    lead_ids = [f"race-{k}" for k in range(8)]
    _pool(server, lead_ids)
    claimants = [(rep_id, key) for rep_id, key in keys.items() for _ in range(2)]  # 12 threads

    claims = _race(server, claimants, lambda k: [[lead_id] for lead_id in lead_ids])  # a lead a round

    assert len(claims) == len(claimants) * len(lead_ids)
    wins = _won(claims)
    assert sorted(c.lead_id for c in wins) == lead_ids  # every lead won, none twice
    losses = [c for c in claims if c.status != 200]
    assert {(c.status, c.body["error"]) for c in losses} <= LOST
    _check_store(server, wins)
    won_by = Counter(c.rep_id for c in wins)
    assert _open_leads(server, list(keys)) == {rep_id: won_by[rep_id] for rep_id in keys}


def test_a_rep_claiming_many_leads_at_once_stops_at_its_capacity(server) -> None:
    keys = _reps_with_keys(server, [3, 2], prefix="Greedy")
    _start_with_pool_flow(server)
    lead_ids = [f"greedy-{k}" for k in range(16)]
    _pool(server, lead_ids)
    claimants = [(rep_id, key) for rep_id, key in keys.items() for _ in range(8)]  # 8 threads a rep

    claims = _race(server, claimants, lambda k: [[lead_ids[k]]])  # each thread its own lead, all at once

    wins = _won(claims)
    assert Counter(c.rep_id for c in wins) == dict(zip(keys, [3, 2], strict=True))
    losses = [c for c in claims if c.status != 200]
    assert {(c.status, c.body["error"]) for c in losses} == {(409, "capacity_exhausted")}
    _check_store(server, wins)
    assert _open_leads(server, list(keys)) == dict(zip(keys, [3, 2], strict=True))
    assert _waiting(server, lead_ids) == len(lead_ids) - 5  # a refused claim leaves its lead waiting


def test_reps_with_small_capacities_racing_for_every_lead_fill_each_seat_once(server) -> None:
    capacities = [1, 2, 3]
    keys = _reps_with_keys(server, capacities, prefix="Scrum")
    _start_with_pool_flow(server)
    lead_ids = [f"scrum-{k}" for k in range(10)]
    _pool(server, lead_ids)
    claimants = [(rep_id, key) for rep_id, key in keys.items() for _ in range(4)]  # 12 threads
    orders = [random.Random(k).sample(lead_ids, len(lead_ids)) for k in range(len(claimants))]

    claims = _race(server, claimants, lambda k: [orders[k]])  # all at once, each in its own order

    wins = _won(claims)
    assert len({c.lead_id for c in wins}) == len(wins) == sum(capacities)  # no lead twice, every seat
    assert Counter(c.rep_id for c in wins) == dict(zip(keys, capacities, strict=True))
    losses = [c for c in claims if c.status != 200]
    assert losses and {(c.status, c.body["error"]) for c in losses} <= LOST | {(409, "capacity_exhausted")}
    _check_store(server, wins)
    assert _open_leads(server, list(keys)) == dict(zip(keys, capacities, strict=True))
    assert _waiting(server, lead_ids) == len(lead_ids) - sum(capacities)
