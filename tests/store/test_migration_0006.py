"""Migration 0006 adds key expiry, a rep's own status and the webhook tables (both dialects): existing
keys and reps keep working (no expiry, available), the schema matches the models, and the downgrade
removes it all again."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text
from tests.store.conftest import insert_rep_with_offer

from leadwise.store.db import Database
from leadwise.store.migrate import current_revision, downgrade, upgrade


def test_migration_0006_keeps_keys_and_reps_and_downgrades(url: str) -> None:
    db = Database.connect(url)
    upgrade(db.engine, "0004")
    now = datetime(2024, 1, 1, tzinfo=UTC)
    insert_rep_with_offer(db, now)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO api_keys (name, prefix, key_hash, role, rep_id, created_at) "
                "VALUES ('k', 'lw_x', 'hash', 'rep', 1, :t)"
            ),
            {"t": now},
        )
    assert upgrade(db.engine, "0006") == "0006"  # the schema at the head equals the models: test_migration_0004
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT status, status_changed_at FROM reps")).one() == ("available", None)
        assert conn.execute(text("SELECT expires_at FROM api_keys")).scalar_one() is None
    inspector = inspect(db.engine)
    assert inspector.has_table("webhook_subscriptions") and inspector.has_table("webhook_deliveries")

    downgrade(db.engine, "0004")
    inspector = inspect(db.engine)
    assert current_revision(db.engine) == "0004"
    assert not inspector.has_table("webhook_deliveries")
    assert "status" not in {c["name"] for c in inspector.get_columns("reps")}
    assert "expires_at" not in {c["name"] for c in inspector.get_columns("api_keys")}
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM reps")).scalar_one() == "Ann"
    db.dispose()
