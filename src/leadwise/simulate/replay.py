"""Replay a synthetic world's stream of leads through routing policies and score them against the truth.

Every policy routes the same stream, one lead at a time, through ``leadwise.routing`` with the same
capacities (the most leads each rep may take over the stream) and the same model scores; the world's
true win probabilities then say what each policy is worth. The yardstick is the **hindsight optimum**:
the assignment LP solved with the true probabilities over the whole stream under the same capacities.
Pure: no files, no MLflow (the ``simulate`` command is the edge).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

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
    route_lead,
)
from leadwise.routing.domain import Objective
from leadwise.routing.fairness import fairness_report
from leadwise.routing.strategies import STRATEGIES

DEFAULT_POLICIES = ("round_robin", "load_balancing", "performance", "best_fit", "optimised")
# Not an online strategy: the batch LP on the *model's* values over the whole stream at once. It shows
# how much of the gap to hindsight is the model's error rather than the online policy's.
BATCH_POLICY = "batch"
POLICIES = (*STRATEGIES, BATCH_POLICY)


@dataclass(frozen=True)
class ReplayInputs:
    """One stream, aligned: ``p_true``/``p_model`` are (n_leads, n_reps) over ``reps`` in order."""

    leads: list[Lead]
    reps: list[Rep]  # capacity is set by ``with_capacity``
    p_true: np.ndarray
    value_true: np.ndarray  # (n_leads,) mean deal value if won
    p_model: np.ndarray
    value_model: np.ndarray
    lead_score: np.ndarray | None = None
    model_version: str = "model"
    lead_score_percentile: np.ndarray | None = None  # the model's placing of each lead score, 0-100

    def __post_init__(self) -> None:
        n, m = len(self.leads), len(self.reps)
        for name in ("p_true", "p_model"):
            if getattr(self, name).shape != (n, m):
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {(n, m)}")

    def true_values(self, objective: Objective) -> np.ndarray:
        return self.p_true * (self.value_true[:, None] if objective == "revenue" else 1.0)

    def model_values(self, objective: Objective) -> np.ndarray:
        return self.p_model * (self.value_model[:, None] if objective == "revenue" else 1.0)


def stream_capacity(
    n_leads: int, n_reps: int, factor: float = 1.0, weights: Sequence[float] | None = None
) -> np.ndarray:
    """Integral per-rep capacities summing to round(factor × n_leads), split by weight (largest remainders)."""
    total = int(round(factor * n_leads))
    w = np.ones(n_reps) if weights is None else np.asarray(weights, dtype=float)
    raw = total * w / w.sum()
    cap = np.floor(raw)
    short = int(total - cap.sum())
    if short > 0:
        cap[np.argsort(-(raw - cap), kind="stable")[:short]] += 1
    return cap.astype(int)


def with_capacity(reps: Sequence[Rep], capacity: np.ndarray) -> list[Rep]:
    return [
        r.model_copy(update={"capacity": Capacity(max_open=int(c))})
        for r, c in zip(reps, capacity, strict=True)
    ]


@dataclass
class PolicyResult:
    policy: str
    wins: float
    revenue: float
    wins_ratio: float
    revenue_ratio: float
    gini: float
    min_share: float
    max_share: float
    capacity_violations: int
    unassigned: int
    ms_per_lead: float
    counts: list[int] = field(default_factory=list)

    def row(self) -> dict[str, float | int | str]:
        out = asdict(self)
        out.pop("counts")
        return out


@dataclass
class ReplayReport:
    objective: Objective
    n_leads: int
    n_reps: int
    capacity_factor: float
    optimum_wins: float
    optimum_revenue: float
    results: list[PolicyResult]
    fairness_curve: list[tuple[float, float]] = field(
        default_factory=list
    )  # (max share ratio, optimum ratio)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([r.row() for r in self.results])


def hindsight_optimum(inputs: ReplayInputs, capacity: np.ndarray, objective: Objective) -> float:
    """The best any policy could do knowing the true probabilities of the whole stream in advance."""
    return assign_batch(inputs.true_values(objective), capacity).objective


def replay_policy(
    policy: str,
    inputs: ReplayInputs,
    capacity: np.ndarray,
    *,
    objective: Objective = "wins",
    fairness: FairnessBounds | None = None,
    resolve_every: int = 100,
    window: int = 500,
    seed: int = 0,
) -> tuple[np.ndarray, float]:
    """Route the stream with one strategy; return each lead's rep index (-1: unassigned) and seconds spent."""
    if policy not in STRATEGIES:
        raise ValueError(f"unknown policy {policy!r}; known: {', '.join(sorted(STRATEGIES))}")
    reps = with_capacity(inputs.reps, capacity)
    ids = tuple(r.id for r in reps)
    index = {rid: j for j, rid in enumerate(ids)}
    flow = Flow.single(policy, objective=objective, fairness=fairness)
    loads = {rid: RepLoad() for rid in ids}
    state = InMemoryState()
    clock = ManualClock(_start(inputs.leads))
    model_values = inputs.model_values(objective)
    pricer = (
        CapacityPricer(ids, resolve_every=resolve_every, window=window) if policy == "optimised" else None
    )
    n = len(inputs.leads)
    chosen = np.full(n, -1)
    started = time.perf_counter()
    for i, lead in enumerate(inputs.leads):
        if lead.engage_date is not None:
            clock.set(max(clock.now(), _aware(lead.engage_date)))
        if pricer is not None and i > 0 and pricer.due(i):
            remaining = np.array(
                [capacity[j] - loads[rid].open_leads for j, rid in enumerate(ids)], dtype=float
            )
            pricer.resolve(model_values[max(0, i - window) : i], remaining, n - i, decisions=i)
        scores = Scores(
            model_version=inputs.model_version,
            lead_score=None if inputs.lead_score is None else float(inputs.lead_score[i]),
            rep_ids=ids,
            p_win=inputs.p_model[i],
            deal_value=float(inputs.value_model[i]),
            lead_score_percentile=(
                None if inputs.lead_score_percentile is None else float(inputs.lead_score_percentile[i])
            ),
        )
        decision = route_lead(
            lead=lead,
            reps=reps,
            loads=loads,
            flow=flow,
            scores=scores,
            state=state,
            clock=clock,
            prices=None if pricer is None else pricer.prices,
        )
        if decision.rep_id is not None:
            j = index[decision.rep_id]
            chosen[i] = j
            loads[decision.rep_id].record(clock.now(), float(model_values[i, j]))
    return chosen, time.perf_counter() - started


