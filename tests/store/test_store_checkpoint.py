"""The service checkpoints SQLite's write-ahead log itself, so committing requests do not."""

from __future__ import annotations

import pytest

from leadwise.store.db import Database
from leadwise.store.migrate import upgrade
from leadwise.store.models import RepRow


def _write_reps(db: Database, count: int) -> None:
    for k in range(count):
        with db.write_session() as session:
            session.add(RepRow(name=f"Rep {k:03d}", capacity=5, open_leads=0))


@pytest.mark.parametrize("backstop", [10_000, None])
def test_connections_carry_the_checkpoint_threshold(tmp_path, backstop) -> None:
    db = Database.connect(f"sqlite:///{tmp_path / 'w.db'}", wal_autocheckpoint=backstop)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == (backstop or 1000)
    db.dispose()


def _rows_in_main_file(tmp_path, name: str) -> int:
    """Rows of ``reps`` in the database file alone: a copy without its ``-wal`` log beside it."""
    import shutil
    import sqlite3

    copy = tmp_path / f"{name}.db"
    shutil.copyfile(tmp_path / "w.db", copy)
    plain = sqlite3.connect(copy)
    try:
        return plain.execute("SELECT count(*) FROM reps").fetchone()[0]
    finally:
        plain.close()


def test_background_checkpoint_copies_the_whole_log_back(tmp_path) -> None:
    db = Database.connect(f"sqlite:///{tmp_path / 'w.db'}", wal_autocheckpoint=10_000)
    upgrade(db.engine)
    db.checkpoint()
    _write_reps(db, 50)
    assert _rows_in_main_file(tmp_path, "before") == 0  # the commits only appended to the log
    busy, log_pages, done = db.checkpoint()  # type: ignore[misc]
    assert busy == 0 and log_pages > 0 and done == log_pages
    assert _rows_in_main_file(tmp_path, "after") == 50
    db.dispose()


def test_checkpoint_is_none_off_sqlite() -> None:
    db = Database.connect("postgresql+psycopg://nobody@127.0.0.1:1/none")  # no connection is made
    assert db.checkpoint() is None
    db.dispose()
