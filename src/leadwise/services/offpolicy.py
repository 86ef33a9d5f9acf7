"""``leadwise ope``: candidate routing policies evaluated on an export of the service's history.

Reads the directory ``leadwise export`` wrote (the four files and ``decisions.csv``), keeps the closed
decisions that carry a propensity, scores those leads with the registered models (the fit model's P(win)
is both ``best_fit``'s choice and the doubly robust estimate's reward model) and estimates each policy
with ``leadwise.loop.ope``. Every rep of ``sales_teams.csv`` counts as a candidate for every lead: a
policy is credited only where the service could have made its choice, so reps at capacity in the log
bias the estimate of a policy that would have picked them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from leadwise.data.cleaning import parse_numbers, read_csv_strict
from leadwise.data.crm import load_crm_dir
from leadwise.data.errors import DataValidationError
from leadwise.errors import InvalidInput, ModelNotReady
from leadwise.learn.models import LeadwiseModels
from leadwise.learn.registry import load_champion
from leadwise.loop.ope import (
    LoggedDecisions,
    PolicyEstimate,
    evaluate_policy,
    greedy_policy,
    round_robin_policy,
    uniform_policy,
)
from leadwise.services.export import DECISIONS_FILE
from leadwise.settings import Settings

POLICIES = ("best_fit", "round_robin", "random")  # and best_fit@ALIAS for another registered alias


@dataclass(frozen=True)
class OpeInputs:
    log: LoggedDecisions
    leads: pd.DataFrame  # the logged leads, in decision order, as the models read them
    dropped: int  # decisions without an outcome or a propensity


def read_log(data: Path) -> OpeInputs:
    """The closed decisions with a propensity, in decision order, aligned to the reps of the export."""
    path = data / DECISIONS_FILE
    decisions = read_csv_strict(path, ("lead_id", "rep", "propensity", "created_at", "outcome"))
    decisions["propensity"] = parse_numbers(decisions, "propensity", path)
    crm = load_crm_dir(data)
    reps = tuple(crm.teams["sales_agent"].astype(str))
    index = {rep: k for k, rep in enumerate(reps)}
    unknown = ~decisions["rep"].isin(index)
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0]) + 1
        raise DataValidationError("rep not in sales_teams.csv", file=path, column="rep", row=row)
    usable = decisions["outcome"].isin(["won", "lost"]) & decisions["propensity"].notna()
    log = decisions[usable].sort_values("created_at", kind="stable")
    deals = crm.deals.set_index(crm.deals["lead_id"].astype(str))
    missing = ~log["lead_id"].isin(deals.index)
    if missing.any():
        raise InvalidInput(f"{path}: lead_id {log['lead_id'][missing].iloc[0]!r} is not in sales_pipeline.csv")
    return OpeInputs(
        log=LoggedDecisions(
            reps=reps,
            action=log["rep"].map(index).to_numpy(dtype=int),
            propensity=log["propensity"].to_numpy(dtype=float),
            reward=(log["outcome"] == "won").to_numpy(dtype=int),
        ),
        leads=deals.loc[log["lead_id"]].reset_index(drop=True),
        dropped=int((~usable).sum()),
    )


def _models(settings: Settings, alias: str, tracking_uri: str | None) -> LeadwiseModels:
    models = load_champion(settings.model_copy(update={"model_alias": alias}), tracking_uri)
    if models is None or models.fit_model is None:
        raise ModelNotReady(f"no models with a rep-lead fit model are registered as {alias!r}")
    return models


def fit_matrix(models: LeadwiseModels, inputs: OpeInputs) -> np.ndarray:
    return models.predict(inputs.leads, reps=list(inputs.log.reps)).fit


def target_policy(name: str, n: int, k: int, values: dict[str, np.ndarray]) -> np.ndarray:
    """The (n × K) distribution of a named policy; ``values[alias]`` is that alias's P(win) matrix."""
    if name == "round_robin":
        return round_robin_policy(n, k)
    if name == "random":
        return uniform_policy(n, k)
    if name == "best_fit" or name.startswith("best_fit@"):
        return greedy_policy(values[name.partition("@")[2] or "champion"])
    check_policies([name])
    raise AssertionError(name)  # check_policies refused it


def check_policies(policies: Sequence[str]) -> None:
    """Refuse an unknown policy name before any work (and an empty list)."""
    if not policies:
        raise InvalidInput("--policies: name at least one policy")
    for name in policies:
        if name not in POLICIES and not (name.startswith("best_fit@") and name.partition("@")[2]):
            raise InvalidInput(f"--policies: unknown policy {name!r}; known: {', '.join(POLICIES)}, best_fit@ALIAS")


def evaluate_export(
    *,
    data: Path,
    policies: Sequence[str],
    settings: Settings,
    tracking_uri: str | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, PolicyEstimate], OpeInputs]:
    """Each policy's estimates on the export in ``data``; the reward model is ``settings.model_alias``."""
    check_policies(policies)
    inputs = read_log(data)
    if len(inputs.log.action) == 0:
        raise InvalidInput(f"{data / DECISIONS_FILE}: no closed decision with a propensity to evaluate on")
    aliases = {settings.model_alias} | {p.partition("@")[2] for p in policies if p.startswith("best_fit@")}
    values = {alias: fit_matrix(_models(settings, alias, tracking_uri), inputs) for alias in aliases}
    values["champion"] = values[settings.model_alias]
    n, k = len(inputs.log.action), len(inputs.log.reps)
    out = {
        name: evaluate_policy(
            inputs.log, target_policy(name, n, k, values), values["champion"], n_resamples=n_resamples, seed=seed
        )
        for name in policies
    }
    return out, inputs
