"""Console figures: how long the main pages take to render, signed in as an admin, with a full inbox.

Run: ``.venv/bin/python benchmarks/bench_console.py [--reps 40] [--leads 200] [--rounds 30]``. SQLite in a
temporary directory, rules-only routing (no model), the app in-process (Starlette's test client: the
figures are the page's work, without a network hop); each page is fetched ``rounds`` times.
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


def timed(client: TestClient, rounds: int, method: str, url: str, **kwargs: object) -> tuple[float, float]:
    """Median and worst milliseconds of ``rounds`` requests (each must answer 200)."""
    spent = []
    for _ in range(rounds):
        start = time.perf_counter()
        answer = client.request(method, url, **kwargs)  # type: ignore[arg-type]
        spent.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
    return statistics.median(spent), max(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--leads", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
            tracking_uri=f"sqlite:///{Path(tmp) / 'mlflow.db'}",
            sla_sweep_seconds=0,
            model_poll_seconds=0,
            webhook_poll_seconds=0,
        )
        db = Database.connect(settings.database_url)
        upgrade(db.engine)
        for k in range(args.reps):
            create_rep(db=db, fields={"name": f"Rep {k:02d}", "capacity": args.leads})
        admin = create_key(db=db, role="admin")[1]
        integration = create_key(db=db, role="integration")[1]
        app = create_app(settings, db=db, models=ModelHolder(settings), load_models=False)
        with TestClient(app) as client:
            for i in range(args.leads):
                routed = client.post(
                    "/v1/route", json={"lead_id": f"bench-{i}", "product": "GTX Pro"},
                    headers={"Authorization": f"Bearer {integration}"},
                )
                assert routed.status_code == 201, routed.text
            login = client.get("/console/login").text
            token = re.search(r'name="csrf" value="([^"]+)"', login)
            assert token is not None
            client.post("/console/login", data={"api_key": admin, "csrf": token.group(1)})
            csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/console/reps").text)
            assert csrf is not None
            flow = (Path(__file__).resolve().parents[1] / "training" / "flows" / "default.toml").read_text()
            pages = {
                f"inbox (first 50 of {args.leads} open leads)": ("GET", "/console/inbox", {}),
                "decisions (one lead)": ("GET", "/console/decisions?lead_id=bench-7", {}),
                f"reps ({args.reps})": ("GET", "/console/reps", {}),
                "queues (every queued lead, assign forms)": ("GET", "/console/pool", {}),
                "reassign form (the rep list)": ("GET", "/console/inbox/1/reassign", {}),
                "flow history": ("GET", "/console/flows/history", {}),
                "flow check + preview (default flow)": (
                    "POST",
                    "/console/flows/check",
                    {
                        "data": {"source": flow, "format": "toml", "sample": '{"lead_id": "p-1", "product": "GTX Pro"}'},
                        "headers": {"X-CSRF-Token": csrf.group(1)},
                    },
                ),
            }
            # The reference: the API's inbox, the same 50 rows as JSON (the same service call underneath).
            pages["API GET /v1/assignments (same 50, JSON)"] = (
                "GET",
                "/v1/assignments?limit=50&state=offered&state=accepted",
                {"headers": {"Authorization": f"Bearer {admin}"}},
            )
            print(f"console pages, {args.rounds} requests each, in-process, SQLite, rules-only")
            for name, (method, url, kwargs) in pages.items():
                median, worst = timed(client, args.rounds, method, url, **kwargs)
                print(f"  {name:<40} median {median:7.2f} ms   max {worst:7.2f} ms")
        db.dispose()


if __name__ == "__main__":
    main()
