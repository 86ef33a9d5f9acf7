"""The web console in a real browser: Debian's Chromium driven by Playwright against a real uvicorn server
on a free port (the app of ``leadwise serve``, on a throw-away SQLite file, with the ``world_models``).

``LEADWISE_CONSOLE_SCREENSHOTS=docs/console`` also writes the README's screenshots (1280 and 390 px wide).
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.api.conftest import throwaway_settings

from leadwise.api.app import create_app
from leadwise.services import flows
from leadwise.services.keys import create_key, revoke_key
from leadwise.services.models import ModelHolder
from leadwise.services.reps import create_rep
from leadwise.store.db import Database

CHROMIUM = Path("/usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra)")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason="/usr/bin/chromium is missing: apt-get install -y chromium (.ci/run does)"
)
SHOTS = os.environ.get("LEADWISE_CONSOLE_SCREENSHOTS")
TYPO_FLOW = """name = "typo"
on_no_match = "manager_queue"

[pools.everyone]

[[steps]]
name = "everyone"
pool = "everyone"
stratgy = "round_robin"
"""
GOOD_FLOW = TYPO_FLOW.replace("stratgy", "strategy")


@dataclass
class Console:
    url: str
    db: Database
    keys: dict[str, str]
    reps: dict[str, int]

    def route(self, lead_id: str, **fields: object) -> dict:
        answer = httpx.post(
            f"{self.url}/v1/route",
            json={"lead_id": lead_id, "product": "GTX Pro", **fields},
            headers={"Authorization": f"Bearer {self.keys['integration']}"},
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    def assignment(self, assignment_id: int) -> dict:
        answer = httpx.get(
            f"{self.url}/v1/assignments/{assignment_id}",
            headers={"Authorization": f"Bearer {self.keys['admin']}"},
        )
        return answer.json()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path, world_models) -> Iterator[Console]:
    import uvicorn

    settings = throwaway_settings(tmp_path_factory.mktemp("console"), migrated_template, webhook_poll_seconds=0)
    db = Database.connect(settings.database_url)
    away = {"start": "2030-08-01T00:00:00Z", "end": "2030-08-15T00:00:00Z", "reason": "holiday"}
    paris = {"timezone": "Europe/Paris", "start": "09:00:00", "end": "17:00:00", "weekdays": [0, 1, 2, 3, 4]}
    extra: dict[str, dict] = {"Bob": {"hours": paris, "out_of_office": [away]}}
    reps = {
        name: create_rep(db=db, fields={"name": name, "capacity": 5, **extra.get(name, {})}).id
        for name in ("Ann", "Bob", "Cleo")
    }
    keys = {role: create_key(db=db, role=role)[1] for role in ("admin", "manager", "integration")}
    keys["rep"] = create_key(db=db, role="rep", rep_id=reps["Ann"])[1]
    flows.publish(db=db, name=flows.FLOW_NAME, text=GOOD_FLOW, fmt="toml")  # round robin: Ann, Bob, Cleo, ...
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
    yield Console(url=f"http://127.0.0.1:{port}", db=db, keys=keys, reps=reps)
    server.should_exit = True
    thread.join(10)
    db.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def sign_in(page, console: Console, key: str) -> None:
    page.goto(f"{console.url}/console")
    assert page.url.endswith("/console/login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def shot(page, name: str) -> None:
    """The README's screenshots, at desktop and at phone width (only when asked for)."""
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=f"{SHOTS}/{name}-390.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_rep_sees_only_its_own_offers_and_accepts_one(page, console: Console) -> None:
    routed = [console.route(f"inbox-{i}") for i in range(6)]
    anns = [r for r in routed if r["rep_id"] == console.reps["Ann"]]
    others = [r for r in routed if r["rep_id"] != console.reps["Ann"]]
    assert len(anns) == 2 and others  # the round robin over Ann, Bob and Cleo

    sign_in(page, console, console.keys["rep"])
    assert page.url.endswith("/console/inbox")
    nav = page.get_by_role("navigation", name="Console pages")
    assert nav.get_by_role("link").all_inner_texts() == ["Inbox", "Pool"]  # a rep's two pages
    rows = page.locator("tbody tr")
    assert rows.count() == len(anns)
    for other in others:
        assert page.locator(f"#offer-{other['id']}").count() == 0
    page.wait_for_function("document.querySelector('time[data-expires]').textContent.includes('min')")
    countdown = page.locator(f"#offer-{anns[0]['id']} time").inner_text()
    assert re.fullmatch(r"(29|30) min \d\d s", countdown), countdown  # the 30-minute SLA
    shot(page, "inbox")

    page.get_by_role("button", name=f"Accept lead {anns[0]['lead_id']}").click()
    row = page.locator(f"#offer-{anns[0]['id']}")
    row.get_by_text("accepted lead").wait_for()
    assert row.locator(".state").inner_text() == "accepted"
    assert console.assignment(anns[0]["id"])["state"] == "accepted"

    second = page.locator(f"#offer-{anns[1]['id']}")
    second.get_by_label(f"Reason for rejecting {anns[1]['lead_id']}").fill("not my region")
    second.get_by_role("button", name="Reject").click()
    second.get_by_text("routed again").wait_for()
    stored = console.assignment(anns[1]["id"])
    assert (stored["state"], stored["reason"]) == ("rejected", "not my region")

    # Another rep's page is refused in words, not in JSON.
    assert page.goto(f"{console.url}/console/reps").status == 403
    assert "may not open reps" in page.get_by_role("alert").inner_text()


