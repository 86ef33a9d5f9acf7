"""Routing quality of the live service: a synthetic world's stream replayed through a real ``leadwise serve``.

For each seed: generate the world (as ``leadwise synth``), train the champion on its history with
``leadwise train`` into a temporary MLflow store, then for each policy start a real ``leadwise serve``
(``--workers`` processes, a fresh SQLite database), create the world's reps through the API, publish a
one-step flow (every rep, that strategy) and POST the stream's leads one at a time in stream order. Each
decision is valued with the world's TRUE P(win), as a share of the hindsight optimum (the assignment LP on
the true probabilities under the same limits). Policies: ``round_robin``, ``best_fit``, ``optimised``
with a ``[demand]`` section (``expected_leads`` = the stream size; "n/a" while the flow schema has no
``[demand]``), ``optimised`` without it (its cold start: the history kept with the champion), and
``optimised [demand] on true scores``: the same service serving the world's truth as a model
(``simulate.truth_model``, registered under the alias ``truth`` with the champion's demand history and
loaded with ``LEADWISE_MODEL_ALIAS=truth``). Offline, on the same learned scores (the champion's P(win)
matrix for the stream): the exact LP, and the in-process replay of ``best_fit`` and ``optimised``
(``leadwise.simulate.replay``); and ``optimised`` replayed in-process on the TRUE P(win) (the online
optimiser without the model's error). ``viol.`` counts a rep given more than its limits, from the service's
answers; in a workload world on the stream's calendar, and (``svc``) on the instants the service stamped
on each offer and outcome, its own days and weeks (``simulate.live_replay.service_clock_violations``): a
lead posted late lands on a later day on the service's clock, so only ``svc`` says whether the service
broke a limit. ``Δp`` is the largest gap between the P(win) the service reported for its choice and the
offline score of the same (lead, rep) (the truth's for the true-scores run; the two must be the same).

The service runs on an accelerated clock (``LEADWISE_CLOCK_START``/``_SPEED``/``_ANCHOR``,
``simulate.live_replay.StreamClock``): the stream's days (90 by default) pass in ``--stream-seconds``
of wall time, every lead is posted at its own instant of the stream (a day's leads spread over the day),
and stream day 0 is a Monday. The service therefore sees the stream's own arrival rate, how long its
leads stay open and the stream's weeks, as it would in production; the replay takes the same wall time
whatever the policy. ``lag`` is how far the harness fell behind the schedule (stream hours).

Two kinds of world:
- the default (``--config`` unset or any world without ``[workload]``): each rep's capacity is its share
  of the stream (``stream_capacity``: total capacity = the stream), open leads are never freed;
- a workload world (``training/worlds/weekly_quotas.toml``): leads close some days after they were
  engaged and reps have an open-lead limit and a weekly quota (``max_per_week``). Before posting a lead
  engaged on day d the harness posts an outcome (won/lost drawn from the truth) for every assigned lead
  that closed by day d. The hindsight optimum is then the LP with one capacity row per (rep, day) and
  one quota row per (rep, week), solved as a MIP (``simulate.live_replay.timed_optimum``; its relaxation
  is far from integral there), and the exact optimiser on the same scores is the same MIP on the model's
  values; the offline online replays are not run (they have no closes or quotas).

The service's capacity prices are re-checked every ``--pricer-seconds`` (``LEADWISE_PRICER_SECONDS``;
default 0.5 s here): the replay is faster than production, and the pricer's own lead-count schedule
(``CapacityPricer.due``) is what paces it.

Usage: ``python benchmarks/bench_optimiser_live.py [--seeds 1,2,3] [--history 20000] [--stream 2000]
[--reps 40] [--config training/worlds/weekly_quotas.toml] [--policies "optimised [demand],optimised"] [--workers 2] [--json out.json]``.
CPU heavy at full size (training, and 4 servers per seed): a few minutes per seed on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from leadwise.learn.tracking import register_bundle
from leadwise.routing import assign_batch
from leadwise.services.keys import create_key
from leadwise.settings import get_settings
from leadwise.simulate.live_replay import (
    CloseSchedule,
    StreamClock,
    TimedLimits,
    assignment_from_answers,
    service_clock_violations,
    stream_days,
    timed_optimum,
    timed_violations,
)
from leadwise.simulate.replay import (
    ReplayInputs,
    evaluate_assignment,
    hindsight_optimum,
    replay_policy,
    stream_capacity,
)
from leadwise.simulate.replay_world import model_scores, read_replay_world, replay_inputs
from leadwise.simulate.truth_model import TruthModels
from leadwise.simulate.world import generate_world
from leadwise.simulate.world_config import WorldConfig
from leadwise.simulate.world_files import write_world
from leadwise.store.db import Database
from leadwise.store.migrate import upgrade

LEADWISE = str(Path(sys.executable).with_name("leadwise"))
CHAMPION, TRUTH = "champion", "truth"  # the registry aliases a server loads: the trained model, the world's truth
# (label, strategy, with [demand], model alias)
LIVE_POLICIES = (
    ("round_robin", "round_robin", False, CHAMPION),
    ("best_fit", "best_fit", False, CHAMPION),
    ("optimised [demand]", "optimised", True, CHAMPION),
    ("optimised", "optimised", False, CHAMPION),
    ("optimised [demand] on true scores", "optimised", True, TRUTH),
)
NO_DEMAND = "n/a (flow has no [demand] yet)"


@dataclass
class Row:
    policy: str
    where: str  # "live" or "offline"
    ratio: float | None  # expected true wins / hindsight optimum; None: not measured
    wins: float | None = None
    violations: int | None = None
    unassigned: int | None = None
    seconds: float | None = None
    max_p_gap: float | None = None
    note: str = ""
    lag_hours: float | None = None
    violations_service: int | None = None  # workload worlds: on the instants the service stamped


@dataclass
class SeedResult:
    seed: int
    world: str
    n_leads: int
    n_reps: int
    optimum_wins: float
    optimum_gap: float  # workload worlds: the MIP's gap to its bound (0: proven optimal)
    rows: list[Row] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """``leadwise serve`` on a fresh SQLite database in ``workdir``, with an admin and an integration key."""

    def __init__(
        self,
        workdir: Path,
        tracking_uri: str,
        workers: int,
        pricer_seconds: float,
        clock: StreamClock | None,
        alias: str = CHAMPION,
    ) -> None:
        workdir.mkdir(parents=True)
        self.workdir = workdir
        self.workers = workers
        self.url = f"http://127.0.0.1:{free_port()}"
        database_url = f"sqlite:///{workdir / 'service.db'}"
        db = Database.connect(database_url)
        upgrade(db.engine)
        self.admin = {"Authorization": f"Bearer {create_key(db=db, role='admin', name='bench')[1]}"}
        self.router = {"Authorization": f"Bearer {create_key(db=db, role='integration', name='bench')[1]}"}
        db.dispose()
        empty = workdir / "no-reps"  # serve imports the bundled reps into an empty database: give it none
        empty.mkdir()
        self.env = (
            dict(os.environ)
            | {
                "LEADWISE_DATABASE_URL": database_url,
                "LEADWISE_DATA_DIR": str(empty),
                "LEADWISE_TRACKING_URI": tracking_uri,
                "LEADWISE_SERVE_MODELS": "true",
                "LEADWISE_MODEL_POLL_SECONDS": "0",
                "LEADWISE_SLA_SWEEP_SECONDS": "0",  # an offer never lapses: the replay has no reps to accept
                "LEADWISE_PRICER_SECONDS": str(pricer_seconds),
                "LEADWISE_MODEL_ALIAS": alias,
            }
            | (clock.settings_env() if clock is not None else {})
        )
        self.log = workdir / "server.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> LiveServer:
        port = self.url.rsplit(":", 1)[1]
        self.process = subprocess.Popen(
            [LEADWISE, "serve", "--port", port, "--workers", str(self.workers)],
            env=self.env,
            cwd=self.workdir.parent,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 600  # a loaded box starts the ML stack slowly
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            started = self.log.read_text(errors="replace").count("Application startup complete")
            if started >= self.workers:
                ready = httpx.get(f"{self.url}/readyz", timeout=5).json()
                if ready.get("mode") != "model":
                    raise RuntimeError(f"the server does not serve the champion: {ready}")
                return self
            time.sleep(0.3)
        raise RuntimeError(f"server not ready: {self.log.read_text()[-2000:]}")

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def flow_text(strategy: str, expected_leads: int | None) -> str:
    text = (
        f'name = "default"\nobjective = "wins"\non_no_match = "manager_queue"\n\n[pools.everyone]\n\n'
        f'[[steps]]\nname = "{strategy}"\npool = "everyone"\nstrategy = "{strategy}"\n'
    )
    if expected_leads is not None:
        text += f"\n[demand]\nexpected_leads = {expected_leads}\n"
    return text


def lead_payloads(inputs_world: Any) -> list[dict[str, Any]]:
    frame = inputs_world.model_leads()
    payloads = []
    for record in frame.to_dict("records"):
        lead = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in record.items()}
        lead["engage_date"] = f"{lead['engage_date']}T00:00:00Z"
        if lead.get("year_established") is not None:
            lead["year_established"] = int(lead["year_established"])
        payloads.append({k: v for k, v in lead.items() if v is not None})
    return payloads


@dataclass
class LiveRun:
    rep_names: list[str | None]
    p_win: list[float | None]
    seconds: float
    note: str = ""
    lag_hours: float = 0.0  # how far behind the stream's schedule the harness posted, at most
    offered_at: list[datetime | None] = field(default_factory=list)  # as the service stamped each offer
    closed_at: list[datetime | None] = field(default_factory=list)  # and each outcome (None: still open)


def replay_live(
    server: LiveServer,
    *,
    strategy: str,
    demand: int | None,
    reps: list[dict[str, Any]],
    payloads: list[dict[str, Any]],
    p_true: np.ndarray,
    limits: TimedLimits | None,
    clock: StreamClock | None,
    engage_days: np.ndarray,
    seed: int,
) -> LiveRun:
    """Create the reps, publish the flow, then post every lead at its instant of the stream (a workload
    world's closes before the leads of their day), as described above."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        published = client.post(
            "/v1/flows",
            json={"name": "default", "format": "toml", "source": flow_text(strategy, demand)},
            headers=server.admin,
        )
        if published.status_code == 422 and demand is not None:
            return LiveRun([], [], 0.0, note=f"{NO_DEMAND}: {published.json().get('detail')!s:.160}")
        published.raise_for_status()
        rep_ids = []
        for rep in reps:
            created = client.post("/v1/reps", json=rep, headers=server.admin)
            created.raise_for_status()
            rep_ids.append(created.json()["id"])
        if clock is not None:  # the stream starts after the set-up, on the next stream Monday
            clock = clock.starting_after(time.time() + 1.0)
            instants = clock.instants(engage_days)
        rng = np.random.default_rng(seed)
        names: list[str | None] = []
        p_win: list[float | None] = []
        schedule = CloseSchedule(limits.close_day) if limits is not None else None
        assignment_ids: list[int] = []
        offered_at: list[datetime | None] = []
        closed_at: list[datetime | None] = []
        lag = 0.0
        started = time.perf_counter()
        for i, payload in enumerate(payloads):
            if clock is not None:
                wait = clock.wall_time(instants[i]) - time.time()
                if wait > 0:
                    time.sleep(wait)
                lag = max(lag, -wait * clock.speed / 3600)
            if limits is not None and schedule is not None:
                for lead in schedule.due(int(limits.engage_day[i])):
                    won = bool(rng.random() < p_true[lead, reps_index(reps, names[lead])])
                    closed = client.post(
                        f"/v1/assignments/{assignment_ids[lead]}/outcome",
                        json={"result": "won" if won else "lost"},
                        headers=server.admin,
                    )
                    closed.raise_for_status()
                    closed_at[lead] = datetime.fromisoformat(closed.json()["closed_at"])
            answer = client.post("/v1/route", json=payload, headers=server.router)
            answer.raise_for_status()
            body = answer.json()
            names.append(body["rep_name"])
            p_win.append(body["p_win"])
            assignment_ids.append(body["id"])
            offered_at.append(datetime.fromisoformat(body["created_at"]) if body["rep_name"] is not None else None)
            closed_at.append(None)
            if schedule is not None and body["rep_name"] is not None:
                schedule.add(i)
        return LiveRun(
            names, p_win, time.perf_counter() - started, lag_hours=lag, offered_at=offered_at, closed_at=closed_at
        )


