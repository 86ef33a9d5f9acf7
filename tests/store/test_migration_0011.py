"""Migration 0011 adds ``reps.capacity_windows`` (empty for reps stored before: their limits stand as they
were) and ``assignments.pool`` with its index, on both dialects, without copying either table (offers keep
their rep), and its downgrade removes them keeping every row."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text
from tests.store.conftest import insert_rep_with_offer

from leadwise.store.db import Database
from leadwise.store.migrate import current_revision, downgrade, upgrade


def test_migration_0011_adds_capacity_windows_and_the_pool_of_a_decision(url: str) -> None:
    db = Database.connect(url)
    upgrade(db.engine, "0010")
    insert_rep_with_offer(db, datetime(2024, 1, 1, tzinfo=UTC))
    assert upgrade(db.engine, "0011") == "0011"
    with db.engine.connect() as conn:
        windows = conn.execute(text("SELECT capacity_windows FROM reps")).scalar_one()
        assert windows in ([], "[]")
        assert conn.execute(text("SELECT rep_id, pool FROM assignments")).one() == (1, None)
    indexes = {i["name"] for i in inspect(db.engine).get_indexes("assignments")}
    assert "ix_assignments_pool_created" in indexes

    downgrade(db.engine, "0010")
    assert current_revision(db.engine) == "0010"
    assert "capacity_windows" not in {c["name"] for c in inspect(db.engine).get_columns("reps")}
    assert "pool" not in {c["name"] for c in inspect(db.engine).get_columns("assignments")}
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM assignments")).scalar_one() == 1
    db.dispose()
