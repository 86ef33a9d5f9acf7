"""Property-based requests generated from the OpenAPI schema: no input may produce a 5xx (bounded run)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from leadwise.api.app import create_app


@pytest.fixture
def api_schema(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: Path, world_models
) -> Iterator[object]:
    # One app for the whole run (function-scoped fixtures are not reset between hypothesis examples).
    import shutil

    from leadwise.services.keys import create_key
    from leadwise.services.models import ModelHolder
    from leadwise.services.reps import create_rep
    from leadwise.settings import Settings
    from leadwise.store.db import Database

    tmp = tmp_path_factory.mktemp("schemathesis")
    shutil.copy(migrated_template, tmp / "api.db")
    cfg = Settings(database_url=f"sqlite:///{tmp / 'api.db'}", sla_sweep_seconds=0, model_poll_seconds=0)
    db = Database.connect(cfg.database_url)
    for name in ("Ann", "Bob"):
        create_rep(db=db, fields={"name": name, "capacity": 3})
    _, key = create_key(db=db, role="admin")
    holder = ModelHolder(cfg)
    holder.install(world_models)  # with a model /v1/score answers 200, so any 5xx is a real failure
    app = create_app(cfg, db=db, models=holder, load_models=False)
    from fastapi.testclient import TestClient

    with TestClient(app):  # runs the lifespan
        yield schemathesis.openapi.from_asgi("/openapi.json", app), {"Authorization": f"Bearer {key}"}
    db.dispose()


def test_no_server_error(api_schema) -> None:
    schema, headers = api_schema
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case) -> None:
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
                )
            case.validate_response(response, checks=[not_a_server_error])

        run()
    assert failures == []
