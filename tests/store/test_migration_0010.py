"""Migration 0010 adds ``reps.accepts`` and ``reps.prefers`` (none for reps stored before it: they take every
lead) on both dialects, without copying ``reps``, and its downgrade removes them keeping every rep."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text
from tests.store.conftest import insert_rep_with_offer

from leadwise.store.db import Database
from leadwise.store.migrate import current_revision, downgrade, upgrade


def test_migration_0010_adds_empty_rep_filters_and_downgrades(url: str) -> None:
    db = Database.connect(url)
    upgrade(db.engine, "0009")
    insert_rep_with_offer(db, datetime(2024, 1, 1, tzinfo=UTC))
    assert upgrade(db.engine, "0010") == "0010"
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT name, accepts, prefers FROM reps")).one() == ("Ann", None, None)
        assert conn.execute(text("SELECT rep_id FROM assignments")).scalar_one() == 1

    downgrade(db.engine, "0009")
    assert current_revision(db.engine) == "0009"
    columns = {c["name"] for c in inspect(db.engine).get_columns("reps")}
    assert not {"accepts", "prefers"} & columns
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM reps")).scalar_one() == 1
    db.dispose()
