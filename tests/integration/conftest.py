"""A real ``leadwise serve`` (uvicorn, worker processes) on a free port, against SQLite always and
PostgreSQL when ``LEADWISE_TEST_DATABASE_URL`` is set (a fresh schema there).

One server per backend for the whole module: starting worker processes is what these tests spend
most of their time on, so the tests of a module run in order against the same server (the crash test
last: it kills it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from leadwise.services.keys import create_key
from leadwise.services.reps import create_rep
from leadwise.store.db import Database
from leadwise.store.migrate import upgrade

PG_URL = os.environ.get("LEADWISE_TEST_DATABASE_URL")
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not PG_URL, reason="LEADWISE_TEST_DATABASE_URL not set"),
        ],
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postgres_schema
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'service.db'}"
        return
    with postgres_schema("lw_test") as url:
        yield url


@dataclass
class Server:
    url: str
    database_url: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None
    keys: dict[str, str] = field(default_factory=dict)
    starts: int = 0  # workers started so far (their lines accumulate in the log)

    def start(self, workers: int = 2, timeout: float = 180.0) -> None:
        port = self.url.rsplit(":", 1)[1]
        cmd = [
            str(Path(sys.executable).with_name("leadwise")),
            "serve",
            "--port",
            port,
            "--workers",
            str(workers),
        ]
        self.process = subprocess.Popen(
            cmd, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    # every worker must be up, not only the first one to answer
                    self._wait_for_workers(workers, deadline)
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready: {self.log.read_text()[-2000:]}")

    def _wait_for_workers(self, workers: int, deadline: float) -> None:
        """uvicorn logs one "Application startup complete." per worker once its lifespan has run."""
        while time.monotonic() < deadline:
            if (
                self.log.read_text(errors="replace").count("Application startup complete")
                >= self.starts + workers
            ):
                self.starts += workers
                return
            time.sleep(0.1)
        raise RuntimeError(f"not every worker started: {self.log.read_text()[-2000:]}")

    def kill9(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)  # the master and its workers, no clean-up
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)

    def h(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


def prepare(
    database_url: str, capacities: list[int], prefix: str = "Rep"
) -> tuple[dict[str, str], list[int]]:
    db = Database.connect(database_url)
    upgrade(db.engine)
    rep_ids = [
        create_rep(db=db, fields={"name": f"{prefix} {k:02d}", "capacity": c}).id
        for k, c in enumerate(capacities)
    ]
    keys = {role: create_key(db=db, role=role)[1] for role in ("admin", "manager", "integration")}
    db.dispose()
    return keys, rep_ids


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp_path = tmp_path_factory.mktemp("server")
    env = dict(os.environ)
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env |= {
        "LEADWISE_DATABASE_URL": database_url,
        "LEADWISE_TRACKING_URI": (tmp_path / "mlruns").as_uri(),
        "LEADWISE_SERVE_MODELS": "false",  # rules-only without asking the registry (saves an MLflow import)
        "LEADWISE_MODEL_POLL_SECONDS": "0",
        "LEADWISE_SLA_SWEEP_SECONDS": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    srv = Server(
        url=f"http://127.0.0.1:{free_port()}", database_url=database_url, env=env, log=tmp_path / "server.log"
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def seed():
    """``seed(database_url, capacities) -> (keys, rep_ids)``: migrate, create reps and keys."""
    return prepare
