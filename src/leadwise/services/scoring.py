"""Model figures for one lead: its score, deal value and every rep's P(win), from ``LeadwiseModels``."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from leadwise.data.errors import DataValidationError
from leadwise.errors import InvalidInput, ModelFailed, ModelNotReady
from leadwise.features.engagement import touches_frame
from leadwise.routing import NO_SCORES, Lead, Scores
from leadwise.services.adapters import RepName, model_input
from leadwise.services.models import LoadedModels, ModelHolder

log = logging.getLogger(__name__)

# Lead fields the models read (the contract's leads frame); the rest of a lead is routing context.
FRAME_COLUMNS = (
    "lead_id",
    "account",
    "product",
    "engage_date",
    "sector",
    "revenue",
    "employees",
    "office_location",
    "year_established",
)


NUMERIC_COLUMNS = ("revenue", "employees", "year_established")


def _plain_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _engage_day(engage: Any, today: pd.Timestamp) -> pd.Timestamp:
    """The lead's engage date as a naive UTC calendar day (the models were trained on calendar dates);
    a lead without one is engaged ``today``."""
    stamp = pd.Timestamp(engage) if engage else today
    return (stamp.tz_convert(None) if stamp.tzinfo else stamp).normalize()


def _today() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").tz_convert(None).normalize()


def leads_columns(leads: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The leads' model fields as columns by name (what ``LeadwiseModels.predict`` takes): engage dates
    as naive UTC days (today when missing), numbers as ``pd.to_numeric(errors="coerce")`` makes them. No
    frame: building one costs more than scoring a lead."""
    columns: dict[str, Any] = {c: [lead.get(c) for lead in leads] for c in FRAME_COLUMNS}
    today = _today()
    columns["engage_date"] = np.array(
        [_engage_day(engage, today).asm8 for engage in columns["engage_date"]], dtype="datetime64[ns]"
    )
    for column in NUMERIC_COLUMNS:
        values = columns[column]
        if all(_plain_number(v) for v in values):
            columns[column] = np.array([np.nan if v is None else v for v in values], dtype=float)
        else:
            columns[column] = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
    return columns


@dataclass(frozen=True)
class LeadFigures:
    model_version: str
    score: float
    deal_value: float
    rep_names: tuple[str, ...]
    p_win: np.ndarray  # aligned to rep_names
    percentile: float | None = None  # the score's percentile among the model's validation leads, 0-100


def score_leads(
    *, loaded: LoadedModels, leads: Sequence[Mapping[str, Any]], rep_names: Sequence[str]
) -> list[LeadFigures]:
    """Scores, deal values and the (lead x rep) P(win) matrix of all leads from one model call."""
    models = loaded.models
    names = tuple(rep_names)
    touches = touches_frame(leads) if models.builder.engagement is not None else None
    predictions = models.predict(leads_columns(leads), reps=list(names), touches=touches)
    scores, values, matrix = predictions.lead_score, predictions.deal_value, predictions.fit
    percentiles = predictions.lead_score_percentile
    return [
        LeadFigures(
            model_version=loaded.version,
            score=float(scores[i]),
            deal_value=float(values[i]),
            rep_names=names,
            p_win=matrix[i],
            percentile=None if percentiles is None else float(percentiles[i]),
        )
        for i in range(len(leads))
    ]


def score_for_api(*, models: ModelHolder, lead: Lead, rep_names: Sequence[str]) -> LeadFigures:
    """As ``score_leads`` for one lead, raising ModelNotReady (503) in rules-only mode."""
    loaded = models.current
    if loaded is None:
        raise ModelNotReady(
            f"no model is served (alias {models.settings.model_alias!r} not registered): "
            "scoring is unavailable, routing runs rules-only"
        )
    try:
        return score_leads(loaded=loaded, leads=[model_input(lead)], rep_names=rep_names)[0]
    except DataValidationError as exc:  # the models' input validation: the lead's fault
        raise InvalidInput(f"the lead cannot be scored by model {loaded.version}: {exc.about_field()}") from exc
    except Exception as exc:  # anything else is the model's (or its code's) fault: 503, never a 500
        log.exception("model %s failed on lead %r", loaded.version, lead.lead_id)
        raise ModelFailed(
            f"model {loaded.version} failed on this lead ({type(exc).__name__}: {exc}); served by "
            f"leadwise {loaded.leadwise_version}. Scoring is unavailable, routing continues rules-only"
        ) from exc


