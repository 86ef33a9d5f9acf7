"""``leadwise simulate`` (replay a world's stream through routing policies) and ``leadwise flow-check``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich import box
from rich.table import Table

from leadwise.cli.app import app, console, fail
from leadwise.settings import Settings, get_settings

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

    from leadwise.routing.domain import Objective
    from leadwise.simulate.replay import ReplayInputs, ReplayReport

SIMULATION_EXPERIMENT = "leadwise-simulation"
SCORE_SOURCES = ("model", "champion", "noisy", "truth")
OBJECTIVES: dict[str, Objective] = {"wins": "wins", "revenue": "revenue"}  # --objective, as the typed value
TARGET_OPTIMISED_RATIO = 0.95


@app.command()
def simulate(
    world: Annotated[
        Path, typer.Option("--world", help="World directory written by `leadwise synth`.", metavar="<dir>")
    ],
    policies: Annotated[
        str,
        typer.Option(
            help="Comma-separated strategies to replay, plus 'batch' (the LP on model scores over the whole stream).",
            metavar="<list>",
        ),
    ] = "round_robin,load_balancing,performance,best_fit,optimised",
    capacity_factor: Annotated[
        float,
        typer.Option(
            help="Total capacity as a multiple of the stream (1.0: exactly the stream).", metavar="<x>"
        ),
    ] = 1.0,
    objective: Annotated[
        str, typer.Option(help="What model-based policies maximise: wins or revenue.", metavar="<name>")
    ] = "wins",
    scores: Annotated[
        str,
        typer.Option(
            help="Where model scores come from: model (train on the world's history), champion (registry), "
            "noisy (true probabilities + log-odds noise), truth.",
            metavar="<source>",
        ),
    ] = "model",
    noise: Annotated[float, typer.Option(help="Log-odds noise sd for --scores noisy.", metavar="<sd>")] = 0.3,
    max_share: Annotated[
        float | None,
        typer.Option(help="Online fairness: max lead share as a multiple of the equal share.", metavar="<x>"),
    ] = None,
    resolve_every: Annotated[
        int, typer.Option(help="Leads between re-solves of the capacity prices.", metavar="<n>")
    ] = 100,
    fairness_curve: Annotated[bool, typer.Option(help="Compute the price-of-fairness curve.")] = True,
    mlflow_log: Annotated[
        bool, typer.Option("--log/--no-log", help="Log the run and plots to MLflow.")
    ] = True,
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow tracking URI (default: settings).", metavar="<uri>")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for --scores noisy.", metavar="<int>")] = 0,
) -> None:
    """Replay a synthetic world's stream through routing policies and compare them with the hindsight optimum."""
    from leadwise.routing.fairness import FairnessBounds
    from leadwise.simulate.replay import POLICIES, compare_policies

    names = [p.strip() for p in policies.split(",") if p.strip()]
    unknown = [p for p in names if p not in POLICIES]
    if not names or unknown:
        first = unknown[0] if unknown else "(none)"
        fail(f"--policies: unknown policy {first!r}; known: {', '.join(sorted(POLICIES))}")
    if objective not in OBJECTIVES:
        fail(f"--objective: expected wins or revenue, got {objective!r}")
    if scores not in SCORE_SOURCES:
        fail(f"--scores: expected one of {', '.join(SCORE_SOURCES)}, got {scores!r}")
    if capacity_factor <= 0:
        fail("--capacity-factor must be positive")
    if max_share is not None and max_share < 1.0:
        fail("--max-share must be at least 1.0 (the equal share)")
    settings = get_settings()
    started = time.perf_counter()
    inputs = _inputs(world, scores, noise, seed, settings, tracking_uri)
    console.print(
        f"replaying {len(inputs.leads):,} leads over {len(inputs.reps)} reps through {len(names)} policies "
        f"(scores: {scores}, objective: {objective}, capacity × {capacity_factor})"
    )
    bounds = FairnessBounds(max_lead_ratio=max_share, weighted=False, window_days=3650) if max_share else None
    report = compare_policies(
        inputs,
        names,
        capacity_factor=capacity_factor,
        objective=OBJECTIVES[objective],
        fairness=bounds,
        fairness_curve=fairness_curve,
        resolve_every=resolve_every,
    )
    _print(report, scores)
    if any(r.capacity_violations for r in report.results):
        console.print("[red]capacity violated[/]: a policy gave a rep more leads than their capacity")
    if mlflow_log:
        _log_run(report, world, settings, tracking_uri, scores=scores, noise=noise, max_share=max_share)
    console.print(f"done in {time.perf_counter() - started:.1f}s")


