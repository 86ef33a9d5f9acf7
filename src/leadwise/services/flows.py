"""Routing flows in the store: stored versions as ``Flow`` objects (the active one for routing), the
default flow seeded into an empty database, publishing and listing versions."""

from __future__ import annotations

import difflib
import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cachetools import LRUCache
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leadwise.errors import Conflict, InvalidInput, NotFound
from leadwise.routing import Flow, InvalidFlow, parse_flow
from leadwise.routing.flows import BUNDLED_FLOWS_DIR
from leadwise.settings import Settings
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import RoutingFlowRow

log = logging.getLogger(__name__)

StoredFlow = RoutingFlowRow  # a stored flow version, as the API reads it

# The one flow routing uses. Publishing under another name is refused (it would never route a lead); the
# file's own ``name`` is the version's label, shown in listings and diffs.
FLOW_NAME = "default"
FlowFormat = Literal["toml", "yaml"]

# Used only while a database has no flow at all (seeding failed): every rep, load balancing.
FALLBACK_FLOW = Flow.single("load_balancing")


@dataclass(frozen=True)
class FlowVersion:
    id: int | None
    version: int | None
    flow: Flow
    published_at: datetime | None = None


def parse_definition(text: str, *, fmt: FlowFormat, source: str) -> tuple[Flow, dict[str, Any]]:
    """Validate a flow file's text with the routing package's loader (``InvalidFlow`` names the line) and
    build what is stored: the text as written and the validated flow."""
    flow = parse_flow(text, fmt=fmt, source=source)
    return flow, {"format": fmt, "source": text, "flow": flow.model_dump(mode="json")}


# Stored versions never change (a change is a new version), so a parsed flow is cached by row id and
# creation time (the time tells apart two databases whose ids coincide, e.g. in tests).
_FLOWS: LRUCache[tuple[int, datetime], Flow] = LRUCache(maxsize=1000)
_FLOWS_LOCK = threading.Lock()


def flow_of(row: RoutingFlowRow | None) -> FlowVersion:
    if row is None:
        return FlowVersion(id=None, version=None, flow=FALLBACK_FLOW)
    key = (row.id, row.created_at)
    with _FLOWS_LOCK:
        flow = _FLOWS.get(key)
    if flow is None:
        flow = Flow.model_validate(row.definition["flow"])
        with _FLOWS_LOCK:
            _FLOWS[key] = flow
    return FlowVersion(id=row.id, version=row.version, flow=flow, published_at=row.created_at)


def current_flow(session: Session, name: str = FLOW_NAME) -> FlowVersion:
    """The active version of flow ``name``: one small query, the parsed flow from the cache."""
    head = repo.active_flow_head(session=session, name=name)
    if head is None:
        return FlowVersion(id=None, version=None, flow=FALLBACK_FLOW)
    with _FLOWS_LOCK:  # an LRU read reorders the cache
        flow = _FLOWS.get((head[0], head[2]))
    if flow is not None:
        return FlowVersion(id=head[0], version=head[1], flow=flow, published_at=head[2])
    return flow_of(session.get(RoutingFlowRow, head[0]))


def fairness_window(flow: Flow) -> timedelta | None:
    """The longest rolling window any fairness bound of ``flow`` looks at; None when it has no bound."""
    bounds = [b for b in (flow.fairness, *(s.fairness for s in flow.steps)) if b is not None and b.active]
    return max((b.window for b in bounds), default=None)


def default_flow_file(settings: Settings) -> Path:
    return settings.flow_file or BUNDLED_FLOWS_DIR / "default.toml"


