"""Migration 0009 adds ``reps.auto_routing`` (true for reps stored before it, so they keep being routed to)
on both dialects, without copying ``reps`` (its offers keep their rep), and its downgrade removes it keeping
every rep."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text
from tests.store.conftest import insert_rep_with_offer

from leadwise.store.db import Database
from leadwise.store.migrate import current_revision, downgrade, upgrade


def test_migration_0009_adds_auto_routing_true_for_existing_reps(url: str) -> None:
    db = Database.connect(url)
    upgrade(db.engine, "0008")
    insert_rep_with_offer(db, datetime(2024, 1, 1, tzinfo=UTC))
    assert upgrade(db.engine, "0009") == "0009"  # the schema at the head equals the models: test_migration_0004
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT name, auto_routing FROM reps")).one() in (("Ann", True), ("Ann", 1))
        assert conn.execute(text("SELECT rep_id FROM assignments")).scalar_one() == 1

    downgrade(db.engine, "0008")
    assert current_revision(db.engine) == "0008"
    assert "auto_routing" not in {c["name"] for c in inspect(db.engine).get_columns("reps")}
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM reps")).scalar_one() == 1
    db.dispose()
