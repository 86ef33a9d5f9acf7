"""Migration 0008 adds ``assignments.propensity`` (NULL for decisions stored before it) on both dialects,
and its downgrade removes it keeping every row."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text

from leadwise.store.db import Database
from leadwise.store.migrate import current_revision, downgrade, upgrade


def _columns(db: Database) -> set[str]:
    return {c["name"] for c in inspect(db.engine).get_columns("assignments")}


def test_migration_0008_adds_propensity_and_keeps_rows(url: str) -> None:
    db = Database.connect(url)
    upgrade(db.engine, "0004")
    now = datetime(2024, 1, 1, tzinfo=UTC)
    with db.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO leads (external_id, payload, status, blind, created_at, updated_at) "
                 "VALUES ('l1', '{}', 'queued', false, :t, :t)"),
            {"t": now},
        )
        conn.execute(
            text("INSERT INTO assignments (lead_id, queue, state, source, explanation, alternatives, created_at) "
                 "VALUES (1, 'manager', 'queued', 'route', '{}', '[]', :t)"),
            {"t": now},
        )
    assert "propensity" not in _columns(db)
    assert upgrade(db.engine, "0008") == "0008"
    assert "propensity" in _columns(db)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT propensity FROM assignments")).scalar_one() is None

    downgrade(db.engine, "0004")  # the schema at the head equals the models: test_migration_0004
    assert current_revision(db.engine) == "0004" and "propensity" not in _columns(db)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM assignments")).scalar_one() == 1
    db.dispose()
