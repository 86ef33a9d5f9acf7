"""SQLite writers queue on a file lock beside the database, shared by every process on it."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

from leadwise.store.db import Database

HOLD_AND_WAIT = """
import sys, time
from leadwise.store.db import Database
db = Database.connect(sys.argv[1])
with db.write_session():
    print("holding", flush=True)
    time.sleep(60)
"""


def _try_lock(path: str) -> bool:
    """Whether another open file description (as another process has) gets the lock at once."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def test_a_writer_holds_the_file_lock_until_its_transaction_ends(tmp_path: Path) -> None:
    db = Database.connect(f"sqlite:///{tmp_path / 'w.db'}")
    lock_file = f"{tmp_path / 'w.db'}.writer-lock"
    with db.write_session():
        assert not _try_lock(lock_file)
    assert _try_lock(lock_file)
    db.dispose()


def test_a_killed_writer_leaves_the_lock_free(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_AND_WAIT, url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    finally:
        holder.kill()
        holder.wait(10)
    db = Database.connect(url, busy_timeout_ms=2_000)
    started = time.perf_counter()
    with db.write_session():
        pass
    assert time.perf_counter() - started < 1.0
    db.dispose()
