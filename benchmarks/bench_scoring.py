"""In-process scoring latency: ``LeadwiseModels.predict`` for leads engaged now against 40 reps (leads as
a frame, and as the service passes them: dicts made columns), next to a floor measured in the same run.

Cases: 1 lead × 40 reps (one ``/v1/score`` request) and 100 leads × 40 reps. The floor is one bare
``lgb.Booster.predict`` of the rep-fit model on the prepared 40-row float matrix (single thread), and
the three bare predicts ``predict`` makes (lead score and deal value on the lead rows, rep fit on the
pair rows), per case; a lead score chosen by the model search counts its kept models' own predicts
(each LightGBM seed's booster, CatBoost, the scorecard's lookups). Before timing, the frame and the
columns give the same outputs. Models are trained here on the bundled data with the search budget
``leadwise train`` uses by default (``--budget``; 0: the fixed booster).

Usage: ``python benchmarks/bench_scoring.py [--calls 500] [--budget 15]``. The machine may be shared:
read medians.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from leadwise.data.crm import load_crm_dir
from leadwise.data.training_data import from_crm
from leadwise.learn.models import LeadwiseModels
from leadwise.learn.selection import SelectedClassifier
from leadwise.learn.training import TrainConfig, train_models
from leadwise.services.scoring import leads_columns
from leadwise.settings import BUNDLED_DATA_DIR, get_settings

N_REPS = 40
# The lead fields the API hands to the models (``leads_columns``), engaged today when undated.
FRAME_COLUMNS = ("lead_id", "account", "product", "engage_date", "sector", "revenue", "employees",
                 "office_location", "year_established")  # fmt: skip


def api_leads(accounts: list[str], products: list[str]) -> pd.DataFrame:
    today = pd.Timestamp.now().normalize()
    rows = [
        {"lead_id": f"bench-{i}", "account": account, "product": product, "engage_date": today}
        for i, (account, product) in enumerate(zip(accounts, products, strict=True))
    ]
    frame = pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
    for numeric in ("revenue", "employees", "year_established"):
        frame[numeric] = pd.to_numeric(frame[numeric], errors="coerce")
    return frame


def timed(call: Callable[[], object], calls: int) -> np.ndarray:
    for _ in range(min(20, calls)):
        call()
    seconds = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        call()
        seconds[i] = time.perf_counter() - start
    return seconds * 1e3


def same(a, b) -> bool:
    return a.lead_ids == b.lead_ids and all(
        np.allclose(getattr(a, name), getattr(b, name), rtol=0, atol=1e-9)
        for name in ("lead_score", "fit", "deal_value")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="timed calls per measurement")
    parser.add_argument("--budget", type=float, default=get_settings().train_budget,
                        help="the lead score's search budget, CPU seconds (default: leadwise train's)")
    args = parser.parse_args()

    data_start = time.perf_counter()
    data = load_crm_dir(BUNDLED_DATA_DIR)
    config = TrainConfig(baselines=False, search_budget=args.budget)
    models: LeadwiseModels = train_models(from_crm(data), config).models
    lead_model = models.lead_model
    chosen = lead_model.report_.chosen if isinstance(lead_model, SelectedClassifier) else "the fixed booster"
    print(f"trained on the bundled data in {time.perf_counter() - data_start:.1f} s; lead score: {chosen}")
    reps = [*models.reps, *(f"New Rep {i}" for i in range(N_REPS))][:N_REPS]
    deals = data.deals.sample(100, random_state=0)
    cases = {
        "1 lead x 40 reps": api_leads(["Acme Corporation"], ["GTX Pro"]),
        "100 leads x 40 reps": api_leads(deals["account"].fillna("New Co").tolist(), deals["product"].tolist()),
    }

    def lead_predicts(matrix: np.ndarray) -> None:
        if isinstance(lead_model, SelectedClassifier):
            for member in lead_model.members_:
                member.margin(matrix)
        else:
            lead_model.booster_.booster_.predict(matrix, num_threads=1)

    fit_booster = models.fit_model.booster_.booster_
    value_booster = models.value_model.booster_.booster_ if models.value_model is not None else None
    rows = []
    for name, leads in cases.items():
        predicted = models.predict(leads, reps)
        rows.append((name, "predict: a frame", timed(lambda leads=leads: models.predict(leads, reps), args.calls)))
        # What the service runs per request: the posted leads as dicts, made columns (no frame), scored.
        records = [{k: v for k, v in r.items() if k != "engage_date"} for r in leads.to_dict("records")]
        assert same(models.predict(leads_columns(records), reps), predicted), f"{name}: the columns disagree"
        rows.append((name, "service: dicts as columns", timed(lambda r=records: models.predict(leads_columns(r), reps), args.calls)))
        # The floor: the boosters alone on the matrices ``predict`` hands them for these leads.
        prepared = models.prepare(leads)
        lead_matrix = models.builder.lead_matrix(prepared)
        pair_matrix = models.builder.pair_matrix(prepared, reps, lead_matrix)

        def three_predicts(lead_matrix: np.ndarray = lead_matrix, pair_matrix: np.ndarray = pair_matrix) -> None:
            lead_predicts(lead_matrix)
            if value_booster is not None:
                value_booster.predict(lead_matrix, num_threads=1)
            fit_booster.predict(pair_matrix, num_threads=1)

        if len(leads) == 1:
            one = timed(lambda pair_matrix=pair_matrix: fit_booster.predict(pair_matrix, num_threads=1), args.calls)
            rows.append((name, "floor: 1 bare predict, 40 rows", one))
        rows.append((name, "floor: the 3 bare predicts", timed(three_predicts, args.calls)))

    print(f"\n{'case':<22}{'path':<34}{'median ms':>11}{'p99 ms':>10}{'calls':>7}")
    for case, path, ms in rows:
        print(f"{case:<22}{path:<34}{np.median(ms):>11.3f}{np.percentile(ms, 99):>10.3f}{len(ms):>7}")
    median = {(case, path): float(np.median(ms)) for case, path, ms in rows}
    print()
    for name in cases:
        floor = median[(name, "floor: the 3 bare predicts")]
        frame, service = median[(name, "predict: a frame")], median[(name, "service: dicts as columns")]
        print(f"{name}: predict {frame / floor:.1f}x its 3 bare predicts; the service's columns {service / floor:.1f}x")


if __name__ == "__main__":
    main()
