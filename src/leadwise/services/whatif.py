"""What-if: routing policies compared on a synthetic world or on the service's own log, as background jobs.

- **Synthetic** (``leadwise.simulate``): ``worlds`` small worlds with known truth (seeds ``seed``,
  ``seed + 1``, ...), each stream replayed through every policy with the world's true probabilities
  blurred by log-odds noise as the "model"; a policy's figure is its expected wins as a share of the
  hindsight optimum, the mean over the worlds with a 95 % t-interval across them.
- **Log** (``leadwise.loop.ope``): the service's latest closed decisions that carry a propensity, each
  policy's win rate per lead estimated doubly robust (the served fit model as reward model and as
  ``best_fit``'s choice), with a percentile bootstrap interval.

Both are bounded (leads, reps, worlds, decisions, resamples) so that a job takes seconds. A job runs on
one background thread per process, one at a time; its state is a JSON file in ``Settings.whatif_dir``, so
every worker of ``leadwise serve --workers N`` on the host can answer a poll for it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats
from sqlalchemy import select

from leadwise.errors import InvalidInput, ModelNotReady
from leadwise.loop.ope import LoggedDecisions, evaluate_policy
from leadwise.services.models import LoadedModels, ModelHolder
from leadwise.services.offpolicy import POLICIES as LOG_POLICIES
from leadwise.services.offpolicy import target_policy
from leadwise.services.scoring import leads_columns
from leadwise.store.db import Database
from leadwise.store.models import AssignmentRow, LeadRow, OutcomeRow, RepRow, utcnow

log = logging.getLogger(__name__)

SYNTHETIC_POLICIES = ("round_robin", "load_balancing", "performance", "best_fit", "optimised", "batch")
Progress = Callable[[float, str], None]
JOB_ID_BYTES = 12
KEEP_SECONDS = 3600.0  # finished jobs older than this are deleted when a new one starts


@dataclass(frozen=True)
class SyntheticWhatIf:
    policies: tuple[str, ...]
    leads: int = 400
    reps: int = 10
    worlds: int = 3
    seed: int = 1
    noise: float = 0.5


@dataclass(frozen=True)
class LogWhatIf:
    policies: tuple[str, ...]
    decisions: int = 5000
    resamples: int = 300
    seed: int = 0


def check_policies(policies: tuple[str, ...], known: tuple[str, ...]) -> None:
    if not policies:
        raise InvalidInput("policies: name at least one policy")
    for name in policies:
        if name not in known:
            raise InvalidInput(f"policies: unknown policy {name!r} here; known: {', '.join(known)}")


def _interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95 % t-interval of ``values`` (the mean twice when there is only one)."""
    mean = float(np.mean(values))
    if len(values) < 2 or np.ptp(values) == 0:
        return mean, mean, mean
    half = float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values)))
    return mean, mean - half, mean + half


