"""HTTP benchmark of ``/v1/route`` and ``/v1/score`` next to a floor (one bare authenticated insert into
the same database), measured in the same run against a real ``leadwise serve`` with 40 reps.

Two measurements per endpoint, each from a separate load process:
- sustained throughput: ``wrk`` closed loop (``-c`` connections for ``--duration`` seconds);
- latency at about a fixed rate (default 100 requests/s): ``wrk`` again, each of ``--paced-connections``
  connections pausing ``connections / rate`` seconds (wrk's ``delay()`` hook) after each answer; the
  achieved rate is printed next to p50/p99 (a native generator: a Python client on the same cores
  measures mostly itself).
Every request carries a new lead id and no engage date (engaged now: the serving case).

Which path a route takes must not depend on the model: the default flow sends a lead to "cold", "hot" or
"everyone else" by its score, so two models (or the same code trained twice) would measure different
strategies (one model's scores put every bench lead in the nurture queue, the cheapest path; measured
61 % of the floor against 36 % for round robin on the same code). The benchmark therefore publishes its
own flows, one per ``--strategies`` entry: the account's owner first (as the default flow), then every
rep with that strategy, and measures ``/v1/route`` under each. ``--default-flow`` measures the bundled
default flow instead. The strategies the routed leads took are printed at the end, and the server's CPU
time per request (all its processes, from ``/proc``) beside the throughput: it moves less than a ratio.

The endpoints are measured back to back in ``--rounds`` rounds after a warm-up, and medians over the
rounds are printed (the ratio to the floor within each round), because this machine's CPU speed drifts
over tens of seconds.

Usage: ``python benchmarks/bench_api.py [--duration 6] [--rounds 3] [--rate 100] [--workers 2] [--tracking-uri URI]``.
Needs ``wrk`` (Debian/Ubuntu: ``apt-get install -y wrk``). The champion model is trained on the bundled
data into the benchmark's own temporary MLflow store (about a minute) unless ``--tracking-uri`` names a
store that has one; ``--rules-only`` skips the model (``/v1/score`` is then reported as skipped).
The machine's load average is printed next to the figures: on a shared box it moves them.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from leadwise.services.flows import FLOW_NAME, activate, publish
from leadwise.services.keys import create_key
from leadwise.services.reps import create_rep, import_sales_teams
from leadwise.settings import get_settings
from leadwise.store import repositories as repo
from leadwise.store.db import Database
from leadwise.store.migrate import upgrade

N_REPS = 40

# The benchmark's flow: {strategy} for every lead that is not an existing customer's (see the docstring).
BENCH_FLOW = """
name = "default"
description = "bench_api: account owner first, then {strategy} over every rep"
objective = "wins"
on_no_match = "manager_queue"

[fairness]
max_lead_ratio = 2.0
window_days = 7

[pools.everyone]

[[steps]]
name = "existing customer"
when = {{ existing_customer = true }}
pool = "everyone"
strategy = "account_owner"

[[steps]]
name = "everyone"
pool = "everyone"
strategy = "{strategy}"
"""

WRK_SCRIPT = """
local thread_count = 0
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"lead_id":"%s-%d-%d","account":"Acme Corporation","product":"GTX Pro"}', PREFIX, tid, counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Authorization"] = "Bearer KEY"}, body)
end
"""

# The paced run adds wrk's ``delay()`` hook: each connection waits this long after an answer before its next
# request, so ``c`` connections send about ``c / (delay + latency)`` requests/s. wrk times a request from
# the moment it is written (the think time is not counted), and the achieved rate is printed next to the
# percentiles: a server that stalls shows as a rate below the target rather than as hidden latency.
PACED_DELAY = """
delay = function()
  return DELAY_MS
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(database_url: str, data_dir: Path) -> tuple[str, int]:
    db = Database.connect(database_url)
    upgrade(db.engine)
    teams = data_dir / "sales_teams.csv"
    if teams.is_file():
        import_sales_teams(db=db, path=teams, capacity=100_000)
    with db.read_session() as session:
        have = repo.count_reps(session=session)
    for k in range(have, N_REPS):
        create_rep(db=db, fields={"name": f"Bench Rep {k:02d}", "capacity": 100_000, "pools": ["default"]})
    with db.read_session() as session:
        n = repo.count_reps(session=session)
    _, key = create_key(db=db, role="integration", name="benchmark")
    db.dispose()
    return key, n


def publish_bench_flows(database_url: str, strategies: list[str]) -> dict[str, int]:
    """One flow version per strategy (the last one published is active); strategy -> version."""
    db = Database.connect(database_url)
    try:
        return {
            strategy: publish(
                db=db, name=FLOW_NAME, text=BENCH_FLOW.format(strategy=strategy), fmt="toml"
            ).version
            for strategy in strategies
        }
    finally:
        db.dispose()