@app.command("flow-check")
def flow_check(
    path: Annotated[Path, typer.Argument(help="Flow file (.toml, .yaml).", metavar="<file>")],
) -> None:
    """Validate a routing flow file and print its steps."""
    from leadwise.routing.domain import InvalidFlow
    from leadwise.routing.flows import load_flow

    try:
        flow = load_flow(path)
    except InvalidFlow as error:
        fail(str(error))
    table = Table(
        title=f"flow {flow.name!r} (objective {flow.objective}, on no match: {flow.on_no_match}, "
        f"time zone {flow.timezone})"
    )
    for column in ("#", "step", "when", "action", "pool", "strategy"):
        table.add_column(column)
    table.add_column("if unavailable")
    for i, step in enumerate(flow.steps, start=1):
        when = step.when.describe()
        mode = step.params.get("mode")
        strategy = f"{step.strategy} ({mode})" if step.strategy and mode else step.strategy or ""
        unavailable = step.when_unavailable if step.action == "assign" else ""
        table.add_row(str(i), step.name, when, step.action, step.pool or "", strategy, unavailable)
    console.print(table)
    if flow.exploration is not None:
        settings = ", ".join(f"{k} {v}" for k, v in flow.exploration.model_dump(exclude_none=True).items() if v != "")
        console.print(f"exploration: {settings} (assign steps; every decision records its propensity)")
    for line in flow.lifecycle.describe():
        console.print(f"lifecycle {line}", highlight=False)


# ------------------------------------------------------------------------------------------- inputs


def _inputs(
    world: Path, source: str, noise: float, seed: int, settings: Settings, tracking_uri: str | None
) -> ReplayInputs:
    from leadwise.simulate.replay import noisy_probabilities
    from leadwise.simulate.replay_world import ModelScores, model_scores, read_replay_world, replay_inputs

    if not world.is_dir():
        fail(f"--world: directory '{world}' does not exist")
    try:
        replay_world = read_replay_world(world)
    except (FileNotFoundError, ValueError, KeyError) as error:
        fail(str(error).splitlines()[0])
    truth = replay_world.truth
    if source in ("noisy", "truth"):
        p_model = truth.p_matrix if source == "truth" else noisy_probabilities(truth.p_matrix, noise, seed)
        scores = ModelScores(p_model, truth.deal_value, None, source)
    else:
        scores = model_scores(_models(world, source, settings, tracking_uri), replay_world)
    return replay_inputs(replay_world, scores)


def _models(world: Path, source: str, settings: Settings, tracking_uri: str | None) -> Any:
    if source == "champion":
        from leadwise.learn.registry import load_champion

        models = load_champion(settings, tracking_uri)
        if models is None:
            fail(
                f"--scores champion: no model has the alias '{settings.model_alias}'; run `leadwise train` first"
            )
        return models
    from leadwise.data.crm import load_crm_dir
    from leadwise.data.errors import DataValidationError
    from leadwise.data.training_data import from_crm
    from leadwise.learn.training import TrainConfig, train_models

    console.print(f"training models on the world's history ({world / 'sales_pipeline.csv'})")
    try:
        outcome = train_models(from_crm(load_crm_dir(world)), TrainConfig(baselines=False))
    except DataValidationError as error:
        fail(str(error))
    return outcome.models


# ------------------------------------------------------------------------------------------- output


