"""The lease on the shared capacity prices: of workers racing for it, exactly one holds it; it renews for
its holder and passes to another only once it has run out (both dialects)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.migrate import upgrade


def _take(db: Database, holder: str, now: datetime, seconds: float = 30) -> bool:
    with db.write_session() as session:
        return repo.take_pricer_lease(
            session=session, name="optimised", holder=holder, now=now, until=now + timedelta(seconds=seconds)
        )


def test_one_of_racing_workers_holds_the_lease_until_it_runs_out(url: str) -> None:
    db = Database.connect(url)
    upgrade(db.engine)
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def race(name: str) -> None:
        barrier.wait()
        if _take(db, name, now):
            winners.append(name)

    threads = [threading.Thread(target=race, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    holder, other = winners[0], next(f"w{i}" for i in range(6) if f"w{i}" != winners[0])

    assert _take(db, holder, now + timedelta(seconds=20))  # renewed: now held until 50 s
    assert not _take(db, other, now + timedelta(seconds=40))
    assert _take(db, other, now + timedelta(seconds=51))  # ran out: another worker takes it
    assert not _take(db, holder, now + timedelta(seconds=52))
    db.dispose()
