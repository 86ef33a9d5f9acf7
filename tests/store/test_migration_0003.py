"""Migration 0003 (touches, returns, the ``returned`` state) on a database holding data, both dialects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from leadwise.store.db import Database
from leadwise.store.migrate import head_revision, upgrade
from leadwise.store.models import AssignmentRow, Base, LeadReturnRow, OutcomeRow, TouchRow


def test_migration_0003_keeps_data_and_allows_returned(url: str) -> None:
    db = Database.connect(url)
    upgrade(db.engine, "0002")
    now = datetime(2024, 1, 1, tzinfo=UTC)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO leads (id, external_id, payload, status, blind, created_at, updated_at) "
                "VALUES (1, 'L', '{}', 'closed', false, :t, :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO assignments (id, lead_id, state, source, explanation, alternatives, created_at) "
                "VALUES (1, 1, 'won', 'route', '{}', '[]', :t), (2, 1, 'offered', 'route', '{}', '[]', :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO outcomes (assignment_id, lead_id, result, recorded_at) VALUES (1, 1, 'won', :t)"
            ),
            {"t": now},
        )
    assert upgrade(db.engine) == head_revision()
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    with db.write_session() as s:
        assert s.scalar(select(func.count()).select_from(OutcomeRow)) == 1
        s.execute(update(AssignmentRow).where(AssignmentRow.id == 2).values(state="returned"))
        s.add(LeadReturnRow(assignment_id=2, lead_id=1, reason="not_mature", returned_by="rep"))
        s.add(TouchRow(lead_id=1, timestamp=now, channel="web", touch_type="visit"))
    with pytest.raises(IntegrityError), db.write_session() as s:
        s.execute(update(AssignmentRow).where(AssignmentRow.id == 2).values(state="vanished"))
    with pytest.raises(IntegrityError), db.write_session() as s:  # the partial unique index survived
        s.add_all(
            [AssignmentRow(lead_id=1, state="offered", explanation={}, alternatives=[]) for _ in range(2)]
        )
    with pytest.raises(IntegrityError), db.write_session() as s:  # and the foreign keys
        s.add(OutcomeRow(assignment_id=99, lead_id=1, result="won"))
    db.dispose()
