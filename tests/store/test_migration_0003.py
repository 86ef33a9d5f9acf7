"""Migration 0003 (touches, returns, the ``returned`` state) on a database holding data, both dialects."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from tests.store.conftest import insert_closed_lead

from leadwise.store.db import Database
from leadwise.store.migrate import head_revision, upgrade
from leadwise.store.models import AssignmentRow, Base, LeadReturnRow, OutcomeRow, TouchRow


def test_migration_0003_keeps_data_and_allows_returned(url: str) -> None:
    db = Database.connect(url)
    upgrade(db.engine, "0002")
    now = datetime(2024, 1, 1, tzinfo=UTC)
    insert_closed_lead(db, now)
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
