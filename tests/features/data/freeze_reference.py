"""Freezes ``reference.npz``: the features and predictions of the code at 90a7b44 (two scoring paths).

Run once against that commit (``PYTHONPATH=<checkout of 90a7b44>/src python freeze_reference.py``); the
tests in ``tests/features/test_fast_path.py`` then hold the single scoring path to these numbers. It uses
the old API on purpose (``predict(..., fast=False)``, the frame features): it is the oracle's recipe.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository: ``tests`` imports

from tests.features.reference_leads import (  # noqa: E402
    AFTER_HISTORY,
    N_REPS,
    QUICK,
    history_leads,
    inside_history_leads,
    odd_leads,
)

from leadwise.data.crm import load_crm_dir  # noqa: E402
from leadwise.data.training_data import from_crm  # noqa: E402
from leadwise.features.builder import model_array  # noqa: E402
from leadwise.learn.training import train_models  # noqa: E402
from leadwise.settings import BUNDLED_DATA_DIR  # noqa: E402


def main() -> None:
    data = from_crm(load_crm_dir(BUNDLED_DATA_DIR))
    models = train_models(data, QUICK).models
    reps = [*models.reps, *[f"New Rep {i}" for i in range(N_REPS - len(models.reps))]]
    out: dict[str, np.ndarray] = {"after_history": np.array(AFTER_HISTORY.asm8)}
    cases = {
        "odd": odd_leads(data),
        "history": history_leads(data, 20),
        "inside": inside_history_leads(data, 20),
    }
    for name, leads in cases.items():
        predicted = models.predict(leads, reps, fast=False)  # the general path (the lookups agree)
        out[f"{name}_lead_score"] = predicted.lead_score
        out[f"{name}_fit"] = predicted.fit
        out[f"{name}_deal_value"] = predicted.deal_value
        prepared = models.prepare(leads)
        lead_frame = models.builder.lead_features(prepared)
        out[f"{name}_lead_features"] = model_array(lead_frame)
        out[f"{name}_pair_features"] = model_array(models.builder.pair_features(prepared, reps, lead_matrix=lead_frame))
    # The training rows' features (history as of each deal's engage date) and the validation predictions.
    closed = data.closed.sort_values("engage_date").tail(200)
    lead_frame = models.builder.lead_features(closed)
    out["training_lead_features"] = model_array(lead_frame)
    out["training_pair_features"] = model_array(models.builder.pair_features(closed, lead_matrix=lead_frame))
    out["training_lead_score"] = models.lead_model.predict_win(lead_frame)
    out["reps"] = np.array(reps, dtype=str)
    out["lead_feature_names"] = np.array(models.builder.lead_feature_names, dtype=str)
    out["pair_feature_names"] = np.array(models.builder.pair_feature_names, dtype=str)
    target = Path(__file__).with_name("reference.npz")
    np.savez_compressed(target, **out)
    print(f"wrote {target} ({target.stat().st_size:,} bytes): {sorted(out)}")


if __name__ == "__main__":
    main()
