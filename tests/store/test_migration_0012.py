"""Migration 0012 (the ``withdrawn`` and ``closed`` assignment states, ``leads.duplicate_key``) on a
database holding data, both dialects; its downgrade maps the states back to the nearest known before
(reassigned, lost) and drops the column."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, text, update
from sqlalchemy.exc import IntegrityError
from tests.store.conftest import insert_closed_lead

from leadwise.store.db import Database
from leadwise.store.migrate import current_revision, downgrade, upgrade
from leadwise.store.models import AssignmentRow


def test_migration_0012_allows_withdrawn_and_closed_and_keeps_data(url: str) -> None:
    db = Database.connect(url)
    upgrade(db.engine, "0011")
    insert_closed_lead(db, datetime(2024, 1, 1, tzinfo=UTC))
    with pytest.raises(IntegrityError), db.engine.begin() as conn:  # before 0012 the state is unknown
        conn.execute(text("UPDATE assignments SET state = 'withdrawn' WHERE id = 2"))
    assert upgrade(db.engine, "0012") == "0012"  # the schema at the head equals the models: test_migration_0004
    assert "ix_leads_duplicate_key" in {i["name"] for i in inspect(db.engine).get_indexes("leads")}
    with db.engine.begin() as conn:
        conn.execute(update(AssignmentRow.__table__).where(text("id = 2")).values(state="withdrawn"))
        conn.execute(
            text(
                "INSERT INTO assignments (id, lead_id, state, source, explanation, alternatives, created_at) "
                "VALUES (3, 1, 'closed', 'update', '{}', '[]', :t)"
            ),
            {"t": datetime(2024, 1, 2, tzinfo=UTC)},
        )
    with pytest.raises(IntegrityError), db.engine.begin() as conn:  # still a closed list of states
        conn.execute(text("UPDATE assignments SET state = 'maybe' WHERE id = 2"))
    with pytest.raises(IntegrityError), db.engine.begin() as conn:  # the partial unique index survived
        conn.execute(text("UPDATE assignments SET state = 'offered' WHERE id IN (2, 3)"))

    downgrade(db.engine, "0011")
    assert current_revision(db.engine) == "0011"
    assert "duplicate_key" not in {c["name"] for c in inspect(db.engine).get_columns("leads")}
    with db.engine.connect() as conn:
        states = dict(conn.execute(text("SELECT id, state FROM assignments ORDER BY id")).all())
        outcomes = conn.execute(text("SELECT count(*) FROM outcomes")).scalar_one()
    assert states == {1: "won", 2: "reassigned", 3: "lost"} and outcomes == 1
    db.dispose()
