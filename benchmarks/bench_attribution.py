"""Attribution on 1,000,000 journeys over 10 channels: time per model, against a floor.

The floor is a bare pandas groupby count of touches by channel over the same exploded touch frame:
the least any model that looks at every touch must do. Targets (2-core machine): all heuristics
together <= 30 s, Markov order 1 <= 60 s.

    .venv/bin/python benchmarks/bench_attribution.py [--journeys 1000000] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import pandas as pd

from leadwise.marketing.attribution import HEURISTIC_MODELS, AttributionConfig, heuristic, markov, shapley
from leadwise.marketing.journeys import Journeys, build_journeys
from leadwise.simulate.journeys import simulate_journeys


def timed(label: str, work: Callable[[], object], rows: list[tuple[str, float]]) -> object:
    start = time.perf_counter()
    value = work()
    rows.append((label, time.perf_counter() - start))
    print(f"  {label:<28} {rows[-1][1]:8.2f} s", flush=True)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    setup: list[tuple[str, float]] = []
    print(f"setup ({args.journeys:,} journeys)")
    world = timed("simulate journeys", lambda: simulate_journeys(n=args.journeys, seed=args.seed), setup)
    journeys: Journeys = timed(
        "build journeys", lambda: build_journeys(world.touchpoints, world.outcomes), setup
    )
    print(
        f"  {journeys.n_journeys:,} journeys, {journeys.n_touches:,} touches, {journeys.n_channels} channels, "
        f"{int(journeys.converted.sum()):,} won"
    )
    # Per-touch indices and the side metrics (journeys touching each channel) are computed once,
    # cached on the Journeys and shared by every model: timed here, not charged to any one model.
    timed(
        "shared indices + side metrics",
        lambda: (journeys.journey, journeys.position, journeys.touched, journeys.touched_converted),
        setup,
    )

    touches = pd.DataFrame({"journey": journeys.journey, "channel": journeys.channel})
    rows: list[tuple[str, float]] = []
    print("models")
    timed("floor: groupby count", lambda: touches.groupby("channel").size(), rows)
    config = AttributionConfig()
    for name in HEURISTIC_MODELS:
        timed(name, lambda name=name: heuristic(journeys, name, config), rows)
    timed("markov order 1", lambda: markov(journeys, 1), rows)
    timed("markov order 2", lambda: markov(journeys, 2), rows)
    result = timed("shapley", lambda: shapley(journeys, config), rows)
    floor = rows[0][1]
    heuristics = sum(t for label, t in rows if label in HEURISTIC_MODELS)
    by_label = dict(rows)

    print("\nsummary")
    print(f"  {'what':<28} {'seconds':>8} {'x floor':>8} {'target':>8}")
    for label, seconds, target in (
        ("floor: groupby count", floor, None),
        ("all heuristics together", heuristics, 30.0),
        ("markov order 1", by_label["markov order 1"], 60.0),
        ("markov order 2", by_label["markov order 2"], None),
        ("shapley", by_label["shapley"], None),
    ):
        verdict = (
            ""
            if target is None
            else (f"<= {target:.0f} ok" if seconds <= target else f"> {target:.0f} MISSED")
        )
        print(f"  {label:<28} {seconds:8.2f} {seconds / floor:8.1f} {verdict:>8}")
    print(f"  shapley: {result.note}")


if __name__ == "__main__":
    main()
