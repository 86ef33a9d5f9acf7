"""The learning loop end to end on a tiny world: train → route with exploration through the API (each
answer with its propensity) → outcomes → ``leadwise export`` → ``leadwise train --weight-by-propensity``
→ ``leadwise ope``, and the model report and ``/readyz`` warnings on the same service."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadwise.api.app import create_app
from leadwise.cli import app
from leadwise.learn.registry import load_champion
from leadwise.services import model_report
from leadwise.services.keys import create_key
from leadwise.services.models import ModelHolder
from leadwise.services.reps import create_rep
from leadwise.simulate.replay_world import ReplayWorld, read_replay_world
from leadwise.simulate.world import generate_world
from leadwise.simulate.world_config import WorldConfig
from leadwise.simulate.world_files import write_world
from leadwise.store.db import Database
from leadwise.store.migrate import upgrade

runner = CliRunner()
EXPLORING = """
name = "best fit, exploring"
[exploration]
rate = 0.5
[[steps]]
name = "everyone"
pool = "everyone"
strategy = "best_fit"
"""
FAST = 'baselines = false\nlgbm_params = { n_estimators = 40, learning_rate = 0.15, n_jobs = 1 }\n'


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _service(settings, world: Path) -> tuple[Database, ReplayWorld, dict[str, str]]:
    """The service's database at the head, with the world's reps and an admin key's header."""
    db = Database.connect(settings.database_url)
    upgrade(db.engine)
    replay = read_replay_world(world)
    for rep in replay.truth.reps:
        create_rep(db=db, fields={"name": rep, "capacity": 1000})
    return db, replay, {"Authorization": f"Bearer {create_key(db=db, role='admin')[1]}"}


@pytest.fixture
def world(tmp_path: Path) -> Path:
    directory = tmp_path / "world"
    write_world(generate_world(WorldConfig(seed=5, n_history=1000, n_stream=160, n_reps=6, n_accounts=60)), directory)
    return directory


def test_route_export_retrain_and_evaluate(isolated_settings, world: Path, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "fast.toml").write_text(FAST)
    _invoke("train", "--data", str(world), "--config", str(tmp_path / "fast.toml"))
    settings = isolated_settings.model_copy(update={"sla_sweep_seconds": 0, "model_poll_seconds": 0,
                                                    "monitor_min_outcomes": 50, "monitor_seconds": 0})  # fmt: skip
    db, replay, admin = _service(settings, world)
    holder = ModelHolder(settings)
    champion = load_champion(settings)
    assert champion is not None
    holder.install(champion)
    leads = replay.model_leads()
    leads["engage_date"] = leads["engage_date"].astype(str) + "T00:00:00Z"
    rng = np.random.default_rng(0)
    chosen, propensities = [], []
    with TestClient(create_app(settings, db=db, models=holder, load_models=False)) as client:
        assert client.post("/v1/flows", json={"source": EXPLORING}, headers=admin).status_code == 201
        for i, lead in enumerate(leads.to_dict("records")):
            answer = client.post("/v1/route", json={k: v for k, v in lead.items() if pd.notna(v)}, headers=admin)
            assert answer.status_code == 201, answer.text
            body = answer.json()
            j = replay.truth.reps.index(body["rep_name"])
            assert 0 < body["propensity"] <= 1
            if not body["explanation"]["explanation"]["explored"]:  # the strategy's choice
                assert body["rep_id"] == int(body["explanation"]["explanation"]["eligible"][0]["rep_id"])
            chosen.append(j)
            propensities.append(body["propensity"])
            if i < 130:  # the last 30 stay open
                won = bool(rng.random() < replay.truth.p_matrix[i, j])
                client.post(f"/v1/assignments/{body['id']}/outcome", json={"result": "won" if won else "lost",
                            "value": 1000.0}, headers=admin).raise_for_status()  # fmt: skip
        assert len(set(chosen)) == 6  # exploration tried every rep
        report = client.get("/v1/reports/model", headers=admin).json()
        assert report["model_version"] == champion.version
        live = report["calibration"][champion.version]
        assert live["n"] == 130 and 0 <= live["ece"] <= 1 and sum(b["count"] for b in live["curve"]) == 130
        assert report["drift"]["leads"] == 160 and set(report["drift"]["psi"]) >= {"sector", "product"}
        assert client.get("/v1/reports/model").status_code == 401
        monkeypatch.setattr(model_report, "validation_ece", lambda version, name: live["ece"] / 2.5)
        ready = client.get("/readyz").json()
        assert any(w.startswith("calibration: live ECE") for w in ready["warnings"]), ready

    export = tmp_path / "export"
    out = _invoke("export", "--database-url", settings.database_url, "--base", str(world), "--out", str(export))
    assert "wrote 160 routed leads (130 closed)" in out
    decisions = pd.read_csv(export / "decisions.csv")
    assert len(decisions) == 160 and decisions["propensity"].tolist() == pytest.approx(propensities)
    pipeline = pd.read_csv(export / "sales_pipeline.csv")
    assert len(pipeline) == 1000 + 160
    assert set(pipeline.tail(160)["deal_stage"]) == {"Won", "Lost", "Engaging"}
    assert (pipeline.tail(30)["deal_stage"] == "Engaging").all()

    trained = _invoke("train", "--data", str(export), "--config", str(tmp_path / "fast.toml"),
                      "--weight-by-propensity", "--promote")  # fmt: skip
    assert "by inverse propensity" in trained

    ope_json = tmp_path / "ope.json"
    _invoke("ope", "--data", str(export), "--out", str(ope_json), "--resamples", "200",
            "--policies", "best_fit,round_robin,random")  # fmt: skip
    estimates = json.loads(ope_json.read_text())
    assert set(estimates) == {"best_fit", "round_robin", "random"}
    truth_random = float(replay.truth.p_matrix[:130].mean())
    for figures in estimates.values():
        assert figures["method"] == "dr" and figures["ci_low"] <= figures["estimate"] <= figures["ci_high"]
        assert set(figures["estimators"]) == {"ips", "snips", "dr"}
    assert estimates["random"]["ci_low"] <= truth_random <= estimates["random"]["ci_high"]

    bad = runner.invoke(app, ["ope", "--data", str(export), "--policies", "coin_flip", "--no-log"])
    assert bad.exit_code == 2 and "unknown policy 'coin_flip'" in bad.output
    (export / "decisions.csv").write_text("lead_id,propensity\nx,1.5\n")
    bad = runner.invoke(app, ["train", "--data", str(export), "--weight-by-propensity"])
    assert bad.exit_code == 2 and "decisions.csv, column 'propensity', row 1" in bad.output
    db.dispose()