def ensure_default_flow(*, db: Database, settings: Settings) -> int | None:
    """Publish the flow file as version 1 of the routing flow when the database has none; returns the
    version published (None when one existed). Several workers starting at once: one insert wins."""
    with db.read_session() as session:
        if repo.count_flows(session=session, name=FLOW_NAME) > 0:
            return None
    path = default_flow_file(settings)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        log.warning("no flow seeded: cannot read %s (%s); routing uses load balancing", path, exc.strerror)
        return None
    fmt: FlowFormat = "yaml" if path.suffix.lower() in {".yaml", ".yml"} else "toml"
    try:
        _, definition = parse_definition(text, fmt=fmt, source=str(path))
    except InvalidFlow as exc:
        log.error("no flow seeded: %s", exc)
        return None
    try:
        with db.write_session() as session:
            if repo.count_flows(session=session, name=FLOW_NAME) > 0:
                return None
            row = repo.publish_flow(session=session, name=FLOW_NAME, definition=definition)
            version = row.version
    except IntegrityError:  # another worker seeded it between our check and insert
        return None
    log.info("seeded routing flow %r version %s from %s", FLOW_NAME, version, path)
    return version


def active_flow_version(db: Database, name: str = FLOW_NAME) -> FlowVersion:
    """The active version of flow ``name``, read in its own session (health, background jobs)."""
    with db.read_session() as session:
        return current_flow(session, name)


def list_flows(*, session: Session, name: str | None = None) -> list[RoutingFlowRow]:
    return repo.list_flows(session=session, name=name)


class NotTheRoutingFlow(InvalidInput):
    """A flow published under a name routing does not use."""

    code = "invalid_flow_name"


def refuse_other_names(name: str) -> None:
    if name != FLOW_NAME:
        raise NotTheRoutingFlow(
            f"name: routing uses the flow {FLOW_NAME!r} only, so a flow named {name!r} would never route a "
            f"lead; publish it as a new version of {FLOW_NAME!r} (the file's own `name` labels the version)"
        )


def publish(*, db: Database, name: str, text: str, fmt: FlowFormat) -> RoutingFlowRow:
    """Validate ``text`` (``InvalidFlow`` names the line and field: 422) and store it as the next version."""
    refuse_other_names(name)
    _, definition = parse_definition(text, fmt=fmt, source=f"flow {name!r}")
    try:
        with db.write_session() as session:
            return repo.publish_flow(session=session, name=name, definition=definition)
    except IntegrityError as exc:  # two publications of the same name at once: one version number each
        raise Conflict(f"flow {name!r} was published concurrently; publish again") from exc


def stored_version(session: Session, name: str, version: int) -> RoutingFlowRow:
    row = repo.get_flow_version(session=session, name=name, version=version)
    if row is None:
        raise NotFound(f"flow {name!r} has no version {version}")
    return row


def activate(*, db: Database, name: str, version: int) -> RoutingFlowRow:
    """Make a stored version (an earlier one: a rollback) the one routing uses from the next lead on.
    Decisions keep the version that made them; activating the active version changes nothing."""
    with db.write_session() as session:
        row = stored_version(session, name, version)
        repo.activate_flow(session=session, row=row)
        log.info("flow %r version %s activated", name, version)
        return row


@dataclass(frozen=True)
class FlowDiff:
    source: str  # unified diff of the two files as written
    flow: str  # unified diff of the two validated flows (every default filled in), as sorted JSON


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def diff(*, session: Session, name: str, from_version: int, to_version: int) -> FlowDiff:
    """What changed from one stored version to another: the text, and the validated flow (which shows
    a change of meaning even when only a default moved)."""
    old, new = stored_version(session, name, from_version), stored_version(session, name, to_version)
    labels = (f"{name} v{from_version}", f"{name} v{to_version}")

    def as_json(row: RoutingFlowRow) -> str:
        # Re-validated, so two versions stored by different leadwise releases (a new setting's default, a
        # shorter form of a condition) differ only where their meaning does.
        return json.dumps(flow_of(row).flow.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"

    return FlowDiff(
        source="".join(
            difflib.unified_diff(
                _lines(str(old.definition.get("source", ""))), _lines(str(new.definition.get("source", ""))), *labels
            )
        ),
        flow="".join(difflib.unified_diff(_lines(as_json(old)), _lines(as_json(new)), *labels)),
    )
