"""Capacity windows under racing routers, on both dialects: 8 threads route 120 leads at once through the
service (one by one, together in one transaction, and as a backlog through the batch LP) against reps whose
binding limits are a fixed period, a rolling window and the original ``max_per_day``, and a flow pool
capped at a number of leads a day. No window and no pool cap is exceeded, and every seat is filled.

The PostgreSQL routers take the reps' row locks (``FOR UPDATE``) and SQLite's writer lock; the windows are
counted after the lock, so a racing router always sees the leads the others gave. The service runs on a
clock fixed to start on Monday 09:00 UTC, so the hour cannot roll over during the race."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from leadwise import timekeeping
from leadwise.routing import Lead
from leadwise.services import decisions as service
from leadwise.services.checks import consistency_problems
from leadwise.services.flows import FLOW_NAME, publish
from leadwise.services.models import ModelHolder
from leadwise.services.reps import create_rep
from leadwise.settings import Settings
from leadwise.store.db import Database
from leadwise.store.migrate import upgrade
from leadwise.store.models import AssignmentRow

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday, 18:00 in Tokyo
THREADS, PER_THREAD = 8, 15
POOL_CAP = 5
# (name, limits beyond an ample open-lead capacity, the seats they leave, in the capped pool)
REPS = [
    ("Hourly", {"capacity_windows": [{"kind": "period", "period": "hour", "limit": 3}]}, 3, True),
    ("Rolling", {"capacity_windows": [{"kind": "rolling", "hours": 24, "limit": 4}]}, 4, True),
    ("Tokyo", {"hours": {"timezone": "Asia/Tokyo"}, "capacity_windows": [{"kind": "period", "period": "day", "limit": 4}]}, 4, True),
    ("Daily", {"max_per_day": 2, "capacity_windows": [{"kind": "rolling", "days": 7, "limit": 3}]}, 2, False),
    ("Stacked", {"capacity_windows": [{"kind": "period", "period": "month", "limit": 9}, {"kind": "rolling", "hours": 2, "limit": 3}]}, 3, False),
]

FLOW = """
[pools.capped]
reps = [{capped}]
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


@pytest.fixture
def fixed_clock() -> Iterator[None]:
    timekeeping.use(timekeeping.AcceleratedClock(start=START, anchor=time.time(), speed=1.0))
    yield
    timekeeping.use(timekeeping.SystemWallClock())


def test_racing_routers_never_exceed_a_window_or_a_pool_cap(url: str, tmp_path: Path, fixed_clock: None) -> None:
    db = Database.connect(url)
    upgrade(db.engine)
    ids = {name: create_rep(db=db, fields={"name": name, "capacity": 100, **limits}).id for name, limits, _, _ in REPS}
    capped = ", ".join(f'"{ids[name]}"' for name, _, _, in_pool in REPS if in_pool)
    publish(db=db, name=FLOW_NAME, text=FLOW.format(capped=capped, cap=POOL_CAP), fmt="toml")
    settings = Settings(database_url=url, tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", serve_models=False)
    models = ModelHolder(settings)  # rules only
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def race(worker: int) -> None:
        leads = [Lead(lead_id=f"w{worker}-{k}") for k in range(PER_THREAD)]
        try:
            barrier.wait()
            if worker % 3 == 0:  # one by one
                for lead in leads:
                    service.route_lead(db=db, settings=settings, models=models, lead=lead)
            elif worker % 3 == 1:  # together, in one transaction per 5 leads
                for k in range(0, PER_THREAD, 5):
                    got = service.route_leads(db=db, settings=settings, models=models, leads=leads[k : k + 5])
                    errors.extend(r for r in got if isinstance(r, BaseException))
            else:  # a backlog through the batch LP
                service.route_batch(db=db, settings=settings, models=models, leads=leads)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(w,)) for w in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    with db.read_session() as session:
        stored = list(session.scalars(select(AssignmentRow)))
        problems = consistency_problems(session=session)
    db.dispose()
    assert problems == []
    assert len({a.lead_id for a in stored}) == THREADS * PER_THREAD
    per_rep = Counter(a.rep_id for a in stored if a.rep_id is not None)
    assert dict(per_rep) == {ids[name]: seats for name, _, seats, _ in REPS}  # every seat once, never more
    assert sum(1 for a in stored if a.pool == "capped") == POOL_CAP
    assert sum(1 for a in stored if a.queue == "manager") == THREADS * PER_THREAD - sum(per_rep.values())
