"""The migration builds exactly the ORM schema, and the database itself refuses broken invariants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
    now = datetime(2024, 1, 10, 12, tzinfo=UTC)
    with db.write_session() as s:
        assert repo.take_lead(session=s, rep_id=1, now=now) is True
        assert repo.take_lead(session=s, rep_id=1, now=now) is False  # full: the conditional UPDATE refuses
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


def test_rep_counters_roll_over_by_day_and_week_and_feed_the_window(db) -> None:
    with db.write_session() as s:
        s.add(RepRow(name="A", capacity=10, open_leads=0))
    monday = datetime(2024, 1, 8, 9, tzinfo=UTC)
    with db.write_session() as s:
        for moment in (monday, monday + timedelta(hours=2), monday + timedelta(days=2)):
            assert repo.take_lead(session=s, rep_id=1, now=moment, value=0.5)
    with db.write_session() as s:
        (head,) = repo.lock_active_reps(session=s, now=monday + timedelta(days=2, hours=1))
        assert (head.open_leads, head.assigned_today, head.assigned_week) == (3, 1, 3)
        (head,) = repo.lock_active_reps(session=s, now=monday + timedelta(days=7))  # next Monday
        assert (head.assigned_today, head.assigned_week) == (0, 0)
        window = repo.window_counts(session=s, now=monday + timedelta(days=2), window=timedelta(days=1))
        assert window == {1: (1, 0.5)}  # the window starts on Tuesday: Monday's two leads are out
        assert repo.window_counts(session=s, now=monday + timedelta(days=2), window=timedelta(days=7)) == {
            1: (3, 1.5)
        }


def test_migration_0002_counts_existing_assignments(tmp_path) -> None:
    database = Database.connect(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(database.engine, "0001")
    now = datetime.now(UTC).replace(tzinfo=None)
    with database.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO reps (id, name, capacity, open_leads, out_of_office, sectors, products, "
            "series, seniority, weight, territories, accounts_owned, pools, active, created_at, "
            "updated_at) VALUES (1, 'A', 5, 2, '[]', '[]', '[]', '[]', 'mid', 1, '[]', '[]', "
            "'[]', 1, ?, ?)",
            (now, now),
        )
        conn.exec_driver_sql(
            "INSERT INTO leads (id, external_id, payload, status, blind, created_at, updated_at) "
            "VALUES (1, 'L1', '{}', 'assigned', 0, ?, ?), (2, 'L2', '{}', 'assigned', 0, ?, ?)",
            (now, now, now, now),
        )
        conn.exec_driver_sql(
            "INSERT INTO assignments (lead_id, rep_id, state, source, explanation, alternatives, "
            "expected_value, created_at) VALUES (1, 1, 'offered', 'route', '{}', '[]', 0.25, ?), "
            "(2, 1, 'offered', 'route', '{}', '[]', 0.5, ?)",
            (now, now),
        )
    assert upgrade(database.engine) == head_revision()
    with database.write_session() as s:
        (head,) = repo.lock_active_reps(session=s, now=datetime.now(UTC))
        assert (head.assigned_today, head.assigned_week, head.open_leads) == (2, 2, 2)
        assert repo.window_counts(session=s, now=datetime.now(UTC), window=timedelta(days=7)) == {
            1: (2, 0.75)
        }
    database.dispose()