def reps_index(reps: list[dict[str, Any]], name: str | None) -> int:
    return next(j for j, rep in enumerate(reps) if rep["name"] == name)


# --------------------------------------------------------------------------------------------- one seed


def register_truth(work: Path, tracking_uri: str, truth: TruthModels, history: Any) -> None:
    """The world's truth as a ``lead_score`` version under the alias ``truth``, with the champion's demand
    history (the same cold start), registered from ``work`` like the champion (artefact paths)."""
    import mlflow

    cwd = Path.cwd()
    os.chdir(work)
    try:
        mlflow.set_tracking_uri(tracking_uri)
        settings = get_settings().model_copy(update={"tracking_uri": tracking_uri})
        register_bundle(truth, settings=settings, alias=TRUTH, run_name="the world's truth", demand_history=history)
    finally:
        os.chdir(cwd)


def champion_in(work: Path, tracking_uri: str) -> Any:
    """The champion ``LeadwiseModels`` of the store trained from ``work`` (its artefact paths are relative
    to where it was trained)."""
    from leadwise.learn.registry import load_champion

    cwd = Path.cwd()
    os.chdir(work)
    try:
        models = load_champion(get_settings(), tracking_uri)
    finally:
        os.chdir(cwd)
    if models is None:
        raise RuntimeError(f"{work}: no champion after training")
    return models


