"""Key lifecycle through the HTTP API and the CLI: list without secrets, revoke (effective on another
worker within ``KEY_CACHE_SECONDS``), expiry."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import leadwise.api.deps as deps
from leadwise.api.app import create_app
from leadwise.cli import app as cli_app
from leadwise.services.models import ModelHolder
from leadwise.settings import Settings


def test_list_keys_shows_prefixes_never_secrets(env) -> None:
    listed = env.client.get("/v1/admin/keys", headers=env.h("admin")).json()
    assert listed["count"] == len(listed["data"]) == 5
    text = str(listed)
    for key in env.keys.values():
        assert key not in text
    assert "key_hash" not in text
    prefixes = {k["prefix"] for k in listed["data"]}
    assert {key[:10] for key in env.keys.values()} == prefixes
    rep_keys = [k for k in listed["data"] if k["role"] == "rep"]
    assert {k["rep_id"] for k in rep_keys} == {env.reps["Ann"], env.reps["Bob"]}


def test_revoked_key_gets_401_at_once_here_and_within_a_second_on_another_worker(env) -> None:
    created = env.client.post(
        "/v1/admin/keys", json={"role": "manager", "name": "temp"}, headers=env.h("admin")
    ).json()
    headers = {"X-API-Key": created["key"]}
    other_worker = create_app(env.settings, db=env.db, models=ModelHolder(env.settings), load_models=False)
    with TestClient(other_worker, raise_server_exceptions=False) as other:
        assert env.client.get("/v1/stats", headers=headers).status_code == 200
        assert other.get("/v1/stats", headers=headers).status_code == 200  # now cached there

        revoked = env.client.delete(f"/v1/admin/keys/{created['id']}", headers=env.h("admin"))
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        refused = env.client.get("/v1/stats", headers=headers)
        assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"

        time.sleep(deps.KEY_CACHE_SECONDS + 0.1)
        assert other.get("/v1/stats", headers=headers).status_code == 401

    listed = env.client.get("/v1/admin/keys", headers=env.h("admin")).json()
    assert created["id"] not in {k["id"] for k in listed["data"]}
    with_revoked = env.client.get("/v1/admin/keys?include_revoked=true", headers=env.h("admin")).json()
    assert created["id"] in {k["id"] for k in with_revoked["data"]}
    again = env.client.delete(f"/v1/admin/keys/{created['id']}", headers=env.h("admin"))
    assert again.status_code == 409
    assert env.client.delete("/v1/admin/keys/9999", headers=env.h("admin")).status_code == 404


def test_the_last_admin_key_cannot_be_revoked(env) -> None:
    admin_id = next(
        k["id"] for k in env.client.get("/v1/admin/keys", headers=env.h("admin")).json()["data"] if k["role"] == "admin"
    )
    answer = env.client.delete(f"/v1/admin/keys/{admin_id}", headers=env.h("admin"))
    assert answer.status_code == 409 and "last admin key" in answer.json()["detail"]
    assert env.client.get("/v1/admin/keys", headers=env.h("admin")).status_code == 200


def test_a_key_stops_working_at_its_expiry(env, monkeypatch: pytest.MonkeyPatch) -> None:
    expiry = datetime.now(UTC) + timedelta(hours=1)
    created = env.client.post(
        "/v1/admin/keys",
        json={"role": "integration", "expires_at": expiry.isoformat()},
        headers=env.h("admin"),
    ).json()
    headers = {"X-API-Key": created["key"]}
    assert env.client.post("/v1/score", json={"lead_id": "x"}, headers=headers).status_code != 401
    monkeypatch.setattr(deps, "utcnow", lambda: expiry + timedelta(seconds=1))  # cached or not
    refused = env.client.post("/v1/score", json={"lead_id": "x"}, headers=headers)
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]
    past = env.client.post(
        "/v1/admin/keys", json={"role": "integration", "expires_at": "2020-01-01T00:00:00Z"}, headers=env.h("admin")
    )
    assert past.status_code == 422 and "expires_at" in past.json()["detail"]
    naive = env.client.post(
        "/v1/admin/keys", json={"role": "integration", "expires_at": "2030-01-01T00:00:00"}, headers=env.h("admin")
    )
    assert naive.status_code == 422 and naive.json()["detail"][0]["loc"] == ["body", "expires_at"]


def test_cli_keys_create_list_revoke(isolated_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # Its own database (the cached settings reset: in the suite an earlier test's database, with its keys,
    # was listed) and a wide terminal (Rich wraps cells at the width, 80 columns without a terminal).
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    first = runner.invoke(cli_app, ["keys", "create", "--role", "admin", "--name", "ops"])
    second = runner.invoke(
        cli_app, ["keys", "create", "--role", "integration", "--name", "crm", "--expires", "2030-01-01T00:00:00Z"]
    )
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    secret = second.output.strip().splitlines()[-1]
    listed = runner.invoke(cli_app, ["keys", "list"])
    assert listed.exit_code == 0
    assert "crm" in listed.output and "2030-01-01" in listed.output and secret[:10] in listed.output
    assert secret not in listed.output
    revoked = runner.invoke(cli_app, ["keys", "revoke", "2"])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert "crm" not in runner.invoke(cli_app, ["keys", "list"]).output
    assert "revoked" in runner.invoke(cli_app, ["keys", "list", "--all"]).output
    again = runner.invoke(cli_app, ["keys", "revoke", "2"])
    assert again.exit_code == 2 and "already revoked" in again.output
    last_admin = runner.invoke(cli_app, ["keys", "revoke", "1"])
    assert last_admin.exit_code == 2 and "last admin key" in last_admin.output
    naive = runner.invoke(cli_app, ["keys", "create", "--role", "admin", "--expires", "2030-01-01"])
    assert naive.exit_code == 2 and "time zone" in naive.output
