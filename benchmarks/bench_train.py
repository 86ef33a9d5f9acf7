"""Training time: the bundled data end to end, and a 1,000,000-row synthetic history.

Prints, for each dataset, the whole pipeline (read + validate + features + three models + baselines +
MLflow logging and registration) next to the floor measured in the same run: a bare LightGBM fit,
same parameters, on the same (lead, rep) feature matrix, the largest one the pipeline fits.

    .venv/bin/python benchmarks/bench_train.py [--rows 1000000] [--skip-bundled]
Targets (issue 3): bundled end to end <= 60 s; 1M rows <= 5 min; pipeline <= 2x the bare fit.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightgbm as lgb


def timed(label: str, action, timings: dict[str, float]):
    started = time.perf_counter()
    result = action()
    timings[label] = time.perf_counter() - started
    print(f"  {label:<38} {timings[label]:8.1f} s", flush=True)
    return result


def run_pipeline(data_dir: Path, workdir: Path) -> dict[str, float]:
    from leadwise.data.crm import load_crm_dir
    from leadwise.data.training_data import from_crm
    from leadwise.learn.models import DEFAULT_LGBM_PARAMS
    from leadwise.learn.tracking import configure_tracking, log_training_run, promote
    from leadwise.learn.training import TrainConfig, train_models
    from leadwise.settings import Settings

    os.chdir(workdir)
    settings = Settings(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}", artifact_location=workdir / "mlruns")
    configure_tracking(settings)
    from mlflow.tracking import MlflowClient

    MlflowClient().search_experiments()  # create the store's tables outside the timings
    config = TrainConfig()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    history = timed("read + validate + clean", lambda: load_crm_dir(data_dir), timings)
    data = from_crm(history)
    outcome = timed("features + 3 models + baselines", lambda: train_models(data, config), timings)
    run_id, versions = timed("MLflow log + register", lambda: log_training_run(outcome, data, config, settings), timings)
    timed("promote", lambda: promote(outcome, versions, settings, None), timings)
    timings["pipeline"] = time.perf_counter() - started

    # The floor: one bare LightGBM fit on the pair feature matrix of every closed deal.
    builder = outcome.models.builder
    closed = data.closed
    matrix = builder.pair_features(closed, lead_matrix=builder.lead_features(closed))
    labels = closed["won"].to_numpy(int)
    params = {**DEFAULT_LGBM_PARAMS, **config.lgbm_params, "random_state": config.random_seed}
    timed("floor: bare LGBMClassifier.fit", lambda: lgb.LGBMClassifier(**params).fit(matrix, labels), timings)
    print(f"  rows {len(data.frame):,} (closed {len(closed):,}), pair features {matrix.shape[1]}")
    print(f"  => pipeline {timings['pipeline']:.1f} s = {timings['pipeline'] / timings['floor: bare LGBMClassifier.fit']:.2f} x the bare fit")
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic history rows (0 to skip)")
    parser.add_argument("--skip-bundled", action="store_true")
    parser.add_argument("--one", choices=["bundled", "synthetic"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is None:
        # One process per dataset: each gets a fresh MLflow store and nothing cached from the other.
        parts = ([] if args.skip_bundled else ["bundled"]) + (["synthetic"] if args.rows else [])
        for part in parts:
            subprocess.run([sys.executable, __file__, "--one", part, "--rows", str(args.rows)], check=True)
        return
    from leadwise.settings import BUNDLED_DATA_DIR

    if args.one == "bundled":
        print(f"== bundled data ({BUNDLED_DATA_DIR.name})")
        with tempfile.TemporaryDirectory() as scratch:
            run_pipeline(BUNDLED_DATA_DIR, Path(scratch))
    if args.one == "synthetic":
        from leadwise.simulate.world import generate_world
        from leadwise.simulate.world_config import WorldConfig
        from leadwise.simulate.world_files import write_world

        print(f"== synthetic history, {args.rows:,} rows")
        with tempfile.TemporaryDirectory() as scratch:
            world_dir = Path(scratch) / "world"
            started = time.perf_counter()
            config = WorldConfig(seed=7, n_history=args.rows, n_accounts=max(300, args.rows // 200), n_stream=100)
            write_world(generate_world(config), world_dir)
            print(f"  (world generated and written in {time.perf_counter() - started:.1f} s, not counted)")
            workdir = Path(scratch) / "run"
            workdir.mkdir()
            run_pipeline(world_dir, workdir)


if __name__ == "__main__":
    main()
