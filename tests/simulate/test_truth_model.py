"""A world's truth served like a trained model: the same answers as the world's own truth files, and
registered under an alias of its own, loaded by the service's model holder like a champion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from leadwise.api.app import create_app
from leadwise.data.errors import DataValidationError
from leadwise.learn.demand_history import DemandHistory
from leadwise.learn.tracking import register_bundle
from leadwise.services.keys import create_key
from leadwise.services.models import ModelHolder
from leadwise.services.reps import create_rep
from leadwise.services.scoring import score_leads
from leadwise.settings import Settings
from leadwise.simulate.truth_model import TruthModels
from leadwise.simulate.world import generate_world
from leadwise.simulate.world_config import Engagement, WorldConfig
from leadwise.store.db import Database
from leadwise.store.migrate import upgrade

SMALL = WorldConfig(seed=3, n_history=500, n_stream=60, n_reps=5, n_accounts=25)


def test_the_truth_model_answers_the_world_s_own_true_p_win_and_values() -> None:
    world = generate_world(SMALL)
    truth = TruthModels(SMALL, world.params)
    shuffled = list(reversed(truth.reps))
    predicted = truth.predict(world.stream[["lead_id", "account", "product"]], reps=shuffled)
    order = [world.params.reps.index(name) for name in shuffled]
    np.testing.assert_allclose(predicted.fit, world.p_matrix[:, order])
    np.testing.assert_allclose(predicted.deal_value, world.stream["deal_value"].to_numpy())
    assert predicted.lead_ids == world.stream["lead_id"].tolist()
    with pytest.raises(DataValidationError, match="account"):
        truth.predict({"lead_id": ["x"], "account": ["Nowhere Ltd"], "product": ["GTX Pro"]})
    with pytest.raises(DataValidationError, match="rep"):
        truth.predict(world.stream.head(1), reps=["Nobody"])
    with pytest.raises(ValueError, match="engagement"):
        TruthModels(SMALL.model_copy(update={"engagement": Engagement(enabled=True)}), world.params)


def test_registered_under_its_alias_the_truth_is_what_the_service_loads(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", model_alias="truth")
    world = generate_world(SMALL)
    history = DemandHistory(
        leads=[{"lead_id": "h1", "account": world.params.accounts[0], "product": "GTX Pro"}],
        arrivals_per_hour=[1.0] * 168,
        arrivals_observed=10,
        closed_days=[5.0],
        open_days=[],
    )
    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)
    version = register_bundle(
        TruthModels(SMALL, world.params), settings=settings, alias="truth", run_name="truth", demand_history=history
    )
    holder = ModelHolder(settings)
    assert holder.reload() and holder.current is not None, holder.last_error
    assert holder.current.fingerprint[0] == version and holder.current.models.demand_history == history
    figures = score_leads(
        loaded=holder.current, leads=world.stream.head(3).to_dict("records"), rep_names=world.params.reps
    )
    np.testing.assert_allclose(np.array([f.p_win for f in figures]), world.p_matrix[:3])

    # Through the service: best_fit sends the lead to the rep the truth favours, at the true P(win).
    db = Database.connect(f"sqlite:///{tmp_path / 'service.db'}")
    upgrade(db.engine)
    reps = {create_rep(db=db, fields={"name": name, "capacity": 5}).id: name for name in world.params.reps}
    admin, router = (create_key(db=db, role=role)[1] for role in ("admin", "integration"))
    app = create_app(settings.model_copy(update={"sla_sweep_seconds": 0, "model_poll_seconds": 0}), db=db, models=holder)
    with TestClient(app) as client:
        flow = '[pools.everyone]\n\n[[steps]]\npool = "everyone"\nstrategy = "best_fit"\n'
        published = client.post("/v1/flows", json={"source": flow, "format": "toml"}, headers={"X-API-Key": admin})
        assert published.status_code == 201, published.text
        lead = world.stream.iloc[0]
        routed = client.post(
            "/v1/route",
            json={"lead_id": lead["lead_id"], "account": lead["account"], "product": lead["product"]},
            headers={"X-API-Key": router},
        )
        assert routed.status_code == 201, routed.text
        best = int(np.argmax(world.p_matrix[0]))
        assert routed.json()["rep_name"] == world.params.reps[best]
        assert abs(routed.json()["p_win"] - world.p_matrix[0, best]) < 1e-9
    db.dispose()
    assert set(reps.values()) == set(world.params.reps)
