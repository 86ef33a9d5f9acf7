"""Console report figures: how long the reports and model pages take, and how long a what-if job runs.

Run: ``.venv/bin/python benchmarks/bench_console_reports.py [--reps 20] [--leads 1000] [--rounds 10]``.
SQLite in a temporary directory, rules-only routing (no model, so the model page has no calibration and
the what-if on the log is not measured), the app in-process (Starlette's test client). The store holds
``leads`` routed leads, each with one touch, accepted and closed (every third won). The what-if job is
the page's default: 3 synthetic worlds of 400 leads and 10 reps through round_robin, best_fit and
optimised, timed from the POST to the poll that sees it done.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from leadwise.api.app import create_app
from leadwise.services.keys import create_key
from leadwise.services.models import ModelHolder
from leadwise.services.reps import create_rep
from leadwise.settings import Settings
from leadwise.store.db import Database
from leadwise.store.migrate import upgrade

CHANNELS = ("search", "email", "events", "partner", "social")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=3, help="what-if jobs run one after the other")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}", tracking_uri=f"sqlite:///{Path(tmp) / 'mlflow.db'}",
            sla_sweep_seconds=0, model_poll_seconds=0, webhook_poll_seconds=0, whatif_dir=Path(tmp) / "whatif",
        )  # fmt: skip
        db = Database.connect(settings.database_url)
        upgrade(db.engine)
        for k in range(args.reps):
            create_rep(db=db, fields={"name": f"Rep {k:02d}", "capacity": args.leads})
        admin = {"Authorization": f"Bearer {create_key(db=db, role='admin')[1]}"}
        manager_key = create_key(db=db, role="manager")[1]
        app = create_app(settings, db=db, models=ModelHolder(settings), load_models=False)
        with TestClient(app) as client:
            for i in range(args.leads):
                lead_id = f"bench-{i}"
                routed = client.post("/v1/route", json={"lead_id": lead_id, "product": "GTX Pro"}, headers=admin)
                assert routed.status_code == 201, routed.text
                touch = {"timestamp": "2030-01-01T09:00:00Z", "channel": CHANNELS[i % 5], "touch_type": "visit", "cost": 3}
                client.post(f"/v1/leads/{lead_id}/touches", json={"touches": [touch]}, headers=admin)
                assignment = routed.json()["id"]
                client.post(f"/v1/assignments/{assignment}/accept", headers=admin)
                outcome = {"result": "won", "value": 1000} if i % 3 == 0 else {"result": "lost"}
                client.post(f"/v1/assignments/{assignment}/outcome", json=outcome, headers=admin)
            token = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/login").text)
            assert token is not None
            client.post("/console/login", data={"api_key": manager_key, "csrf": token.group(1)})
            print(f"console report pages, {args.rounds} requests each, in-process, SQLite, rules-only, "
                  f"{args.leads} closed leads, {args.reps} reps")  # fmt: skip
            for name, url in (
                ("reports (days, linear attribution)", "/console/reports"),
                ("reports (weeks, shapley attribution)", "/console/reports?period=week&model=shapley"),
                ("model (rules-only)", "/console/model"),
                ("API GET /v1/reports/fairness", "/v1/reports/fairness"),
            ):
                spent = []
                for _ in range(args.rounds):
                    start = time.perf_counter()
                    answer = client.get(url, headers=admin if url.startswith("/v1") else {})
                    spent.append((time.perf_counter() - start) * 1000)
                    assert answer.status_code == 200, (url, answer.text[:300])
                print(f"  {name:<40} median {statistics.median(spent):8.1f} ms   max {max(spent):8.1f} ms")
            body = {"source": "synthetic", "policies": ["round_robin", "best_fit", "optimised"]}
            for run in range(args.jobs):
                start = time.perf_counter()
                job = client.post("/v1/reports/whatif", json=body | {"seed": 1 + 10 * run}, headers=admin).json()
                polls = 0
                while job["status"] not in ("done", "failed"):
                    time.sleep(0.1)
                    polls += 1
                    job = client.get(f"/v1/reports/whatif/{job['id']}", headers=admin).json()
                assert job["status"] == "done", job
                rows = ", ".join(f"{p['policy']} {p['estimate']:.3f}" for p in job["result"]["policies"])
                print(f"  what-if job {run + 1} (3 worlds x 400 leads, 10 reps): {time.perf_counter() - start:5.1f} s "
                      f"({polls} polls): {rows}")  # fmt: skip
        db.dispose()


if __name__ == "__main__":
    main()
