"""Console pages for managers and admins: reports with charts, the served model, and what-if.

They read the same services as ``GET /v1/reports/*`` and ``/v1/stats``, under the same rule: those
endpoints admit admin and manager keys only (``ManagerDep``), so these pages are on those roles' menus
only and a rep or integration key gets a 403 page. Charts are SVG written on the server
(``console_charts``), each next to a table of its figures.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse

from leadwise.api.console import SessionDep, _allow, _page
from leadwise.api.console_charts import (
    Bars,
    Chart,
    Reference,
    bar_chart,
    calibration_chart,
    interval_chart,
    line_chart,
    percent,
    ratio,
)
from leadwise.errors import LeadwiseError
from leadwise.marketing.attribution import ALL_MODELS
from leadwise.services import model_report, reports, stats, whatif

ATTRIBUTION_MODELS = tuple(ALL_MODELS)

router = APIRouter(prefix="/console", include_in_schema=False)


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60.0


def _fmt_minutes(value: float) -> str:
    return f"{value:.1f} min" if value < 120 else f"{value / 60:.1f} h"


def _day(moment: datetime, period: str) -> str:
    return moment.strftime("%d %b") if period == "day" else moment.strftime("wk of %d %b")


def report_charts(every: dict[str, Any], fairness: dict[str, Any]) -> dict[str, Any]:
    """The reports page's charts, from the reports' own figures (the tables print the same figures)."""
    conversion, speed, attribution = every["conversion"], every["speed"], every["attribution"]
    charts: dict[str, Any] = {}
    charts["channel"] = bar_chart(
        Chart("Conversion rate by first-touch channel", "Won over closed leads for each channel of the lead's first touch."),
        [Bars(g["key"], [g["conversion_rate"]]) for g in conversion["by_channel"]], top=1.0,
    )  # fmt: skip
    charts["rep"] = bar_chart(
        Chart("Conversion rate by rep", "Won over closed leads for each rep."),
        [Bars(g["key"], [g["conversion_rate"]]) for g in conversion["by_rep"]], top=1.0,
    )  # fmt: skip
    charts["speed"] = bar_chart(
        Chart("Median minutes from a lead's creation to its assignment and to its acceptance, by rep",
              "Two bars per rep: minutes to assignment, minutes to acceptance.",
              series=("to assignment", "to acceptance")),
        [Bars(g["key"], [_minutes(g["median_seconds_to_assignment"]), _minutes(g["median_seconds_to_acceptance"])])
         for g in speed["by_rep"]],
        fmt=_fmt_minutes,
    )  # fmt: skip
    charts["sla"] = bar_chart(
        Chart("SLA adherence by rep", "Share of each rep's answered or lapsed offers accepted by the deadline."),
        [Bars(g["key"], [g["adherence"]]) for g in speed["sla"]], top=1.0,
    )  # fmt: skip
    bounds = fairness["bounds"] or {}
    references = [Reference(1.0, "fair share", dashed=False)]
    for key, label in (("max_lead_ratio", "max leads"), ("min_lead_ratio", "min leads"),
                       ("max_value_ratio", "max value"), ("min_value_ratio", "min value")):  # fmt: skip
        if bounds.get(key) is not None:
            references.append(Reference(float(bounds[key]), f"{label} {bounds[key]:g}×"))
    charts["shares"] = bar_chart(
        Chart("Each rep's share against its fair share, whole range",
              "Two bars per rep: share of leads and share of expected value, each as a multiple of the fair "
              "share; lines mark the fair share and the flow's bounds.",
              series=("leads", "expected value"), references=references),
        [Bars(r["rep"], [r["lead_ratio"], r["value_ratio"]]) for r in fairness["overall"]["reps"]],
        fmt=ratio,
    )  # fmt: skip
    periods = fairness["periods"]
    charts["gini"] = line_chart(
        Chart("Gini of leads and of expected value over time",
              "Gini coefficient per period (0 even, 1 one rep takes all); a gap is a period without leads.",
              series=("leads", "expected value")),
        [_day(p["start"], fairness["period"]) for p in periods],
        [[p["gini_leads"] if p["leads"] else None for p in periods],
         [p["gini_value"] if p["expected_value"] > 0 else None for p in periods]],
    )  # fmt: skip
    charts["attribution"] = bar_chart(
        Chart(f"Share of credited won deals by channel ({attribution['model']})",
              "Each channel's share of the credit for won deals under the chosen attribution model."),
        [Bars(c["channel"], [c["share"]]) for c in attribution["channels"]], top=1.0,
    )  # fmt: skip
    return charts


@router.get("/reports")
def reports_page(
    request: Request,
    session: SessionDep,
    model: Annotated[str, Query(max_length=50)] = "linear",
    period: Literal["day", "week"] = "day",
) -> HTMLResponse:
    _allow(session, "reports")
    problem = ""
    if model not in ATTRIBUTION_MODELS:
        problem, model = f"attribution model {model[:50]!r} is not one of {', '.join(ATTRIBUTION_MODELS)}: showing linear", "linear"
    with request.app.state.db.read_session() as db_session:
        every = reports.all_reports(session=db_session, reasons=request.app.state.settings.return_reasons, model=model)
        fairness = stats.fairness_over_time(session=db_session, period=period, periods=14 if period == "day" else 12)
    return _page(
        request, session, "reports.html", every=every, fairness=fairness, charts=report_charts(every, fairness),
        model=model, models=ATTRIBUTION_MODELS, period=period, problem=problem, percent=percent,
    )  # fmt: skip


@router.get("/model")
def model_page(request: Request, session: SessionDep) -> HTMLResponse:
    _allow(session, "model")
    state = request.app.state
    report = model_report.model_report(db=state.db, models=state.models, settings=state.settings)
    served = report["calibration"].get(report["model_version"] or "", {})
    chart = None
    if served.get("curve"):
        chart = calibration_chart(
            Chart(f"Calibration of model {report['model_version']}",
                  "Observed win rate against the served P(win), per tenth of P(win); dot area grows with the "
                  "decisions in the bin; the dashed diagonal is perfect calibration."),
            [(b["predicted"], b["observed"], b["count"]) for b in served["curve"]],
        )  # fmt: skip
    return _page(
        request, session, "model.html", report=report, served=served, chart=chart, status=state.models.status(),
        ui=state.settings.mlflow_ui_url,
    )  # fmt: skip


@router.get("/whatif")
def whatif_page(request: Request, session: SessionDep) -> HTMLResponse:
    _allow(session, "whatif")
    loaded = request.app.state.models.current
    return _page(
        request, session, "whatif.html", synthetic=whatif.SYNTHETIC_POLICIES, on_log=whatif.LOG_POLICIES,
        can_log=loaded is not None and loaded.models.fit_model is not None,
    )  # fmt: skip


def _job_fragment(request: Request, session: Any, job: dict[str, Any] | None, problem: str = "") -> HTMLResponse:
    chart = None
    result = (job or {}).get("result")
    if result:
        chart = interval_chart(
            Chart(f"Each policy's {result['measure']}", f"Dot: the estimate; whisker: its {result['interval']}.",
                  references=[Reference(result["observed"], "observed")] if result.get("observed") is not None else []),
            [(p["policy"], p["estimate"], p["ci_low"], p["ci_high"]) for p in result["policies"]],
        )  # fmt: skip
    return _page(request, session, "_whatif_job.html", job=job, chart=chart, problem=problem)


@router.post("/whatif")
def start_whatif(
    request: Request,
    session: SessionDep,
    source: Annotated[Literal["synthetic", "log"], Form()],
    policies: Annotated[list[str] | None, Form()] = None,
    leads: Annotated[int, Form(ge=50, le=2000)] = 400,
    reps: Annotated[int, Form(ge=4, le=30)] = 10,
    worlds: Annotated[int, Form(ge=1, le=5)] = 3,
    seed: Annotated[int, Form(ge=0, le=1_000_000)] = 1,
    decisions: Annotated[int, Form(ge=10, le=20_000)] = 5000,
    resamples: Annotated[int, Form(ge=100, le=2000)] = 300,
) -> HTMLResponse:
    _allow(session, "whatif")
    state = request.app.state
    try:
        job = whatif.submit(
            jobs=state.whatif, db=state.db, models=state.models, source=source, policies=tuple(policies or ()),
            leads=leads, reps=reps, worlds=worlds, seed=seed, decisions=decisions, resamples=resamples,
        )  # fmt: skip
    except LeadwiseError as exc:
        return _job_fragment(request, session, None, problem=str(exc))
    return _job_fragment(request, session, job)


@router.get("/whatif/{job_id}")
def whatif_job(request: Request, session: SessionDep, job_id: str) -> HTMLResponse:
    _allow(session, "whatif")
    job = request.app.state.whatif.get(job_id[:100])
    return _job_fragment(request, session, job, problem="" if job else "that what-if job is gone (jobs are kept an hour)")
