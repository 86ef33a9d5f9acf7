"""The console's reports, model and what-if pages in a real browser (Debian's Chromium through Playwright),
on a real uvicorn server whose store holds routed, accepted and closed leads with touches.

``LEADWISE_CONSOLE_SCREENSHOTS=docs/console`` also writes the README's screenshots (1280 and 390 px wide).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.api.conftest import throwaway_settings
from tests.api.test_console import CHROMIUM, Console, _free_port, browser, page, shot, sign_in

from leadwise.api.app import create_app
from leadwise.services import flows
from leadwise.services.keys import create_key
from leadwise.services.models import ModelHolder
from leadwise.services.reps import create_rep
from leadwise.store.db import Database

pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra)")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason="/usr/bin/chromium is missing: apt-get install -y chromium (.ci/run does)"
)
__all__ = ["browser", "page"]  # the browser fixtures of test_console, used here too

FAIR_FLOW = """name = "fair best fit"
on_no_match = "manager_queue"

[fairness]
max_lead_ratio = 1.5

[pools.everyone]

[[steps]]
name = "everyone"
pool = "everyone"
strategy = "best_fit"
"""
CHANNELS = ("search", "email", "events")
N_LEADS = 24


def _seed(url: str, keys: dict[str, str]) -> None:
    """Leads routed by best_fit under a 1.5× lead bound, each with one touch; every lead accepted and
    closed: won when its number is divisible by 3."""
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    with httpx.Client(base_url=url, headers=admin, timeout=30) as client:
        for i in range(N_LEADS):
            lead_id = f"rep-{i}"
            sector = ("software", "retail", "medical")[i % 3]
            routed = client.post("/v1/route", json={"lead_id": lead_id, "product": "GTX Pro", "sector": sector})
            assert routed.status_code == 201, routed.text
            touch = {"timestamp": "2030-01-01T09:00:00Z", "channel": CHANNELS[i % 3], "touch_type": "visit", "cost": 5}
            assert client.post(f"/v1/leads/{lead_id}/touches", json={"touches": [touch]}).status_code in (200, 201)
            assignment = routed.json()["id"]
            assert client.post(f"/v1/assignments/{assignment}/accept").status_code == 200
            outcome = {"result": "won", "value": 100 + i} if i % 3 == 0 else {"result": "lost"}
            assert client.post(f"/v1/assignments/{assignment}/outcome", json=outcome).status_code == 200


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path, world_models) -> Iterator[Console]:
    import uvicorn

    root = tmp_path_factory.mktemp("console-reports")
    settings = throwaway_settings(root, migrated_template, webhook_poll_seconds=0, whatif_dir=root / "whatif")
    db = Database.connect(settings.database_url)
    reps = {name: create_rep(db=db, fields={"name": name, "capacity": 50}).id for name in ("Ann", "Bob", "Cleo")}
    keys = {role: create_key(db=db, role=role)[1] for role in ("admin", "manager", "integration")}
    keys["rep"] = create_key(db=db, role="rep", rep_id=reps["Ann"])[1]
    flows.publish(db=db, name=flows.FLOW_NAME, text=FAIR_FLOW, fmt="toml")
    holder = ModelHolder(settings)
    holder.install(world_models)
    port = _free_port()
    app = create_app(settings, db=db, models=holder, load_models=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the console's server did not start"
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    _seed(url, keys)
    yield Console(url=url, db=db, keys=keys, reps=reps)
    server.should_exit = True
    thread.join(10)
    app.state.whatif.shutdown()
    db.dispose()


def _rows(table) -> dict[str, list[str]]:
    """A table's body as {row header: cells}."""
    out = {}
    for row in table.locator("tbody tr").all():
        out[row.locator("th").inner_text().strip()] = [c.strip() for c in row.locator("td").all_inner_texts()]
    return out


def fits_a_phone(page) -> bool:
    """At 390 px wide the page does not scroll sideways (charts scale, tables become cards)."""
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size({"width": 1280, "height": 900})
    return width <= 390


