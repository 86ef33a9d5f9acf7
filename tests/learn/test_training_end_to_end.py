"""Train on the bundled data into a throw-away MLflow store, then read everything back as a user would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

import leadwise
from leadwise.cli import app
from leadwise.settings import BUNDLED_DATA_DIR, get_settings

runner = CliRunner()
MODEL_NAMES = ("leadwise-lead-score", "leadwise-rep-fit", "leadwise-deal-value")


@pytest.fixture(scope="module")
def trained_store(tmp_path_factory: pytest.TempPathFactory):
    """One training run on the bundled data, as `make train` does it."""
    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("LEADWISE_TRACKING_URI", uri)
        patch.setenv("LEADWISE_ARTIFACT_LOCATION", str(root / "mlruns"))
        get_settings.cache_clear()
        result = runner.invoke(app, ["train", "--data", str(BUNDLED_DATA_DIR)])
        assert result.exit_code == 0, result.output
        mlflow.set_tracking_uri(uri)
        yield root, uri, result.output
    get_settings.cache_clear()


def test_three_models_registered_with_champion_alias(trained_store) -> None:
    _, uri, output = trained_store
    client = MlflowClient(tracking_uri=uri)
    run_ids = set()
    for name in MODEL_NAMES:
        champion = client.get_model_version_by_alias(name, "champion")
        assert str(champion.version) == "1"
        assert champion.tags["leadwise.version"] == leadwise.__version__  # serving checks what trained it
        run_ids.add(champion.run_id)
    assert len(run_ids) == 1  # the three come from one training run
    assert "first registered models: promoted to champion" in output


def test_run_has_metrics_fingerprint_and_plots(trained_store) -> None:
    root, uri, _ = trained_store
    client = MlflowClient(tracking_uri=uri)
    run_id = client.get_model_version_by_alias("leadwise-rep-fit", "champion").run_id
    run = client.get_run(run_id)
    for metric in ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_top10"):
        assert f"lead_score.{metric}" in run.data.metrics and f"rep_fit.{metric}" in run.data.metrics
    assert "lead_score.baseline.logistic_regression.roc_auc" in run.data.metrics
    assert "lead_score.baseline.naive_bayes.roc_auc" in run.data.metrics
    assert run.data.params["data.rows"] == "8800" and run.data.params["data.closed_rows"] == "6711"
    assert run.data.params["data.date_min"] == "2016-10-20" and len(run.data.params["data.sha256"]) == 64
    plots = {item.path for item in client.list_artifacts(run_id, "plots")}
    assert {"plots/rep_fit_calibration.png", "plots/lead_score_cumulative_gain.png", "plots/rep_fit_feature_importance.png"} <= plots
    assert (root / "mlruns").is_dir()  # embedded store keeps artefacts beside the database


def test_honest_about_the_bundled_data(trained_store) -> None:
    """The bundled data carries almost no signal: the command must say so, not hide it."""
    _, uri, output = trained_store
    run_id = MlflowClient(tracking_uri=uri).get_model_version_by_alias("leadwise-rep-fit", "champion").run_id
    auc = MlflowClient(tracking_uri=uri).get_run(run_id).data.metrics["rep_fit.roc_auc"]
    assert 0.4 < auc < 0.6
    assert "does NOT beat" in output or "no better than chance" in output


def test_registered_model_reloads_through_mlflow_pyfunc(trained_store) -> None:
    leads = pd.DataFrame({"lead_id": ["x1", "x2"], "account": ["Cancity", "Isdom"], "product": ["GTX Pro", "MG Special"]})
    score = mlflow.pyfunc.load_model("models:/leadwise-lead-score@champion").predict(leads)
    assert list(score.columns) == ["lead_id", "p_win"] and score["p_win"].between(0, 1).all()
    fit = mlflow.pyfunc.load_model("models:/leadwise-rep-fit@champion").predict(leads)
    assert len(fit) == 2 * 35 and fit["p_win"].between(0, 1).all()
    one_rep = mlflow.pyfunc.load_model("models:/leadwise-rep-fit@champion").predict(leads.assign(sales_agent="Moses Frase"))
    assert one_rep["sales_agent"].tolist() == ["Moses Frase"] * 2
    value = mlflow.pyfunc.load_model("models:/leadwise-deal-value@champion").predict(leads)
    # Deals close near the list price: a GTX Pro (4,821) is worth far more than an MG Special (55).
    assert value["deal_value"][0] > 2000 > 200 > value["deal_value"][1] > 0


def test_each_version_keeps_the_history_s_demand_and_serving_loads_it(trained_store, tmp_path: Path) -> None:
    """The capacity prices' cold start: an artefact of the registered version, read back with the model."""
    from leadwise.learn.registry import load_champion

    _, uri, _ = trained_store
    for name in MODEL_NAMES:
        local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}@champion", dst_path=str(tmp_path / name)))
        assert (local / "artifacts" / "demand_history.json").is_file()
    models = load_champion(get_settings(), uri)
    assert models is not None and (history := models.demand_history) is not None
    assert len(history.leads) == 500 and not {"sales_agent", "won", "close_value", "engage_date"} & set(history.leads[0])
    # The bundled history: 8,300 dated deals engaged over 434 days, 19.1 a day (whole weeks: exactly).
    monday = datetime(2027, 1, 4, tzinfo=UTC)
    per_day = history.arrivals().expected(monday, monday + timedelta(weeks=62)) / (62 * 7)
    assert history.arrivals_observed == 8300 and abs(per_day - 8300 / 434) < 0.2
    horizon = history.open_horizon()
    assert horizon is not None and timedelta(days=10) < horizon.duration < timedelta(days=120)


