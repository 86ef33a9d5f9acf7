"""The champion alias moves only when the new models are not worse (or when forced), and bad data
registers nothing. A small single-table history with planted signal keeps "worse" unambiguous."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from leadwise.cli import app
from leadwise.settings import Settings

from ..conftest import read_raw, write_pipeline

runner = CliRunner()
NAMES = ("leadwise-lead-score", "leadwise-rep-fit")


def planted_table(path: Path, n: int = 1500, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    employees = rng.integers(5, 5000, n)
    source = rng.choice(["web", "event", "partner"], n)
    owner = rng.choice(["ann", "bob", "cy"], n)
    logit = -1.0 + 0.0005 * employees + np.where(source == "event", 1.0, 0.0) + np.where(owner == "ann", 0.8, 0.0)
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    pd.DataFrame(
        {"lead": [f"L{i}" for i in range(n)], "employees": employees, "source": source, "owner": owner,
         "won": np.where(won, "yes", "no")}
    ).to_csv(path, index=False)  # fmt: skip
    return path


def train(path: Path, *extra: str):
    return runner.invoke(app, ["train", "--data", str(path), "--target", "won", "--id", "lead", "--rep", "owner", *extra])


def champions(settings: Settings) -> set[str]:
    client = MlflowClient(settings.tracking_uri)
    return {str(client.get_model_version_by_alias(name, "champion").version) for name in NAMES}


def test_champion_moves_only_when_not_worse(isolated_settings: Settings, tmp_path: Path) -> None:
    data = planted_table(tmp_path / "leads.csv")
    weak = tmp_path / "weak.toml"
    weak.write_text("[training]\nlgbm_params = { n_estimators = 1, num_leaves = 2, min_child_samples = 700 }\n")

    result = train(data)
    assert result.exit_code == 0, result.output
    assert "first registered models: promoted to champion" in result.output and champions(isolated_settings) == {"1"}

    result = train(data, "--config", str(weak))
    assert result.exit_code == 0 and "champion kept: the new models are worse on" in result.output
    assert champions(isolated_settings) == {"1"}

    result = train(data, "--no-promote")
    assert "not promoted (--no-promote)" in result.output and champions(isolated_settings) == {"1"}

    client = MlflowClient(isolated_settings.tracking_uri)
    result = train(data, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run: nothing registered" in result.output and "registered: nothing" in result.output
    assert {len(client.search_model_versions(f"name='{name}'")) for name in NAMES} == {3}  # no new version
    (dry,) = client.search_runs(
        [client.get_experiment_by_name("leadwise").experiment_id], "tags.`leadwise.run_kind` = 'training-dry-run'"
    )
    assert "lead_score.roc_auc" in dry.data.metrics  # evaluated and logged all the same

    # Same data, same seed: exactly as good as the champion, which is "not worse".
    result = train(data)
    assert "promoted: not worse than the champion" in result.output and champions(isolated_settings) == {"4"}

    result = train(data, "--config", str(weak), "--promote")
    assert "promoted (--promote forces it)" in result.output and champions(isolated_settings) == {"5"}

    result = train(data, "--if-no-champion")
    assert result.exit_code == 0 and "nothing to train" in result.output


def test_single_table_scores_learn_the_planted_rep_effect(isolated_settings: Settings, tmp_path: Path) -> None:
    data = planted_table(tmp_path / "leads.csv")
    result = train(data)
    assert result.exit_code == 0, result.output
    assert "lead_score: ROC AUC" in result.output and "rep_fit: ROC AUC" in result.output
    out = tmp_path / "scores.csv"
    result = runner.invoke(app, ["score", "--leads", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(out)
    assert len(scores) == 1500 * 3 and set(scores["rep"]) == {"ann", "bob", "cy"}
    by_rep = scores.groupby("rep")["p_win"].mean()
    assert by_rep["ann"] > by_rep["bob"] + 0.05 and by_rep["ann"] > by_rep["cy"] + 0.05


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda f: f.drop(columns=["deal_stage"]), "error: sales_pipeline.csv: required column 'deal_stage' is missing"),
        (lambda f: f[f["deal_stage"] != "Lost"], "every closed deal is won"),
        (lambda f: f.head(0), "sales_pipeline.csv: file has a header but no data rows"),
    ],
)
def test_bad_data_exits_2_and_registers_nothing(isolated_settings: Settings, crm_dir: Path, change, expected: str) -> None:
    write_pipeline(crm_dir, change(read_raw(crm_dir, "sales_pipeline.csv")))
    result = runner.invoke(app, ["train", "--data", str(crm_dir)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]
    with pytest.raises(MlflowException):
        MlflowClient(isolated_settings.tracking_uri).get_registered_model("leadwise-lead-score")


def test_single_file_without_target_is_refused(isolated_settings: Settings, tmp_path: Path) -> None:
    data = planted_table(tmp_path / "leads.csv", n=50)
    result = runner.invoke(app, ["train", "--data", str(data)])
    assert result.exit_code == 2 and "needs --target COLUMN" in result.stderr


def test_invalid_run_config_names_the_key(isolated_settings: Settings, tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text("[training]\nvalidation_fraction = 2\n")
    result = runner.invoke(app, ["train", "--config", str(config)])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: run.toml: training.validation_fraction: Input should be less than 0.5"
