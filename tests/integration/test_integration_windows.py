"""Capacity windows under concurrency: a real ``leadwise serve`` with 2 uvicorn workers, per backend (SQLite;
PostgreSQL with ``LEADWISE_TEST_DATABASE_URL``), takes 150 concurrent ``/v1/route`` calls against reps
whose only binding limits are a fixed period (an hour; a day in Tokyo; the original ``max_per_day``), a
rolling window (24 hours; 7 days), and a flow pool capped at 6 leads a day. Every seat is filled exactly
once, no window is ever exceeded, and the pool's step places exactly its cap (the rest of its leads
overflow to the next step).

The service runs on a clock that reads Monday 09:00 UTC when it starts (speed 1), so the hour window
cannot roll over during the test."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from sqlalchemy import select

from leadwise.services.checks import consistency_problems
from leadwise.services.keys import create_key
from leadwise.services.reps import create_rep
from leadwise.store.db import Database
from leadwise.store.migrate import upgrade
from leadwise.store.models import AssignmentRow

START = "2025-03-03T09:00:00+00:00"  # a Monday, 18:00 in Tokyo

# (name, fields beyond an ample open-lead capacity, the seats its windows leave)
REPS = [
    ("Hourly A", {"capacity_windows": [{"kind": "period", "period": "hour", "limit": 3}]}, 3),
    ("Hourly B", {"capacity_windows": [{"kind": "period", "period": "hour", "limit": 3}, {"kind": "period", "period": "month", "limit": 40}]}, 3),
    ("Rolling A", {"capacity_windows": [{"kind": "rolling", "hours": 24, "limit": 4}]}, 4),
    ("Rolling B", {"capacity_windows": [{"kind": "rolling", "days": 7, "limit": 4}, {"kind": "open", "limit": 9}]}, 4),
    ("Tokyo", {"hours": {"timezone": "Asia/Tokyo"}, "capacity_windows": [{"kind": "period", "period": "day", "limit": 5}]}, 5),
    ("Daily", {"max_per_day": 2, "capacity_windows": [{"kind": "rolling", "days": 7, "limit": 3}]}, 2),
]
POOL_CAP = 6

FLOW = """
[pools.capped]
reps = [{capped}]
timezone = "America/New_York"
capacity_windows = [{{ kind = "period", period = "day", limit = {cap} }}]

[pools.everyone]

[[steps]]
name = "capped pool"
pool = "capped"
strategy = "load_balancing"

[[steps]]
name = "overflow"
pool = "everyone"
strategy = "round_robin"
"""


@pytest.fixture(scope="module")
def server(server):
    """The module's server (``conftest.server``) on a clock starting at START."""
    server.env |= {"LEADWISE_CLOCK_START": START, "LEADWISE_CLOCK_SPEED": "1"}
    return server


def _seed(database_url: str) -> tuple[dict[str, str], dict[str, int]]:
    db = Database.connect(database_url)
    upgrade(db.engine)
    ids = {name: create_rep(db=db, fields={"name": name, "capacity": 100, **fields}).id for name, fields, _ in REPS}
    keys = {role: create_key(db=db, role=role)[1] for role in ("admin", "integration")}
    db.dispose()
    return keys, ids


async def _fire(url: str, headers: dict[str, str], lead_ids: list[str]) -> list[tuple[int, dict]]:
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=httpx.Limits(max_connections=50), timeout=60) as client:

        async def one(lead_id: str) -> tuple[int, dict]:
            r = await client.post("/v1/route", json={"lead_id": lead_id})
            return r.status_code, r.json()

        return await asyncio.gather(*(one(i) for i in lead_ids))


def test_150_concurrent_routes_never_exceed_a_period_a_rolling_window_or_a_pool_cap(server) -> None:
    server.keys, ids = _seed(server.database_url)
    server.start(workers=2)
    capped = [ids["Hourly A"], ids["Hourly B"], ids["Rolling A"], ids["Rolling B"]]
    flow = FLOW.format(capped=", ".join(f'"{i}"' for i in capped), cap=POOL_CAP)
    published = httpx.post(f"{server.url}/v1/flows", json={"source": flow}, headers=server.h("admin"), timeout=30)
    assert published.status_code == 201, published.text

    answers = asyncio.run(_fire(server.url, server.h("integration"), [f"w-{k:03d}" for k in range(150)]))
    assert {status for status, _ in answers} == {201}, [a for a in answers if a[0] != 201][:3]

    db = Database.connect(server.database_url)
    with db.read_session() as session:
        stored = list(session.scalars(select(AssignmentRow)))
        problems = consistency_problems(session=session)
    db.dispose()
    assert problems == []
    per_rep = Counter(a.rep_id for a in stored if a.rep_id is not None)
    seats = {ids[name]: n for name, _, n in REPS}
    assert dict(per_rep) == seats  # every seat filled once, never more
    assert sum(1 for a in stored if a.pool == "capped") == POOL_CAP
    assert sum(1 for a in stored if a.queue == "manager") == 150 - sum(seats.values())
    # What the answers said agrees with what is stored: the cap's and the windows' words.
    steps = Counter(body["explanation"]["explanation"]["step"] for _, body in answers if body["rep_id"] is not None)
    assert steps["capped pool"] == POOL_CAP
    notes = [t["note"] for _, body in answers for t in body["explanation"]["explanation"]["steps_tried"]]
    assert f"pool 'capped' is full (capacity: {POOL_CAP}/{POOL_CAP} today): fell through" in notes