def test_a_manager_sees_a_flow_typo_at_its_line_and_previews_the_fix(page, console: Console) -> None:
    sign_in(page, console, console.keys["manager"])
    nav = page.get_by_role("navigation", name="Console pages")
    assert nav.get_by_role("link").all_inner_texts() == [
        "Inbox", "Queues", "Decisions", "Reps", "Flows", "Reports", "Model", "What-if"
    ]
    page.get_by_role("link", name="Flows").click()
    editor = page.get_by_label("Flow draft")
    assert "[[steps]]" in editor.input_value()  # starts from the bundled default flow
    assert page.get_by_role("button", name="Check, preview and publish").count() == 0  # admins publish

    editor.fill(TYPO_FLOW)
    page.get_by_role("button", name="Check and preview").click()
    bad = page.locator("ol.source li.bad")
    bad.first.wait_for()
    typo_line = TYPO_FLOW.splitlines().index('stratgy = "round_robin"') + 1
    assert bad.count() == 1 and bad.get_attribute("id") == f"line-{typo_line}"
    assert "stratgy" in bad.inner_text() and "Extra inputs are not permitted" in bad.inner_text()
    shot(page, "flows-typo")

    editor.fill(GOOD_FLOW)
    page.get_by_label("Sample lead (JSON, as POST /v1/route takes it)").fill('{"lead_id": "preview-7", "product": "GTX Pro"}')
    page.get_by_role("button", name="Check and preview").click()
    result = page.locator("#flow-result")
    result.get_by_text("The draft is valid.").wait_for()
    text = result.inner_text()
    assert "Lead preview-7 would go to" in text and "by step everyone" in text and "round_robin" in text
    assert "Model version world-1" in text
    assert "Runner-up: " in text and "Runner-up: rep " not in text  # reps by name
    shot(page, "flows-preview")

    page.get_by_label("Sample lead (JSON, as POST /v1/route takes it)").fill('{"lead_id": "x", "revenue": -4}')
    page.get_by_role("button", name="Check and preview").click()
    result.get_by_text("revenue:").wait_for()  # a bad sample names its field