def test_export_of_an_empty_service_says_so(isolated_settings, tmp_path: Path) -> None:
    db = Database.connect(isolated_settings.database_url)
    upgrade(db.engine)
    db.dispose()
    result = runner.invoke(app, ["export", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "nothing to export" in result.output


def test_shadow_challenger_is_scored_stored_and_reported(isolated_settings, world: Path, tmp_path: Path,
                                                         monkeypatch) -> None:  # fmt: skip
    """A second alias is scored on every routed lead without routing: its figures are stored per decision,
    and its calibration and off-policy estimate sit beside the champion's in the report (API and CLI)."""
    from mlflow import MlflowClient

    (tmp_path / "fast.toml").write_text(FAST)
    _invoke("train", "--data", str(world), "--config", str(tmp_path / "fast.toml"))
    half = tmp_path / "half"  # the challenger learns from the first half of the history only
    shutil.copytree(world, half)
    pipeline = pd.read_csv(half / "sales_pipeline.csv", dtype=str, keep_default_na=False)
    pipeline.head(len(pipeline) // 2).to_csv(half / "sales_pipeline.csv", index=False)
    _invoke("train", "--data", str(half), "--config", str(tmp_path / "fast.toml"), "--no-promote")
    name = isolated_settings.registered_model_name("lead_score")
    MlflowClient(tracking_uri=isolated_settings.tracking_uri).set_registered_model_alias(name, "challenger", "2")
    settings = isolated_settings.model_copy(update={"sla_sweep_seconds": 0, "model_poll_seconds": 0,
                                                    "challenger_alias": "challenger"})  # fmt: skip
    db, replay, admin = _service(settings, world)
    holder = ModelHolder(settings)
    assert holder.reload(force=True) and holder.challenger is not None
    assert (holder.version, holder.challenger.version) == ("v1", "v2")
    leads = replay.model_leads()
    leads["engage_date"] = leads["engage_date"].astype(str) + "T00:00:00Z"
    rng = np.random.default_rng(1)
    with TestClient(create_app(settings, db=db, models=holder, load_models=False)) as client:
        assert client.post("/v1/flows", json={"source": EXPLORING}, headers=admin).status_code == 201
        assert client.get("/readyz").json()["challenger"]["model_version"] == "v2"
        for i, lead in enumerate(leads.to_dict("records")[:120]):
            body = client.post("/v1/route", json={k: v for k, v in lead.items() if pd.notna(v)},
                               headers=admin).json()  # fmt: skip
            assert body["explanation"]["explanation"]["model_version"] == "v1"  # the champion routes
            j = replay.truth.reps.index(body["rep_name"])
            won = bool(rng.random() < replay.truth.p_matrix[i, j])
            client.post(f"/v1/assignments/{body['id']}/outcome", json={"result": "won" if won else "lost"},
                        headers=admin).raise_for_status()  # fmt: skip
        report = client.get("/v1/reports/model", headers=admin).json()
    with db.read_session() as session:
        from sqlalchemy import select

        from leadwise.store.models import AssignmentRow, RepRow

        rows = session.execute(select(AssignmentRow, RepRow.name).join(RepRow)).all()
    assert len(rows) == 120
    for row, rep_name in rows:
        assert row.challenger_version == "v2" and set(row.challenger_scores) == set(replay.truth.reps)
        assert row.challenger_p_win == pytest.approx(row.challenger_scores[rep_name])
    assert any(abs(row.p_win - row.challenger_p_win) > 1e-3 for row, _ in rows)  # two models, two figures

    shadow = report["challenger"]
    assert shadow["alias"] == "challenger" and shadow["model_version"] == "v2"
    side = shadow["calibration"]["v2"]
    assert side["champion"]["n"] == side["challenger"]["n"] == 120
    assert side["champion"]["ece"] != side["challenger"]["ece"]
    for model in ("champion", "challenger"):
        figures = shadow["ope"][model]
        assert figures["method"] == "dr" and figures["ci_low"] <= figures["estimate"] <= figures["ci_high"]
        assert 0 < figures["estimate"] < 1.5

    monkeypatch.setenv("LEADWISE_CHALLENGER_ALIAS", "challenger")
    from leadwise.settings import get_settings

    get_settings.cache_clear()
    printed = _invoke("report", "--no-log")
    assert "shadow challenger 'challenger' (v2) beside the champion" in printed
    assert "challenger" in printed and "champion" in printed
    db.dispose()
