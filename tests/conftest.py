"""Fixtures shared by the whole suite: the bundled data, throw-away copies of it, isolated settings."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from leadwise.settings import BUNDLED_DATA_DIR, Settings, get_settings

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
