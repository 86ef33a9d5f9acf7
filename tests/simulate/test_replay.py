from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from leadwise.cli import app
from leadwise.routing import Lead, Rep
from leadwise.simulate.replay import (
    ReplayInputs,
    compare_policies,
    noisy_probabilities,
    price_of_fairness,
    replay_policy,
    stream_capacity,
)


def planted_inputs(n: int = 400, m: int = 5, seed: int = 0, noise: float = 0.2) -> ReplayInputs:
    """A star rep irreplaceable on kind-0 leads, slightly better than each specialist elsewhere."""
    rng = np.random.default_rng(seed)
    kinds = rng.integers(0, m, n)
    p = rng.uniform(0.1, 0.25, size=(n, m))
    rows = np.arange(n)
    p[rows, kinds] = rng.uniform(0.55, 0.7, n)
    p[:, 0] = np.where(kinds == 0, 0.8, p[rows, kinds] + 0.03)
    value = rng.uniform(500, 5000, n)
    leads = [Lead(lead_id=f"L{i}") for i in range(n)]
    reps = [Rep(id=f"r{j}") for j in range(m)]
    return ReplayInputs(leads, reps, p, value, noisy_probabilities(p, noise, seed), value)


def test_stream_capacity_sums_to_the_stream_and_follows_weights():
    assert stream_capacity(10, 3).tolist() == [4, 3, 3]
    assert stream_capacity(100, 2, 1.5, weights=[2, 1]).tolist() == [100, 50]


def test_policies_ranked_against_hindsight_with_no_capacity_violation():
    inputs = planted_inputs()
    report = compare_policies(
        inputs, ["round_robin", "best_fit", "optimised"], fairness_curve=False, resolve_every=40
    )
    by = {r.policy: r for r in report.results}
    assert all(r.capacity_violations == 0 and r.unassigned == 0 for r in report.results)
    assert all(0 < r.wins_ratio <= 1 + 1e-9 for r in report.results)
    assert by["round_robin"].wins_ratio < by["best_fit"].wins_ratio < by["optimised"].wins_ratio
    assert by["optimised"].wins_ratio >= 0.93
    # Equal capacities equal to the stream: every rep ends with exactly its share.
    assert by["optimised"].min_share == pytest.approx(by["optimised"].max_share)


def test_revenue_objective_and_spare_capacity():
    inputs = planted_inputs(n=200)
    report = compare_policies(
        inputs, ["best_fit"], objective="revenue", capacity_factor=2.0, fairness_curve=False
    )
    (res,) = report.results
    assert res.capacity_violations == 0
    # With double capacity, greedy on a good model gets close to hindsight.
    assert res.revenue_ratio > 0.9


def test_capacity_below_the_stream_leaves_leads_unassigned_not_overbooked():
    inputs = planted_inputs(n=100)
    capacity = stream_capacity(100, 5, 0.5)
    chosen, _ = replay_policy("load_balancing", inputs, capacity)
    counts = np.bincount(chosen[chosen >= 0], minlength=5)
    assert (chosen < 0).sum() == 50 and np.all(counts <= capacity)


def test_price_of_fairness_is_monotone():
    curve = price_of_fairness(planted_inputs(n=150), "wins", ratios=(1.0, 1.5, 3.0))
    values = [v for _, v in curve]
    assert values == sorted(values) and values[-1] <= 1 + 1e-9 and values[0] < 1


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    from leadwise.simulate.world import generate_world
    from leadwise.simulate.world_config import WorldConfig
    from leadwise.simulate.world_files import write_world

    out = tmp_path_factory.mktemp("world")
    write_world(
        generate_world(WorldConfig(seed=3, n_history=300, n_stream=120, n_reps=6, n_accounts=30)), out
    )
    return out


def test_simulate_command_prints_table_and_logs_to_mlflow(tiny_world, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = CliRunner().invoke(
        app,
        ["simulate", "--world", str(tiny_world), "--scores", "noisy", "--policies", "round_robin,optimised",
         "--tracking-uri", uri],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        "hindsight" in result.output and "optimised" in result.output and "price of fairness" in result.output
    )
    import mlflow

    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["leadwise-simulation"])
    assert len(runs) == 1
    assert runs["metrics.optimised.capacity_violations"].iloc[0] == 0
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(runs["run_id"].iloc[0])}
    assert {"policy_ratios.png", "lead_shares.png", "price_of_fairness.png"} <= artifacts


@pytest.mark.parametrize(
    "args, message",
    [
        (["--policies", "round_robin,coin_flip"], "unknown policy 'coin_flip'"),
        (["--objective", "profit"], "expected wins or revenue"),
        (["--scores", "oracle"], "--scores"),
    ],
)
def test_simulate_bad_input_exits_2_with_one_line(tiny_world, args, message):
    result = CliRunner().invoke(app, ["simulate", "--world", str(tiny_world), "--no-log", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_flow_check_command(tmp_path):
    from leadwise.routing.flows import BUNDLED_FLOWS_DIR

    ok = CliRunner().invoke(app, ["flow-check", str(BUNDLED_FLOWS_DIR / "default.toml")])
    assert ok.exit_code == 0 and "hot lead" in ok.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[[steps]]\npool = "everyone"\nstrategy = "coin_flip"\n')
    result = CliRunner().invoke(app, ["flow-check", str(bad)])
    assert result.exit_code == 2 and "line 3" in result.output and "coin_flip" in result.output
