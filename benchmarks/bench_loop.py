"""The learning loop through a real ``leadwise serve``: route → outcomes → export → retrain → promote, by round.

For each seed: a synthetic world (as ``leadwise synth``) whose history has no deal of a third of its reps
(every third rep of ``sales_teams.csv``: new reps, in the team but with no record). Two arms, each with its
own MLflow store and service database, start from the same champion trained on that history:

- ``greedy``: a one-step ``best_fit`` flow;
- ``explore``: the same flow with ``[exploration]`` (``--rate``, ``--budget``, new reps first), uniform draws;
- ``thompson``: the same with ``method = "thompson"`` (Beta draws around the fit model's P(win)).

Each round routes ``--leads`` fresh stream leads one by one through ``POST /v1/route`` (one worker, reps
with room for every lead, so capacity never binds), posts each outcome at once, drawn from the world's
TRUE P(win) of the rep chosen, then ``leadwise export --base HISTORY`` → ``leadwise train --data EXPORT
--promote`` (``--ipw``: ``--weight-by-propensity`` in the exploring arms) → ``POST /v1/admin/model/reload``. The figure per
round is the served champion's **captured lift** on ``--eval-leads`` held-out stream leads (the share of
the best-vs-random gain in true P(win) its rep choice captures, every rep a candidate), overall and on the
leads whose best rep is a new one.

Off-policy evaluation, exploring arms: on each round's log (its leads, the rep the service chose, the
propensity it recorded, the outcome) the IPS, SNIPS and DR estimates of ``best_fit`` (the champion that
routed the round), ``round_robin`` and ``random``, against their true values Σ_k π[i, k] p_true[i, k]
averaged over the round's leads; coverage = share of (seed, round, policy) whose 95 % interval holds the
truth. ``leadwise ope`` itself is run on each exploring arm's last export.

Usage: ``python benchmarks/bench_loop.py [--seeds 1,2,3] [--rounds 5] [--leads 2000] [--history 5000]
[--reps 30] [--eval-leads 2000] [--rate 0.1] [--budget 0.2] [--ipw] [--arms greedy,explore,thompson]
[--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_optimiser_live import LEADWISE, LiveServer, champion_in, lead_payloads  # noqa: E402

from leadwise.loop.ope import (  # noqa: E402
    LoggedDecisions,
    evaluate_policy,
    greedy_policy,
    round_robin_policy,
    uniform_policy,
)
from leadwise.settings import get_settings  # noqa: E402
from leadwise.simulate.evaluation import captured_lift  # noqa: E402
from leadwise.simulate.replay_world import read_replay_world  # noqa: E402
from leadwise.simulate.world import generate_world  # noqa: E402
from leadwise.simulate.world_config import WorldConfig  # noqa: E402
from leadwise.simulate.world_files import write_world  # noqa: E402

FOUR_FILES = ("sales_pipeline.csv", "accounts.csv", "products.csv", "sales_teams.csv")


@dataclass
class OpeRow:
    seed: int
    round: int
    arm: str
    policy: str
    truth: float
    estimates: dict[str, dict[str, float]]


@dataclass
class ArmResult:
    seed: int
    arm: str
    lift: list[float] = field(default_factory=list)  # round 0 = the champion trained on the history
    lift_new: list[float] = field(default_factory=list)  # on the leads whose best rep is new
    new_rep_share: list[float] = field(default_factory=list)  # of each round's leads
    explored_share: list[float] = field(default_factory=list)
    true_win_rate: list[float] = field(default_factory=list)  # expected, of each round's choices
    seconds: float = 0.0
    ope: list[OpeRow] = field(default_factory=list)
    ope_cli: dict[str, Any] = field(default_factory=dict)


def flow_text(arm: str, rate: float, budget: float) -> str:
    text = (
        'name = "default"\nobjective = "wins"\n\n[pools.everyone]\n\n'
        '[[steps]]\nname = "best_fit"\npool = "everyone"\nstrategy = "best_fit"\n'
    )
    if arm != "greedy":
        method = "thompson" if arm == "thompson" else "uniform"
        text += f'\n[exploration]\nmethod = "{method}"\nrate = {rate}\nbudget = {budget}\nnew_rep_leads = 30\n'

    return text


def run(command: list[str], cwd: Path) -> str:
    """A ``leadwise`` command run in this process (the same code as the CLI: on a busy 2-core box a
    fresh interpreter costs 10-20 s of imports per command), from ``cwd`` (MLflow's relative artefacts)."""
    from typer.testing import CliRunner

    from leadwise.cli import app

    here = Path.cwd()
    os.chdir(cwd)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, command[1:])
    finally:
        os.chdir(here)
        get_settings.cache_clear()
    if result.exit_code != 0:
        raise RuntimeError(f"{' '.join(command[:2])} failed: {result.output[-1500:]} {result.exception!r}")
    return result.output


def champion_matrix(arm_dir: Path, tracking_uri: str, leads: pd.DataFrame, reps: list[str]) -> np.ndarray:
    return np.asarray(champion_in(arm_dir, tracking_uri).predict(leads, reps=reps).fit, dtype=float)


