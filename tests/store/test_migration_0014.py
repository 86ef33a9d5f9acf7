"""Migration 0014 adds the shadow challenger's columns to ``assignments`` (NULL for decisions stored before
it) on both dialects, and its downgrade removes them keeping every row, even one an outcome references."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text
from tests.store.conftest import insert_closed_lead

from leadwise.store.db import Database
from leadwise.store.migrate import current_revision, downgrade, upgrade

CHALLENGER = {"challenger_version", "challenger_p_win", "challenger_scores"}


def _columns(db: Database) -> set[str]:
    return {c["name"] for c in inspect(db.engine).get_columns("assignments")}


def test_migration_0014_adds_the_challenger_columns_and_keeps_rows(url: str) -> None:
    db = Database.connect(url)
    upgrade(db.engine, "0012")
    insert_closed_lead(db, datetime(2024, 1, 1, tzinfo=UTC))  # an outcome references assignment 1
    assert not CHALLENGER & _columns(db)
    assert upgrade(db.engine, "0014") == "0014"
    assert _columns(db) >= CHALLENGER
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT challenger_version, challenger_p_win, challenger_scores FROM assignments"))
        assert {tuple(r) for r in rows} == {(None, None, None)}

    downgrade(db.engine, "0012")
    assert current_revision(db.engine) == "0012" and not CHALLENGER & _columns(db)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM assignments")).scalar_one() == 2
    db.dispose()
