"""Migration 0009 adds ``reps.auto_routing`` (true for reps stored before it, so they keep being routed to)
on both dialects, and its downgrade removes it keeping every rep."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text

from leadwise.store.db import Database
from leadwise.store.migrate import current_revision, downgrade, upgrade


def _columns(db: Database) -> set[str]:
    return {c["name"] for c in inspect(db.engine).get_columns("reps")}


def test_migration_0009_adds_auto_routing_true_for_existing_reps(url: str) -> None:
    db = Database.connect(url)
    upgrade(db.engine, "0008")
    now = datetime(2024, 1, 1, tzinfo=UTC)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO reps (name, capacity, open_leads, out_of_office, sectors, products, series, "
                "seniority, weight, territories, accounts_owned, pools, active, created_at, updated_at) "
                "VALUES ('Ann', 5, 0, '[]', '[]', '[]', '[]', 'mid', 1.0, '[]', '[]', '[]', true, :t, :t)"
            ),
            {"t": now},
        )
    assert "auto_routing" not in _columns(db)
    assert upgrade(db.engine, "0009") == "0009"
    assert "auto_routing" in _columns(db)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT auto_routing FROM reps")).scalar_one() in (True, 1)

    downgrade(db.engine, "0008")
    assert current_revision(db.engine) == "0008" and "auto_routing" not in _columns(db)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM reps")).scalar_one() == 1
    db.dispose()