def make_history(world_dir: Path, out: Path, new_reps: set[str]) -> None:
    """The world's four files without any deal of ``new_reps`` (they stay in sales_teams.csv)."""
    out.mkdir(parents=True)
    for name in FOUR_FILES:
        shutil.copy(world_dir / name, out / name)
    pipeline = pd.read_csv(out / "sales_pipeline.csv", dtype=str, keep_default_na=False)
    pipeline[~pipeline["sales_agent"].isin(new_reps)].to_csv(out / "sales_pipeline.csv", index=False)


def run_arm(seed: int, arm: str, args: argparse.Namespace, work: Path, world: Any, history: Path,
            new_reps: set[str]) -> ArmResult:  # fmt: skip
    arm_dir = work / arm
    arm_dir.mkdir()
    tracking = f"sqlite:///{arm_dir / 'mlflow.db'}"
    result = ArmResult(seed, arm)
    truth = world.truth
    reps = list(truth.reps)
    is_new = np.array([r in new_reps for r in reps])
    # Round k's leads are engaged k days from now (the evaluation leads one day later): the replay posts in
    # minutes what the world spreads over months and the service dates each outcome now (the export moves
    # it to the engage day when earlier), and a lead is scored on the deals closed before its engage date.
    # Dated in the world's past, it would be blind to every outcome the service recorded.
    def day(k: int) -> str:
        return (datetime.now(UTC) + timedelta(days=k)).date().isoformat()

    payloads = lead_payloads(world)
    frame = world.model_leads()
    n_route = args.rounds * args.leads
    eval_rows = np.arange(n_route, n_route + args.eval_leads)
    p_eval = truth.p_matrix[eval_rows]
    best_is_new = is_new[p_eval.argmax(axis=1)]
    started = time.perf_counter()
    fast = ["--config", str(args.train_config.resolve())] if args.train_config else []
    run([LEADWISE, "train", "--data", str(history), "--tracking-uri", tracking, "--promote", *fast], arm_dir)

    def measure(k: int) -> np.ndarray:
        fit = champion_matrix(arm_dir, tracking, frame.iloc[eval_rows].assign(engage_date=day(k + 1)), reps)
        result.lift.append(captured_lift(p_eval, fit))
        result.lift_new.append(captured_lift(p_eval[best_is_new], fit[best_is_new]))
        return fit

    measure(0)
    rng = np.random.default_rng(seed * 1000 + 7)
    with LiveServer(arm_dir / "serve", tracking, 1, 0.5, None) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        client.post("/v1/flows", json={"name": "default", "format": "toml",
                                       "source": flow_text(arm, args.rate, args.budget)},
                    headers=server.admin).raise_for_status()  # fmt: skip
        for rep in reps:
            client.post("/v1/reps", json={"name": rep, "capacity": 100_000}, headers=server.admin).raise_for_status()
        for k in range(args.rounds):
            rows = np.arange(k * args.leads, (k + 1) * args.leads)
            engaged = day(k + 1)
            served = (
                champion_matrix(arm_dir, tracking, frame.iloc[rows].assign(engage_date=engaged), reps)
                if arm != "greedy" else None
            )  # fmt: skip
            action, propensity, reward, explored = [], [], [], 0
            for i in rows:
                lead = payloads[i] | {"engage_date": f"{engaged}T00:00:00Z"}
                body = client.post("/v1/route", json=lead, headers=server.router)
                body.raise_for_status()
                answer = body.json()
                j = reps.index(answer["rep_name"])
                won = bool(rng.random() < truth.p_matrix[i, j])
                client.post(f"/v1/assignments/{answer['id']}/outcome", json={"result": "won" if won else "lost"},
                            headers=server.admin).raise_for_status()  # fmt: skip
                action.append(j)
                propensity.append(answer["propensity"])
                reward.append(int(won))
                explored += bool(answer["explanation"]["explanation"].get("explored"))
            action_a = np.array(action)
            result.new_rep_share.append(float(is_new[action_a].mean()))
            result.explored_share.append(explored / len(rows))
            result.true_win_rate.append(float(truth.p_matrix[rows, action_a].mean()))
            if served is not None:
                log = LoggedDecisions(tuple(reps), action_a, np.array(propensity, dtype=float), np.array(reward))
                p_true = truth.p_matrix[rows]
                for name, target in (("best_fit", greedy_policy(served)),
                                     ("round_robin", round_robin_policy(len(rows), len(reps))),
                                     ("random", uniform_policy(len(rows), len(reps)))):  # fmt: skip
                    estimate = evaluate_policy(log, target, served, n_resamples=args.resamples, seed=seed)
                    result.ope.append(OpeRow(seed, k + 1, arm, name, float((target * p_true).sum(axis=1).mean()),
                                             {m: e.as_dict() for m, e in estimate.estimates.items()}))  # type: ignore[misc]
                    dr = result.ope[-1].estimates["dr"]
                    print(f"seed {seed} {arm} round {k + 1} OPE {name}: truth {result.ope[-1].truth:.3f}, DR "
                          f"{dr['estimate']:.3f} [{dr['ci_low']:.3f}, {dr['ci_high']:.3f}]", flush=True)
            export = arm_dir / f"export{k + 1}"
            db_url = f"sqlite:///{arm_dir / 'serve' / 'service.db'}"
            run([LEADWISE, "export", "--database-url", db_url, "--base", str(history), "--out", str(export)], arm_dir)
            train = [LEADWISE, "train", "--data", str(export), "--tracking-uri", tracking, "--promote", *fast]
            run(train + (["--weight-by-propensity"] if args.ipw and arm != "greedy" else []), arm_dir)
            client.post("/v1/admin/model/reload", headers=server.admin).raise_for_status()
            measure(k + 1)
            print(f"seed {seed} {arm} round {k + 1}: lift {result.lift[-1]:.3f} (new-rep leads "
                  f"{result.lift_new[-1]:.3f}); new reps got {result.new_rep_share[-1]:.1%}, explored "
                  f"{result.explored_share[-1]:.1%}; {time.perf_counter() - started:.0f}s", flush=True)  # fmt: skip
        if arm != "greedy":
            out = arm_dir / "ope.json"
            run([LEADWISE, "ope", "--data", str(arm_dir / f"export{args.rounds}"), "--tracking-uri", tracking,
                 "--out", str(out), "--resamples", str(args.resamples)], arm_dir)  # fmt: skip
            result.ope_cli = json.loads(out.read_text())
    result.seconds = time.perf_counter() - started
    return result


