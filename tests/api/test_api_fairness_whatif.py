"""GET /v1/reports/fairness, the model report's training run, and the what-if jobs over HTTP."""

from __future__ import annotations

import copy
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from tests.api.conftest import make_env

from leadwise.store.models import AssignmentRow, LeadRow, utcnow


@pytest.fixture
def env(tmp_path: Path, migrated_template: Path):
    yield from make_env(
        tmp_path, migrated_template, mlflow_ui_url="http://127.0.0.1:5000/", whatif_dir=tmp_path / "whatif"
    )


def offer(session, rep_id: int, at, value: float) -> None:
    lead = LeadRow(external_id=f"fair-{session.query(LeadRow).count()}", payload={}, created_at=at)
    session.add(lead)
    session.flush()
    session.add(AssignmentRow(lead_id=lead.id, rep_id=rep_id, state="accepted", explanation={}, alternatives=[],
                              created_at=at, expected_value=value))  # fmt: skip


def test_fairness_per_day_against_the_default_flows_bound(env) -> None:
    now = utcnow()
    ann, bob = env.reps["Ann"], env.reps["Bob"]
    with env.db.write_session() as session:
        for value in (1.0, 1.0, 1.0):
            offer(session, ann, now, value)
        offer(session, bob, now, 3.0)
        offer(session, bob, now - timedelta(days=30), 9.0)  # before the 14 days: left out
    body = env.client.get("/v1/reports/fairness", headers=env.h("manager")).json()
    # The bundled default flow: at most 2× the weighted share of leads over a rolling week.
    assert body["bounds"]["max_lead_ratio"] == 2.0 and body["window_days"] == 7.0
    assert "flow-wide [fairness]" in body["bounds_source"]
    assert len(body["periods"]) == 14 and body["periods"][-1]["leads"] == 4
    overall = {r["rep"]: r for r in body["overall"]["reps"]}
    # Ann 3, Bob 1, Expert 0 of 4 leads; fair share 1/3 each: Ann at 2.25× breaks the bound.
    assert overall["Ann"]["lead_ratio"] == pytest.approx(2.25)
    assert overall["Ann"]["outside"] == ["lead share above 2× fair"]
    assert overall["Bob"]["outside"] == [] and overall["Expert"]["leads"] == 0
    assert overall["Ann"]["value_share"] == pytest.approx(0.5)  # 3 of 6
    assert body["overall"]["gini_leads"] == pytest.approx(0.5)  # [0, 1, 3]
    weeks = env.client.get("/v1/reports/fairness?period=week&periods=2", headers=env.h("admin")).json()
    assert len(weeks["periods"]) == 2 and weeks["overall"]["leads"] == 4
    bad = env.client.get("/v1/reports/fairness?period=month", headers=env.h("manager"))
    assert bad.status_code == 422 and "period" in bad.text


def test_the_model_report_links_the_champions_training_run(env, world_models) -> None:
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(env.settings.tracking_uri)
    client = MlflowClient()
    run = client.create_run(client.create_experiment("console"))
    for key, value in (("lead_score.roc_auc", 0.81), ("rep_fit.ece", 0.04), ("lead_score.search.log_loss", 0.5)):
        client.log_metric(run.info.run_id, key, value)
    name = env.settings.registered_model_name("lead_score")
    client.create_registered_model(name)
    version = client.create_model_version(name, source=f"runs:/{run.info.run_id}/lead_score", run_id=run.info.run_id)
    served = copy.copy(world_models)
    served.version = f"v{version.version}"
    env.models.install(served)
    body = env.client.get("/v1/reports/model", headers=env.h("manager")).json()
    training = body["training_run"]
    assert training["run_id"] == run.info.run_id and training["registry_version"] == str(version.version)
    assert training["metrics"] == {"lead_score.roc_auc": 0.81, "rep_fit.ece": 0.04}  # the search's left out
    assert training["url"] == f"http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    assert body["validation_ece"] == 0.04
    # The console's model page links the same run (signed in with the manager key, as a browser would).
    token = re.search(r'name="csrf" value="([^"]+)"', env.client.get("/console/login").text)
    assert token is not None
    env.client.post("/console/login", data={"api_key": env.keys["manager"], "csrf": token.group(1)})
    page = env.client.get("/console/model").text
    assert f'href="{training["url"]}"' in page and "lead_score.roc_auc" in page and "lead_score.search" not in page


def test_the_ui_address_must_be_a_web_address(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from leadwise.settings import Settings

    with pytest.raises(ValidationError, match="mlflow_ui_url must be an http"):
        Settings(mlflow_ui_url="javascript:alert(1)")


def poll(env, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        job = env.client.get(f"/v1/reports/whatif/{job_id}", headers=env.h("manager")).json()
        if job["status"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.05)


def test_a_what_if_job_runs_in_the_background_and_reports_each_policy(env) -> None:
    started = env.client.post(
        "/v1/reports/whatif",
        json={"source": "synthetic", "policies": ["round_robin", "best_fit"], "leads": 60, "reps": 4, "worlds": 1},
        headers=env.h("manager"),
    )
    assert started.status_code == 202 and started.json()["status"] in ("queued", "running")
    job = poll(env, started.json()["id"])
    assert job["status"] == "done" and job["progress"] == 1.0 and job["params"]["leads"] == 60
    result = job["result"]
    assert [p["policy"] for p in result["policies"]] == ["round_robin", "best_fit"]
    for p in result["policies"]:  # one world: no interval around the estimate
        assert p["ci_low"] == p["estimate"] == p["ci_high"] and 0 < p["estimate"] <= 1


def test_what_if_refuses_bad_requests_by_name(env) -> None:
    manager = env.h("manager")
    unknown = env.client.post("/v1/reports/whatif", json={"source": "log", "policies": ["optimised"]}, headers=manager)
    assert unknown.status_code == 422 and "policies: unknown policy 'optimised'" in unknown.text
    no_model = env.client.post("/v1/reports/whatif", json={"source": "log", "policies": ["random"]}, headers=manager)
    assert no_model.status_code == 503 and "fit model" in no_model.text  # rules-only: nothing to estimate with
    too_big = env.client.post("/v1/reports/whatif", json={"source": "synthetic", "policies": ["batch"], "leads": 10**6}, headers=manager)
    assert too_big.status_code == 422 and "leads" in too_big.text
    assert env.client.get("/v1/reports/whatif/nope", headers=manager).status_code == 404
    assert not list((env.settings.whatif_dir or Path()).glob("*.json"))  # nothing was queued