def compare_on_worlds(request: SyntheticWhatIf, progress: Progress) -> dict[str, Any]:
    """Each policy's expected wins / hindsight optimum over ``request.worlds`` synthetic worlds."""
    from leadwise.simulate.replay import compare_policies, noisy_probabilities
    from leadwise.simulate.replay_world import ModelScores, read_replay_world, replay_inputs
    from leadwise.simulate.world import generate_world
    from leadwise.simulate.world_config import WorldConfig
    from leadwise.simulate.world_files import write_world

    check_policies(request.policies, SYNTHETIC_POLICIES)
    ratios: dict[str, list[float]] = {p: [] for p in request.policies}
    gini: dict[str, list[float]] = {p: [] for p in request.policies}
    steps, done = request.worlds * len(request.policies), 0
    for w in range(request.worlds):
        seed = request.seed + w
        progress(done / steps, f"world {w + 1} of {request.worlds}: drawing {request.leads} leads, {request.reps} reps")
        world = generate_world(
            WorldConfig(seed=seed, n_history=100, n_stream=request.leads, n_reps=request.reps, n_accounts=60)
        )
        with tempfile.TemporaryDirectory(prefix="leadwise-whatif-") as scratch:
            write_world(world, Path(scratch))  # the replay reads a world as `leadwise synth` wrote it
            replay_world = read_replay_world(Path(scratch))
        truth = replay_world.truth
        scores = ModelScores(noisy_probabilities(truth.p_matrix, request.noise, seed), truth.deal_value, None, "noisy truth")
        inputs = replay_inputs(replay_world, scores)

        def step(policy: str, w: int = w) -> None:
            nonlocal done
            done += 1
            progress(done / steps, f"world {w + 1} of {request.worlds}: replayed {policy}")

        report = compare_policies(inputs, request.policies, fairness_curve=False, on_policy=step)
        for result in report.results:
            ratios[result.policy].append(result.wins_ratio)
            gini[result.policy].append(result.gini)
    rows = []
    for policy in request.policies:
        estimate, low, high = _interval(ratios[policy])
        # No assignment within the capacities beats the hindsight optimum: the ratio lives in [0, 1].
        low, high = max(low, 0.0), min(high, 1.0)
        rows.append(
            {"policy": policy, "estimate": estimate, "ci_low": low, "ci_high": high,
             "detail": {"gini_leads": float(np.mean(gini[policy])), "per_world": ratios[policy]}}
        )  # fmt: skip
    return {
        "source": "synthetic",
        "measure": "expected wins as a share of the hindsight optimum",
        "interval": f"95 % t-interval over {request.worlds} world(s)" if request.worlds > 1 else "one world: no interval",
        "n": request.worlds * request.leads,
        "observed": None,
        "policies": rows,
        "note": f"{request.worlds} world(s) of {request.leads} leads and {request.reps} reps, seeds "
        f"{request.seed}–{request.seed + request.worlds - 1}; the model is the true P(win) with log-odds noise "
        f"sd {request.noise:g}; capacity equals the stream",
    }


def read_log(db: Database, limit: int) -> tuple[list[str], list[dict[str, Any]], LoggedDecisions]:
    """The latest ``limit`` closed decisions with a propensity, in decision order, over every rep."""
    with db.read_session() as session:
        reps = [str(name) for name in session.scalars(select(RepRow.name).order_by(RepRow.id))]
        names = dict(session.execute(select(RepRow.id, RepRow.name)).tuples().all())
        rows = session.execute(
            select(AssignmentRow.rep_id, AssignmentRow.propensity, OutcomeRow.result, LeadRow.payload)
            .join(OutcomeRow, OutcomeRow.assignment_id == AssignmentRow.id)
            .join(LeadRow, LeadRow.id == AssignmentRow.lead_id)
            .where(AssignmentRow.propensity.is_not(None), AssignmentRow.rep_id.is_not(None))
            .order_by(AssignmentRow.id.desc())
            .limit(limit)
        ).all()[::-1]
    index = {name: k for k, name in enumerate(reps)}
    logged = LoggedDecisions(
        reps=tuple(reps),
        action=np.array([index[names[r.rep_id]] for r in rows], dtype=int),
        propensity=np.array([r.propensity for r in rows], dtype=float),
        reward=np.array([r.result == "won" for r in rows], dtype=int),
    )
    return reps, [dict(r.payload or {}) for r in rows], logged


def compare_on_log(
    *, db: Database, loaded: LoadedModels | None, request: LogWhatIf, progress: Progress
) -> dict[str, Any]:
    """Each policy's doubly robust win rate per lead on the service's own log."""
    check_policies(request.policies, LOG_POLICIES)
    if loaded is None or loaded.models.fit_model is None:
        raise ModelNotReady("the service serves no model with a rep-lead fit model: nothing to estimate with")
    progress(0.0, f"reading the latest {request.decisions} closed decisions")
    reps, payloads, logged = read_log(db, request.decisions)
    if not payloads:
        raise InvalidInput("the log has no closed decision with a propensity yet: route leads and record outcomes")
    progress(0.1, f"scoring {len(payloads)} leads against {len(reps)} reps")
    fit = np.asarray(loaded.models.predict(leads_columns(payloads), reps=reps).fit, dtype=float)
    n, k = fit.shape
    rows = []
    for i, policy in enumerate(request.policies):
        progress(0.2 + 0.8 * i / len(request.policies), f"bootstrapping {policy}")
        estimate = evaluate_policy(
            logged, target_policy(policy, n, k, {"champion": fit}), fit, n_resamples=request.resamples, seed=request.seed
        )
        rows.append(
            {**{key: estimate.headline.as_dict()[key] for key in ("estimate", "ci_low", "ci_high")}, "policy": policy,
             "detail": {m: e.estimate for m, e in estimate.estimates.items()}
             | {"matched": estimate.matched, "effective_sample_size": estimate.effective_sample_size}}
        )  # fmt: skip
    return {
        "source": "log",
        "measure": "win rate per lead (doubly robust)",
        "interval": f"95 % percentile bootstrap, {request.resamples} resamples",
        "n": n,
        "observed": float(logged.reward.mean()),
        "policies": rows,
        "note": f"the latest {n} closed decisions with a propensity; model {loaded.version} is the reward model",
    }


