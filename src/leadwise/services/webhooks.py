"""Webhooks: admins subscribe a URL to assignment events; each event is written to an outbox
(``webhook_deliveries``) in the transaction of the change it announces, and delivered from a
background thread, signed with HMAC-SHA256 and retried with exponential back-off. The outbox rows stay
as the subscription's delivery log.

- Durable: an event is in the outbox exactly when its change committed (``events.changes_ready``), so
  a crash or restart loses nothing; the next worker to start delivers what is due.
- Off the request path: a request only inserts outbox rows; posting happens in ``WebhookWorker``'s
  thread, woken after each commit (``events.assignment_changed``) and polling every
  ``webhook_poll_seconds`` for retries and for rows other workers wrote.
- Several workers: a worker claims a due row with a conditional UPDATE (``locked_until``) before posting
  it, so no delivery is posted twice at once.
- Signature: header ``X-Leadwise-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``
  over the exact bytes of the body; a receiver recomputes it and compares in constant time
  (``verify_signature``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from cachetools import TTLCache
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from leadwise.errors import InvalidInput, NotFound
from leadwise.services import events
from leadwise.settings import Settings
from leadwise.store.db import Database
from leadwise.store.models import (
    WEBHOOK_EVENTS,
    WebhookDeliveryRow,
    WebhookSubscriptionRow,
    utcnow,
)

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Leadwise-Signature"
LEASE = timedelta(seconds=60)  # a claimed delivery is another worker's again after this (a crash mid-post)
BATCH = 50  # deliveries claimed per round
SUBSCRIPTIONS_CACHE_SECONDS = 1.0  # a new or deleted subscription reaches every worker's outbox within this


# ------------------------------------------------------------------------------------ subscriptions


def create_subscription(
    *, db: Database, url: str, events_wanted: Sequence[str], description: str | None, secret: str | None
) -> WebhookSubscriptionRow:
    """A new subscription; its ``secret`` (generated unless given) is shown once, in this answer."""
    unknown = sorted(set(events_wanted) - set(WEBHOOK_EVENTS))
    if unknown or not events_wanted:
        raise InvalidInput(f"events: {unknown or 'none'} (known: {', '.join(WEBHOOK_EVENTS)})")
    with db.write_session() as session:
        row = WebhookSubscriptionRow(
            url=url,
            secret=secret or "whsec_" + secrets.token_urlsafe(32),
            events=sorted(set(events_wanted), key=WEBHOOK_EVENTS.index),
            description=description,
            active=True,
            created_at=utcnow(),
        )
        session.add(row)
        session.flush()
    _SUBSCRIPTIONS.clear()
    return row


def list_subscriptions(*, db: Database, include_deleted: bool = False) -> list[WebhookSubscriptionRow]:
    with db.read_session() as session:
        query = select(WebhookSubscriptionRow).order_by(WebhookSubscriptionRow.id)
        if not include_deleted:
            query = query.where(WebhookSubscriptionRow.active.is_(True))
        return list(session.scalars(query))


def delete_subscription(*, db: Database, subscription_id: int) -> WebhookSubscriptionRow:
    """Stop the subscription: no new deliveries, and its pending ones are marked failed. Its delivery
    log is kept."""
    with db.write_session() as session:
        row = session.get(WebhookSubscriptionRow, subscription_id)
        if row is None or not row.active:
            raise NotFound(f"webhook subscription {subscription_id} not found")
        row.active = False
        session.execute(
            update(WebhookDeliveryRow)
            .where(WebhookDeliveryRow.subscription_id == row.id, WebhookDeliveryRow.status == "pending")
            .values(status="failed", last_error="subscription deleted")
        )
        session.flush()
    _SUBSCRIPTIONS.clear()
    return row


def deliveries(
    *, db: Database, subscription_id: int, status: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[WebhookDeliveryRow], int]:
    """A subscription's delivery log, newest first, one page and the total."""
    with db.read_session() as session:
        if session.get(WebhookSubscriptionRow, subscription_id) is None:
            raise NotFound(f"webhook subscription {subscription_id} not found")
        conditions: list[Any] = [WebhookDeliveryRow.subscription_id == subscription_id]
        if status is not None:
            conditions.append(WebhookDeliveryRow.status == status)
        total = session.scalar(select(func.count()).select_from(WebhookDeliveryRow).where(*conditions)) or 0
        rows = session.scalars(
            select(WebhookDeliveryRow).where(*conditions).order_by(WebhookDeliveryRow.id.desc()).limit(limit).offset(offset)
        )
        return list(rows), int(total)