def test_the_run_is_named_logs_its_dataset_and_each_model_carries_only_its_own_metrics(trained_store) -> None:
    _, uri, _ = trained_store
    client = MlflowClient(tracking_uri=uri)
    version = client.get_model_version_by_alias("leadwise-lead-score", "champion")
    run = client.get_run(version.run_id)
    assert run.info.run_name.startswith("train crm-sales-opportunities 20")
    (dataset,) = [d.dataset for d in run.inputs.dataset_inputs]
    assert dataset.name == "crm-sales-opportunities" and dataset.source_type == "local"
    assert json_rows(dataset.profile) > 8000  # the pipeline's deals, as trained on
    logged = [mlflow.get_logged_model(output.model_id) for output in run.outputs.model_outputs]
    assert sorted(model.name for model in logged) == ["deal_value", "lead_score", "rep_fit"]
    for model in logged:
        keys = {m.key for m in model.metrics or []}
        assert keys and all(key.startswith(f"{model.name}.") for key in keys), (model.name, sorted(keys))
    assert "rep_fit.roc_auc" in run.data.metrics and "deal_value.mae" in run.data.metrics  # the run has all


def json_rows(profile: str) -> int:
    import json

    return int(json.loads(profile)["num_rows"])


def test_score_command_writes_long_format(trained_store, tmp_path: Path) -> None:
    leads = tmp_path / "leads.csv"
    pd.DataFrame(
        {
            "lead_id": ["n1", "n2"],
            "account": ["Cancity", ""],
            "product": ["GTXPro", "MG Advanced"],
            "sector": ["", "retail"],
            "revenue": ["", "900"],
        }
    ).to_csv(leads, index=False)
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["score", "--leads", str(leads), "--out", str(out)])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert list(scores.columns) == ["lead_id", "lead_score", "deal_value", "rep", "p_win", "expected_value"]
    assert len(scores) == 2 * 35 and scores["rep"].nunique() == 35
    assert (abs(scores["expected_value"] - scores["p_win"] * scores["deal_value"]) < 1e-3 * scores["deal_value"]).all()


def test_score_names_an_unknown_column_and_changes_nothing(trained_store, tmp_path: Path) -> None:
    leads = tmp_path / "leads.csv"
    pd.DataFrame({"lead_id": ["n1"], "acount": ["Cancity"], "product": ["GTX Pro"]}).to_csv(leads, index=False)
    out = tmp_path / "o.csv"
    result = runner.invoke(app, ["score", "--leads", str(leads), "--out", str(out)])
    assert result.exit_code == 2 and not out.exists()
    assert result.stderr.strip() == "error: leads.csv, column 'acount': unknown column (did you mean 'account'?)"


def test_score_takes_the_pipeline_files_own_opportunity_id(trained_store, tmp_path: Path) -> None:
    pipeline = pd.read_csv(BUNDLED_DATA_DIR / "sales_pipeline.csv").head(3)  # the four-file schema as it is
    pipeline["campaign_notes"] = "x"  # unknown, but no misspelling of a known column: named, not used
    leads = tmp_path / "pipeline.csv"
    pipeline.to_csv(leads, index=False)
    out = tmp_path / "o.csv"
    result = runner.invoke(app, ["score", "--leads", str(leads), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "column(s) sales_agent, deal_stage, close_date, close_value, campaign_notes not used" in " ".join(result.output.split())
    assert list(pd.read_csv(out)["lead_id"].unique()) == list(pipeline["opportunity_id"])  # not 1..n


def test_score_rejects_unknown_product_with_one_line(trained_store, tmp_path: Path) -> None:
    leads = tmp_path / "leads.csv"
    pd.DataFrame({"lead_id": ["n1", "n2"], "product": ["GTX Pro", "Warp Drive"]}).to_csv(leads, index=False)
    result = runner.invoke(app, ["score", "--leads", str(leads), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: leads.csv, column 'product', row 2 (line 3): unknown product 'Warp Drive'"
