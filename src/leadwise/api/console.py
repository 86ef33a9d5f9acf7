"""The web console at ``/console``: server-rendered Jinja2 pages with htmx (vendored in ``api/static``).

Sign-in takes an API key; the session cookie (httpOnly, SameSite=Strict, Secure over https) holds the
key's hash signed with ``Settings.console_secret`` (itsdangerous), never the key. Every request looks the
hash up again, so a revoked key logs its sessions out on their next page. Each form carries a CSRF token
derived from the session (an HMAC of its cookie), checked on every POST. Pages call the same services
with the same role rules as the API routers: a rep key sees its own inbox and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from leadwise.api.docs import STATIC_URL
from leadwise.api.routers._convert import domain_lead
from leadwise.api.schemas import LeadIn
from leadwise.errors import LeadwiseError
from leadwise.routing import InvalidFlow
from leadwise.services import assignments, audit, flows, preview, reps
from leadwise.services.keys import Principal, principal_of, principal_of_hash
from leadwise.store.models import OPEN_STATES, utcnow
from leadwise.store.repositories import hash_key

COOKIE = "leadwise_console"
TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
LINE = re.compile(r"\bline (\d+)\b")
SAMPLE_LEAD = {"lead_id": "preview-1", "product": "GTX Pro", "sector": "software", "country": "United States"}

# Which pages each role may open, in menu order (the API's rules: see the routers named beside them).
PAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "rep": (("inbox", "Inbox"), ("pool", "Pool")),  # assignments: a rep's own; pool: its pools' leads
    "manager": (("inbox", "Inbox"), ("pool", "Queues"), ("decisions", "Decisions"), ("reps", "Reps"), ("flows", "Flows")),
    "admin": (("inbox", "Inbox"), ("pool", "Queues"), ("decisions", "Decisions"), ("reps", "Reps"), ("flows", "Flows")),
    "integration": (("decisions", "Decisions"),),  # leads: route and score keys read the audit trail
}
# Reports, model and what-if (api.console_reports): the roles GET /v1/reports/* admits (ManagerDep).
REPORT_PAGES = (("reports", "Reports"), ("model", "Model"), ("whatif", "What-if"))
for _role in ("manager", "admin"):
    PAGES[_role] += REPORT_PAGES


class LoginNeeded(Exception):
    """No valid session: the browser goes to the sign-in page (htmx requests too, via HX-Redirect)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class NotAllowed(Exception):
    """This session's role may not do this (or its CSRF token is wrong): a 403 page, not the API's JSON."""


@dataclass(frozen=True)
class ConsoleSession:
    principal: Principal
    csrf: str

    def may(self, page: str) -> bool:
        return any(name == page for name, _ in PAGES.get(self.principal.role, ()))


def _signer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.console_secret, salt="leadwise-console-session")


def _csrf_of(request: Request, cookie: str) -> str:
    return hmac.new(request.app.state.console_secret.encode(), b"csrf:" + cookie.encode(), hashlib.sha256).hexdigest()


async def current_session(request: Request) -> ConsoleSession:
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise LoginNeeded("")
    max_age = request.app.state.settings.console_session_hours * 3600
    try:
        key_hash = _signer(request).loads(cookie, max_age=max_age)
    except BadSignature as exc:  # includes SignatureExpired
        raise LoginNeeded("your session ended: sign in again") from exc
    db = request.app.state.db
    principal = await run_in_threadpool(lambda: principal_of_hash(db=db, key_hash=str(key_hash)))
    if principal is None:
        raise LoginNeeded("your API key is no longer valid (revoked): sign in with another key")
    if principal.expired(utcnow()):
        raise LoginNeeded("your API key expired: sign in with another key")
    session = ConsoleSession(principal=principal, csrf=_csrf_of(request, cookie))
    if request.method == "POST":
        form = await request.form()
        sent = request.headers.get("X-CSRF-Token") or str(form.get("csrf", ""))
        if not hmac.compare_digest(sent, session.csrf):
            raise NotAllowed("the form's CSRF token is missing or wrong: reload the page and try again")
    return session


def _page(request: Request, session: ConsoleSession | None, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    nav = PAGES.get(session.principal.role, ()) if session is not None else ()
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"session": session, "nav": nav, "static": STATIC_URL, "now": utcnow(), **values},
        status_code=status_code,
    )


def _allow(session: ConsoleSession, page: str) -> None:
    if not session.may(page):
        raise NotAllowed(f"role {session.principal.role!r} may not open {page}")


def _own(principal: Principal) -> int | None:
    return principal.rep_id if principal.is_rep() else None


router = APIRouter(prefix="/console", include_in_schema=False)
SessionDep = Annotated[ConsoleSession, Depends(current_session)]


@router.get("")
async def home(session: SessionDep) -> RedirectResponse:
    first = PAGES[session.principal.role][0][0]
    return RedirectResponse(f"/console/{first}", status_code=303)