def evaluate_assignment(
    policy: str,
    chosen: np.ndarray,
    inputs: ReplayInputs,
    capacity: np.ndarray,
    optimum: tuple[float, float],
    seconds: float,
) -> PolicyResult:
    n, m = inputs.p_true.shape
    rows = np.flatnonzero(chosen >= 0)
    p = inputs.p_true[rows, chosen[rows]]
    wins = float(p.sum())
    revenue = float((p * inputs.value_true[rows]).sum())
    counts = np.bincount(chosen[rows], minlength=m)
    value_by_rep = np.bincount(chosen[rows], weights=p * inputs.value_true[rows], minlength=m)
    report = fairness_report(counts, value_by_rep)
    return PolicyResult(
        policy=policy,
        wins=wins,
        revenue=revenue,
        wins_ratio=wins / optimum[0] if optimum[0] > 0 else 0.0,
        revenue_ratio=revenue / optimum[1] if optimum[1] > 0 else 0.0,
        gini=report.gini_leads,
        min_share=report.min_share,
        max_share=report.max_share,
        capacity_violations=int((counts > capacity).sum()),
        unassigned=int((chosen < 0).sum()),
        ms_per_lead=1000 * seconds / max(n, 1),
        counts=counts.tolist(),
    )


def price_of_fairness(
    inputs: ReplayInputs, objective: Objective, ratios: Sequence[float] = (1.0, 1.1, 1.25, 1.5, 2.0, 3.0)
) -> list[tuple[float, float]]:
    """Hindsight value under each max lead-share bound, relative to no bound (capacity unconstrained)."""
    values = inputs.true_values(objective)
    n, m = values.shape
    free = np.full(m, n)
    unbounded = assign_batch(values, free).objective
    curve = []
    for ratio in ratios:
        bounded = assign_batch(
            values, free, bounds=FairnessBounds(max_lead_ratio=ratio, weighted=False)
        ).objective
        curve.append((float(ratio), bounded / unbounded if unbounded > 0 else 0.0))
    return curve


def compare_policies(
    inputs: ReplayInputs,
    policies: Sequence[str] = DEFAULT_POLICIES,
    *,
    capacity_factor: float = 1.0,
    objective: Objective = "wins",
    fairness: FairnessBounds | None = None,
    fairness_curve: bool = True,
    resolve_every: int = 100,
    on_policy: Callable[[str], None] | None = None,
) -> ReplayReport:
    """Replay every policy over the same stream and capacities; ``on_policy`` hears each policy's name
    once it is replayed (the console's what-if shows it as progress)."""
    n, m = inputs.p_true.shape
    capacity = stream_capacity(n, m, capacity_factor, [r.weight for r in inputs.reps])
    optimum = (hindsight_optimum(inputs, capacity, "wins"), hindsight_optimum(inputs, capacity, "revenue"))
    results = []
    for policy in policies:
        if policy == BATCH_POLICY:
            started = time.perf_counter()
            chosen = assign_batch(inputs.model_values(objective), capacity).assignment
            seconds = time.perf_counter() - started
        else:
            chosen, seconds = replay_policy(
                policy, inputs, capacity, objective=objective, fairness=fairness, resolve_every=resolve_every
            )
        results.append(evaluate_assignment(policy, chosen, inputs, capacity, optimum, seconds))
        if on_policy is not None:
            on_policy(policy)
    curve = price_of_fairness(inputs, objective) if fairness_curve else []
    return ReplayReport(objective, n, m, capacity_factor, optimum[0], optimum[1], results, curve)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _start(leads: Sequence[Lead]) -> datetime:
    dates = [_aware(lead.engage_date) for lead in leads if lead.engage_date is not None]
    return min(dates) if dates else datetime(2024, 1, 8, 12, tzinfo=UTC)


def noisy_probabilities(p: np.ndarray, noise: float, seed: int = 0) -> np.ndarray:
    """A stand-in "model": the true probabilities with Gaussian noise on the log-odds scale."""
    rng = np.random.default_rng(seed)
    clipped = np.clip(p, 1e-4, 1 - 1e-4)
    logit = np.log(clipped / (1 - clipped)) + rng.normal(0.0, noise, p.shape)
    return 1.0 / (1.0 + np.exp(-logit))