# ------------------------------------------------------------------------------------------- outbox

# Per database (tests run several): the active subscriptions' ids and events, so that routing a lead
# costs no query for them more than once a second.
_SUBSCRIPTIONS: TTLCache[str, list[tuple[int, frozenset[str]]]] = TTLCache(maxsize=64, ttl=SUBSCRIPTIONS_CACHE_SECONDS)
_SUBSCRIPTIONS_LOCK = threading.Lock()


def _active(session: Session) -> list[tuple[int, frozenset[str]]]:
    key = str(session.get_bind().engine.url)
    with _SUBSCRIPTIONS_LOCK:
        cached = _SUBSCRIPTIONS.get(key)
    if cached is None:
        query = select(WebhookSubscriptionRow.id, WebhookSubscriptionRow.events).where(
            WebhookSubscriptionRow.active.is_(True)
        )
        cached = [(sid, frozenset(wanted)) for sid, wanted in session.execute(query)]
        with _SUBSCRIPTIONS_LOCK:
            _SUBSCRIPTIONS[key] = cached
    return cached


def payload_of(change: events.AssignmentChanged) -> dict[str, Any]:
    return {
        "event": change.event,
        "occurred_at": change.at.isoformat().replace("+00:00", "Z"),
        "assignment_id": change.assignment_id,
        "lead_id": change.lead_id,
        "rep_id": change.rep_id,
        "state": change.state,
        "source": change.source,
        "reason": change.reason,
    }


def write_outbox(session: Session, *, pending: Sequence[events.Event]) -> None:
    """``events.changes_ready`` receiver: one outbox row per assignment event and subscription wanting it."""
    changes = [e for e in pending if isinstance(e, events.AssignmentChanged)]
    if not changes:
        return
    subscriptions = _active(session)
    rows = [
        {
            "subscription_id": sid,
            "event": change.event,
            "payload": payload_of(change),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": change.at,
            "created_at": change.at,
        }
        for change in changes
        for sid, wanted in subscriptions
        if change.event in wanted
    ]
    if rows:
        session.execute(insert(WebhookDeliveryRow), rows)


def write_outbox_in_transactions() -> None:
    """Write the outbox in every transaction of this process (idempotent: blinker keeps one)."""
    events.changes_ready.connect(write_outbox)


# ------------------------------------------------------------------------------------------ signing


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(secret: str, body: bytes, header: str, *, tolerance_seconds: float = 300) -> bool:
    """What a receiver does: the header's HMAC matches the body, and its timestamp is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), f"t={timestamp},v1={parts.get('v1', '')}")


# ----------------------------------------------------------------------------------------- delivery


@dataclass(frozen=True)
class _Due:
    id: int
    event: str
    payload: dict[str, Any]
    attempts: int
    url: str
    secret: str


def backoff(settings: Settings, attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: doubling from the base, capped."""
    seconds = min(settings.webhook_backoff_seconds * 2 ** (attempts - 1), settings.webhook_backoff_max_seconds)
    return timedelta(seconds=seconds)


