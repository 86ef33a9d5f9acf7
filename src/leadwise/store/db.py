"""Engines and sessions for SQLite (embedded default, WAL) and PostgreSQL.

Two kinds of transaction:
- ``read_session``: plain; on SQLite a deferred transaction that never blocks writers (WAL).
- ``write_session``: on SQLite ``BEGIN IMMEDIATE`` takes the single writer lock at the start, so a
  read-check-write sequence (capacity check + insert) cannot interleave with another process's, and
  no transaction fails half-way when upgrading from reader to writer. On PostgreSQL the writers take
  row locks (``SELECT ... FOR UPDATE``) on what they check, see ``leadwise.store.repositories``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

try:  # POSIX only; elsewhere SQLite's busy timeout alone orders writers across processes
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

_BEGIN_OPTION = "leadwise_sqlite_begin"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(
    url: str, *, busy_timeout_ms: int = 10_000, pool_size: int = 10, wal_autocheckpoint: int | None = None
) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout, foreign keys and explicit BEGINs.

    ``wal_autocheckpoint``: SQLite's automatic checkpoint threshold in WAL pages (None: its default, 1000)."""
    if is_sqlite(url):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _configure_sqlite(engine, busy_timeout_ms, wal_autocheckpoint)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int, wal_autocheckpoint: int | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would defer BEGIN; take it over and emit BEGIN ourselves.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes under WAL
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if wal_autocheckpoint is not None:
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(wal_autocheckpoint)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


@dataclass
class Database:
    """An engine with its two session factories; one per process."""

    url: str
    engine: Engine
    _read: sessionmaker[Session]
    _write: sessionmaker[Session]
    # SQLite has one writer at a time. Writers queue on a thread lock, then on an exclusive ``flock`` of
    # a file next to the database (shared by every leadwise process on it), instead of on SQLite's busy
    # handler, which polls with sleeps of up to 100 ms: under load that polling, not the work, set the
    # tail latency. The kernel wakes the next waiter at once, and drops the lock of a killed process.
    _writer: _WriterLock | None = None

    @classmethod
    def connect(
        cls, url: str, *, busy_timeout_ms: int = 10_000, wal_autocheckpoint: int | None = None
    ) -> Database:
        """``wal_autocheckpoint`` (SQLite): see ``make_engine``; a service that calls ``checkpoint`` on a
        schedule raises it so that committing requests no longer run the checkpoints themselves."""
        engine = make_engine(url, busy_timeout_ms=busy_timeout_ms, wal_autocheckpoint=wal_autocheckpoint)
        write_engine = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"}) if is_sqlite(url) else engine
        return cls(
            url=url,
            engine=engine,
            _read=sessionmaker(engine, expire_on_commit=False),
            _write=sessionmaker(write_engine, expire_on_commit=False),
            _writer=_WriterLock(url) if is_sqlite(url) else None,
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        # Closing (not rolling back) ends the transaction without expiring the loaded rows, so callers
        # can still read them after the block.
        with self._read() as session:
            yield session

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A transaction committed when the block ends without an exception, rolled back otherwise."""
        if self._writer is None:
            with self._write() as session, session.begin():
                yield session
            return
        with self._writer, self._write() as session, session.begin():
            yield session

    def checkpoint(self) -> tuple[int, int, int] | None:
        """SQLite: copy the write-ahead log back into the database file (``PRAGMA wal_checkpoint(PASSIVE)``:
        never waits for, nor blocks, readers and writers). Returns SQLite's (busy, log pages, checkpointed
        pages); None on other databases.

        Why: by default the commit that brings the log past 1000 pages runs the checkpoint, fsync included,
        inside its request; on the routing path that was one request in a hundred at twice the median
        latency. Run from a background thread instead, the requests only append to the log."""
        if self._writer is None:
            return None
        raw = self.engine.raw_connection()
        try:  # the DB-API connection is in autocommit (see ``_configure_sqlite``): no transaction around it
            driver = raw.driver_connection
            assert driver is not None  # a pooled connection that was just checked out
            busy, log_pages, done = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            raw.close()
        return int(busy), int(log_pages), int(done)

    def dispose(self) -> None:
        self.engine.dispose()
        if self._writer is not None:
            self._writer.close()


class _WriterLock:
    """A thread lock plus, for a SQLite file on a system with ``fcntl``, an inter-process ``flock``.

    Hand-written rather than ``filelock``: filelock opens and closes the lock file on every acquisition,
    which measured ~400 µs per lock against ~2 µs here, on every write transaction of the request path.
    An ``flock`` dies with its process, so a killed writer never leaves the lock held."""

    def __init__(self, url: str) -> None:
        self._thread = threading.Lock()
        self._fd: int | None = None
        database = make_url(url).database
        if fcntl is not None and database and database != ":memory:" and not database.startswith("file:"):
            self._fd = os.open(f"{database}.writer-lock", os.O_RDWR | os.O_CREAT, 0o644)

    def __enter__(self) -> None:
        self._thread.acquire()
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except BaseException:
                self._thread.release()
                raise

    def __exit__(self, *_: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
