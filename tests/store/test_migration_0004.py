"""Migration 0004 drops the benchmark's ``bench_floor`` table from the service's schema (both dialects);
its downgrade brings the table back, and the benchmark's floor endpoint makes the table itself."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from leadwise.api.routers.bench import BenchFloorRow, create_floor_table
from leadwise.store.db import Database
from leadwise.store.migrate import alembic_config, current_revision, head_revision, upgrade
from leadwise.store.models import Base


def _downgrade(db: Database, revision: str) -> None:
    config = alembic_config(db.engine.url.render_as_string(hide_password=False))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_migration_0004_drops_bench_floor_and_downgrade_restores_it(url: str) -> None:
    db = Database.connect(url)
    upgrade(db.engine, "0003")
    with db.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO bench_floor (note, created_at) VALUES ('floor', :t)"),
            {"t": datetime(2024, 1, 1, tzinfo=UTC)},
        )
    assert upgrade(db.engine, "0004") == "0004"
    assert not inspect(db.engine).has_table("bench_floor")
    assert upgrade(db.engine) == head_revision()
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []

    _downgrade(db, "0003")
    assert current_revision(db.engine) == "0003" and inspect(db.engine).has_table("bench_floor")
    upgrade(db.engine)

    create_floor_table(db.engine)
    create_floor_table(db.engine)  # every worker calls it: a second call finds the table there
    with db.write_session() as session:
        session.add(BenchFloorRow(note="floor"))
    with db.read_session() as session:
        assert session.scalar(select(func.count()).select_from(BenchFloorRow)) == 1
    _downgrade(db, "0003")  # over a table the benchmark made
    assert inspect(db.engine).has_table("bench_floor")
    db.dispose()