def coverage(rows: list[OpeRow], method: str) -> tuple[int, int, float]:
    hits = [r.estimates[method]["ci_low"] <= r.truth <= r.estimates[method]["ci_high"] for r in rows]
    widths = [r.estimates[method]["ci_high"] - r.estimates[method]["ci_low"] for r in rows]
    return sum(hits), len(hits), float(np.median(widths)) if widths else float("nan")


def print_results(results: list[ArmResult], args: argparse.Namespace) -> None:
    print(f"\ncaptured lift of the served champion by round (0 = trained on the history; {args.eval_leads} "
          "held-out leads; in brackets: leads whose best rep is new)")  # fmt: skip
    print("seed  arm      " + "  ".join(f"round {k:<11}" for k in range(args.rounds + 1)))
    for r in results:
        cells = "  ".join(f"{a:.3f} ({b:.3f})   " for a, b in zip(r.lift, r.lift_new, strict=True))
        print(f"{r.seed:<5} {r.arm:<8} {cells}")
    print("\nshare of each round's leads given to new reps / explored; true expected win rate of the choices")
    for r in results:
        share = " ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(r.new_rep_share, r.explored_share, strict=True))
        print(f"{r.seed:<5} {r.arm:<8} {share}   win rate {' '.join(f'{w:.3f}' for w in r.true_win_rate)}  ({r.seconds:.0f}s)")
    rows = [o for r in results for o in r.ope]
    if rows:
        print("\nOPE on each round's log of the exploring arms: 95 % interval holds the true value")
        for arm in sorted({o.arm for o in rows}):
            hit, n, width = coverage([o for o in rows if o.arm == arm], "dr")
            print(f"  {arm}: DR {hit}/{n} = {hit / n:.0%}, median width {width:.3f}")
        for method in ("ips", "snips", "dr"):
            hit, n, width = coverage(rows, method)
            by_policy = ", ".join(
                f"{p}: {coverage([o for o in rows if o.policy == p], method)[0]}/"
                f"{len([o for o in rows if o.policy == p])} (median width {coverage([o for o in rows if o.policy == p], method)[2]:.3f})"
                for p in ("best_fit", "round_robin", "random")
            )
            print(f"  {method:<6} {hit}/{n} = {hit / n:.0%}; {by_policy}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--leads", type=int, default=2000, help="fresh leads routed per round")
    parser.add_argument("--history", type=int, default=5000)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--eval-leads", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--budget", type=float, default=0.2)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--ipw", action="store_true", help="retrain the exploring arms --weight-by-propensity")
    parser.add_argument("--arms", default="greedy,explore,thompson")
    parser.add_argument("--train-config", type=Path, help="a `leadwise train --config` for every retraining")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="leadwise-loop-"))
    print("load average (1, 5, 15 min) at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"work in {root}", flush=True)
    results: list[ArmResult] = []
    try:
        for seed in (int(s) for s in args.seeds.split(",")):
            work = root / f"seed{seed}"
            config = WorldConfig().model_copy(update={
                "seed": seed, "n_history": args.history, "n_reps": args.reps,
                "n_stream": args.rounds * args.leads + args.eval_leads})  # fmt: skip
            config = WorldConfig.model_validate(config.model_dump())
            write_world(generate_world(config), work / "world")
            world = read_replay_world(work / "world")
            new_reps = set(world.truth.reps[2::3])
            make_history(work / "world", work / "history", new_reps)
            for arm in args.arms.split(","):
                results.append(run_arm(seed, arm, args, work, world, work / "history", new_reps))
                if args.json:  # after every arm: a long run's partial results survive
                    args.json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print_results(results, args)
    print("load average (1, 5, 15 min) at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
