"""Publishing and listing routing flow versions."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leadwise.services.engine_bridge import FlowFormat, parse_definition
from leadwise.services.errors import Conflict
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import RoutingFlowRow


def list_flows(*, session: Session, name: str | None = None) -> list[RoutingFlowRow]:
    return repo.list_flows(session=session, name=name)


def publish(*, db: Database, name: str, text: str, fmt: FlowFormat) -> RoutingFlowRow:
    """Validate ``text`` (``InvalidFlow`` names the line and field: 422) and store it as the next version."""
    _, definition = parse_definition(text, fmt=fmt, source=f"flow {name!r}")
    try:
        with db.write_session() as session:
            return repo.publish_flow(session=session, name=name, definition=definition)
    except IntegrityError as exc:  # two publications of the same name at once: one version number each
        raise Conflict(f"flow {name!r} was published concurrently; publish again") from exc
