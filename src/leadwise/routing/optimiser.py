"""The assignment LP: batch assignment of a backlog, and capacity prices λ for online routing.

Batch: maximise Σ v_ij x_ij subject to Σ_j x_ij ≤ 1 per lead (= 1 when capacity suffices), lead-count
bounds lo_j ≤ Σ_i x_ij ≤ min(cap_j, hi_j) per rep, 0 ≤ x ≤ 1. Those constraints are a bipartite
incidence matrix (totally unimodular), so with integral bounds a vertex optimum is integral and the LP
bound *is* the integer optimum; HiGHS returns a vertex and we verify. Value-share bounds (optional) add
dense rows and can make the optimum fractional; we then round and report the gap to the LP bound.
Group caps (optional: a flow pool's capacity windows) bound Σ_{i in g} Σ_j x_ij ≤ cap_g over disjoint
groups of leads; groups nest the lead rows (a laminar family), so the matrix stays totally unimodular.

Online: λ_j is the dual price of rep j's capacity in the same LP solved on the recent lead mix with
capacities scaled to the sample; scoring v_ij − λ_j saves scarce, high-value reps for leads where their
edge is largest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from leadwise.routing.fairness import FairnessBounds


class OptimisationFailed(RuntimeError):
    """HiGHS did not return an optimum (infeasible bounds, numerical trouble)."""


@dataclass(frozen=True)
class GroupCaps:
    """Disjoint groups of leads and the most leads each may place: ``group[i]`` is lead i's group
    (-1: none) and ``capacity[g]`` group g's room."""

    group: np.ndarray
    capacity: np.ndarray

    def rows(self, lead_of_column: np.ndarray, n_columns: int) -> sp.csr_array:
        """A row per group with a 1 in each column (x variable) of a lead of that group."""
        g = self.group[lead_of_column]
        keep = np.flatnonzero(g >= 0)
        return sp.csr_array((np.ones(keep.size), (g[keep], keep)), shape=(self.capacity.size, n_columns))

    def dual_of_lead(self, group_duals: np.ndarray) -> np.ndarray:
        """Each lead's group dual (0 for a lead in no group)."""
        return np.where(self.group >= 0, group_duals[np.maximum(self.group, 0)], 0.0)


@dataclass(frozen=True)
class BatchResult:
    assignment: np.ndarray  # (n_leads,) rep index, or -1 when unassigned
    objective: float  # Σ v over the integral assignment
    lp_bound: float  # optimum of the LP relaxation (an upper bound)
    prices: np.ndarray  # (n_reps,) dual price λ of each rep's capacity (≥ 0)
    integral: bool  # whether the LP optimum itself was integral

    @property
    def gap(self) -> float:
        """Relative distance of the integral objective from the LP bound (0 = provably optimal)."""
        return 0.0 if self.lp_bound <= 0 else max(0.0, (self.lp_bound - self.objective) / self.lp_bound)

    def counts(self, n_reps: int) -> np.ndarray:
        return np.bincount(self.assignment[self.assignment >= 0], minlength=n_reps)