def run_seed(seed: int, args: argparse.Namespace, root: Path) -> SeedResult:
    base = WorldConfig.from_file(args.config) if args.config else WorldConfig()
    config = WorldConfig.model_validate(
        base.model_dump()
        | {"seed": seed, "n_history": args.history, "n_stream": args.stream, "n_reps": args.reps}
    )
    work = root / f"seed{seed}"
    world_dir = work / "world"
    generated = generate_world(config)
    write_world(generated, world_dir)
    tracking_uri = f"sqlite:///{work / 'mlflow.db'}"
    print(f"seed {seed}: world written; training the champion ...", flush=True)
    started = time.perf_counter()
    subprocess.run(
        [LEADWISE, "train", "--data", str(world_dir), "--tracking-uri", tracking_uri],
        cwd=work, check=True, capture_output=True,
    )  # fmt: skip
    print(f"seed {seed}: trained in {time.perf_counter() - started:.0f}s", flush=True)

    models = champion_in(work, tracking_uri)
    if any(alias == TRUTH for label, _, _, alias in LIVE_POLICIES if not args.policies or label in args.policies):
        register_truth(
            work, tracking_uri, TruthModels(config, generated.params, reference=models.reference), models.demand_history
        )
    world = read_replay_world(world_dir)
    inputs = replay_inputs(world, model_scores(models, world))
    limits = TimedLimits.from_truth(world.truth)
    n, m = inputs.p_true.shape
    teams = {r.id: r for r in world.reps}

    if limits is None:
        capacity = stream_capacity(n, m, 1.0, [r.weight for r in inputs.reps])
        optimum, gap = hindsight_optimum(inputs, capacity, "wins"), 0.0
        rep_capacity, week_limit = capacity.tolist(), [None] * m
    else:
        timed = timed_optimum(inputs.true_values("wins"), limits)
        # The yardstick is the MIP's bound (no assignment does better): at full size HiGHS stops at its
        # time limit with an incumbent far below the optimum, and a ratio to it would exceed 1.
        optimum, gap = timed.bound, timed.gap
        capacity = np.full(m, n)  # violations are counted against the timed limits instead
        rep_capacity, week_limit = limits.max_open.tolist(), limits.weekly_quota.tolist()
    result = SeedResult(seed, args.config.stem if args.config else "default", n, m, optimum, gap)
    reps = [
        {"name": name, "capacity": int(c), "region": teams[name].region, "pools": ["default"],
         **({"max_per_week": int(w)} if w is not None else {})}
        for name, c, w in zip(world.truth.reps, rep_capacity, week_limit, strict=True)
    ]  # fmt: skip
    payloads = lead_payloads(world)
    days = stream_days(world.truth)
    first = datetime.fromisoformat(str(world.truth.stream["engage_date"].min())).replace(tzinfo=UTC)

    for label, strategy, with_demand, alias in LIVE_POLICIES:
        if args.policies and label not in args.policies:
            continue
        # The server's clock starts now; the stream on the first stream Monday after its set-up.
        clock = (
            StreamClock.for_stream(days, wall_seconds=args.stream_seconds, anchor=time.time(), first=first)
            if args.stream_seconds > 0
            else None
        )
        folder = "".join(c if c.isalnum() else "-" for c in label)
        try:
            with LiveServer(work / f"serve-{folder}", tracking_uri, args.workers, args.pricer_seconds, clock,
                            alias) as server:  # fmt: skip
                run = replay_live(
                    server, strategy=strategy, demand=n if with_demand else None, reps=reps,
                    payloads=payloads, p_true=inputs.p_true, limits=limits, clock=clock,
                    engage_days=days, seed=seed,
                )  # fmt: skip
        except (RuntimeError, httpx.HTTPError) as exc:  # one policy's server failing does not lose the seed
            run = LiveRun([], [], 0.0, note=f"failed: {type(exc).__name__}: {exc!s:.300}")
        if run.note:
            result.rows.append(Row(label, "live", None, note=run.note))
            print(f"seed {seed}: {label}: {run.note}", flush=True)
            continue
        chosen = assignment_from_answers(run.rep_names, world.truth.reps)
        scores = inputs.p_true if alias == TRUTH else inputs.p_model
        result.rows.append(
            _row(label, "live", chosen, inputs, capacity, optimum, limits, run.seconds, (run.p_win, scores))
        )
        result.rows[-1].lag_hours = run.lag_hours
        if limits is not None:
            result.rows[-1].violations_service = sum(
                service_clock_violations(chosen, run.offered_at, run.closed_at, limits.max_open, limits.weekly_quota)
            )
        print(f"seed {seed}: {label} live: {result.rows[-1].ratio:.3f} in {run.seconds:.0f}s, "
              f"at most {run.lag_hours:.1f} stream hours behind", flush=True)  # fmt: skip

    # Offline, on the same learned scores.
    started = time.perf_counter()
    if limits is None:
        chosen = assign_batch(inputs.model_values("wins"), capacity).assignment
        note = ""
    else:
        lp = timed_optimum(inputs.model_values("wins"), limits)
        chosen = lp.assignment()
        note = f"MIP on the model's values, gap {lp.gap:.2%}"
    result.rows.append(
        _row("exact LP, same scores" if limits is None else "exact MIP, same scores", "offline", chosen, inputs, capacity, optimum, limits,
             time.perf_counter() - started, note=note)
    )  # fmt: skip
    for policy in ("best_fit", "optimised"):
        if limits is not None:
            result.rows.append(Row(policy, "offline", None, note="n/a (no closes or quotas offline)"))
            continue
        chosen, seconds = replay_policy(policy, inputs, capacity, objective="wins")
        result.rows.append(_row(policy, "offline", chosen, inputs, capacity, optimum, limits, seconds))
    if limits is None:
        # The online optimiser itself, without the model's error: the same replay on the true P(win).
        truth = replace(inputs, p_model=inputs.p_true, value_model=inputs.value_true)
        chosen, seconds = replay_policy("optimised", truth, capacity, objective="wins")
        result.rows.append(
            _row("optimised, true scores", "offline", chosen, inputs, capacity, optimum, limits, seconds)
        )
    return result


