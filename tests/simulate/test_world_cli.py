"""``leadwise synth`` and ``leadwise evaluate`` end to end on tiny worlds (MLflow store under tmp_path)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadwise.cli import app
from leadwise.settings import get_settings
from leadwise.simulate.world_config import WorldConfig
from leadwise.simulate.world_files import load_truth

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "200")  # Rich wraps at the terminal width; keep table rows on one line
    monkeypatch.setenv("LEADWISE_ARTIFACT_LOCATION", str(tmp_path / "mlruns"))
    monkeypatch.setenv("LEADWISE_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_synth_writes_a_world_with_the_options_given(tmp_path: Path) -> None:
    out = tmp_path / "world"
    args = ["synth", "--out", str(out), "--seed", "9", "--history", "1500", "--stream", "30", "--reps", "7"]
    result = runner.invoke(app, [*args, "--accounts", "40"])
    assert result.exit_code == 0, result.output
    assert "1,500 deals" in result.output
    truth = load_truth(out)
    assert truth.p_matrix.shape == (30, 7)
    config = WorldConfig.model_validate(truth.params["config"])
    assert (config.seed, config.n_history, config.n_accounts) == (9, 1500, 40)


def test_synth_reads_a_config_file_and_options_override_it(tmp_path: Path) -> None:
    config_file = tmp_path / "world.toml"
    config_file.write_text("seed = 5\nn_history = 900\n[confounding]\nenabled = false\n")
    out = tmp_path / "world"
    result = runner.invoke(
        app, ["synth", "--out", str(out), "--config", str(config_file), "--history", "1000"]
    )
    assert result.exit_code == 0, result.output
    config = WorldConfig.model_validate(load_truth(out).params["config"])
    assert (config.seed, config.n_history, config.confounding.enabled) == (5, 1000, False)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--history", "5"], "--history: Input should be greater than or equal to 100"),
        (["--config", "missing.toml"], "missing.toml: no such file"),
    ],
)
def test_synth_bad_input_is_one_line_and_exit_2(tmp_path: Path, extra: list[str], message: str) -> None:
    result = runner.invoke(app, ["synth", "--out", str(tmp_path / "w"), *extra])
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_evaluate_reports_and_logs_to_mlflow(tmp_path: Path) -> None:
    pytest.importorskip("leadwise.learn.training")
    import mlflow

    world = tmp_path / "world"
    synth = [
        "synth",
        "--out",
        str(world),
        "--seed",
        "3",
        "--history",
        "2500",
        "--stream",
        "120",
        "--reps",
        "8",
    ]
    assert runner.invoke(app, [*synth, "--accounts", "60"]).exit_code == 0
    train_config = tmp_path / "train.toml"
    train_config.write_text("[lgbm_params]\nn_jobs = 1\n")  # a shared CI box: one thread is faster
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = runner.invoke(
        app,
        ["evaluate", "--world", str(world), "--tracking-uri", uri, "--history-sizes", "800,2500",
         "--train-config", str(train_config)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output + str(result.exception)
    for label in (
        "captured lift",
        "fit AUC",
        "calibration error vs truth",
        "lead score AUC",
        "history     2,500",
    ):
        assert label in result.output

    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["leadwise-evaluation"], output_format="list")
    assert len(runs) == 1
    metrics = runs[0].data.metrics
    assert {"captured_lift", "fit_auc", "bayes_auc", "ece", "lead_auc", "prior_auc"} <= set(metrics)
    assert metrics["bayes_auc"] > 0.5
    artifacts = {item.path for item in mlflow.MlflowClient().list_artifacts(runs[0].info.run_id)}
    assert {"reliability.png", "lift_vs_history.png", "evaluation.json", "world_config.json"} <= artifacts


def test_evaluate_refuses_a_directory_that_is_not_a_world(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--world", str(tmp_path), "--no-log"])
    assert result.exit_code == 2
    assert "stream.csv: missing" in result.stderr