class WebhookWorker:
    """Delivers the outbox from one thread per worker process."""

    def __init__(self, *, db: Database, settings: Settings, client: httpx.Client | None = None) -> None:
        self.db = db
        self.settings = settings
        self.client = client or httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        events.assignment_changed.connect(self._on_change)
        self._thread = threading.Thread(target=self._run, name="leadwise-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        events.assignment_changed.disconnect(self._on_change)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.webhook_timeout_seconds + 5)
        self.client.close()

    def _on_change(self, _: object) -> None:
        self._wake.set()  # after a commit: deliver now rather than at the next poll

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.webhook_poll_seconds)
            self._wake.clear()
            try:
                while not self._stop.is_set() and self.deliver_due() == BATCH:
                    pass
            except Exception:
                log.exception("webhook delivery round failed")

    def deliver_due(self) -> int:
        """Claim the due deliveries, post each once, record what happened; returns how many."""
        due = self._claim()
        results = [(item, self._post(item)) for item in due]
        if results:
            self._record(results)
        return len(due)

    def _claim(self) -> list[_Due]:
        now = utcnow()
        unlocked = or_(WebhookDeliveryRow.locked_until.is_(None), WebhookDeliveryRow.locked_until < now)
        # Looked for in a read session: an idle poll must not take the (SQLite) writer lock every second.
        with self.db.read_session() as session:
            candidates = session.scalars(
                select(WebhookDeliveryRow.id)
                .where(WebhookDeliveryRow.status == "pending", WebhookDeliveryRow.next_attempt_at <= now, unlocked)
                .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
                .limit(BATCH)
            ).all()
        if not candidates:
            return []
        with self.db.write_session() as session:
            # One conditional UPDATE claims what no other worker took meanwhile; RETURNING says which.
            claimed = session.scalars(
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.id.in_(candidates), WebhookDeliveryRow.status == "pending", unlocked)
                .values(locked_until=now + LEASE)
                .returning(WebhookDeliveryRow.id)
            ).all()
            rows = session.execute(
                select(
                    WebhookDeliveryRow.id,
                    WebhookDeliveryRow.event,
                    WebhookDeliveryRow.payload,
                    WebhookDeliveryRow.attempts,
                    WebhookSubscriptionRow.url,
                    WebhookSubscriptionRow.secret,
                )
                .join(WebhookSubscriptionRow, WebhookSubscriptionRow.id == WebhookDeliveryRow.subscription_id)
                .where(WebhookDeliveryRow.id.in_(claimed))
                .order_by(WebhookDeliveryRow.next_attempt_at, WebhookDeliveryRow.id)
            ).all()
        return [_Due(row.id, row.event, row.payload, row.attempts, row.url, row.secret) for row in rows]

    def _post(self, item: _Due) -> tuple[int | None, str | None]:
        """One attempt: the receiver's status (None when it was not reached) and an error, if any."""
        body = json.dumps(item.payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "leadwise-webhooks/1",
            "X-Leadwise-Event": item.event,
            "X-Leadwise-Delivery": str(item.id),
            SIGNATURE_HEADER: sign(item.secret, body, int(time.time())),
        }
        try:
            response = self.client.post(item.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"

    def _record(self, results: list[tuple[_Due, tuple[int | None, str | None]]]) -> None:
        now = utcnow()
        with self.db.write_session() as session:
            for item, (status_code, error) in results:
                attempts = item.attempts + 1
                values: dict[str, Any] = {"attempts": attempts, "last_status_code": status_code, "locked_until": None}
                if error is None:
                    values |= {"status": "delivered", "delivered_at": now, "last_error": None}
                elif attempts >= self.settings.webhook_max_attempts:
                    values |= {"status": "failed", "last_error": error}
                else:
                    values |= {"last_error": error, "next_attempt_at": now + backoff(self.settings, attempts)}
                # Only a still-pending row: a subscription deleted meanwhile has failed it for good.
                session.execute(
                    update(WebhookDeliveryRow)
                    .where(WebhookDeliveryRow.id == item.id, WebhookDeliveryRow.status == "pending")
                    .values(**values)
                )
