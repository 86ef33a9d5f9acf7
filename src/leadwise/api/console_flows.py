"""The console's flow history: every stored version of the routing flow, the diff between two, and
activating an earlier one (a rollback) after a confirmation that shows what would change.

Admins only, as ``GET /v1/flows``, ``GET /v1/flows/{name}/diff`` and ``POST .../activate`` are.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from leadwise.api.console import ConsoleSession, NotAllowed, SessionDep, _page
from leadwise.errors import LeadwiseError
from leadwise.services import flows
from leadwise.store.models import RoutingFlowRow

router = APIRouter(prefix="/console/flows", include_in_schema=False)


def _admins_only(session: ConsoleSession) -> None:
    if session.principal.role != "admin":
        raise NotAllowed(f"role {session.principal.role!r} may not read or activate stored flow versions (allowed: admin)")


def _versions(request: Request) -> list[RoutingFlowRow]:
    with request.app.state.db.read_session() as db_session:
        return flows.list_flows(session=db_session, name=flows.FLOW_NAME)


def diff_lines(unified: str) -> list[tuple[str, str]]:
    """A unified diff as (kind, line) for the page: ``add``, ``del``, ``hunk``, ``file`` or ``same``."""
    lines = []
    for line in unified.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        else:
            kind = {"+": "add", "-": "del"}.get(line[:1], "same")
        lines.append((kind, line))
    return lines


def _diff_values(request: Request, from_version: int, to_version: int) -> dict[str, Any]:
    """The diff of two stored versions for ``_flow_diff.html`` (or the problem, naming the version)."""
    try:
        with request.app.state.db.read_session() as db_session:
            found = flows.diff(session=db_session, name=flows.FLOW_NAME, from_version=from_version, to_version=to_version)
    except LeadwiseError as exc:
        return {"problem": str(exc)}
    return {
        "from_version": from_version,
        "to_version": to_version,
        "source_diff": diff_lines(found.source),
        "flow_diff": diff_lines(found.flow),
    }


@router.get("/history")
def history(
    request: Request,
    session: SessionDep,
    from_version: Annotated[int | None, Query(alias="from", ge=1, le=2**31 - 1)] = None,
    to_version: Annotated[int | None, Query(alias="to", ge=1, le=2**31 - 1)] = None,
) -> HTMLResponse:
    """Every version, newest first, with the diff form (and, given ``from`` and ``to``, their diff)."""
    _admins_only(session)
    versions = _versions(request)
    active = next((row.version for row in versions if row.active), None)
    values: dict[str, Any] = {"from_version": from_version, "to_version": to_version}
    if from_version is not None and to_version is not None:
        values |= _diff_values(request, from_version, to_version)
    elif len(versions) >= 2:  # the form starts on the last change
        values |= {"from_version": versions[1].version, "to_version": versions[0].version}
    return _page(request, session, "flow_history.html", versions=versions, active=active, message="", **values)


@router.get("/diff")
def diff(
    request: Request,
    session: SessionDep,
    from_version: Annotated[int, Query(alias="from", ge=1, le=2**31 - 1)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=2**31 - 1)],
) -> HTMLResponse:
    _admins_only(session)
    return _page(request, session, "_flow_diff.html", **_diff_values(request, from_version, to_version))


@router.get("/versions/{version}/activate")
def confirm_activation(request: Request, session: SessionDep, version: int) -> HTMLResponse:
    """The confirmation: what activating ``version`` changes against the active version."""
    _admins_only(session)
    versions = {row.version: row for row in _versions(request)}
    active = next((row.version for row in versions.values() if row.active), None)
    if version not in versions:
        return _page(request, session, "_flow_diff.html", problem=f"flow {flows.FLOW_NAME!r} has no version {version}")
    values = _diff_values(request, active, version) if active is not None and active != version else {}
    return _page(request, session, "_flow_activate.html", version=versions[version], active=active, **values)


@router.post("/versions/{version}/activate")
def activate(request: Request, session: SessionDep, version: int) -> HTMLResponse:
    """``POST /v1/flows/default/versions/{version}/activate``: it routes from the next lead on."""
    _admins_only(session)
    try:
        row = flows.activate(db=request.app.state.db, name=flows.FLOW_NAME, version=version)
        message = f"version {row.version} is active: it routes the next lead (decisions already made keep their version)"
    except LeadwiseError as exc:
        message = str(exc)
    versions = _versions(request)
    active = next((row.version for row in versions if row.active), None)
    return _page(request, session, "_flow_versions.html", versions=versions, active=active, message=message)
