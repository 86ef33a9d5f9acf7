"""Migration 0008 adds ``assignments.propensity`` (NULL for decisions stored before it) on both dialects,
and its downgrade removes it keeping every row."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from leadwise.store.db import Database
from leadwise.store.migrate import alembic_config, current_revision, head_revision, upgrade
from leadwise.store.models import Base


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
    assert upgrade(db.engine) == head_revision() == "0008"
    assert "propensity" in _columns(db)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT propensity FROM assignments")).scalar_one() is None
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []

    config = alembic_config(db.engine.url.render_as_string(hide_password=False))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    assert current_revision(db.engine) == "0004" and "propensity" not in _columns(db)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM assignments")).scalar_one() == 1
    db.dispose()
