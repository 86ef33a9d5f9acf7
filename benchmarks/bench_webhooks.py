"""Webhook figures: what the outbox adds to one routing decision (the same service call with no
subscription and with one that wants every event), and how fast the delivery thread empties the outbox
into a local receiver, against a floor of bare HTTP posts of the same bodies to the same receiver.

Run: ``.venv/bin/python benchmarks/bench_webhooks.py [--leads 300]``. SQLite in a temporary directory,
rules-only routing over 40 reps (no model: the figures are the outbox's, not the scorer's).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from leadwise.routing import Lead
from leadwise.services.decisions import route_lead
from leadwise.services.flows import ensure_default_flow
from leadwise.services.models import ModelHolder
from leadwise.services.reps import create_rep
from leadwise.services.webhooks import (
    WebhookWorker,
    create_subscription,
    delete_subscription,
    write_outbox_in_transactions,
)
from leadwise.settings import Settings
from leadwise.store.db import Database
from leadwise.store.migrate import upgrade


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _route(db: Database, settings: Settings, models: ModelHolder, prefix: str, n: int) -> list[float]:
    times = []
    for i in range(n):
        start = time.perf_counter()
        route_lead(db=db, settings=settings, models=models, lead=Lead(lead_id=f"{prefix}-{i}"))
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=300)
    args = parser.parse_args()
    n = args.leads
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}", serve_models=False, webhook_poll_seconds=0
        )
        db = Database.connect(settings.database_url)
        upgrade(db.engine)
        ensure_default_flow(db=db, settings=settings)
        for j in range(40):
            create_rep(db=db, fields={"name": f"rep{j:02d}", "capacity": 10 * n, "pools": ["default"]})
        models = ModelHolder(settings)
        write_outbox_in_transactions()
        _route(db, settings, models, "warm", 20)

        bare = statistics.median(_route(db, settings, models, "none", n)) * 1000
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/hook"
        subscription = create_subscription(db=db, url=url, events_wanted=["offered"], description=None, secret=None)
        with_outbox = statistics.median(_route(db, settings, models, "outbox", n)) * 1000
        delete_subscription(db=db, subscription_id=subscription.id)
        bare_again = statistics.median(_route(db, settings, models, "none-again", n)) * 1000
        create_subscription(db=db, url=url, events_wanted=["offered"], description=None, secret=None)
        with_outbox_again = statistics.median(_route(db, settings, models, "outbox-again", n)) * 1000
        print(
            f"route_lead, median of {n}, alternated: {bare:.2f} / {bare_again:.2f} ms without a subscription, "
            f"{with_outbox:.2f} / {with_outbox_again:.2f} ms with one (the outbox row written in the "
            f"decision's transaction: {(with_outbox + with_outbox_again - bare - bare_again) / 2:+.2f} ms)"
        )

        worker = WebhookWorker(db=db, settings=settings)
        start = time.perf_counter()
        delivered = 0
        while (done := worker.deliver_due()) > 0:
            delivered += done
        elapsed = time.perf_counter() - start
        worker.client.close()
        body = b'{"assignment_id":1,"event":"offered","lead_id":"x","occurred_at":"2026-01-01T00:00:00Z"}'
        with httpx.Client() as client:
            floor_start = time.perf_counter()
            for _ in range(delivered):
                client.post(url, content=body, headers={"Content-Type": "application/json"})
            floor = time.perf_counter() - floor_start
        server.shutdown()
        db.dispose()
    print(f"delivery of {delivered} events: {delivered / elapsed:.0f} per second "
          f"({elapsed * 1000 / delivered:.2f} ms each: claim, sign, post, record), floor (bare httpx posts "
          f"to the same receiver) {delivered / floor:.0f} per second; ratio {elapsed / floor:.1f}x")


if __name__ == "__main__":
    main()