def activate_version(database_url: str, version: int) -> None:
    db = Database.connect(database_url)
    try:
        activate(db=db, name=FLOW_NAME, version=version)
    finally:
        db.dispose()


def server_cpu_seconds(group: int) -> float:
    """User + system CPU time of every process of the server's process group (Linux ``/proc``)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[2]) == group:  # field 5 of stat: the process group
            total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def strategy_mix(database_url: str) -> dict[str, int]:
    """How the benchmark's leads were decided: strategy (or queue) -> leads."""
    db = Database.connect(database_url)
    try:
        with db.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT coalesce(strategy, 'queue ' || queue, state), count(*) FROM assignments GROUP BY 1"
            ).all()
        return {str(name): int(n) for name, n in rows}
    finally:
        db.dispose()


def run_wrk(
    url: str, key: str, prefix: str, duration: int, connections: int, workdir: Path, delay_ms: int = 0
) -> dict[str, float]:
    """One wrk run; ``delay_ms`` > 0 paces each connection (see ``PACED_DELAY``)."""
    script = workdir / f"{prefix}.lua"
    text = WRK_SCRIPT + (PACED_DELAY.replace("DELAY_MS", str(delay_ms)) if delay_ms > 0 else "")
    script.write_text(text.replace("PREFIX", f'"{prefix}"').replace("KEY", key))
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = float(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    # Socket errors (connect, read, write, timeout) count as failed requests too.
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    percentiles = {p: _ms(v, u) for p, v, u in re.findall(r"\s(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\b", out)}
    return {
        "rps": rps,
        "requests": requests,
        "p50": percentiles.get("50", float("nan")),
        "p99": percentiles.get("99", float("nan")),
        "errors": (float(bad.group(1)) if bad else 0.0)
        + (sum(float(n) for n in socket_errors.groups()) if socket_errors else 0.0),
    }


def _median(values) -> float:
    return float(statistics.median(list(values)))


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=6, help="seconds per measurement")
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s of the latency measurement")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (throughput)")
    parser.add_argument(
        "--paced-connections", type=int, default=10, help="wrk connections of the fixed-rate run"
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of measurements (medians are printed)")
    parser.add_argument("--tracking-uri", help="an MLflow store with a champion (default: train one)")
    parser.add_argument("--rules-only", action="store_true", help="serve no model")
    parser.add_argument(
        "--strategies",
        default="round_robin,optimised",
        help="comma-separated strategies, one /v1/route measurement each on the benchmark's flow",
    )
    parser.add_argument(
        "--default-flow", action="store_true", help="measure /v1/route on the bundled default flow instead"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("SKIPPED bench_api: `wrk` is not installed (Debian/Ubuntu: sudo apt-get install -y wrk)")
        return 0

    settings = get_settings()
    workdir = Path(tempfile.mkdtemp(prefix="leadwise-bench-"))
    database_url = f"sqlite:///{workdir / 'bench.db'}"
    key, n_reps = seed(database_url, settings.data_dir)
    strategies = [] if args.default_flow else [s.strip() for s in args.strategies.split(",") if s.strip()]
    versions = publish_bench_flows(database_url, strategies)
    tracking_uri = args.tracking_uri or f"sqlite:///{workdir / 'mlflow.db'}"
    if not args.rules_only and not args.tracking_uri:
        print(f"training the champion into {tracking_uri} ...", flush=True)
        subprocess.run(
            [str(Path(sys.executable).with_name("leadwise")), "train", "--tracking-uri", tracking_uri],
            cwd=workdir,
            check=True,
            capture_output=True,
        )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ) | {
        "LEADWISE_DATABASE_URL": database_url,
        "LEADWISE_ENABLE_BENCH_FLOOR": "true",
        "LEADWISE_SLA_SWEEP_SECONDS": "0",
        "LEADWISE_MODEL_POLL_SECONDS": "0",
        "LEADWISE_TRACKING_URI": tracking_uri,
        "LEADWISE_SERVE_MODELS": "false" if args.rules_only else "true",
    }
    cmd = [
        str(Path(sys.executable).with_name("leadwise")),
        "serve",
        "--port",
        str(port),
        "--workers",
        str(args.workers),
    ]
    log = (workdir / "server.log").open("wb")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        ready = None
        deadline = time.monotonic() + 600  # a loaded box starts the ML stack slowly
        while time.monotonic() < deadline:
            try:
                ready = httpx.get(f"{base}/readyz", timeout=1)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)  # also while /readyz answers 503 (models still loading)
        if ready is None or ready.status_code != 200:
            print(f"server did not start; see {workdir / 'server.log'}")
            return 1
        mode = ready.json()
        print("load average (1, 5, 15 min) at the start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        print(
            f"leadwise serve, {args.workers} workers, SQLite (WAL), {n_reps} reps, "
            f"mode {mode['mode']} (model {mode['model_version']}); {os.cpu_count()} CPUs"
        )
        # (label, path, flow version to activate first: None keeps the active one)
        routes = [(f"route {s}", "/v1/route", versions[s]) for s in strategies] or [
            ("route (default flow)", "/v1/route", None)
        ]
        endpoints = [("floor", "/bench/floor", None), *routes, ("score", "/v1/score", None)]
        if mode["mode"] != "model":
            print("  /v1/score skipped: no champion model (run `leadwise train` first)")
            endpoints = endpoints[:-1]
        delay_ms = max(1, round(1000 * args.paced_connections / args.rate))

        # This box's CPU comes and goes (a busy loop here ran at 55 % of its speed for several seconds at a
        # time), so one long run per endpoint compares the endpoints under different machines. Instead:
        # a warm-up, then ``--rounds`` rounds, each measuring every endpoint back to back for
        # ``--duration`` seconds; a ratio to the floor is taken within its round, and medians are printed.
        def prefix(name: str, k: object) -> str:
            return f"{k}-{name.replace(' ', '-').replace('(', '').replace(')', '')}"

        for name, path, version in endpoints:
            if version is not None:
                activate_version(database_url, version)
            run_wrk(base + path, key, prefix(name, "warm"), 3, args.connections, workdir)
        rounds: list[dict[str, tuple[dict[str, float], dict[str, float]]]] = []
        for k in range(args.rounds):
            measured = {}
            for name, path, version in endpoints:
                if version is not None:
                    activate_version(database_url, version)
                cpu_before = server_cpu_seconds(server.pid)
                wrk = run_wrk(
                    base + path, key, prefix(name, f"wrk{k}"), args.duration, args.connections, workdir
                )
                time.sleep(0.5)  # the server drains before the paced run
                wrk["cpu_ms"] = 1000 * (server_cpu_seconds(server.pid) - cpu_before) / max(wrk["requests"], 1)
                paced = run_wrk(
                    base + path,
                    key,
                    prefix(name, f"paced{k}"),
                    args.duration,
                    args.paced_connections,
                    workdir,
                    delay_ms,
                )
                time.sleep(0.5)
                measured[name] = (wrk, paced)
            rounds.append(measured)
        print(
            f"\n{args.rounds} rounds of {args.duration} s per endpoint; medians over the rounds (min-max)"
            f"\n{'endpoint':<24}{'wrk req/s':>11}{'vs floor':>16}{'CPU/req':>9}{'wrk p99':>10}"
            f"{f'@{args.rate:.0f}/s: req/s':>16}{'p50':>9}{'p99':>22}{'errors':>8}"
        )
        for name, path, _ in endpoints:
            wrk = [r[name][0] for r in rounds]
            paced = [r[name][1] for r in rounds]
            ratios = [r[name][0]["rps"] / r["floor"][0]["rps"] for r in rounds]
            p99 = [p["p99"] for p in paced]
            errors = int(sum(w["errors"] for w in wrk) + sum(p["errors"] for p in paced))
            label = path if name in ("floor", "score") else f"{path} {name.removeprefix('route ')}"
            print(
                f"{label:<24}{_median(w['rps'] for w in wrk):>11.0f}"
                f"{_median(ratios):>7.0%} ({min(ratios):.0%}-{max(ratios):.0%})"
                f"{_median(w['cpu_ms'] for w in wrk):>7.2f}ms"
                f"{_median(w['p99'] for w in wrk):>8.1f}ms"
                f"{_median(p['rps'] for p in paced):>16.0f}{_median(p['p50'] for p in paced):>7.1f}ms"
                f"{_median(p99):>8.1f}ms ({min(p99):.1f}-{max(p99):.1f})"
                f"{errors:>8}"
            )
        mix = ", ".join(
            f"{name} {n:,}" for name, n in sorted(strategy_mix(database_url).items(), key=lambda x: -x[1])
        )
        print(f"\nhow the routed leads were decided: {mix}")
        print(
            "\ntargets: /v1/score p99 <= 20 ms and /v1/route p99 <= 30 ms at 100/s; /v1/route >= 40% of floor"
        )
        print("load average (1, 5, 15 min) at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        return 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
