"""Migration 0006 adds key expiry, a rep's own status and the webhook tables (both dialects): existing
keys and reps keep working (no expiry, available), the schema matches the models, and the downgrade
removes it all again."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import inspect, text

from leadwise.store.db import Database
from leadwise.store.migrate import current_revision, downgrade, upgrade


def test_migration_0006_keeps_keys_and_reps_and_downgrades(url: str) -> None:
    db = Database.connect(url)
    upgrade(db.engine, "0004")
    now = datetime(2024, 1, 1, tzinfo=UTC)
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO reps (name, capacity, open_leads, out_of_office, sectors, products, series, "
                "seniority, weight, territories, accounts_owned, pools, active, created_at, updated_at, "
                "assigned_today, assigned_week) VALUES ('Ann', 5, 0, '[]', '[]', '[]', '[]', 'mid', 1.0, "
                "'[]', '[]', '[]', true, :t, :t, 0, 0)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO api_keys (name, prefix, key_hash, role, rep_id, created_at) "
                "VALUES ('k', 'lw_x', 'hash', 'rep', 1, :t)"
            ),
            {"t": now},
        )
        # Rows that reference the rep: a migration that copied ``reps`` would trip their foreign keys.
        conn.execute(
            text(
                "INSERT INTO leads (id, external_id, payload, status, blind, created_at, updated_at) "
                "VALUES (1, 'L', '{}', 'assigned', false, :t, :t)"
            ),
            {"t": now},
        )
        conn.execute(
            text(
                "INSERT INTO assignments (lead_id, rep_id, state, source, explanation, alternatives, created_at) "
                "VALUES (1, 1, 'offered', 'route', '{}', '[]', :t)"
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