def lead_count_bounds(
    n_leads: int, capacity: np.ndarray, bounds: FairnessBounds | None, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Integral lower/upper bounds on each rep's lead count from capacity and lead-share bounds."""
    cap = np.asarray(capacity, dtype=float)
    m = cap.size
    w = (
        np.ones(m)
        if weights is None or (bounds is not None and not bounds.weighted)
        else np.asarray(weights, float)
    )
    fair = w / w.sum() * min(n_leads, cap.sum())
    lo = np.zeros(m)
    hi = cap.copy()
    if bounds is not None and bounds.min_lead_ratio is not None:
        lo = np.minimum(np.floor(bounds.min_lead_ratio * fair + 1e-9), cap)
    if bounds is not None and bounds.max_lead_ratio is not None:
        hi = np.minimum(hi, np.ceil(bounds.max_lead_ratio * fair - 1e-9))
    return lo, np.floor(hi + 1e-9)


def _solve(
    values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    assign_all: bool,
    value_bounds: tuple[float | None, float | None, np.ndarray] | None = None,
    groups: GroupCaps | None = None,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Solve the LP; return x (n, m), optimum, and λ (dual of each rep's upper count bound, ≥ 0)."""
    n, m = values.shape
    nm = n * m
    cols = np.arange(nm)
    lead_rows = sp.csr_array((np.ones(nm), (np.repeat(np.arange(n), m), cols)), shape=(n, nm))
    rep_rows = sp.csr_array((np.ones(nm), (np.tile(np.arange(m), n), cols)), shape=(m, nm))
    ub_blocks = [rep_rows]
    ub_rhs = [hi]
    has_lo = bool(np.any(lo > 0))
    if has_lo:
        ub_blocks.append(-rep_rows)
        ub_rhs.append(-lo)
    if value_bounds is not None:
        vmin, vmax, fair = value_bounds
        flat = values.ravel()
        per_rep = sp.csr_array((flat, (np.tile(np.arange(m), n), cols)), shape=(m, nm))
        total = sp.csr_array(np.tile(flat, (m, 1)) * fair[:, None]) if nm * m <= 5_000_000 else None
        if total is None:
            raise ValueError("value-share bounds in the batch LP are limited to n_leads × n_reps² ≤ 5e6")
        if vmax is not None:  # Σ_i v_ij x_ij ≤ vmax · fair_j · Σ v x
            ub_blocks.append(per_rep - vmax * total)
            ub_rhs.append(np.zeros(m))
        if vmin is not None:  # Σ_i v_ij x_ij ≥ vmin · fair_j · Σ v x
            ub_blocks.append(vmin * total - per_rep)
            ub_rhs.append(np.zeros(m))
    if assign_all:
        a_eq, b_eq = lead_rows, np.ones(n)
    else:
        ub_blocks.append(lead_rows)
        ub_rhs.append(np.ones(n))
        a_eq = b_eq = None
    if groups is not None:
        ub_blocks.append(groups.rows(np.repeat(np.arange(n), m), nm))
        ub_rhs.append(groups.capacity)
    a_ub = sp.vstack(ub_blocks, format="csr")
    b_ub = np.concatenate(ub_rhs)
    res = linprog(-values.ravel(), A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=(0, 1), method="highs")
    if res.status != 0:
        raise OptimisationFailed(f"assignment LP not solved: {res.message}")
    # marginals are ∂(min objective)/∂b ≤ 0 for ≤ rows; the price of one more unit of capacity is −that.
    prices = np.maximum(-res.ineqlin.marginals[:m], 0.0)
    return res.x.reshape(n, m), float(-res.fun), prices


def _solve_sparse(
    values: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    *,
    assign_all: bool,
    first_k: int = 10,
    max_rounds: int = 50,
    seed_prices: np.ndarray | None = None,
    tolerance: float = 1e-6,
    groups: GroupCaps | None = None,
) -> tuple[np.ndarray, float, np.ndarray, float, np.ndarray]:
    """The same LP by column generation: start from each lead's best reps, add columns the duals price in.

    Stops when no column has a positive reduced cost, which proves the restricted optimum is the full
    LP optimum. Large problems first price capacity on a random sample of leads, so the first columns
    are already the reps each lead is likely to get (v − λ), and few rounds follow. A slack per lead (cost M when every lead must be assigned, 0 otherwise) and per lower
    bound keeps every restricted problem feasible; M exceeds any gain a chain of swaps could make.
    """
    n, m = values.shape
    k = min(m, first_k)
    spread = float(values.max() - values.min()) + 1.0
    big = (m + 1) * spread
    chosen = np.zeros((n, m), dtype=bool)
    if seed_prices is None and n > 2000 and k < m:
        sample = np.random.default_rng(0).choice(n, size=1000, replace=False)
        scale = 1000 / n
        seed_prices = _solve_sparse(
            values[sample], np.floor(lo * scale), hi * scale, assign_all=assign_all, first_k=first_k
        )[4]
    starts = [values] if seed_prices is None else [values - seed_prices[None, :]]
    for score in starts:
        top = np.argpartition(-score, k - 1, axis=1)[:, :k] if k < m else np.tile(np.arange(m), (n, 1))
        chosen[np.repeat(np.arange(n), top.shape[1]), top.ravel()] = True
    has_lo = bool(np.any(lo > 0))
    for _ in range(max_rounds):
        rows, cols = np.nonzero(chosen)
        p = rows.size
        var = np.arange(p)
        # Variables: x (p pairs), s (n lead slacks), t (m lower-bound slacks when bounds exist).
        n_var = p + n + (m if has_lo else 0)
        c = np.concatenate(
            [-values[rows, cols], np.full(n, big if assign_all else 0.0), np.full(m if has_lo else 0, big)]
        )
        a_eq = sp.csr_array(
            (np.ones(p + n), (np.concatenate([rows, np.arange(n)]), np.concatenate([var, p + np.arange(n)]))),
            shape=(n, n_var),
        )
        ub = [sp.csr_array((np.ones(p), (cols, var)), shape=(m, n_var))]
        rhs = [hi]
        if has_lo:
            ub.append(
                sp.csr_array(
                    (
                        np.concatenate([-np.ones(p), -np.ones(m)]),
                        (np.concatenate([cols, np.arange(m)]), np.concatenate([var, p + n + np.arange(m)])),
                    ),
                    shape=(m, n_var),
                )
            )
            rhs.append(-lo)
        if groups is not None:
            ub.append(groups.rows(rows, n_var))
            rhs.append(groups.capacity)
        res = linprog(
            c,
            A_ub=sp.vstack(ub, format="csr"),
            b_ub=np.concatenate(rhs),
            A_eq=a_eq,
            b_eq=np.ones(n),
            bounds=(0, None),
            method="highs-ipm",
        )
        if res.status != 0:
            raise OptimisationFailed(f"assignment LP not solved: {res.message}")
        u = res.eqlin.marginals
        mu = res.ineqlin.marginals
        m_hi = mu[:m]
        m_lo = mu[m : 2 * m] if has_lo else np.zeros(m)
        reduced = -values - u[:, None] - m_hi[None, :] + m_lo[None, :]
        if groups is not None:
            reduced -= groups.dual_of_lead(mu[(2 if has_lo else 1) * m :])[:, None]
        reduced[chosen] = 0.0
        improving = reduced < -1e-9
        # Raising each lead's dual by its worst violation makes the duals feasible for every column, so
        # restricted optimum + Σ violations bounds the full LP: stop once that certificate is tight.
        slack_bound = float(np.maximum(-reduced.min(axis=1), 0.0).sum())
        if not improving.any() or slack_bound <= tolerance * max(1.0, abs(float(res.fun))):
            break
        # Add, per lead, the few most improving columns (not all: keeps the master small).
        reduced[~improving] = 0.0
        add = (
            np.argpartition(reduced, min(k, m) - 1, axis=1)[:, :k] if k < m else np.tile(np.arange(m), (n, 1))
        )
        mask = np.zeros_like(chosen)
        mask[np.repeat(np.arange(n), add.shape[1]), add.ravel()] = True
        chosen |= mask & improving
    else:
        raise OptimisationFailed("column generation did not converge")
    x = np.zeros((n, m))
    x[rows, cols] = res.x[:p]
    if (
        assign_all
        and res.x[p : p + n].max(initial=0.0) > 1e-6
        or has_lo
        and res.x[p + n :].max(initial=0.0) > 1e-6
    ):
        raise OptimisationFailed("capacities and fairness bounds cannot all hold for these leads")
    objective = float(values[rows, cols] @ res.x[:p])
    # The effective price of a rep for column pricing: capacity price minus any lower-bound subsidy.
    effective = -m_hi + m_lo
    return x, objective, np.maximum(-m_hi, 0.0), objective + slack_bound, effective


def _round(x: np.ndarray, values: np.ndarray, hi: np.ndarray, groups: GroupCaps | None = None) -> np.ndarray:
    """Integral assignment from an LP solution: keep (near-)integral picks, greedily place the rest."""
    n, m = x.shape
    best = x.argmax(axis=1)
    top = x[np.arange(n), best]
    assignment = np.where(top > 1 - 1e-6, best, -1)
    used = np.bincount(assignment[assignment >= 0], minlength=m).astype(float)
    fractional = np.flatnonzero((assignment < 0) & (x.sum(axis=1) > 1e-6))
    group_room = None
    if groups is not None:
        group_room = groups.capacity.astype(float).copy()
        np.subtract.at(group_room, groups.group[(assignment >= 0) & (groups.group >= 0)], 1.0)
    # Largest LP mass first, each to its best-valued rep with room left.
    for i in fractional[np.argsort(-top[fractional])]:
        if group_room is not None and groups is not None and groups.group[i] >= 0:
            if group_room[groups.group[i]] < 1 - 1e-9:
                continue
            group_room[groups.group[i]] -= 1.0
        for j in np.argsort(-(x[i] + 1e-9 * values[i])):
            if used[j] + 1 <= hi[j] + 1e-9:
                assignment[i] = j
                used[j] += 1
                break
    return assignment


def assign_batch(
    values: np.ndarray,
    capacity: Sequence[float] | np.ndarray,
    *,
    bounds: FairnessBounds | None = None,
    weights: Sequence[float] | np.ndarray | None = None,
    assign_all: bool | None = None,
    groups: GroupCaps | None = None,
) -> BatchResult:
    """Assign N leads to M reps maximising Σ values (expected wins or revenue) under capacities and bounds.

    ``values[i, j]`` is the value of giving lead i to rep j (p_win, or p_win × deal value);
    ``capacity[j]`` how many more leads rep j may take; ``groups`` caps how many leads of each group are
    placed. ``assign_all`` (default: when capacity allows) forces every lead to a rep. Raises
    ``OptimisationFailed`` when the bounds cannot all hold.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError("values must be a (n_leads, n_reps) matrix")
    n, m = values.shape
    cap = np.floor(np.asarray(capacity, dtype=float) + 1e-9)
    if cap.shape != (m,):
        raise ValueError(f"capacity has {cap.size} entries for {m} reps")
    if np.any(np.isnan(values)):
        raise ValueError("values contain NaN")
    w = None if weights is None else np.asarray(weights, dtype=float)
    lo, hi = lead_count_bounds(n, cap, bounds, w)
    if groups is not None:
        groups = GroupCaps(np.asarray(groups.group, dtype=int), np.floor(np.asarray(groups.capacity, dtype=float) + 1e-9))
    if assign_all is None:
        assign_all = hi.sum() >= n and (groups is None or _groups_fit(groups))
    value_bounds = None
    if bounds is not None and (bounds.min_value_ratio is not None or bounds.max_value_ratio is not None):
        ww = np.ones(m) if w is None or not bounds.weighted else w
        value_bounds = (bounds.min_value_ratio, bounds.max_value_ratio, ww / ww.sum())
    if value_bounds is None:
        x, _, prices, bound, _ = _solve_sparse(values, lo, hi, assign_all=assign_all, groups=groups)
    else:
        x, bound, prices = _solve(values, lo, hi, assign_all=assign_all, value_bounds=value_bounds, groups=groups)
    integral = bool(np.all(np.minimum(x, 1 - x) < 1e-6))
    assignment = _round(x, values, hi, groups)
    got = values[np.arange(n)[assignment >= 0], assignment[assignment >= 0]].sum()
    return BatchResult(
        assignment=assignment, objective=float(got), lp_bound=bound, prices=prices, integral=integral
    )


def _groups_fit(groups: GroupCaps) -> bool:
    """Whether every group's leads fit its cap (then the caps cannot stop a lead from being placed)."""
    sizes = np.bincount(groups.group[groups.group >= 0], minlength=groups.capacity.size)
    return bool(np.all(sizes <= groups.capacity))


def _capacity_is_slack(values: np.ndarray, capacity: np.ndarray) -> bool:
    """Whether giving every lead its best rep already fits every capacity (values ≥ 0).

    Then that greedy assignment solves the LP, and λ = 0 is an optimal dual (with each lead's dual at
    its best value, every reduced cost is ≤ 0): no rep's capacity is scarce, and HiGHS need not be asked.
    With many reps of ample capacity this saves the whole solve (hundreds of ms on 500 × 40)."""
    clean = np.nan_to_num(values, nan=0.0)
    if clean.size == 0 or clean.min() < 0:
        return False
    counts = np.bincount(clean.argmax(axis=1), minlength=capacity.size)
    return bool(np.all(counts <= capacity + 1e-9))


class CapacityPricer:
    """Capacity prices λ for online routing, re-solved on a schedule from the recent lead mix.

    ``resolve(recent_values, remaining_capacity, expected_leads)`` solves the assignment LP on the
    recent leads with each rep's remaining capacity scaled to the sample (capacity × k / expected
    leads), and keeps the duals as prices. ``due(decisions)`` says when the schedule asks for a re-solve.
    """

    def __init__(
        self, rep_ids: Sequence[str], *, resolve_every: int = 100, window: int = 500, min_sample: int = 20
    ) -> None:
        self.rep_ids = list(rep_ids)
        self.resolve_every = resolve_every
        self.min_sample = min_sample
        self.window = window
        self.prices: dict[str, float] | None = None
        self.solved_at_decision: int | None = None

    def due(self, decisions: int) -> bool:
        """First after ``min_sample`` leads, then at doubling intervals up to every ``resolve_every``.

        The doubling warm-up gets usable prices early without re-solving on every lead.
        """
        if self.solved_at_decision is None:
            return decisions >= self.min_sample
        gap = min(self.resolve_every, max(self.min_sample, self.solved_at_decision))
        return decisions - self.solved_at_decision >= gap

    def resolve(
        self,
        recent_values: np.ndarray,
        remaining_capacity: Sequence[float] | np.ndarray,
        expected_leads: float,
        *,
        decisions: int = 0,
    ) -> dict[str, float]:
        recent = np.asarray(recent_values, dtype=float)[-self.window :]
        k = recent.shape[0]
        cap = np.asarray(remaining_capacity, dtype=float)
        if k == 0 or expected_leads <= 0:
            self.prices = dict.fromkeys(self.rep_ids, 0.0)
            self.solved_at_decision = decisions
            return self.prices
        # Capacity in the sample's units, as ``Scarcity.scaled_room`` scales it for the service: with fewer
        # leads to come than in the sample (the end of a stream), each seat counts for several sample leads.
        return self.resolve_scaled(recent, cap * (k / expected_leads), decisions=decisions)

    def resolve_scaled(
        self, recent_values: np.ndarray, scaled_capacity: np.ndarray, *, decisions: int = 0
    ) -> dict[str, float]:
        """As ``resolve``, with each rep's remaining capacity already scaled to the sample (e.g. by
        ``routing.demand.Scarcity.scaled_room``: each rep against the leads expected until it frees up).
        An unlimited rep has infinite capacity and never a price."""
        recent = np.asarray(recent_values, dtype=float)[-self.window :]
        k = recent.shape[0]
        scaled = np.minimum(np.asarray(scaled_capacity, dtype=float), float(max(k, 1)))
        if k == 0 or _capacity_is_slack(recent, scaled):
            self.prices = dict.fromkeys(self.rep_ids, 0.0)
        else:
            _, _, lam, _, _ = _solve_sparse(
                np.nan_to_num(recent, nan=0.0),
                np.zeros_like(scaled),
                scaled,
                assign_all=scaled.sum() >= k - 1e-9,
            )
            self.prices = dict(zip(self.rep_ids, lam.tolist(), strict=True))
        self.solved_at_decision = decisions
        return self.prices
