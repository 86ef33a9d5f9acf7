"""The migration builds exactly the ORM schema, and the database itself refuses broken invariants."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.migrate import head_revision, upgrade
from leadwise.store.models import AssignmentRow, Base, LeadRow, RepRow


@pytest.fixture
def db(tmp_path):
    database = Database.connect(f"sqlite:///{tmp_path / 'store.db'}")
    assert upgrade(database.engine) == head_revision()
    yield database
    database.dispose()


def test_migration_matches_the_models(db) -> None:
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_capacity_guard_and_check_constraint(db) -> None:
    with db.write_session() as s:
        s.add(RepRow(name="A", capacity=1, open_leads=0))
    with db.write_session() as s:
        assert repo.take_capacity(session=s, rep_id=1) is True
        assert repo.take_capacity(session=s, rep_id=1) is False  # full: the conditional UPDATE refuses
    with pytest.raises(IntegrityError), db.write_session() as s:
        s.execute(update(RepRow).values(open_leads=5))  # even a raw write cannot exceed capacity


def test_one_live_assignment_per_lead_and_transitions_happen_once(db) -> None:
    with db.write_session() as s:
        s.add_all([RepRow(name="A", capacity=5), LeadRow(external_id="L", payload={})])
        s.flush()
        s.add(AssignmentRow(lead_id=1, rep_id=1, state="offered"))
    with pytest.raises(IntegrityError), db.write_session() as s:
        s.add(AssignmentRow(lead_id=1, rep_id=1, state="accepted"))
    with db.write_session() as s:
        assert repo.transition(session=s, assignment_id=1, from_states=["offered"], to_state="expired")
        assert not repo.transition(session=s, assignment_id=1, from_states=["offered"], to_state="expired")
    with pytest.raises(IntegrityError), db.write_session() as s:
        s.add(LeadRow(external_id="L", payload={}))  # idempotency backstop: one row per lead id


def test_routing_state_round_trip(db) -> None:
    with db.write_session() as s:
        state = repo.DbRoutingState(s)
        state.set("rr:everyone", "3")
        state.set("rr:everyone", "4")
    with db.write_session() as s:
        assert repo.DbRoutingState(s).get("rr:everyone") == "4"