def _row(
    label: str,
    where: str,
    chosen: np.ndarray,
    inputs: ReplayInputs,
    capacity: np.ndarray,
    optimum: float,
    limits: TimedLimits | None,
    seconds: float,
    reported: tuple[list[float | None], np.ndarray] | None = None,
    note: str = "",
) -> Row:
    valued = evaluate_assignment(label, chosen, inputs, capacity, (optimum, 1.0), seconds)
    violations = valued.capacity_violations if limits is None else sum(timed_violations(chosen, limits))
    gap = None
    if reported is not None:  # the P(win) the service reported against the scores it should have served
        p_win, scores = reported
        gaps = [abs(p - scores[i, j]) for i, (p, j) in enumerate(zip(p_win, chosen, strict=True))
                if p is not None and j >= 0]  # fmt: skip
        gap = max(gaps, default=0.0)
    return Row(
        label, where, valued.wins_ratio, valued.wins, violations, valued.unassigned, seconds, gap, note
    )


# --------------------------------------------------------------------------------------------- output


def print_seed(result: SeedResult) -> None:
    print(
        f"\nworld {result.world}, seed {result.seed}: {result.n_leads:,} leads, {result.n_reps} reps; "
        f"hindsight optimum {result.optimum_wins:,.1f} expected wins"
        + (f" (MIP gap {result.optimum_gap:.2%})" if result.optimum_gap else "")
    )
    print(
        f"{'policy':<32}{'where':<9}{'wins/opt':>9}{'wins':>9}{'viol.':>7}{'svc':>5}{'queued':>8}{'s':>6}{'Δp':>9}{'lag h':>7}"
    )
    for row in result.rows:
        if row.ratio is None:
            print(f"{row.policy:<32}{row.where:<9}{row.note}")
            continue
        gap = "" if row.max_p_gap is None else f"{row.max_p_gap:.1e}"
        lag = "" if row.lag_hours is None else f"{row.lag_hours:.1f}"
        service = "" if row.violations_service is None else str(row.violations_service)
        print(
            f"{row.policy:<32}{row.where:<9}{row.ratio:>9.3f}{row.wins:>9.1f}{row.violations:>7}{service:>5}"
            f"{row.unassigned:>8}{row.seconds:>6.0f}{gap:>9}{lag:>7}" + (f"  {row.note}" if row.note else "")
        )


