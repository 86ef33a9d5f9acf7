"""Reps: create, change, list, and import from ``sales_teams.csv``."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leadwise.data.crm import PIPELINE_COLUMNS, PIPELINE_FILE, load_crm_dir
from leadwise.errors import Conflict, InvalidInput, NotFound
from leadwise.routing.conditions import Condition
from leadwise.routing.directory import reps_from_sales_teams
from leadwise.routing.domain import Rep
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import RepRow, utcnow

SALES_TEAMS_COLUMNS = ("sales_agent", "manager", "regional_office")
FILTER_COLUMNS = ("accepts", "prefers")  # optional: a rep's own filter and preference, JSON in the cell


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    """Nested pydantic values (hours, out-of-office periods) as JSON for the JSON columns."""
    out = dict(fields)
    if out.get("hours") is not None:
        hours = out["hours"]
        out["hours"] = hours if isinstance(hours, dict) else hours.model_dump(mode="json")
    for name in ("out_of_office", "capacity_windows"):
        if out.get(name) is not None:
            out[name] = [
                p if isinstance(p, dict) else p.model_dump(mode="json", exclude_none=True) for p in out[name]
            ]
    for key in ("accepts", "prefers"):  # a rep's filters: only the tests given; an empty one is none
        if isinstance(out.get(key), Condition):
            out[key] = out[key].model_dump(mode="json")
        if key in out and not out[key]:
            out[key] = None
    return out


def create_rep(*, db: Database, fields: dict[str, Any]) -> RepRow:
    try:
        with db.write_session() as session:
            if repo.get_rep_by_name(session=session, name=fields["name"]) is not None:
                raise Conflict(f"a rep named {fields['name']!r} already exists")
            row = RepRow(**_jsonable(fields), open_leads=0)
            session.add(row)
            session.flush()
            return row
    except IntegrityError as exc:  # a concurrent create of the same name
        raise Conflict(f"a rep named {fields['name']!r} already exists") from exc


def update_rep(*, db: Database, rep_id: int, changes: dict[str, Any]) -> RepRow:
    with db.write_session() as session:
        row = repo.lock_rep(session=session, rep_id=rep_id)
        if row is None:
            raise NotFound(f"rep {rep_id} not found")
        changes = _jsonable(changes)
        if "name" in changes and changes["name"] != row.name:
            other = repo.get_rep_by_name(session=session, name=changes["name"])
            if other is not None:
                raise Conflict(f"a rep named {changes['name']!r} already exists")
        capacity = changes.get("capacity")
        if capacity is not None and capacity < row.open_leads:
            raise Conflict(
                f"rep {rep_id} has {row.open_leads} open leads: capacity cannot go below that "
                "(reassign or close some first)"
            )
        for key, value in changes.items():
            setattr(row, key, value)
        session.flush()
        return row


def set_status(*, db: Database, rep_id: int, status: str) -> RepRow:
    """The rep's own available/away: routing passes an away rep by (like out of office) until it is
    available again; its open leads stay with it."""
    with db.write_session() as session:
        row = repo.lock_rep(session=session, rep_id=rep_id)
        if row is None:
            raise NotFound(f"rep {rep_id} not found")
        if row.status != status:
            row.status, row.status_changed_at = status, utcnow()
            session.flush()
        return row


def list_reps(*, session: Session, active_only: bool = False) -> list[RepRow]:
    return repo.list_reps(session=session, active_only=active_only)


def get_rep(*, session: Session, rep_id: int) -> RepRow:
    row = repo.get_rep(session=session, rep_id=rep_id)
    if row is None:
        raise NotFound(f"rep {rep_id} not found")
    return row


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int


def _condition_cell(path: Path, column: str, line: int, cell: str) -> dict[str, Any] | None:
    """A rep filter written in a CSV cell as JSON (``{"fields.priority": {"in": ["high"]}}``), validated
    as the API validates it; empty: none. InvalidInput names the file, column and row."""
    if not cell.strip():
        return None
    try:
        condition = Condition.model_validate(json.loads(cell))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: column {column!r} at row {line}: not JSON ({exc.msg})") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or column
        raise InvalidInput(f"{path}: column {column!r} at row {line}: {where}: {err['msg']}") from None
    return condition.model_dump(mode="json") or None


def read_sales_teams(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``sales_teams.csv``; InvalidInput names the file, column and row of the first problem.

    Optional ``accepts`` and ``prefers`` columns hold a rep's filters as JSON (the API's condition
    language); an empty cell is none."""
    if not path.is_file():
        raise InvalidInput(f"{path}: file not found")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in SALES_TEAMS_COLUMNS if c not in header]
        if missing:
            raise InvalidInput(f"{path}: column {missing[0]!r} missing (row 1, the header)")
        rows: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        filters = [c for c in FILTER_COLUMNS if c in header]
        for line, raw in enumerate(reader, start=2):
            row: dict[str, Any] = {c: (raw.get(c) or "").strip() for c in SALES_TEAMS_COLUMNS}
            for column in filters:
                row[column] = _condition_cell(path, column, line, raw.get(column) or "")
            if not row["sales_agent"]:
                raise InvalidInput(f"{path}: column 'sales_agent' is empty at row {line}")
            if len(row["sales_agent"]) > 200:
                raise InvalidInput(f"{path}: column 'sales_agent' longer than 200 characters at row {line}")
            if row["sales_agent"] in seen:
                raise InvalidInput(
                    f"{path}: column 'sales_agent' repeats {row['sales_agent']!r} at row {line} "
                    f"(first at row {seen[row['sales_agent']]})"
                )
            seen[row["sales_agent"]] = line
            rows.append(row)
    return rows