def _print(report: ReplayReport, source: str) -> None:
    table = Table(
        title=f"Policies vs hindsight optimum ({report.n_leads:,} leads, {report.n_reps} reps, "
        f"capacity × {report.capacity_factor}, scores: {source})",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    # Short headers: the table must fit 80 columns (rich's width when stdout is not a terminal).
    for column in ("policy", "wins", "rev", "w/opt", "r/opt", "Gini", "share %", "viol.", "ms"):
        table.add_column(column, justify="left" if column == "policy" else "right", no_wrap=True)
    for r in report.results:
        target = r.policy == "optimised" and report.capacity_factor == 1.0
        ratio = getattr(r, f"{report.objective}_ratio")
        style = "green" if not target or ratio >= TARGET_OPTIMISED_RATIO else "red"
        wins = f"[{style}]{r.wins_ratio:.3f}[/]" if report.objective == "wins" else f"{r.wins_ratio:.3f}"
        rev = (
            f"[{style}]{r.revenue_ratio:.3f}[/]"
            if report.objective == "revenue"
            else f"{r.revenue_ratio:.3f}"
        )
        table.add_row(
            r.policy, f"{r.wins:,.0f}", f"{r.revenue / 1000:,.0f}k", wins, rev, f"{r.gini:.2f}",
            f"{100 * r.min_share:.1f}-{100 * r.max_share:.1f}", str(r.capacity_violations), f"{r.ms_per_lead:.2f}",
        )  # fmt: skip
    table.add_row("hindsight", f"{report.optimum_wins:,.0f}", f"{report.optimum_revenue / 1000:,.0f}k", "1.000",
                  "1.000", "", "", "0", "")  # fmt: skip
    console.print(table)
    console.print(
        "w/opt, r/opt: expected wins, revenue / hindsight optimum; share %: min-max share of leads; "
        "viol.: reps over capacity; ms: per lead"
    )
    for r in report.results:
        if r.unassigned:
            console.print(f"{r.policy}: {r.unassigned} lead(s) found no eligible rep")
    if report.fairness_curve:
        curve = ", ".join(f"≤{ratio:g}×: {value:.3f}" for ratio, value in report.fairness_curve)
        console.print(
            f"price of fairness (hindsight value by max lead share vs equal share; 1 = unbounded): {curve}"
        )


def _figures(report: ReplayReport) -> dict[str, plt.Figure]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = {}
    fig, ax = plt.subplots(figsize=(7, 4))
    names = [r.policy for r in report.results]
    ratios = [getattr(r, f"{report.objective}_ratio") for r in report.results]
    ax.barh(names, ratios, color="tab:blue")
    ax.axvline(1.0, color="black", lw=1)
    ax.axvline(
        TARGET_OPTIMISED_RATIO, color="tab:red", ls="--", lw=1, label=f"target {TARGET_OPTIMISED_RATIO}"
    )
    ax.set_xlabel(f"expected {report.objective} / hindsight optimum")
    ax.set_xlim(0, 1.05)
    ax.legend(loc="lower right")
    fig.tight_layout()
    figures["policy_ratios.png"] = fig

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in report.results:
        share = np.sort(np.asarray(r.counts, dtype=float) / max(sum(r.counts), 1))[::-1]
        ax.plot(np.arange(1, len(share) + 1), share, marker=".", label=r.policy)
    ax.set_xlabel("rep (sorted by share)")
    ax.set_ylabel("share of leads")
    ax.legend()
    fig.tight_layout()
    figures["lead_shares.png"] = fig

    if report.fairness_curve:
        fig, ax = plt.subplots(figsize=(6, 4))
        x, y = zip(*report.fairness_curve, strict=True)
        ax.plot(x, y, marker="o")
        ax.set_xlabel("max lead share (× equal share)")
        ax.set_ylabel("hindsight value / unbounded optimum")
        ax.set_title("Price of fairness")
        fig.tight_layout()
        figures["price_of_fairness.png"] = fig
    return figures


def _log_run(
    report: ReplayReport,
    world: Path,
    settings: Settings,
    tracking_uri: str | None,
    **params: Any,
) -> None:
    import matplotlib.pyplot as plt
    import mlflow

    from leadwise.learn.tracking import configure_tracking, ensure_experiment

    uri = configure_tracking(settings, tracking_uri)
    mlflow.set_experiment(experiment_id=ensure_experiment(settings, SIMULATION_EXPERIMENT))
    with mlflow.start_run(run_name=f"simulate-{world.name}") as run:
        mlflow.log_params(
            {"world": str(world), "objective": report.objective, "capacity_factor": report.capacity_factor,
             "n_leads": report.n_leads, "n_reps": report.n_reps, **{k: v for k, v in params.items() if v is not None}}
        )  # fmt: skip
        mlflow.log_metrics({"optimum_wins": report.optimum_wins, "optimum_revenue": report.optimum_revenue})
        for r in report.results:
            mlflow.log_metrics({f"{r.policy}.{k}": float(v) for k, v in r.row().items() if k != "policy"})
        for ratio, value in report.fairness_curve:
            mlflow.log_metric("price_of_fairness", value, step=int(round(ratio * 100)))
        mlflow.log_table(report.frame(), "policies.json")
        for name, figure in _figures(report).items():
            mlflow.log_figure(figure, name)
            plt.close(figure)
    console.print(f"logged MLflow run {run.info.run_id} in experiment '{SIMULATION_EXPERIMENT}' at {uri}")