def score_or_reason(
    *, models: ModelHolder, leads: Sequence[Mapping[str, Any]], rep_names: Sequence[str]
) -> tuple[list[LeadFigures] | None, str | None]:
    """Figures for routing, or None in rules-only mode or when the model fails (routing must go on),
    with why there are no figures while a model is served (for the explanation)."""
    loaded = models.current
    if loaded is None:
        return None, None
    try:
        return score_leads(loaded=loaded, leads=leads, rep_names=rep_names), None
    except DataValidationError as exc:  # the lead's data (an unknown product...): not the model's fault
        log.info("model %s cannot score this lead (%s); routing it rules-only", loaded.version, exc)
        return None, f"not scored by model {loaded.version} ({exc.about_field()}): routed rules-only"
    except Exception as exc:
        log.exception("scoring failed; routing this request rules-only")
        return None, f"model {loaded.version} failed ({type(exc).__name__}); routed rules-only"


# ---------------------------------------------------------------------------------- routing's score stage


def domain_scores(figures: LeadFigures | None, reps: Sequence[RepName]) -> Scores:
    """The models' figures (reps by name) as the routing domain's ``Scores`` (reps by ``RepId``): the one
    place a rep's name turns into its id. ``NO_SCORES`` rules-only."""
    if figures is None:
        return NO_SCORES
    by_name = dict(zip(figures.rep_names, figures.p_win, strict=True))
    known = [r for r in reps if r.name in by_name]
    return Scores(
        model_version=figures.model_version,
        lead_score=figures.score,
        lead_score_percentile=figures.percentile,
        rep_ids=tuple(r.id for r in known),
        p_win=np.array([by_name[r.name] for r in known], dtype=float),
        deal_value=figures.deal_value,
    )


@dataclass(frozen=True)
class ScoredLead:
    figures: LeadFigures | None  # None rules-only, or when the model did not score the lead
    scores: Scores  # ``scores.missing_because``: why a served model did not score the lead
    challenger: LeadFigures | None = None  # the shadow challenger's figures: stored, never routed on


def _with_challenger(
    scored: list[ScoredLead], *, models: ModelHolder, inputs: list[dict[str, Any]], reps: Sequence[RepName]
) -> list[ScoredLead]:
    """The shadow challenger's figures added to each lead (in one call; a lead it cannot score, or a
    failing challenger, just has none: the challenger never changes what is routed)."""
    holder = models.challenger
    if holder is None or holder.current is None:
        return scored
    names = [r.name for r in reps]
    together, _ = score_or_reason(models=holder, leads=inputs, rep_names=names)
    figures: list[LeadFigures | None] = list(together) if together is not None else []
    if together is None:  # one lead spoilt the shared call: each alone
        for one in inputs:
            alone, _ = score_or_reason(models=holder, leads=[one], rep_names=names)
            figures.append(alone[0] if alone else None)
    return [replace(s, challenger=f) for s, f in zip(scored, figures, strict=True)]


def score_for_routing(
    *, models: ModelHolder, leads: Sequence[Lead], reps: Sequence[RepName]
) -> list[ScoredLead]:
    """Each lead's figures in one model call for all. Should one lead spoil the shared call (the model
    refuses its data), each is scored alone, so the others keep their scores. Never raises: routing goes
    on rules-only for a lead the model cannot score."""
    if not leads:
        return []
    inputs = [model_input(lead) for lead in leads]
    return _with_challenger(_champion_scored(models, inputs, reps), models=models, inputs=inputs, reps=reps)


def _champion_scored(models: ModelHolder, inputs: list[dict[str, Any]], reps: Sequence[RepName]) -> list[ScoredLead]:
    names = [r.name for r in reps] if models.current is not None else []
    scored, note = score_or_reason(models=models, leads=inputs, rep_names=names)
    if scored is not None:
        return [ScoredLead(f, domain_scores(f, reps)) for f in scored]
    if note is None or len(inputs) == 1:  # rules-only, or the one lead's reason
        return [unscored(note) for _ in inputs]
    out = []
    for one in inputs:
        alone, why = score_or_reason(models=models, leads=[one], rep_names=names)
        out.append(ScoredLead(alone[0], domain_scores(alone[0], reps)) if alone else unscored(why))
    return out


def stored_scores(models: ModelHolder, score: float | None) -> Scores:
    """A lead's stored score as ``Scores`` (the lead as it was, for the lifecycle's "became true"), its
    percentile read by the served model (a score stored by an earlier model is placed among this one's)."""
    loaded = models.current
    percentile = None
    if score is not None and loaded is not None:
        placed = loaded.models.lead_score_percentile(np.array([score]))
        percentile = None if placed is None else float(placed[0])
    return Scores(model_version=None, lead_score=score, lead_score_percentile=percentile)


def unscored(why: str | None) -> ScoredLead:
    """A lead without model figures: rules-only (``why`` None) or because the served model could not."""
    return ScoredLead(None, NO_SCORES if why is None else Scores(model_version=None, missing_because=why))
