"""The seeded set-up: reps imported from the bundled sales_teams.csv take seniority, skills and owned
accounts from the history beside it, so the bundled default flow's steps can match on the bundled data."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadwise.api.app import create_app
from leadwise.cli import app as cli
from leadwise.services.flows import ensure_default_flow
from leadwise.services.keys import create_key
from leadwise.services.models import ModelHolder
from leadwise.services.reps import import_sales_teams
from leadwise.settings import BUNDLED_DATA_DIR, Settings
from leadwise.store import repositories as repo
from leadwise.store.db import Database


@pytest.fixture
def seeded(tmp_path: Path, migrated_template: Path):
    shutil.copy(migrated_template, tmp_path / "seed.db")
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'seed.db'}", sla_sweep_seconds=0, model_poll_seconds=0, serve_models=False
    )
    db = Database.connect(settings.database_url)
    result = import_sales_teams(db=db, path=BUNDLED_DATA_DIR / "sales_teams.csv", capacity=20)
    assert result.created == 35
    ensure_default_flow(db=db, settings=settings)
    yield db, settings
    db.dispose()


def test_imported_reps_take_seniority_skills_and_accounts_from_the_history(seeded) -> None:
    db, _ = seeded
    with db.read_session() as session:
        reps = repo.list_reps(session=session)
    assert Counter(r.seniority for r in reps).keys() == {"junior", "mid", "senior"}
    assert all(r.sectors and r.products and r.series for r in reps if r.win_rate is not None)
    owned = [a for r in reps for a in r.accounts_owned]
    assert len(owned) == len(set(owned)) > 50  # each account with a won deal has one owner
    assert all(0 < r.win_rate < 1 for r in reps if r.win_rate is not None)


def test_the_default_flow_matches_on_the_seeded_reps(seeded) -> None:
    db, settings = seeded
    admin = {"Authorization": f"Bearer {create_key(db=db, role='admin')[1]}"}
    with db.read_session() as session:
        owner = next(r for r in repo.list_reps(session=session) if r.accounts_owned)
    account = owner.accounts_owned[0]
    app = create_app(settings, db=db, models=ModelHolder(settings), load_models=False)
    with TestClient(app) as client:

        def step(lead: dict) -> tuple[str, int | None]:
            body = client.post("/v1/route", json=lead, headers=admin).json()
            return body["rule"], body["rep_id"]

        assert step({"lead_id": "S-1", "account": account, "product": "GTX Pro"}) == ("existing customer", owner.id)
        # rules-only: no score, so the score steps pass; a medical account's lead goes to a medical specialist
        rule, rep_id = step({"lead_id": "S-2", "product": "GTX Pro", "sector": "medical"})
        assert rule == "specialist sector"
        assert "medical" in client.get(f"/v1/reps/{rep_id}", headers=admin).json()["sectors"]
        assert step({"lead_id": "S-3", "product": "GTX Pro", "country": "Philippines"})[0] == "abroad"
        assert step({"lead_id": "S-4", "product": "GTX Pro"})[0] == "everyone else"


def test_reps_import_cli_reports_bad_history_in_one_line(tmp_path: Path) -> None:
    crm = tmp_path / "crm"
    shutil.copytree(BUNDLED_DATA_DIR, crm)
    accounts = (crm / "accounts.csv").read_text().splitlines()
    accounts[5] = accounts[5].replace(accounts[5].split(",")[3], "lots", 1)
    (crm / "accounts.csv").write_text("\n".join(accounts) + "\n")
    result = CliRunner().invoke(
        cli, ["reps", "import", str(crm / "sales_teams.csv"), "--database-url", f"sqlite:///{tmp_path / 'r.db'}"]
    )
    assert result.exit_code == 2
    assert "accounts.csv, column 'revenue', row 5 (line 6)" in result.stderr