class WhatIfJobs:
    """Background what-if jobs: one at a time per process, their state in JSON files under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _path(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.json"

    def _write(self, job: Mapping[str, Any]) -> None:
        handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(job, out)
        os.replace(temporary, self._path(str(job["id"])))  # atomic: a poll never reads half a file

    def get(self, job_id: str) -> dict[str, Any] | None:
        if not job_id.replace("-", "").replace("_", "").isalnum():
            return None  # ids are token_urlsafe: anything else is not a file name to try
        try:
            return dict(json.loads(self._path(job_id).read_text(encoding="utf-8")))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _prune(self) -> None:
        cutoff = time.time() - KEEP_SECONDS
        for path in self.directory.glob("*.json"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except FileNotFoundError:
                pass

    def submit(self, kind: str, params: Mapping[str, Any], work: Callable[[Progress], dict[str, Any]]) -> dict[str, Any]:
        """Queue ``work`` and return its job (``queued``); the thread updates its progress as it goes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._prune()
        job: dict[str, Any] = {
            "id": secrets.token_urlsafe(JOB_ID_BYTES), "kind": kind, "params": dict(params), "status": "queued",
            "progress": 0.0, "message": "waiting for the job before it", "created_at": utcnow().isoformat(),
            "finished_at": None, "result": None, "error": None,
        }  # fmt: skip
        self._write(job)
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whatif")
            self._executor.submit(self._run, dict(job), work)
        return job

    def _run(self, job: dict[str, Any], work: Callable[[Progress], dict[str, Any]]) -> None:
        def progress(share: float, message: str) -> None:
            job.update(status="running", progress=round(min(max(share, 0.0), 1.0), 3), message=message)
            self._write(job)

        progress(0.0, "starting")
        try:
            result = work(progress)
        except (InvalidInput, ModelNotReady) as exc:
            job.update(status="failed", error=str(exc), message="failed")
        except Exception as exc:  # the thread must record every failure, never die silently
            log.exception("what-if job %s failed", job["id"])
            job.update(status="failed", error=f"internal error ({type(exc).__name__}): see the service log", message="failed")
        else:
            job.update(status="done", progress=1.0, message="done", result=result)
        job["finished_at"] = utcnow().isoformat()
        self._write(job)

    def shutdown(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None


def params_of(request: SyntheticWhatIf | LogWhatIf) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(request).items()}


def submit(
    *,
    jobs: WhatIfJobs,
    db: Database,
    models: ModelHolder,
    source: str,
    policies: tuple[str, ...],
    leads: int = 400,
    reps: int = 10,
    worlds: int = 3,
    seed: int = 1,
    decisions: int = 5000,
    resamples: int = 300,
) -> dict[str, Any]:
    """Check the request (``InvalidInput`` naming the field), then queue it; the job as it starts."""
    if source == "synthetic":
        check_policies(policies, SYNTHETIC_POLICIES)
        world = SyntheticWhatIf(policies=policies, leads=leads, reps=reps, worlds=worlds, seed=seed)
        return jobs.submit(source, params_of(world), lambda progress: compare_on_worlds(world, progress))
    if source == "log":
        check_policies(policies, LOG_POLICIES)
        if models.current is None or models.current.models.fit_model is None:
            raise ModelNotReady("source log: the service serves no model with a rep-lead fit model to estimate with")
        on_log = LogWhatIf(policies=policies, decisions=decisions, resamples=resamples, seed=seed)
        loaded = models.current  # the version serving now, even if the alias moves while the job runs
        return jobs.submit(
            source, params_of(on_log), lambda progress: compare_on_log(db=db, loaded=loaded, request=on_log, progress=progress)
        )
    raise InvalidInput(f"source: expected synthetic or log, got {source!r}")


def default_directory() -> Path:
    return Path(tempfile.gettempdir()) / "leadwise-whatif"
