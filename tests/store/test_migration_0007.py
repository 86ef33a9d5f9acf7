"""Migration 0007 (the ``reassigned`` state, ``outcome_corrections``) on a database holding data, both
dialects; its downgrade turns reassignments back into what they were recorded as before (rejections)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.exc import IntegrityError
from tests.store.conftest import insert_closed_lead

from leadwise.store.db import Database
from leadwise.store.migrate import current_revision, downgrade, upgrade
from leadwise.store.models import AssignmentRow, OutcomeCorrectionRow, OutcomeRow


def test_migration_0007_keeps_data_allows_reassigned_and_audits_corrections(url: str) -> None:
    db = Database.connect(url)
    upgrade(db.engine, "0004")
    now = datetime(2024, 1, 1, tzinfo=UTC)
    insert_closed_lead(db, now)
    with pytest.raises(IntegrityError), db.write_session() as s:  # before 0007 the state is unknown
        s.execute(update(AssignmentRow).where(AssignmentRow.id == 2).values(state="reassigned"))
    assert upgrade(db.engine, "0007") == "0007"  # the schema at the head equals the models: test_migration_0004
    upgrade(db.engine)  # the ORM writes below carry today's columns (later revisions add some)
    with db.write_session() as s:
        assert s.scalar(select(func.count()).select_from(OutcomeRow)) == 1
        s.execute(update(AssignmentRow).where(AssignmentRow.id == 2).values(state="reassigned"))
        s.add(
            OutcomeCorrectionRow(
                outcome_id=1, assignment_id=1, previous_result="won", result="lost", reason="typo", corrected_by="m"
            )
        )
    with pytest.raises(IntegrityError), db.write_session() as s:
        s.add(OutcomeCorrectionRow(outcome_id=1, assignment_id=1, previous_result="won", result="maybe", reason="x", corrected_by="m"))
    with pytest.raises(IntegrityError), db.write_session() as s:  # the partial unique index survived
        s.add_all([AssignmentRow(lead_id=1, state="offered", explanation={}, alternatives=[]) for _ in range(2)])

    downgrade(db.engine, "0004")
    assert current_revision(db.engine) == "0004"
    assert not inspect(db.engine).has_table("outcome_corrections")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT state FROM assignments WHERE id = 2")).scalar_one() == "rejected"
    db.dispose()
