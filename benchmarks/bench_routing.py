"""Routing figures: one online decision for 200 reps (per strategy, round robin's least_recent mode, a
step's when_unavailable = "whole_pool" fallback with every rep away, and optimised with an ``accepts`` and
a ``prefers`` condition on every rep), and a 10,000 × 200 batch assignment.

Run: ``.venv/bin/python benchmarks/bench_routing.py [--quick]``. Prints measured figures next to the
issue's targets and a ratio against a floor measured in the same run (a numpy argmax over the same
scores), so a slow machine shows up as a slow floor, not as a slow engine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import timedelta

import numpy as np

from leadwise.routing import (
    Capacity,
    CapacityPricer,
    FairnessBounds,
    Flow,
    InMemoryState,
    Lead,
    ManualClock,
    Rep,
    RepLoad,
    Scores,
    assign_batch,
    parse_flow,
    route_lead,
)
from leadwise.routing.conditions import Condition

WHOLE_POOL = '[[steps]]\npool = "everyone"\nstrategy = "load_balancing"\nwhen_unavailable = "whole_pool"\n'

ONLINE_TARGET_MS = 2.0
BATCH_TARGET_S = 10.0
BATCH_TARGET_GAP = 0.001


def _timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def online(n_reps: int = 200, repeats: int = 300) -> None:
    rng = np.random.default_rng(0)
    reps = [Rep(id=f"rep{j:03d}", capacity=Capacity(max_open=50, max_per_day=20)) for j in range(n_reps)]
    ids = tuple(r.id for r in reps)
    loads = {r.id: RepLoad(open_leads=int(rng.integers(0, 50))) for r in reps}
    p = rng.uniform(0.05, 0.6, size=(repeats, n_reps))
    pricer = CapacityPricer(ids)
    prices = pricer.resolve(p[:200], [50 - loads[r].open_leads for r in ids], expected_leads=2000)
    state, clock = InMemoryState(), ManualClock()
    scores = [Scores("bench", 0.5, ids, p[i], 1000.0) for i in range(repeats)]
    leads = [Lead(lead_id=f"L{i}", revenue=500.0, fields={"language": "de", "seats": 40 + i}) for i in range(repeats)]
    lam = np.array([prices[r] for r in ids])
    # The floor: the irreducible arithmetic of one decision (an argmax of value − λ over the same reps).
    floor = statistics.median(_timed(lambda: int(np.argmax(p[0] - lam)), 2000)) * 1000
    for load in loads.values():  # for least_recent: each rep's last lead 0-48 hours ago
        load.last_assigned_at = clock.now() - timedelta(hours=float(rng.uniform(0, 48)))
    # Every rep away: the step finds nobody, then its when_unavailable fallback screens the pool again.
    everyone_away = [r.model_copy(update={"away": True}) for r in reps]
    # Every rep with an ``accepts`` and a ``prefers``: the same two for all (judged once per decision), or
    # a distinct pair per rep (the worst case: two conditions judged per rep per decision).
    prefers = {"fields.seats": {"gte": 100}, "weekday": {"not_in": ["sun"]}}
    accepts = {"fields.language": {"in": ["de", "fr", "en"]}, "revenue": {"gt": 10}}
    shared = {"accepts": Condition.model_validate(accepts), "prefers": Condition.model_validate(prefers)}
    filtered = [r.model_copy(update=shared) for r in reps]
    distinct = [
        r.model_copy(
            update={
                "accepts": Condition.model_validate({**accepts, "revenue": {"gt": j}}),
                "prefers": Condition.model_validate({**prefers, "fields.seats": {"gte": 100 + j}}),
            }
        )
        for j, r in enumerate(reps)
    ]
    cases = [(name, Flow.single(name), reps) for name in ("optimised", "round_robin", "best_fit")] + [
        ("rr least_recent", Flow.single("round_robin", params={"mode": "least_recent"}), reps),
        ("whole_pool", parse_flow(WHOLE_POOL), everyone_away),
        ("filters, shared", Flow.single("optimised"), filtered),
        ("filters, each own", Flow.single("optimised"), distinct),
    ]
    for strategy, flow, team in cases:
        it = iter(range(repeats))

        def decide(it=it, flow=flow, team=team) -> None:  # defaults bind this iteration's values
            i = next(it)
            route_lead(
                lead=leads[i],
                reps=team,
                loads=loads,
                flow=flow,
                scores=scores[i],
                state=state,
                clock=clock,
                prices=prices,
            )

        times = _timed(decide, repeats)
        median_ms = statistics.median(times) * 1000
        p95_ms = float(np.quantile(times, 0.95)) * 1000
        status = "OK" if median_ms <= ONLINE_TARGET_MS else "MISSED"
        print(
            f"online {strategy:<17} {n_reps} reps: median {median_ms:.3f} ms, p95 {p95_ms:.3f} ms "
            f"(target ≤ {ONLINE_TARGET_MS} ms: {status}); floor argmax {floor * 1000:.1f} µs, ratio {median_ms / floor:.0f}×"
        )


def batch(n_leads: int = 10_000, n_reps: int = 200, bounds: FairnessBounds | None = None) -> None:
    rng = np.random.default_rng(1)
    # Rep quality shared by every lead plus lead-specific fit: the hard case, where everyone wants the stars.
    values = np.clip(
        rng.uniform(0.1, 0.6, n_reps)[None, :] + 0.1 * rng.normal(size=(n_leads, n_reps)), 0.01, 0.99
    )
    capacity = rng.integers(30, 80, n_reps).astype(float)
    start = time.perf_counter()
    result = assign_batch(values, capacity, bounds=bounds)
    seconds = time.perf_counter() - start
    floor_start = time.perf_counter()
    greedy = values.argmax(axis=1)
    floor = time.perf_counter() - floor_start
    over = int((result.counts(n_reps) > capacity).sum())
    status = "OK" if seconds <= BATCH_TARGET_S and result.gap <= BATCH_TARGET_GAP and over == 0 else "MISSED"
    counts = result.counts(n_reps)
    label = (
        "" if bounds is None else f" with lead shares {bounds.min_lead_ratio}-{bounds.max_lead_ratio}× equal"
    )
    print(
        f"batch {n_leads:,} leads × {n_reps} reps{label}: {seconds:.2f} s, objective {result.objective:,.2f}, "
        f"LP bound {result.lp_bound:,.2f}, gap {result.gap:.2e}, integral {result.integral}, "
        f"capacity violations {over}, leads per rep {counts.min()}-{counts.max()} (target ≤ {BATCH_TARGET_S:.0f} s and gap ≤ {BATCH_TARGET_GAP:.1%}: {status}); "
        f"floor argmax {floor * 1000:.1f} ms, unconstrained greedy would give {values.max(axis=1).sum():,.2f} "
        f"but {int((np.bincount(greedy, minlength=n_reps) > capacity).sum())} reps over capacity"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller batch (2,000 × 100) for a smoke run")
    args = parser.parse_args()
    online()
    size = (2_000, 100) if args.quick else (10_000, 200)
    batch(*size)
    batch(*size, bounds=FairnessBounds(min_lead_ratio=0.8, max_lead_ratio=1.2))


if __name__ == "__main__":
    main()
