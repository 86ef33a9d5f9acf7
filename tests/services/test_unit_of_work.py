"""``services.unit_of_work.transaction``: retries on contention, events only from the attempt that
committed, and a clear 503 kind when the database stays busy."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from leadwise.errors import DatabaseBusy
from leadwise.services import events
from leadwise.services.unit_of_work import WRITE_ATTEMPTS, UnitOfWork, transaction
from leadwise.store.db import Database
from leadwise.store.migrate import upgrade


@pytest.fixture
def db(tmp_path: Path):
    database = Database.connect(f"sqlite:///{tmp_path / 'uow.db'}")
    upgrade(database.engine)
    yield database
    database.dispose()


def _busy() -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))


def test_a_refused_transaction_runs_again_and_only_the_committed_attempt_is_announced(db) -> None:
    attempts: list[int] = []
    heard: list[events.Event] = []

    def listen(event: events.Event) -> None:
        heard.append(event)

    events.offers_expired.connect(listen)
    try:

        def work(unit: UnitOfWork) -> str:
            attempts.append(1)
            unit.emit(events.OffersExpired(len(attempts)))
            if len(attempts) < 3:
                raise _busy()
            return "done"

        assert transaction(db, work) == "done"
    finally:
        events.offers_expired.disconnect(listen)
    assert len(attempts) == 3
    assert heard == [events.OffersExpired(3)]  # the two rolled-back attempts announced nothing


def test_a_database_that_stays_busy_is_a_database_busy_error(db) -> None:
    attempts: list[int] = []

    def work(unit: UnitOfWork) -> None:
        attempts.append(1)
        raise _busy()

    with pytest.raises(DatabaseBusy, match="stayed busy"):
        transaction(db, work)
    assert len(attempts) == WRITE_ATTEMPTS


def test_other_errors_are_not_retried(db) -> None:
    attempts: list[int] = []

    def work(unit: UnitOfWork) -> None:
        attempts.append(1)
        raise ValueError("the caller's mistake")

    with pytest.raises(ValueError):
        transaction(db, work)
    assert len(attempts) == 1
