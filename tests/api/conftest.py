"""An app on a throw-away SQLite file, with a key for every role and a small team of reps (named as in the
world that ``world_models`` is trained on: see ``tests/conftest.py``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from leadwise.api.app import create_app
from leadwise.services.keys import create_key
from leadwise.services.models import ModelHolder
from leadwise.services.reps import create_rep
from leadwise.settings import Settings
from leadwise.store.db import Database
from leadwise.store.migrate import upgrade


@dataclass
class Env:
    client: TestClient
    db: Database
    settings: Settings
    models: ModelHolder
    keys: dict[str, str]
    reps: dict[str, int]

    def h(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; every test starts from a copy (an Alembic run per test would dominate the time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database.connect(f"sqlite:///{path}")
    upgrade(db.engine)
    db.dispose()
    return path


def throwaway_settings(tmp_path: Path, template: Path, **overrides: object) -> Settings:
    """Settings on a copy of the migrated template in ``tmp_path``, with the background loops off."""
    shutil.copy(template, tmp_path / "api.db")
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'api.db'}",
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        sla_sweep_seconds=0,
        model_poll_seconds=0,
        **overrides,
    )


def make_env(tmp_path: Path, template: Path, *, capacity: int = 2, **overrides: object) -> Iterator[Env]:
    settings = throwaway_settings(tmp_path, template, **overrides)
    db = Database.connect(settings.database_url)
    reps = {}
    for name, pools in (("Ann", ["default"]), ("Bob", ["default"]), ("Expert", ["other"])):
        reps[name] = create_rep(db=db, fields={"name": name, "capacity": capacity, "pools": pools}).id
    keys = {role: create_key(db=db, role=role)[1] for role in ("admin", "manager", "integration")}
    keys["rep"] = create_key(db=db, role="rep", rep_id=reps["Ann"])[1]
    keys["rep_bob"] = create_key(db=db, role="rep", rep_id=reps["Bob"])[1]
    holder = ModelHolder(settings)
    app = create_app(settings, db=db, models=holder, load_models=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Env(client=client, db=db, settings=settings, models=holder, keys=keys, reps=reps)
    db.dispose()


@pytest.fixture
def env(tmp_path: Path, migrated_template: Path) -> Iterator[Env]:
    yield from make_env(tmp_path, migrated_template)
