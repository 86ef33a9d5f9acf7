"""The console's actions on leads: from the inbox, return to marketing, record an outcome and (managers)
reassign; the pool page, where a rep claims from its pools and a manager assigns queued leads by hand.

Each action validates its form with the API's own request schema and calls the service the API router
calls, with the same role rule, so the console can do exactly what the key could do with curl. A refusal
(a 409 through the API) comes back in the row as the API's sentence.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ValidationError

from leadwise.api.console import ConsoleSession, NotAllowed, SessionDep, _allow, _own, _page, _rep_rows
from leadwise.api.routers.pool import visible_pool
from leadwise.api.schemas import ManualAssignIn, OutcomeIn, ReturnIn
from leadwise.errors import LeadwiseError
from leadwise.routing.domain import RepOutOfOffice
from leadwise.services import assignments, marketing, pools
from leadwise.services.adapters import domain_rep
from leadwise.services.persist import Routed
from leadwise.store.models import utcnow

router = APIRouter(prefix="/console", include_in_schema=False)
Schema = TypeVar("Schema", bound=BaseModel)
# The API's sentence asks for ``"force": true``; the console's form says it with its checkbox.
FORCE_API, FORCE_FORM = 'send "force": true', "tick “assign even if away”"


def validated(schema: type[Schema], **fields: Any) -> tuple[Schema | None, str]:
    """The form as the API's request body, or None and the problems, each naming its field."""
    try:
        return schema.model_validate({k: v for k, v in fields.items() if v not in ("", None)}), ""
    except ValidationError as exc:
        return None, "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def _managers_only(session: ConsoleSession, what: str) -> None:
    if session.principal.role not in ("manager", "admin"):
        raise NotAllowed(f"role {session.principal.role!r} may not {what} (allowed: manager, admin)")


def _row(
    request: Request, session: ConsoleSession, assignment_id: int, routed: Routed | None, message: str, *, failed: bool
) -> HTMLResponse:
    """The offer's inbox row after an action: the routed result, or (refused) the offer as it is now with
    the refusal under it; only the refusal for an offer this key may not see."""
    if routed is None:
        try:
            routed = assignments.get_assignment(
                db=request.app.state.db, assignment_id=assignment_id, rep_id=_own(session.principal)
            )
        except LeadwiseError:
            routed = None
    return _page(
        request, session, "_offer_row.html", routed=routed, message=message, assignment_id=assignment_id, failed=failed
    )


def _warnings(routed: Routed) -> list[str]:
    notes = ((routed.assignment.explanation or {}).get("explanation") or {}).get("notes") or []
    return [str(note) for note in notes if str(note).startswith("warning:")]


def _assign_by_hand(request: Request, session: ConsoleSession, *, lead_id: str, form: dict[str, Any]) -> tuple[Routed | None, str]:
    """``POST /v1/leads/{lead_id}/assign`` for the console: the routed offer and a sentence, or None and
    the refusal (an out-of-office rep asks for ``force``, and says how)."""
    body, problem = validated(ManualAssignIn, **form)
    if body is None:
        return None, problem
    try:
        routed = pools.manual_assign(
            db=request.app.state.db,
            settings=request.app.state.settings,
            external_id=lead_id,
            rep_id=body.rep_id,
            reason=body.reason,
            manager=f"{session.principal.role} key {session.principal.key_id}",
            force=body.force,
        )
    except RepOutOfOffice as exc:
        return None, str(exc).replace(FORCE_API, FORCE_FORM) + " (the offer will carry the warning)"
    except LeadwiseError as exc:
        return None, str(exc)
    message = f"assigned lead {lead_id} to {routed.rep_name}"
    return routed, "; ".join([message, *_warnings(routed)])


def rep_choices(request: Request) -> list[dict[str, Any]]:
    """Active reps for a manager's assign form, each saying whether it is away now (then ``force``)."""
    now, choices = utcnow(), []
    for row in _rep_rows(request):
        if not row.active:
            continue
        rep = domain_rep(row)
        away = "out of office" if rep.is_out_of_office(now) else ("away" if row.status == "away" else "")
        choices.append({"id": row.id, "name": row.name, "away": away, "load": f"{row.open_leads}/{row.capacity}"})
    return choices


# ------------------------------------------------------------------------------------------------ inbox


@router.post("/inbox/{assignment_id}/return")
def return_offer(
    request: Request,
    session: SessionDep,
    assignment_id: int,
    reason: Annotated[str, Form(max_length=1000)] = "",
    note: Annotated[str, Form(max_length=10_000)] = "",
) -> HTMLResponse:
    """``POST /v1/assignments/{id}/return``: the lead goes back to marketing (nurture)."""
    _allow(session, "inbox")
    settings = request.app.state.settings
    body, message = validated(ReturnIn, reason=reason, note=note)
    routed = None
    if body is not None and body.reason not in settings.return_reasons:
        message = f"reason: unknown return reason {body.reason!r}; known: {', '.join(settings.return_reasons)}"
    elif body is not None:
        principal = session.principal
        try:
            routed = marketing.return_to_marketing(
                db=request.app.state.db,
                assignment_id=assignment_id,
                rep_id=_own(principal),
                reason=body.reason,
                note=body.note,
                returned_by="rep" if principal.is_rep() else f"{principal.role} key {principal.key_id}",
            )
            message = f"returned lead {routed.lead.external_id} to marketing ({body.reason.replace('_', ' ')})"
        except LeadwiseError as exc:
            message = str(exc)
    return _row(request, session, assignment_id, routed, message, failed=routed is None)


