"""``services.pools.claim``: a pooled lead goes to the first rep who claims it, once."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import select

from leadwise.routing.domain import AlreadyClaimed
from leadwise.services import pools as service
from leadwise.services.reps import create_rep
from leadwise.settings import Settings
from leadwise.store.db import Database
from leadwise.store.migrate import upgrade
from leadwise.store.models import LeadRow, PoolClaimRow


def test_two_reps_claim_at_once_one_owner(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'claim.db'}")
    setup = Database.connect(settings.database_url)
    upgrade(setup.engine)
    reps = [
        create_rep(db=setup, fields={"name": n, "capacity": 100, "pools": ["shared"]}) for n in ("A", "B")
    ]
    rounds = 20  # many rounds so that the race is actually exercised
    with setup.write_session() as session:
        session.add_all(
            LeadRow(external_id=f"L{k}", payload={}, status="queued", queue="pool", pool="shared")
            for k in range(rounds)
        )
    setup.dispose()
    # One database object per rep, as two worker processes would have.
    dbs = [Database.connect(settings.database_url) for _ in reps]
    for k in range(rounds):
        barrier = threading.Barrier(len(reps))
        results: dict[int, str] = {}
        threads = [
            threading.Thread(target=_claim, args=(db, settings, f"L{k}", rep.id, barrier, results))
            for db, rep in zip(dbs, reps, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results.values()) == ["lost", "won"]
        with dbs[0].read_session() as session:
            owner = session.scalar(
                select(PoolClaimRow.rep_id)
                .join(LeadRow, PoolClaimRow.lead_id == LeadRow.id)
                .where(LeadRow.external_id == f"L{k}")
            )
        assert results[owner] == "won"
    for db in dbs:
        db.dispose()


def _claim(
    db: Database,
    settings: Settings,
    lead: str,
    rep_id: int,
    barrier: threading.Barrier,
    results: dict[int, str],
) -> None:
    barrier.wait()
    try:
        service.claim(db=db, external_id=lead, rep_id=rep_id)
        results[rep_id] = "won"
    except AlreadyClaimed:  # taken meanwhile (read before or after the winner committed)
        results[rep_id] = "lost"


def test_a_claim_respects_the_rep_s_capacity_windows(tmp_path: Path) -> None:
    """Claims count in a rep's windows and are refused, saying which, once one is full."""
    import pytest

    from leadwise.routing.domain import CapacityExhausted

    db = Database.connect(f"sqlite:///{tmp_path / 'claim.db'}")
    upgrade(db.engine)
    windows = [{"kind": "rolling", "hours": 24, "limit": 2}, {"kind": "period", "period": "month", "limit": 10}]
    rep = create_rep(db=db, fields={"name": "A", "capacity": 100, "pools": ["shared"], "capacity_windows": windows})
    with db.write_session() as session:
        session.add_all(
            LeadRow(external_id=f"L{k}", payload={}, status="queued", queue="pool", pool="shared") for k in range(3)
        )
    service.claim(db=db, external_id="L0", rep_id=rep.id)
    service.claim(db=db, external_id="L1", rep_id=rep.id)
    with pytest.raises(CapacityExhausted, match="cannot claim: capacity: 2/2 leads in the rolling 24 h window"):
        service.claim(db=db, external_id="L2", rep_id=rep.id)
    db.dispose()
