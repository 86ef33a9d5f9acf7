"""API keys: created with a role (and a rep for rep keys), optionally expiring; only their hash is stored.
Listed without any secret, revoked by id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from leadwise.errors import Conflict, InvalidInput, NotFound
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.models import ROLES, ApiKeyRow, utcnow


def create_key(
    *,
    db: Database,
    role: str,
    name: str = "api key",
    rep_id: int | None = None,
    expires_at: datetime | None = None,
) -> tuple[int, str]:
    """A new key's id and the key itself (shown once)."""
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput(f"expires_at {expires_at.isoformat()} is not in the future")
    if role not in ROLES:
        raise InvalidInput(f"role {role!r} unknown (one of {', '.join(ROLES)})")
    if role == "rep" and rep_id is None:
        raise InvalidInput("a rep key needs the rep it acts for (rep_id)")
    if role != "rep" and rep_id is not None:
        raise InvalidInput(f"only rep keys name a rep; a {role} key acts for the whole team")
    with db.write_session() as session:
        if rep_id is not None and repo.get_rep(session=session, rep_id=rep_id) is None:
            raise NotFound(f"rep {rep_id} not found")
        row, key = repo.create_api_key(
            session=session, role=role, name=name, rep_id=rep_id, expires_at=expires_at
        )
        return row.id, key


def list_keys(*, db: Database, include_revoked: bool = False) -> list[ApiKeyRow]:
    """Every key (its prefix, never the key nor its hash), oldest first."""
    with db.read_session() as session:
        return repo.list_api_keys(session=session, include_revoked=include_revoked)


def revoke_key(*, db: Database, key_id: int) -> ApiKeyRow:
    """Revoke a key for good: from now on it authenticates nothing (every worker checks the database
    at least once a second, see ``leadwise.api.deps.KEY_CACHE_SECONDS``). A revoked key answers 409."""
    with db.write_session() as session:
        row = session.get(ApiKeyRow, key_id)
        if row is None:
            raise NotFound(f"key {key_id} not found")
        if row.revoked_at is not None:
            raise Conflict(f"key {key_id} was already revoked at {row.revoked_at.isoformat()}")
        if row.role == "admin" and repo.count_api_keys(session=session, role="admin") <= 1:
            raise Conflict(f"key {key_id} is the last admin key: create another admin key before revoking it")
        row.revoked_at = utcnow()
        session.flush()
        return row


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a key's id, its role and, for a rep key, its rep."""

    key_id: int
    role: str
    rep_id: int | None
    expires_at: datetime | None = None

    def is_rep(self) -> bool:
        return self.role == "rep"

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


def principal_of(*, db: Database, key: str) -> Principal | None:
    """The principal of an API key; None when no stored key matches (or it was revoked)."""
    return principal_of_hash(db=db, key_hash=repo.hash_key(key))


def principal_of_hash(*, db: Database, key_hash: str) -> Principal | None:
    """The principal of the key with this hash (a console session); None when unknown or revoked."""
    with db.read_session() as session:
        row = repo.find_api_key_by_hash(session=session, key_hash=key_hash)
        if row is None:
            return None
        return Principal(key_id=row.id, role=row.role, rep_id=row.rep_id, expires_at=row.expires_at)


def ensure_admin_key(*, db: Database) -> str | None:
    """Create an admin key if the database has no key at all; returns it (to print once) or None."""
    with db.read_session() as session:
        if repo.count_api_keys(session=session) > 0:
            return None
    _, key = create_key(db=db, role="admin", name="initial admin key")
    return key