def test_an_admin_reads_a_decision_in_words_and_edits_a_rep(page, console: Console) -> None:
    flows.publish(db=console.db, name=flows.FLOW_NAME, text=GOOD_FLOW.replace("round_robin", "best_fit"), fmt="toml")
    routed = console.route("explain-1", sector="software")
    sign_in(page, console, console.keys["admin"])
    page.get_by_role("link", name="Decisions").click()
    page.get_by_label("Lead id").fill("explain-1")
    page.get_by_role("button", name="Search").click()
    decision = page.locator("article.decision")
    assert decision.count() == 1
    text = decision.inner_text()
    assert f"offered to {routed['rep_name']}" in text
    assert "Scored by model version world-1" in text and "Steps tried" in text
    explanation = routed["explanation"]["explanation"]
    assert (
        f"Lead score {explanation['lead_score']:.3f}, above {explanation['lead_score_percentile']:.0f} % "
        "of the model's own validation leads" in text
    )
    assert "Runner-up:" in text and "capacity price" in text.lower()
    shot(page, "decisions")
    page.get_by_label("Lead id").fill("no-such-lead")
    page.get_by_role("button", name="Search").click()
    assert "not found" in page.get_by_role("alert").inner_text()

    page.get_by_role("link", name="Reps").click()
    page.get_by_label("Capacity of Cleo").fill("9")
    page.get_by_label("Cleo active").uncheck()
    page.get_by_role("button", name="Save Cleo").click()
    page.get_by_text("saved Cleo: capacity 9, inactive").wait_for()
    shot(page, "reps")
    bob = page.locator(f"#rep-{console.reps['Bob']}").inner_text()
    assert "09:00:00–17:00:00 Europe/Paris" in bob and "2030-08-01 00:00 → 2030-08-15 00:00 (holiday)" in bob
    with console.db.read_session() as session:
        from leadwise.services.reps import get_rep

        cleo = get_rep(session=session, rep_id=console.reps["Cleo"])
        assert (cleo.capacity, cleo.active) == (9, False)
    # Below the rep's open leads is refused with the reason, and nothing changes.
    busy = next(name for name, rep_id in console.reps.items() if rep_id == routed["rep_id"])
    page.get_by_label(f"Capacity of {busy}").fill("0")
    page.get_by_role("button", name=f"Save {busy}").click()
    page.get_by_text("capacity cannot go below that").wait_for()


def test_an_admin_publishes_a_checked_draft(page, console: Console) -> None:
    sign_in(page, console, console.keys["admin"])
    page.get_by_role("link", name="Flows").click()
    editor = page.get_by_label("Flow draft")
    assert "[[steps]]" in editor.input_value()  # starts from the active version
    editor.fill(GOOD_FLOW.replace('name = "typo"', 'name = "from the console"'))
    page.get_by_role("button", name="Check, preview and publish").click()
    page.locator("#flow-result").get_by_text("Published as version").wait_for()
    with console.db.read_session() as session:
        active = [row for row in flows.list_flows(session=session, name=flows.FLOW_NAME) if row.active]
    assert [row.definition["flow"]["name"] for row in active] == ["from the console"]
    # A typo is never published.
    before = active[0].version
    editor.fill(TYPO_FLOW)
    page.get_by_role("button", name="Check, preview and publish").click()
    page.locator("ol.source li.bad").wait_for()
    with console.db.read_session() as session:
        assert max(row.version for row in flows.list_flows(session=session, name=flows.FLOW_NAME)) == before


def test_a_revoked_key_is_signed_out_and_a_bad_key_refused(page, console: Console) -> None:
    key_id, key = create_key(db=console.db, role="rep", rep_id=console.reps["Bob"], name="to revoke")
    sign_in(page, console, key)
    assert page.url.endswith("/console/inbox")
    cookie = next(c for c in page.context.cookies() if c["name"] == "leadwise_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and key not in cookie["value"]

    revoke_key(db=console.db, key_id=key_id)
    page.reload()
    assert page.url.startswith(f"{console.url}/console/login")
    assert "revoked" in page.get_by_role("status").inner_text()
    assert not [c for c in page.context.cookies() if c["name"] == "leadwise_console"]

    page.get_by_label("API key").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    assert "not valid" in page.get_by_role("status").inner_text()
    shot(page, "login")


def test_a_post_without_the_csrf_token_is_refused(page, console: Console) -> None:
    sign_in(page, console, console.keys["admin"])
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=console.url, cookies=cookies) as client:
        forged = client.post(f"/console/reps/{console.reps['Ann']}", data={"capacity": "1"})
        assert forged.status_code == 403 and "CSRF" in forged.text
        signed_out = client.post("/console/logout")
        assert signed_out.status_code == 403
    assert httpx.post(f"{console.url}/console/reps/1", data={"capacity": "1"}).status_code == 303  # no session