def print_summary(results: list[SeedResult]) -> None:
    print(
        f"\nsummary over {len(results)} seed(s) ({', '.join(str(r.seed) for r in results)}): wins / hindsight optimum"
    )
    print(f"{'policy':<32}{'where':<9}{'mean':>7}{'range':>15}{'viol.':>7}")
    for k, row in enumerate(results[0].rows):
        ratios = [r.rows[k].ratio for r in results if r.rows[k].ratio is not None]
        if not ratios:
            print(f"{row.policy:<32}{row.where:<9}{row.note.split(':')[0]}")
            continue
        violations = sum(r.rows[k].violations or 0 for r in results)
        print(f"{row.policy:<32}{row.where:<9}{statistics.mean(ratios):>7.3f}"
              f"{f'{min(ratios):.3f}-{max(ratios):.3f}':>15}{violations:>7}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1", help="comma-separated world seeds")
    parser.add_argument("--history", type=int, default=20_000)
    parser.add_argument("--stream", type=int, default=2_000)
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--config", type=Path, help="a world config (default: the built-in default world)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of each server")
    parser.add_argument("--pricer-seconds", type=float, default=0.5, help="LEADWISE_PRICER_SECONDS")
    parser.add_argument(
        "--stream-seconds", type=float, default=150.0, help="wall seconds the stream's days take"
    )
    parser.add_argument(
        "--policies",
        type=lambda text: [p.strip() for p in text.split(",") if p.strip()],
        help=f"live policies to run, comma-separated (default: all of {', '.join(p[0] for p in LIVE_POLICIES)})",
    )
    parser.add_argument("--json", type=Path, help="write the figures here too")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (worlds, logs)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    root = Path(tempfile.mkdtemp(prefix="leadwise-live-"))
    print("load average (1, 5, 15 min) at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"leadwise serve, {args.workers} workers, SQLite, pricer every {args.pricer_seconds:g}s; "
          f"{os.cpu_count()} CPUs; work in {root}")  # fmt: skip
    results = []
    try:
        for seed in seeds:
            results.append(run_seed(seed, args, root))
            print_seed(results[-1])
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print_summary(results)
    print(
        "wins/opt: expected wins under the TRUE P(win) / the hindsight LP optimum on the true P(win) under "
        "the same limits; viol.: reps over their limits (workload worlds: rep-days over the open-lead limit plus "
        "rep-weeks over the quota, on the stream's calendar); svc: the same on the instants the service stamped "
        "(offers and outcomes, its own days and weeks); queued: leads sent to a queue; s: seconds for the "
        "stream; Δp: largest |P(win) the service reported - offline score| for its choices; lag h: how far behind "
        "the stream's schedule the harness posted, in stream hours"
    )
    print("load average (1, 5, 15 min) at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
