"""Fixtures shared by the whole suite: the bundled data, throw-away copies of it, isolated settings."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pandas as pd
import pytest

import leadwise.timekeeping
from leadwise.settings import BUNDLED_DATA_DIR, Settings, get_settings

# `leadwise train` searches models for LEADWISE_TRAIN_BUDGET seconds by default; the suite's many CLI
# trainings keep the fixed parameters unless a test asks for a budget (tests/learn/test_selection.py).
os.environ.setdefault("LEADWISE_TRAIN_BUDGET", "0")
# pytest-xdist hands its workers the terminal's COLUMNS, and Rich pins a console to COLUMNS when it is
# created (the CLI's, at import): the CLI tests set the width they need at run time instead.
os.environ.pop("COLUMNS", None)

CRM_FILES = ("sales_pipeline.csv", "accounts.csv", "products.csv", "sales_teams.csv")


@pytest.fixture(scope="session")
def bundled_dir() -> Path:
    return BUNDLED_DATA_DIR


@pytest.fixture
def crm_dir(tmp_path: Path, bundled_dir: Path) -> Path:
    """A private copy of the bundled data that a test may damage."""
    target = tmp_path / "crm"
    target.mkdir()
    for name in CRM_FILES:
        shutil.copy(bundled_dir / name, target / name)
    return target


def write_pipeline(directory: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(directory / "sales_pipeline.csv", index=False)


def read_raw(directory: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(directory / name, dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store with its tables created once: creating them costs seconds per test."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_mlflow_db: Path) -> Iterator[Settings]:
    """Settings whose MLflow store and database live under tmp_path; the cached settings are reset."""
    shutil.copy(empty_mlflow_db, tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEADWISE_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("LEADWISE_ARTIFACT_LOCATION", str(tmp_path / "mlruns"))
    monkeypatch.setenv("LEADWISE_DATABASE_URL", f"sqlite:///{tmp_path / 'leadwise.db'}")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@contextmanager
def _throwaway_postgres_schema(prefix: str) -> Iterator[str]:
    """A new schema on ``LEADWISE_TEST_DATABASE_URL``, as a URL whose search path is that schema; dropped after."""
    from sqlalchemy import create_engine, text

    base = os.environ["LEADWISE_TEST_DATABASE_URL"]
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_schema() -> Callable[[str], AbstractContextManager[str]]:
    """``with postgres_schema("prefix") as url:`` a throw-away PostgreSQL schema (the tests that use it
    skip unless ``LEADWISE_TEST_DATABASE_URL`` is set)."""
    return _throwaway_postgres_schema


# Reps of the service tests, by name, in a planted world: "Expert" is the rep the world made best at GTX
# deals, Ann, Bob and Cleo its three weakest there. MG Special is rare to win (below the flows' "cold"
# line of 0.25), the GTX products are not.
WORLD_REPS = ("Ann", "Bob", "Cleo", "Expert")
WORLD = {"seed": 173, "n_history": 1500, "n_stream": 10, "n_reps": 6, "n_accounts": 60, "intercept": -0.7}


@pytest.fixture(scope="session")
def world_models(tmp_path_factory: pytest.TempPathFactory):
    """Real ``LeadwiseModels`` trained once (seconds) on a tiny synthetic world with the reps above."""
    import numpy as np

    from leadwise.data.crm import load_crm_dir
    from leadwise.data.training_data import from_crm
    from leadwise.learn.training import TrainConfig, train_models
    from leadwise.simulate.world import generate_world
    from leadwise.simulate.world_config import ProductBase, SeriesSkill, WorldConfig
    from leadwise.simulate.world_files import write_world
    from leadwise.simulate.world_names import SERIES

    world = generate_world(WorldConfig(**WORLD, product_base=ProductBase(sd=2.5), series_skill=SeriesSkill(sd=1.5)))
    directory = tmp_path_factory.mktemp("world")
    write_world(world, directory)
    params = world.params
    at_gtx = np.argsort(params.skill + params.series_skill[:, SERIES.index("GTX")])
    renamed = {params.reps[at_gtx[-1]]: "Expert"}
    renamed.update({params.reps[i]: name for i, name in zip(at_gtx[:3], WORLD_REPS[:3], strict=True)})
    for name in ("sales_pipeline.csv", "sales_teams.csv"):
        frame = read_raw(directory, name)
        frame["sales_agent"] = frame["sales_agent"].replace(renamed)
        frame.to_csv(directory / name, index=False)
    # A few fast trees (one thread: the machine is shared); enough to find the planted structure.
    config = TrainConfig(baselines=False, lgbm_params={"n_estimators": 80, "learning_rate": 0.15, "n_jobs": 1})
    models = train_models(from_crm(load_crm_dir(directory)), config).models
    models.version = "world-1"
    return models


@pytest.fixture
def wall(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The wall clock as the accelerated clock reads it, set by hand."""
    reading = [1_000_000.0]
    monkeypatch.setattr(leadwise.timekeeping.time, "time", lambda: reading[0])
    return reading


@pytest.fixture(autouse=True)
def _no_heap_freeze_per_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app freezes the heap at start (``keep_out_of_collections``): a full collection that pays off in a
    long-lived server. The suite starts hundreds of apps in one process whose heap only grows, and each full
    collection cost up to 1.5 s late in the run (half of the suite's time), so here it is skipped."""
    import leadwise.api.app

    monkeypatch.setattr(leadwise.api.app, "keep_out_of_collections", lambda: None)
