"""Reports over the service's stored history, as pure computations on frames (the service layer queries
the store into these frames: ``leadwise.services.reports``).

Frames (one row each; times are timezone-aware UTC):

- ``leads``: ``lead_key, lead_id, created_at, source, series, existing_customer``
- ``assignments``: ``lead_key, rep, state, created_at, expires_at, responded_at`` (``rep`` None for a queue)
- ``outcomes``: ``lead_key, rep, result ('won'|'lost'), value``
- ``touches``: ``lead_key, timestamp, channel, touch_type, campaign, cost``
- ``returns``: ``lead_key, rep, reason``

Definitions, fixed so that the numbers can be checked by hand:

- **conversion rate** = won / closed leads (a lead is closed once an outcome is recorded; open leads are
  not counted as losses). By **channel** a lead counts for the channel of its *first* touch
  (``channel_basis = "first_touch"``; "(no touches)" without any). By **rep**: the leads the rep was
  given (any assignment) and the outcomes the rep recorded.
- **speed to lead**, per assignment to a rep: seconds from the lead's creation to the assignment, and to
  its acceptance (``responded_at`` of an assignment that was not rejected); median and 90th percentile
  (linear interpolation), by rep and by the UTC hour the lead was created.
- **SLA adherence** by rep: offers with a deadline that are no longer waiting; the share accepted by the
  deadline, and how many expired.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

NO_TOUCHES = "(no touches)"
NONE = "(none)"


def _rate(won: int, closed: int) -> float | None:
    return won / closed if closed else None


def _group(frame: pd.DataFrame, key: str) -> list[dict[str, Any]]:
    rows = []
    for value, part in frame.groupby(key, sort=True):
        closed, won = int(part["closed"].sum()), int(part["won"].sum())
        rows.append(
            {
                "key": str(value),
                "leads": len(part),
                "closed": closed,
                "won": won,
                "conversion_rate": _rate(won, closed),
                "won_value": float(part["won_value"].sum()),
            }
        )
    return rows


def _lead_results(leads: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    out = leads.set_index("lead_key")[[]].copy()
    won = outcomes[outcomes["result"] == "won"]
    out["closed"] = out.index.isin(outcomes["lead_key"])
    out["won"] = out.index.isin(won["lead_key"])
    out["won_value"] = won.groupby("lead_key")["value"].sum().reindex(out.index).fillna(0.0)
    return out


def first_touch_channels(touches: pd.DataFrame) -> pd.Series:
    """The channel of each lead's earliest touch (ties: the first stored), indexed by ``lead_key``."""
    if touches.empty:
        return pd.Series(dtype=object)
    ordered = touches.reset_index(drop=True).sort_values(["lead_key", "timestamp"], kind="stable")
    return ordered.groupby("lead_key")["channel"].first()


def conversion_report(
    *, leads: pd.DataFrame, assignments: pd.DataFrame, outcomes: pd.DataFrame, touches: pd.DataFrame
) -> dict[str, Any]:
    results = _lead_results(leads, outcomes)
    frame = leads.set_index("lead_key").join(results)
    channels = first_touch_channels(touches)
    frame["channel"] = channels.reindex(frame.index).fillna(NO_TOUCHES) if len(channels) else NO_TOUCHES
    frame["source"] = frame["source"].fillna(NONE)
    frame["series"] = frame["series"].fillna(NONE)
    frame["customer"] = np.where(
        frame["existing_customer"].fillna(False).astype(bool), "existing customer", "new"
    )
    frame["all"] = "all"
    total = _group(frame, "all")
    by_rep = []
    given = assignments.dropna(subset=["rep"])
    for rep in sorted(set(given["rep"]) | set(outcomes["rep"].dropna())):
        mine = outcomes[outcomes["rep"] == rep]
        won = mine[mine["result"] == "won"]
        closed_leads, won_leads = mine["lead_key"].nunique(), won["lead_key"].nunique()
        by_rep.append(
            {
                "key": str(rep),
                "leads": int(given.loc[given["rep"] == rep, "lead_key"].nunique()),
                "closed": int(closed_leads),
                "won": int(won_leads),
                "conversion_rate": _rate(int(won_leads), int(closed_leads)),
                "won_value": float(won["value"].fillna(0.0).sum()),
            }
        )
    empty = {"key": "all", "leads": 0, "closed": 0, "won": 0, "conversion_rate": None, "won_value": 0.0}
    return {
        "channel_basis": "first_touch",
        "total": total[0] if total else empty,
        "by_channel": _group(frame, "channel"),
        "by_source": _group(frame, "source"),
        "by_customer": _group(frame, "customer"),
        "by_series": _group(frame, "series"),
        "by_rep": by_rep,
    }


def _quantiles(seconds: pd.Series) -> tuple[float | None, float | None]:
    values = seconds.dropna().to_numpy(dtype=float)
    if not len(values):
        return None, None
    return float(np.median(values)), float(np.percentile(values, 90))


