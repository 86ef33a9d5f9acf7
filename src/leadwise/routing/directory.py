"""Build ``Rep`` objects from the CRM tables (``sales_teams.csv`` and, optionally, the pipeline history).

The bundled data only names each agent's manager and regional office; seniority, skills, win rate and
account ownership are read off the history so that every strategy and the default flow have something
real to work with.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadwise.routing.domain import Capacity, Lead, Rep, Seniority


@dataclass
class _History:
    """What the pipeline history says about one rep (defaults: no history)."""

    win_rate: float | None = None
    seniority: Seniority = Seniority.mid
    # "sectors", "products", "series" -> the rep's top values
    skills: dict[str, frozenset[str]] = field(default_factory=dict)
    accounts: set[str] = field(default_factory=set)


def reps_from_sales_teams(
    teams: pd.DataFrame,
    pipeline: pd.DataFrame | None = None,
    accounts: pd.DataFrame | None = None,
    products: pd.DataFrame | None = None,
    *,
    capacity: Capacity | None = None,
    skills_per_rep: int = 2,
    assign_account_owners: bool = False,
    territories: Mapping[str, frozenset[str]] | None = None,
) -> list[Rep]:
    """One rep per ``sales_agent`` row; with ``pipeline`` also win rate, seniority and skills.

    Seniority: thirds by number of closed deals. Skills: the ``skills_per_rep`` sectors, products and
    series with the most won deals. Account owner (optional): the rep with the most won value on the account.
    """
    missing = {"sales_agent", "manager", "regional_office"} - set(teams.columns)
    if missing:
        raise ValueError(f"sales teams table lacks column(s) {sorted(missing)}")
    # Keyed by the raw ``sales_agent`` values, as the pipeline's group keys are.
    stats: dict[Hashable, _History] = {agent: _History() for agent in teams["sales_agent"]}
    if pipeline is not None and len(pipeline):
        closed = pipeline[pipeline["deal_stage"].isin(["Won", "Lost"])].copy()
        closed["won"] = closed["deal_stage"].eq("Won")
        if accounts is not None and "sector" in accounts.columns:
            closed = closed.merge(accounts[["account", "sector"]], on="account", how="left")
        if products is not None and "series" in products.columns:
            closed = closed.merge(products[["product", "series"]], on="product", how="left")
        per_rep = closed.groupby("sales_agent")["won"].agg(["sum", "count"])
        deals = per_rep["count"]
        win_rates = (per_rep["sum"] / deals)[deals > 0].to_dict()
        counts = deals.reindex(list(stats)).fillna(0)
        cuts = np.quantile(counts, [1 / 3, 2 / 3]) if len(counts) else (0, 0)
        won = closed[closed["won"]]
        for agent in stats:
            if agent in win_rates:
                stats[agent].win_rate = float(win_rates[agent])
            n = counts.get(agent, 0)
            stats[agent].seniority = (
                Seniority.senior if n > cuts[1] else Seniority.junior if n <= cuts[0] else Seniority.mid
            )
            mine = won[won["sales_agent"] == agent]
            for column, key in (("sector", "sectors"), ("product", "products"), ("series", "series")):
                if column in mine.columns:
                    top = mine[column].dropna().value_counts().head(skills_per_rep).index
                    stats[agent].skills[key] = frozenset(map(str, top))
        if assign_account_owners and len(won):
            value = won.groupby(["account", "sales_agent"])["close_value"].sum().reset_index()
            owners = value.sort_values("close_value", ascending=False).drop_duplicates("account")
            for account, agent in zip(owners["account"], owners["sales_agent"], strict=True):
                if agent in stats:
                    stats[agent].accounts.add(str(account))
    reps = []
    for row in teams.itertuples(index=False):
        extra = stats[row.sales_agent]
        reps.append(
            Rep(
                id=str(row.sales_agent),
                name=str(row.sales_agent),
                team=str(row.manager),
                manager=str(row.manager),
                region=str(row.regional_office),
                territories=(territories or {}).get(str(row.regional_office), frozenset()),
                sectors=extra.skills.get("sectors", frozenset()),
                products=extra.skills.get("products", frozenset()),
                series=extra.skills.get("series", frozenset()),
                seniority=extra.seniority,
                capacity=capacity or Capacity(),
                accounts=frozenset(extra.accounts),
                win_rate=extra.win_rate,
            )
        )
    return reps


def leads_from_frame(frame: pd.DataFrame) -> list[Lead]:
    """``Lead`` objects from a leads frame (columns of the training data; extra columns ignored)."""
    fields = set(Lead.model_fields)
    out = []
    for record in frame.to_dict(orient="records"):
        clean: dict[str, Any] = {
            str(k): (None if (isinstance(v, float) and np.isnan(v)) else v)
            for k, v in record.items()
            if k in fields
        }
        if "lead_id" not in clean and "opportunity_id" in record:
            clean["lead_id"] = record["opportunity_id"]
        clean["lead_id"] = str(clean["lead_id"])
        if isinstance(clean.get("engage_date"), str):
            clean["engage_date"] = pd.Timestamp(clean["engage_date"]).to_pydatetime()
        out.append(Lead.model_validate(clean))
    return out
