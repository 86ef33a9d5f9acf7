"""Engagement worlds: touch journeys with a planted, known effect on winning, and what the features gain.

The switch is off by default and then nothing changes (no file, no key in world.json); on, the history
and the stream get touchpoints ending before their engage dates, the truth carries the planted log-odds,
and the engagement features raise the lead score's AUC against that truth by a clear margin.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadwise.cli import app
from leadwise.data.crm import load_crm_dir
from leadwise.learn.training import TrainConfig
from leadwise.marketing.touchpoints import TOUCH_TYPES
from leadwise.settings import BUNDLED_DATA_DIR
from leadwise.simulate.world import generate_world
from leadwise.simulate.world_config import Engagement, WorldConfig
from leadwise.simulate.world_evaluation import engagement_gain
from leadwise.simulate.world_files import PARAMS_FILE, TOUCHPOINTS_FILE, TRUTH_DIR, load_truth, write_world

ENGAGED = Engagement(enabled=True)
# The smallest gain the data supports robustly: measured 0.089-0.117 on seeds 1-6 of this world size.
MIN_AUC_GAIN = 0.05


def small(seed: int, **changes) -> WorldConfig:
    return WorldConfig(seed=seed, n_history=2000, n_stream=200, n_reps=12, **changes)


def test_off_by_default_and_leaves_the_world_unchanged(tmp_path: Path) -> None:
    assert not WorldConfig().engagement.enabled
    plain = generate_world(small(3))
    assert plain.touchpoints is None and plain.stream_touchpoints is None
    write_world(plain, tmp_path)
    assert not (tmp_path / TOUCHPOINTS_FILE).exists() and not (tmp_path / TRUTH_DIR / TOUCHPOINTS_FILE).exists()
    document = json.loads((tmp_path / TRUTH_DIR / PARAMS_FILE).read_text())
    assert "engagement" not in document["config"] and "engagement" not in document["params"]
    # Switching engagement on leaves every other draw as it was: same deals, same reps, same stream.
    engaged = generate_world(small(3, engagement=ENGAGED))
    same = ["opportunity_id", "sales_agent", "product", "account", "engage_date", "close_date"]
    open_deal = plain.pipeline["deal_stage"].isin(["Engaging", "Prospecting"])
    pd.testing.assert_frame_equal(plain.pipeline[same], engaged.pipeline[same])
    assert (engaged.pipeline["deal_stage"][open_deal] == plain.pipeline["deal_stage"][open_deal]).all()
    pd.testing.assert_frame_equal(plain.stream, engaged.stream)


def test_journeys_end_before_the_engage_date_and_plant_their_effect(tmp_path: Path) -> None:
    world = generate_world(small(5, engagement=ENGAGED))
    touches, pipeline = world.touchpoints, world.pipeline
    assert touches is not None and world.history_engagement is not None
    engaged = pd.to_datetime(touches["lead_id"].map(pipeline.set_index("opportunity_id")["engage_date"]))
    assert engaged.notna().all() and (touches["timestamp"] < engaged).all()
    assert set(touches["touch_type"]) <= set(TOUCH_TYPES)
    share = touches["lead_id"].nunique() / pipeline["engage_date"].notna().sum()
    assert 0.7 < share < 0.9  # touched_share 0.8

    # The planted log-odds: the offset plus each distinct channel and touch type once.
    config = world.config.engagement
    effect = pd.Series(config.offset, index=pipeline["opportunity_id"])
    for column, effects in (("channel", config.channel_effects()), ("touch_type", config.type_effects)):
        distinct = touches[["lead_id", column]].drop_duplicates()
        summed = distinct[column].map(effects).fillna(0.0).groupby(distinct["lead_id"]).sum()
        effect = effect.add(summed, fill_value=0.0)
    assert np.allclose(effect.loc[pipeline["opportunity_id"]].to_numpy(), world.history_engagement)
    # The stream's truth moves with its leads' effect, the same for every rep.
    plain = generate_world(small(5))
    shift = np.log(world.p_matrix / (1 - world.p_matrix)) - np.log(plain.p_matrix / (1 - plain.p_matrix))
    assert np.allclose(shift, world.stream_engagement[:, None], atol=1e-8)

    write_world(world, tmp_path)
    assert load_crm_dir(tmp_path).touches is not None
    truth = load_truth(tmp_path)
    assert truth.touches is not None and len(truth.touches) == len(world.stream_touchpoints)
    document = json.loads((tmp_path / TRUTH_DIR / PARAMS_FILE).read_text())
    assert document["params"]["engagement"]["type_effects"] == config.type_effects


def test_deterministic_per_seed() -> None:
    a, b = generate_world(small(9, engagement=ENGAGED)), generate_world(small(9, engagement=ENGAGED))
    pd.testing.assert_frame_equal(a.touchpoints, b.touchpoints)
    pd.testing.assert_frame_equal(a.stream_touchpoints, b.stream_touchpoints)
    pd.testing.assert_frame_equal(a.pipeline, b.pipeline)
    other = generate_world(small(10, engagement=ENGAGED))
    assert not a.touchpoints["timestamp"].equals(other.touchpoints["timestamp"])


def test_bundled_engagement_config_switches_it_on() -> None:
    config = WorldConfig.from_file(BUNDLED_DATA_DIR.parents[1] / "worlds" / "engagement.toml")
    assert config.engagement.enabled and config.engagement.type_effects["demo_request"] > 0
    with pytest.raises(ValueError, match="unknown touch type 'coffee'"):
        Engagement(enabled=True, type_effects={"coffee": 1.0})


@pytest.mark.parametrize("seed", [1, 2])
def test_engagement_features_raise_the_lead_score_auc(seed: int) -> None:
    config = WorldConfig(seed=seed, n_history=4000, n_stream=2000, n_reps=20, engagement=ENGAGED)
    with tempfile.TemporaryDirectory(prefix="leadwise-engagement-") as tmp:
        write_world(generate_world(config), Path(tmp))
        train = TrainConfig(baselines=False, lgbm_params={"n_estimators": 200, "num_threads": 1})
        gain = engagement_gain(load_crm_dir(tmp), load_truth(tmp), train, seed=0)
    assert gain.gain >= MIN_AUC_GAIN, gain
    assert gain.with_engagement < gain.bayes


def test_evaluate_prints_and_logs_both_aucs(tmp_path: Path) -> None:
    import mlflow

    world = tmp_path / "world"
    write_world(generate_world(small(4, engagement=ENGAGED)), world)
    train_config = tmp_path / "train.toml"
    train_config.write_text("[lgbm_params]\nn_jobs = 1\nn_estimators = 150\n")  # a shared box: one thread
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = CliRunner().invoke(
        app,
        ["evaluate", "--world", str(world), "--tracking-uri", uri, "--history-sizes", "",
         "--train-config", str(train_config)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output + str(result.exception)
    assert "lead score AUC with engagement features" in " ".join(result.output.split())
    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["leadwise-evaluation"], output_format="list")
    metrics = runs[0].data.metrics
    assert {"engagement.lead_auc_with", "engagement.lead_auc_without", "engagement.lead_auc_gain"} <= set(metrics)
    assert metrics["engagement.lead_auc_with"] == pytest.approx(metrics["lead_auc"])


def test_score_reads_the_leads_touchpoints(isolated_settings, tmp_path: Path) -> None:
    world = tmp_path / "world"
    write_world(generate_world(small(6, engagement=ENGAGED)), world)
    config = tmp_path / "train.toml"
    config.write_text("[training]\nbaselines = false\n[training.lgbm_params]\nn_jobs = 1\nn_estimators = 100\n")
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--data", str(world), "--config", str(config)])
    assert trained.exit_code == 0, trained.output
    leads = world / TRUTH_DIR / "stream.csv"
    with_touches, without = tmp_path / "with.csv", tmp_path / "without.csv"
    touchpoints = world / TRUTH_DIR / TOUCHPOINTS_FILE
    result = runner.invoke(app, ["score", "--leads", str(leads), "--out", str(with_touches), "--touchpoints", str(touchpoints)])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["score", "--leads", str(leads), "--out", str(without)]).exit_code == 0
    a, b = pd.read_csv(with_touches), pd.read_csv(without)
    assert len(a) == len(b) and not np.allclose(a["lead_score"], b["lead_score"])
    touched = load_truth(world).touches["lead_id"].unique()
    cold = ~a["lead_id"].isin(touched)  # a lead without touches scores the same either way
    assert cold.any() and np.allclose(a.loc[cold, "lead_score"], b.loc[cold, "lead_score"])
    bad = tmp_path / "bad.csv"
    bad.write_text("lead_id,timestamp,channel,touch_type\nx,2018-01-01,web,coffee\n")
    result = runner.invoke(app, ["score", "--leads", str(leads), "--out", str(without), "--touchpoints", str(bad)])
    assert result.exit_code == 2 and "bad.csv, column 'touch_type', row 1" in result.stderr
    # The registered MLflow model takes the same touches, as a JSON list per lead in a ``touches`` column.
    import mlflow

    stream = pd.read_csv(leads)
    items = load_truth(world).touches
    items = items.assign(timestamp=items["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S"))
    as_json = items.groupby("lead_id")[["timestamp", "channel", "touch_type"]].apply(
        lambda group: group.to_json(orient="records")
    )
    stream["touches"] = stream["lead_id"].map(as_json)
    mlflow.set_tracking_uri(isolated_settings.tracking_uri)
    lead_model = mlflow.pyfunc.load_model("models:/leadwise-lead-score@champion")
    scored = lead_model.predict(stream).set_index("lead_id")["p_win"]
    expected = a.drop_duplicates("lead_id").set_index("lead_id")["lead_score"]
    assert np.allclose(scored.loc[expected.index], expected, rtol=1e-5)
    broken = stream.head(3).assign(touches=["[", None, None])
    with pytest.raises(Exception, match="column 'touches', row 1"):
        lead_model.predict(broken)