def speed_report(*, leads: pd.DataFrame, assignments: pd.DataFrame) -> dict[str, Any]:
    given = assignments.dropna(subset=["rep"]).copy()
    if given.empty:
        return {"by_rep": [], "by_hour": [], "sla": []}
    created = leads.set_index("lead_key")["created_at"]
    given["lead_created"] = pd.to_datetime(given["lead_key"].map(created), utc=True)
    given["to_assignment"] = (given["created_at"] - given["lead_created"]).dt.total_seconds()
    accepted = given["responded_at"].notna() & (given["state"] != "rejected")
    given["accepted"] = accepted
    given["to_acceptance"] = (
        (given["responded_at"] - given["lead_created"]).dt.total_seconds().where(accepted)
    )
    given["hour"] = given["lead_created"].dt.hour.map(lambda h: f"{int(h):02d}")

    def groups(key: str) -> list[dict[str, Any]]:
        rows = []
        for value, part in given.groupby(key, sort=True):
            median_a, p90_a = _quantiles(part["to_assignment"])
            median_c, p90_c = _quantiles(part["to_acceptance"])
            rows.append(
                {
                    "key": str(value),
                    "assignments": len(part),
                    "median_seconds_to_assignment": median_a,
                    "p90_seconds_to_assignment": p90_a,
                    "accepted": int(part["accepted"].sum()),
                    "median_seconds_to_acceptance": median_c,
                    "p90_seconds_to_acceptance": p90_c,
                }
            )
        return rows

    offers = given[given["expires_at"].notna() & (given["state"] != "offered")]
    sla = []
    for rep, part in offers.groupby("rep", sort=True):
        within = int((part["accepted"] & (part["responded_at"] <= part["expires_at"])).sum())
        sla.append(
            {
                "key": str(rep),
                "offers": len(part),
                "accepted_within_sla": within,
                "expired": int((part["state"] == "expired").sum()),
                "adherence": within / len(part) if len(part) else None,
            }
        )
    return {"by_rep": groups("rep"), "by_hour": groups("hour"), "sla": sla}


def returns_report(*, returns: pd.DataFrame, reasons: Sequence[str] = ()) -> dict[str, Any]:
    """Counts by reason (every configured reason listed, with 0 when unused) and by rep and reason."""
    counts = returns["reason"].value_counts()
    ordered = list(reasons) + sorted(set(counts.index) - set(reasons))
    by_rep = (
        returns.assign(rep=returns["rep"].fillna(NONE)).groupby(["rep", "reason"]).size().sort_index()
        if len(returns)
        else pd.Series(dtype=int)
    )
    return {
        "total": len(returns),
        "reasons": [{"reason": r, "count": int(counts.get(r, 0))} for r in ordered],
        # by_rep's keys are (rep, reason) pairs of its MultiIndex; pandas-stubs type index keys as Hashable.
        "by_rep": [
            {"rep": str(rep), "reason": str(reason), "count": int(n)}
            for (rep, reason), n in cast("Iterable[tuple[tuple[Hashable, Hashable], int]]", by_rep.items())
        ],
    }


def attribution_report(
    *, leads: pd.DataFrame, outcomes: pd.DataFrame, touches: pd.DataFrame, model: str = "linear"
) -> dict[str, Any]:
    """Credit per channel under one attribution model, from the stored touches of the closed leads."""
    from leadwise.marketing.attribution import attribute, parse_models
    from leadwise.marketing.journeys import build_journeys
    from leadwise.marketing.touchpoints import TouchpointsError

    names = parse_models(model)  # ValueError for an unknown model
    if len(names) != 1:
        raise ValueError("give one attribution model")
    if names[0].startswith("markov_") and int(names[0].split("_")[1]) > 4:
        raise ValueError("a Markov model of order above 4 needs more journeys than a report has")
    results = _lead_results(leads, outcomes)
    closed = results[results["closed"]]
    outcome_frame = pd.DataFrame(
        {
            "lead_id": [str(k) for k in closed.index],
            "converted": closed["won"].to_numpy(dtype=bool),
            "revenue": closed["won_value"].to_numpy(dtype=float),
        }
    )
    touch_frame = pd.DataFrame(
        {
            "lead_id": touches["lead_key"].astype(str),
            "timestamp": pd.to_datetime(touches["timestamp"], utc=True).dt.tz_convert(None),
            "channel": touches["channel"].astype(str),
            "touch_type": touches["touch_type"].astype(str),
            "campaign": touches["campaign"],
            "cost": touches["cost"].fillna(0.0).astype(float),
        }
    )
    empty = {"model": names[0], "exact": True, "journeys": 0, "won": 0, "channels": []}
    try:
        journeys = build_journeys(touch_frame, outcome_frame)
    except TouchpointsError as error:
        return empty | {"note": f"nothing to attribute: {error}"}
    result = attribute(journeys, names)[names[0]]
    table = result.table.reset_index().rename(columns={"index": "channel"})
    channels = []
    for row in table.to_dict(orient="records"):
        channels.append(
            {
                "channel": str(row["channel"]),
                **{
                    k: (None if isinstance(row[k], float) and np.isnan(row[k]) else float(row[k]))
                    for k in ("conversions", "share", "revenue", "conversion_rate", "cost", "cost_per_won")
                },
                "journeys": int(row["journeys"]),
                "converted_journeys": int(row["converted_journeys"]),
            }
        )
    for channel in channels:
        channel["conversions"] = channel["conversions"] or 0.0
        channel["revenue"] = channel["revenue"] or 0.0
        channel["cost"] = channel["cost"] or 0.0
    return {
        "model": result.model,
        "exact": result.exact,
        "note": result.note,
        "journeys": journeys.n_journeys,
        "won": int(journeys.converted.sum()),
        "channels": channels,
    }
