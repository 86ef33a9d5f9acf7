"""What the duplicate check of ``[lifecycle.duplicates]`` costs on the route path.

The same leads (each its own account, so none is a duplicate) are routed through the service layer
(``services.decisions.route_leads``, in groups of 16 as the route queue takes them, rules-only, a fresh
SQLite file each run, 10 reps) under a one-step round-robin flow, once without a duplicate key and once
with ``key = ["account", "product"]``; the check is one indexed lookup of the lead's key fingerprint.
Runs alternate, and the median per-lead time of each is printed with the machine's load average.

Usage: ``python benchmarks/bench_duplicates.py [--leads 3000] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from leadwise.routing import Lead
from leadwise.services import decisions, flows
from leadwise.services.models import ModelHolder
from leadwise.services.reps import create_rep
from leadwise.settings import Settings
from leadwise.store.db import Database
from leadwise.store.migrate import upgrade

STEPS = '[[steps]]\npool = "everyone"\nstrategy = "round_robin"\n'
DUPLICATES = '[lifecycle.duplicates]\nkey = ["account", "product"]\nwindow = "30d"\n'
GROUP = 16


def per_lead_ms(flow: str, leads: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        settings = Settings(
            database_url=f"sqlite:///{where / 'bench.db'}", tracking_uri=f"sqlite:///{where / 'mlflow.db'}", serve_models=False
        )
        db = Database.connect(settings.database_url)
        upgrade(db.engine)
        for i in range(10):
            create_rep(db=db, fields={"name": f"Rep {i}", "capacity": 1_000_000})
        flows.publish(db=db, name="default", text=flow, fmt="toml")
        models = ModelHolder(settings)
        batch = [Lead(lead_id=f"L{i}", account=f"Account {i}", product="GTX Pro") for i in range(leads)]
        start = time.perf_counter()
        for k in range(0, leads, GROUP):
            decisions.route_leads(db=db, settings=settings, models=models, leads=batch[k : k + GROUP])
        elapsed = time.perf_counter() - start
        db.dispose()
    return elapsed / leads * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    without, with_key = [], []
    for _ in range(args.rounds):
        without.append(per_lead_ms(STEPS, args.leads))
        with_key.append(per_lead_ms(DUPLICATES + STEPS, args.leads))
    a, b = statistics.median(without), statistics.median(with_key)
    print(f"{args.leads} new leads routed in groups of {GROUP}, SQLite, rules-only, {args.rounds} rounds (median):")
    print(f"  without a duplicate key: {a:.2f} ms per lead")
    print(f"  with key account+product: {b:.2f} ms per lead ({b - a:+.2f} ms)")
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
