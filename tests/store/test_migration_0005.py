"""Migration 0005 adds ``capacity_prices`` (shared prices and their lease) on both dialects; its
downgrade removes the table and nothing else."""

from __future__ import annotations

from sqlalchemy import inspect

from leadwise.store.db import Database
from leadwise.store.migrate import current_revision, downgrade, upgrade


def test_migration_0005_adds_the_shared_price_table_and_downgrade_removes_it(url: str) -> None:
    db = Database.connect(url)
    upgrade(db.engine, "0004")
    tables_before = set(inspect(db.engine).get_table_names())
    assert "capacity_prices" not in tables_before
    upgrade(db.engine, "0005")
    assert "capacity_prices" in inspect(db.engine).get_table_names()
    assert (
        current_revision(db.engine) == "0005"
    )  # the schema at the head equals the models: test_migration_0004

    downgrade(db.engine, "0004")
    assert set(inspect(db.engine).get_table_names()) == tables_before
    db.dispose()