def test_a_manager_reads_the_reports_with_charts_and_tables(page, console: Console) -> None:
    sign_in(page, console, console.keys["manager"])
    nav = page.get_by_role("navigation", name="Console pages")
    for name in ("Reports", "Model", "What-if"):
        assert nav.get_by_role("link", name=name).count() == 1
    nav.get_by_role("link", name="Reports").click()
    assert page.get_by_role("heading", name="Reports", level=1).is_visible()

    # Every chart is an image with a name, next to a table of its figures.
    charts = page.get_by_role("img")
    names = [c.get_attribute("aria-labelledby") for c in charts.all()]
    assert len(names) == 7 and all(names)
    for title in ("Conversion rate by first-touch channel", "Conversion rate by rep", "SLA adherence by rep",
                  "Gini of leads and of expected value over time"):  # fmt: skip
        assert page.locator("svg title", has_text=title).count() == 1

    by_channel = _rows(page.get_by_role("table", name="Conversion by first-touch channel"))
    # Leads 0, 3, 6, ... (search) are all won; email and events leads are all lost.
    assert by_channel["search"][:4] == ["8", "8", "8", "100.0 %"]
    assert by_channel["email"][:4] == ["8", "8", "0", "0.0 %"]
    # The bar of a 100 % channel is the full plot width; a 0 % channel's is empty.
    widths = [float(w) for w in page.locator("svg:has(title:text('first-touch channel')) rect").evaluate_all("rs => rs.map(r => r.getAttribute('width'))")]
    assert max(widths) > 200 and min(widths) == 0.0  # 100 % spans the plot (210 units)

    shares = _rows(page.locator("#fairness-reps"))
    assert set(shares) == {"Ann", "Bob", "Cleo"}
    assert sum(int(cells[0]) for cells in shares.values()) == N_LEADS
    # The flow's 1.5× bound is stated and each rep's share is judged against it.
    text = page.locator("#fairness-h + form + p").inner_text()
    assert "max lead ratio 1.5" in text and "flow-wide [fairness]" in text
    for cells in shares.values():
        assert cells[-1] == "within" or "lead share above 1.5× fair" in cells[-1]
        ratio = float(cells[3])
        assert (ratio > 1.5) == ("above" in cells[-1])
    # Every lead was routed today: one period with offers in the table, 13 quiet ones said in words.
    assert page.locator("#fairness-periods tbody tr").count() == 1 and "13 without any offer" in page.locator("main").inner_text()

    sla = _rows(page.get_by_role("table", name="Offers accepted by their deadline, by rep"))
    assert sum(int(cells[0]) for cells in sla.values()) == N_LEADS and all(c[-1] == "100.0 %" for c in sla.values())
    shot(page, "reports")
    assert fits_a_phone(page)

    # Keyboard only: pick another attribution model and show it.
    page.get_by_label("Attribution model", exact=True).focus()
    page.keyboard.press("Home")  # first_touch
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"model=first_touch"))
    attribution = _rows(page.locator("#attribution"))
    assert attribution["search"][0] == "8.00" and attribution["search"][1] == "100.0 %"

    page.goto(f"{console.url}/console/reports?model=nonsense")
    assert "is not one of" in page.get_by_role("alert").inner_text()


def test_the_model_page_shows_the_champion_and_its_served_calibration(page, console: Console) -> None:
    sign_in(page, console, console.keys["admin"])
    page.get_by_role("link", name="Model").click()
    assert page.get_by_role("heading", name="Champion: version world-1").is_visible()
    assert "not in the MLflow registry" in page.locator("main").inner_text()  # installed in-process: no run
    bins = page.locator("#calibration tbody tr")
    assert bins.count() >= 1
    counts = [int(c) for c in page.locator("#calibration tbody td:nth-child(3)").all_inner_texts()]
    assert sum(counts) == N_LEADS  # every decision was scored by world-1 and closed
    assert page.locator("svg title", has_text="Calibration of model world-1").count() == 1
    assert page.locator("svg circle").count() == bins.count()
    shot(page, "model")
    assert fits_a_phone(page)


def test_what_if_runs_in_the_background_and_shows_each_policy_with_its_interval(page, console: Console) -> None:
    sign_in(page, console, console.keys["manager"])
    page.get_by_role("link", name="What-if").click()
    synthetic = page.locator("form", has=page.get_by_role("heading", name="On synthetic worlds"))
    synthetic.get_by_label("Leads per world").fill("120")
    synthetic.get_by_label("Reps").fill("4")
    synthetic.get_by_label("Worlds").fill("2")
    synthetic.get_by_label("batch").check()
    synthetic.get_by_role("button", name="Compare on synthetic worlds").click()
    page.locator("#whatif-job progress").wait_for()  # progress while it runs
    result = page.locator("#whatif-result")
    result.wait_for(timeout=60_000)
    rows = _rows(result)
    assert list(rows) == ["round_robin", "best_fit", "optimised", "batch"]
    for estimate, interval, _gini in rows.values():
        low, high = (float(x) for x in interval.split(" – "))
        assert 0 < low <= float(estimate) <= high <= 1.0 + 1e-9
    assert float(rows["optimised"][0]) > float(rows["round_robin"][0])  # the model beats taking turns
    assert page.locator("#whatif-job svg circle").count() == 4
    shot(page, "whatif")
    assert fits_a_phone(page)

    on_log = page.locator("form", has=page.get_by_role("heading", name="On the service's own log"))
    on_log.get_by_role("button", name="Compare on the log").click()
    page.get_by_role("status").filter(has_text="win rate per lead (doubly robust)").wait_for(timeout=60_000)
    rows = _rows(page.locator("#whatif-result"))
    assert list(rows) == ["best_fit", "round_robin", "random"]
    # Every logged choice had propensity 1 (no exploration) and 8 of the 24 leads were won: uniform random
    # puts 1/3 on each logged rep, so its IPS estimate is 8/24 × 1/3, and it matches all 24 decisions.
    estimate, interval, ips, _snips, matched, _ess = rows["random"]
    assert float(ips) == pytest.approx(8 / 24 / 3, abs=1e-3) and matched == "24"
    low, high = (float(x) for x in interval.split(" – "))
    assert low <= float(estimate) <= high

    for box in on_log.get_by_role("checkbox").all():
        box.uncheck()
    on_log.get_by_role("button", name="Compare on the log").click()
    assert "name at least one policy" in page.locator("#whatif-job").get_by_role("alert").inner_text()


def test_reps_and_integrations_do_not_get_the_report_pages(page, console: Console) -> None:
    for role in ("rep", "integration"):
        sign_in(page, console, console.keys[role])
        nav = page.get_by_role("navigation", name="Console pages")
        assert nav.get_by_role("link", name="Reports").count() == 0
        for path in ("reports", "model", "whatif"):
            assert page.goto(f"{console.url}/console/{path}").status == 403
            assert f"may not open {path}" in page.get_by_role("alert").inner_text()
        page.context.clear_cookies()
