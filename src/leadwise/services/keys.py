"""API keys: created with a role (and a rep for rep keys); only their hash is stored."""

from __future__ import annotations

from dataclasses import dataclass

from leadwise.errors import InvalidInput, NotFound
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import ROLES


def create_key(
    *, db: Database, role: str, name: str = "api key", rep_id: int | None = None
) -> tuple[int, str]:
    """A new key's id and the key itself (shown once)."""
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} unknown (one of {', '.join(ROLES)})")
    if role == "rep" and rep_id is None:
        raise InvalidInput("a rep key needs the rep it acts for (rep_id)")
    if role != "rep" and rep_id is not None:
        raise InvalidInput(f"only rep keys name a rep; a {role} key acts for the whole team")
    with db.write_session() as session:
        if rep_id is not None and repo.get_rep(session=session, rep_id=rep_id) is None:
            raise NotFound(f"rep {rep_id} not found")
        row, key = repo.create_api_key(session=session, role=role, name=name, rep_id=rep_id)
        return row.id, key


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a key's id, its role and, for a rep key, its rep."""

    key_id: int
    role: str
    rep_id: int | None

    def is_rep(self) -> bool:
        return self.role == "rep"


def principal_of(*, db: Database, key: str) -> Principal | None:
    """The principal of an API key; None when no stored key matches."""
    with db.read_session() as session:
        row = repo.find_api_key(session=session, key=key)
        return None if row is None else Principal(key_id=row.id, role=row.role, rep_id=row.rep_id)


def ensure_admin_key(*, db: Database) -> str | None:
    """Create an admin key if the database has no key at all; returns it (to print once) or None."""
    with db.read_session() as session:
        if repo.count_api_keys(session=session) > 0:
            return None
    _, key = create_key(db=db, role="admin", name="initial admin key")
    return key