def profiles_from_history(directory: Path) -> dict[str, Rep]:
    """What the CRM history beside a ``sales_teams.csv`` says of each rep, by name: seniority (thirds by
    closed deals), skills (the sectors, products and series with the most won deals), owned accounts
    (the rep with the most won value on each) and win rate (``routing.directory.reps_from_sales_teams``).
    Empty when the directory has no ``sales_pipeline.csv``; bad history files raise ``InvalidInput``
    naming file, column and row."""
    if not (directory / PIPELINE_FILE).is_file():
        return {}
    history = load_crm_dir(directory)  # cleaned as training cleans it (product variants, sector typos)
    pipeline = history.deals.rename(columns={"lead_id": "opportunity_id"})[list(PIPELINE_COLUMNS)]
    reps = reps_from_sales_teams(
        history.teams, pipeline, history.accounts, history.products, assign_account_owners=True
    )
    return {rep.name: rep for rep in reps}


def _history_fields(rep: Rep | None) -> dict[str, Any]:
    if rep is None:
        return {}
    return {
        "seniority": rep.seniority.value,
        "sectors": sorted(rep.sectors),
        "products": sorted(rep.products),
        "series": sorted(rep.series),
        "accounts_owned": sorted(rep.accounts),
        "win_rate": rep.win_rate,
    }


def import_sales_teams(*, db: Database, path: Path, capacity: int) -> ImportResult:
    """Create the reps of ``path`` and update the manager/office of those already there (by name). New
    reps take their seniority, skills, owned accounts and win rate from the history beside the file
    (``profiles_from_history``), so a flow's seniority, specialist and account-owner steps can match.

    Routing settings of existing reps (capacity, hours, skills ...) are left as they are, but for the
    ``accepts`` / ``prefers`` filters when the file has those columns: the file says them.
    """
    rows = read_sales_teams(path)
    history = profiles_from_history(path.parent)
    created = updated = unchanged = 0
    with db.write_session() as session:
        existing = {r.name: r for r in repo.list_reps(session=session)}
        for row in rows:
            name, manager, office = row["sales_agent"], row["manager"] or None, row["regional_office"] or None
            filters = {key: row[key] for key in FILTER_COLUMNS if key in row}
            rep = existing.get(name)
            if rep is None:
                session.add(
                    RepRow(
                        name=name,
                        manager=manager,
                        team=manager,
                        region=office,
                        capacity=capacity,
                        open_leads=0,
                        pools=["default", office] if office else ["default"],
                        **_history_fields(history.get(name)),
                        **filters,
                    )
                )
                created += 1
                continue
            changes = {"manager": manager, "region": office, **filters}
            if any(getattr(rep, key) != value for key, value in changes.items()):
                for key, value in changes.items():
                    setattr(rep, key, value)
                updated += 1
            else:
                unchanged += 1
    return ImportResult(created=created, updated=updated, unchanged=unchanged)
