"""Time the world generator (draw + write) from 1,000 to 1,000,000 history rows, and print each world's
Bayes AUC and rep headroom.

    .venv/bin/python benchmarks/bench_synth.py [--sizes 1000,100000,1000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from leadwise.simulate.world import generate_world
from leadwise.simulate.world_config import WorldConfig
from leadwise.simulate.world_files import write_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    print(
        f"{'history rows':>12} {'generate s':>10} {'write s':>8} {'MB':>7} {'Bayes AUC':>9} {'best-random p':>13}"
    )
    for size in (int(s) for s in args.sizes.split(",")):
        config = WorldConfig(seed=args.seed, n_history=size)
        started = time.perf_counter()
        world = generate_world(config)
        generated = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            write_world(world, Path(tmp))
            written = time.perf_counter() - started
            megabytes = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file()) / 1e6
        outcomes = np.random.default_rng(0).random(world.p_matrix.shape) < world.p_matrix
        bayes = roc_auc_score(outcomes.ravel(), world.p_matrix.ravel())
        headroom = world.p_matrix.max(axis=1).mean() - world.p_matrix.mean()
        print(
            f"{size:>12,} {generated:>10.2f} {written:>8.2f} {megabytes:>7.1f} {bayes:>9.3f} {headroom:>13.3f}"
        )


if __name__ == "__main__":
    main()