@router.post("/inbox/{assignment_id}/outcome")
def record_outcome(
    request: Request,
    session: SessionDep,
    assignment_id: int,
    result: Annotated[str, Form(max_length=100)] = "",
    value: Annotated[str, Form(max_length=100)] = "",
) -> HTMLResponse:
    """``POST /v1/assignments/{id}/outcome``: won (with the deal value) or lost; the lead closes."""
    _allow(session, "inbox")
    body, message = validated(OutcomeIn, result=result, value=value.strip())
    routed = None
    if body is not None:
        try:
            routed = assignments.record_outcome(
                db=request.app.state.db,
                assignment_id=assignment_id,
                rep_id=_own(session.principal),
                result=body.result,
                value=body.value,
            )
            worth = f", value {body.value:,.2f}" if body.value is not None else ""
            message = f"recorded lead {routed.lead.external_id} as {body.result}{worth}"
        except LeadwiseError as exc:
            message = str(exc)
    return _row(request, session, assignment_id, routed, message, failed=routed is None)


@router.get("/inbox/{assignment_id}/reassign")
def reassign_form(request: Request, session: SessionDep, assignment_id: int) -> HTMLResponse:
    """The reassign form of one offer, loaded when a manager opens it (the rep list is not in every row)."""
    _managers_only(session, "reassign leads")
    try:
        routed = assignments.get_assignment(db=request.app.state.db, assignment_id=assignment_id, rep_id=None)
    except LeadwiseError as exc:
        return _page(request, session, "_assign_form.html", action="", message=str(exc))
    return _page(
        request, session, "_assign_form.html", reps=rep_choices(request), action=f"/console/inbox/{assignment_id}/reassign",
        idp=f"reassign-{assignment_id}", what=routed.lead.external_id,
    )


@router.post("/inbox/{assignment_id}/reassign")
def reassign(
    request: Request,
    session: SessionDep,
    assignment_id: int,
    rep_id: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
    force: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    """``POST /v1/leads/{lead_id}/assign`` on an offered or accepted lead: it moves to another rep and the
    old offer ends ``reassigned``. The row shows the new offer (or the old one and the refusal)."""
    _managers_only(session, "reassign leads")
    db = request.app.state.db
    try:
        current = assignments.get_assignment(db=db, assignment_id=assignment_id, rep_id=None)
    except LeadwiseError as exc:
        return _row(request, session, assignment_id, None, str(exc), failed=True)
    form = {"rep_id": rep_id, "reason": reason, "force": force}
    moved, message = _assign_by_hand(request, session, lead_id=current.lead.external_id, form=form)
    return _row(request, session, assignment_id, moved, message, failed=moved is None)


# ------------------------------------------------------------------------------------------------- pool


@router.get("/pool")
def pool_page(request: Request, session: SessionDep) -> HTMLResponse:
    """A rep: the unclaimed leads of its pools (a blind pool's without details), to claim. A manager or
    admin: every queue (pool, manager, nurture), to assign by hand."""
    _allow(session, "pool")
    leads = visible_pool(db=request.app.state.db, principal=session.principal)
    choices = [] if session.principal.is_rep() else rep_choices(request)
    return _page(request, session, "pool.html", leads=leads, reps=choices)


@router.post("/pool/{lead_id}/claim")
def claim(request: Request, session: SessionDep, lead_id: str) -> HTMLResponse:
    """``POST /v1/pool/{lead_id}/claim``: the rep takes the lead (accepted at once), or is told who was
    faster (the API's 409 sentence)."""
    _allow(session, "pool")
    principal = session.principal
    if not principal.is_rep() or principal.rep_id is None:
        raise NotAllowed(f"role {principal.role!r} may not claim leads (allowed: rep); assign them instead")
    try:
        routed = pools.claim(db=request.app.state.db, external_id=lead_id, rep_id=principal.rep_id)
    except LeadwiseError as exc:
        return _page(request, session, "_pool_row.html", lead_id=lead_id, routed=None, message=str(exc))
    message = f"claimed lead {lead_id}: it is in your inbox, accepted"
    return _page(request, session, "_pool_row.html", lead_id=lead_id, routed=routed, message=message)


@router.post("/pool/{lead_id}/assign")
def assign(
    request: Request,
    session: SessionDep,
    lead_id: str,
    rep_id: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
    force: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    """``POST /v1/leads/{lead_id}/assign`` on a queued lead (managers and admins)."""
    _managers_only(session, "assign leads by hand")
    form = {"rep_id": rep_id, "reason": reason, "force": force}
    routed, message = _assign_by_hand(request, session, lead_id=lead_id, form=form)
    if routed is None:  # still queued: the row keeps its form, with the refusal under it
        leads = {lead.lead_id: lead for lead in visible_pool(db=request.app.state.db, principal=session.principal)}
        return _page(
            request, session, "_pool_row.html", lead_id=lead_id, lead=leads.get(lead_id), routed=None,
            message=message, reps=rep_choices(request), failed=True,
        )
    return _page(request, session, "_pool_row.html", lead_id=lead_id, routed=routed, message=message)