@router.get("/login")
async def login_form(request: Request, reason: str = "") -> HTMLResponse:
    token = URLSafeTimedSerializer(request.app.state.console_secret, salt="leadwise-console-login").dumps("login")
    return _page(request, None, "login.html", reason=reason, login_csrf=token)


@router.post("/login")
async def login(request: Request, api_key: Annotated[str, Form()], csrf: Annotated[str, Form()]) -> Response:
    try:
        URLSafeTimedSerializer(request.app.state.console_secret, salt="leadwise-console-login").loads(csrf, max_age=3600)
    except BadSignature:
        return RedirectResponse("/console/login?reason=" + quote("the sign-in form expired: try again"), status_code=303)
    db = request.app.state.db
    key = api_key.strip()
    principal = await run_in_threadpool(lambda: principal_of(db=db, key=key)) if key else None
    if principal is None or principal.expired(utcnow()):
        return RedirectResponse("/console/login?reason=" + quote("that API key is not valid (unknown, revoked or expired)"), status_code=303)
    response = RedirectResponse("/console", status_code=303)
    response.set_cookie(
        COOKIE,
        _signer(request).dumps(hash_key(key)),
        max_age=int(request.app.state.settings.console_session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/console",
    )
    return response


@router.post("/logout")
async def logout(session: SessionDep) -> RedirectResponse:
    response = RedirectResponse("/console/login?reason=" + quote("signed out"), status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


# ------------------------------------------------------------------------------------------------ inbox


INBOX_PAGE = 50  # rows a page, as GET /v1/assignments by default


@router.get("/inbox")
def inbox(request: Request, session: SessionDep, offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0) -> HTMLResponse:
    _allow(session, "inbox")
    page = audit.inbox(
        db=request.app.state.db, states=OPEN_STATES, rep_id=_own(session.principal), limit=INBOX_PAGE, offset=offset
    )
    return _page(request, session, "inbox.html", offers=page.data, total=page.total, offset=offset, size=INBOX_PAGE)


@router.post("/inbox/{assignment_id}/{action}")
def act_on_offer(
    request: Request,
    session: SessionDep,
    assignment_id: int,
    action: Literal["accept", "reject"],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> HTMLResponse:
    _allow(session, "inbox")
    db, rep_id = request.app.state.db, _own(session.principal)
    message, routed = "", None
    try:
        if action == "accept":
            routed = assignments.accept(db=db, assignment_id=assignment_id, rep_id=rep_id)
            message = f"accepted lead {routed.lead.external_id}"
        else:
            state = request.app.state
            rejected, following = assignments.reject(
                db=db, settings=state.settings, models=state.models, assignment_id=assignment_id,
                rep_id=rep_id, reason=reason, prices=state.prices,
            )
            routed = rejected
            message = f"rejected lead {rejected.lead.external_id}: routed again"
            if not session.principal.is_rep() or following.assignment.rep_id == rep_id:
                message += f" (to {following.rep_name or following.assignment.queue})"
    except LeadwiseError as exc:
        message = str(exc)
    return _page(request, session, "_offer_row.html", routed=routed, message=message, assignment_id=assignment_id)


# -------------------------------------------------------------------------------------------- decisions


@router.get("/decisions")
def decisions(request: Request, session: SessionDep, lead_id: str = "") -> HTMLResponse:
    _allow(session, "decisions")
    history, problem = None, ""
    lead_id = lead_id.strip()[:200]
    if lead_id:
        try:
            history = audit.lead_history(db=request.app.state.db, lead_id=lead_id)
        except LeadwiseError as exc:
            problem = str(exc)
    names = {str(r.id): r.name for r in _rep_rows(request)} if history is not None else {}
    return _page(request, session, "decisions.html", lead_id=lead_id, history=history, problem=problem, names=names)


# ------------------------------------------------------------------------------------------------- reps


def _rep_rows(request: Request) -> list[Any]:
    with request.app.state.db.read_session() as db_session:
        return reps.list_reps(session=db_session)


@router.get("/reps")
def reps_page(request: Request, session: SessionDep) -> HTMLResponse:
    _allow(session, "reps")
    return _page(request, session, "reps.html", reps=_rep_rows(request))


@router.post("/reps/{rep_id}")
def edit_rep(
    request: Request,
    session: SessionDep,
    rep_id: int,
    capacity: Annotated[int, Form(ge=0, le=100_000)],
    active: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    if session.principal.role != "admin":
        raise NotAllowed(f"role {session.principal.role!r} may not change reps (allowed: admin)")
    message = ""
    try:
        row = reps.update_rep(db=request.app.state.db, rep_id=rep_id, changes={"capacity": capacity, "active": active})
        message = f"saved {row.name}: capacity {row.capacity}, {'active' if row.active else 'inactive'}"
    except LeadwiseError as exc:
        message = str(exc)
    rows = {r.id: r for r in _rep_rows(request)}
    return _page(request, session, "_rep_row.html", rep=rows.get(rep_id), message=message)


# ------------------------------------------------------------------------------------------------ flows


def _active_source(request: Request, principal: Principal) -> tuple[str, str]:
    """The text the editor starts from: the active version for admins (who may list flows through the
    API), the bundled default file for managers (who may preview drafts but not read stored versions)."""
    if principal.role == "admin":
        with request.app.state.db.read_session() as db_session:
            for row in flows.list_flows(session=db_session, name=flows.FLOW_NAME):
                if row.active:
                    definition = row.definition or {}
                    return str(definition.get("source", "")), str(definition.get("format", "toml"))
    path = flows.default_flow_file(request.app.state.settings)
    return path.read_text(encoding="utf-8"), "yaml" if path.suffix in (".yaml", ".yml") else "toml"


def flow_problems(error: InvalidFlow) -> dict[int, list[str]]:
    """Each problem of an invalid flow under the line it names (0: no line named)."""
    at: dict[int, list[str]] = {}
    for problem in error.problems or [str(error)]:
        found = LINE.search(problem)
        at.setdefault(int(found.group(1)) if found else 0, []).append(problem)
    return at


@router.get("/flows")
def flows_page(request: Request, session: SessionDep) -> HTMLResponse:
    _allow(session, "flows")
    source, fmt = _active_source(request, session.principal)
    return _page(
        request, session, "flows.html", source=source, fmt=fmt, sample=json.dumps(SAMPLE_LEAD, indent=2)
    )


@router.post("/flows/check")
def check_flow(
    request: Request,
    session: SessionDep,
    source: Annotated[str, Form(max_length=200_000)],
    fmt: Annotated[Literal["toml", "yaml"], Form(alias="format")],
    sample: Annotated[str, Form(max_length=100_000)],
    publish: Annotated[bool, Form()] = False,
) -> HTMLResponse:
    """Validate the draft; when valid, preview the sample lead through it (and publish it for an admin
    who asked to)."""
    _allow(session, "flows")
    if publish and session.principal.role != "admin":
        raise NotAllowed(f"role {session.principal.role!r} may not publish flows (allowed: admin)")
    state = request.app.state
    values: dict[str, Any] = {"lines": source.splitlines(), "problems": {}, "seen": None, "lead_problem": "", "published": None}
    try:
        flows.parse_definition(source, fmt=fmt, source="draft flow")
    except InvalidFlow as exc:
        values["problems"] = flow_problems(exc)
        return _page(request, session, "_flow_result.html", **values)
    try:
        lead = domain_lead(LeadIn.model_validate_json(sample))
    except ValidationError as exc:
        values["lead_problem"] = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'sample lead'}: {e['msg']}" for e in exc.errors()
        )
        return _page(request, session, "_flow_result.html", **values)
    try:
        values["seen"] = preview.preview(
            db=state.db, settings=state.settings, models=state.models, lead=lead, source=source, fmt=fmt, prices=state.prices
        )
        values["names"] = {str(row.id): row.name for row in _rep_rows(request)}  # reps by name, as on Decisions
        if publish:
            values["published"] = flows.publish(db=state.db, name=flows.FLOW_NAME, text=source, fmt=fmt)
    except LeadwiseError as exc:
        values["lead_problem"] = str(exc)
    return _page(request, session, "_flow_result.html", **values)


# ----------------------------------------------------------------------------------------------- set-up


def install_console(app: FastAPI) -> None:
    """Mount the console on ``app``: its routes, and the sign-in redirect for a missing session."""
    secret = app.state.settings.console_secret
    # Without a configured secret the process makes its own (``leadwise serve`` sets one for all workers).
    app.state.console_secret = secret.get_secret_value() if secret is not None else secrets.token_urlsafe(32)

    async def to_login(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginNeeded)
        target = "/console/login" + ("?reason=" + quote(exc.reason) if exc.reason else "")
        if request.headers.get("HX-Request"):
            response: Response = Response(status_code=200, headers={"HX-Redirect": target})
        else:
            response = RedirectResponse(target, status_code=303)
        response.delete_cookie(COOKIE, path="/console")
        return response

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _page(request, None, "error.html", status_code=403, problem=str(exc))

    app.add_exception_handler(LoginNeeded, to_login)
    app.add_exception_handler(NotAllowed, not_allowed)
    # The action and flow-history pages live in modules of their own (they import this one's helpers).
    # Included first: "/inbox/{id}/return" must not fall into "/inbox/{id}/{action}" above.
    from leadwise.api import console_actions, console_flows

    app.include_router(console_actions.router)
    app.include_router(console_flows.router)
    app.include_router(router)
    from leadwise.api import console_reports  # it builds on this module's session and pages

    app.include_router(console_reports.router)
