"""The console's actions in a real browser (one server and one Chromium for the module, as
``test_console``): return to marketing and outcomes from the inbox, claiming from a pool (and losing a
race), a manager reassigning (with force for out of office) and assigning from a queue, the flow history
with its diff and rollback; and, on every page of every role, a label on each control and no sideways
scrolling at 390 px.

``LEADWISE_CONSOLE_SCREENSHOTS=docs/console`` also writes the README's screenshots of these pages.
"""

# The fixtures come from test_console (one server and browser per module); as test arguments they shadow
# their imports, which is how pytest finds them.
# ruff: noqa: F811
from __future__ import annotations

import html
from datetime import timedelta

import httpx
from tests.api.test_console import (  # noqa: F401 (browser, console, page: fixtures)
    GOOD_FLOW,
    Console,
    browser,
    console,
    page,
    shot,
    sign_in,
)

from leadwise.services import flows
from leadwise.services.keys import create_key
from leadwise.services.reps import create_rep
from leadwise.store.models import utcnow

TO_POOL = GOOD_FLOW.replace('stratgy = "round_robin"', 'action = "claim_pool"').replace(
    'strategy = "round_robin"', 'action = "claim_pool"'
)
TO_MANAGER = GOOD_FLOW.replace('pool = "everyone"', 'pool = "everyone"\nwhen = {country_in = ["Nowhere"]}')


def api(console: Console, role: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.request(method, f"{console.url}{path}", headers={"Authorization": f"Bearer {console.keys[role]}"}, **kwargs)  # type: ignore[arg-type]


def console_post(page, path: str, form: dict[str, str], status: int = 200) -> str:
    """A console form POST from the signed-in page (its cookie and CSRF token), as htmx would send it."""
    token = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    answer = page.request.post(page.url.split("/console")[0] + path, form=form, headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert answer.status == status, answer.text()
    return html.unescape(answer.text())


def publish(console: Console, source: str) -> int:
    return flows.publish(db=console.db, name=flows.FLOW_NAME, text=source, fmt="toml").version


def test_a_rep_records_an_outcome_and_returns_a_lead_to_marketing(page, console: Console) -> None:
    publish(console, GOOD_FLOW)
    routed = [console.route(f"act-{i}") for i in range(6)]
    won, returned = [r for r in routed if r["rep_id"] == console.reps["Ann"]][:2]
    others = [r for r in routed if r["rep_id"] != console.reps["Ann"]]
    sign_in(page, console, console.keys["rep"])

    row = page.locator(f"#offer-{won['id']}")
    row.get_by_text("Record outcome").click()
    row.get_by_label("Won", exact=True).check()
    row.get_by_label(f"Deal value of {won['lead_id']} (if won)").fill("5200")
    shot(page, "inbox-outcome")
    row.get_by_label(f"Deal value of {won['lead_id']} (if won)").press("Enter")  # forms submit with Enter
    row.get_by_text("recorded").wait_for()
    assert row.locator(".state").inner_text() == "won"
    assert f"recorded lead {won['lead_id']} as won, value 5,200.00" in row.inner_text()
    stored = console.assignment(won["id"])
    assert stored["state"] == "won"
    lead = api(console, "admin", "GET", f"/v1/leads/{won['lead_id']}").json()
    assert [(o["result"], o["value"]) for o in lead["outcomes"]] == [("won", 5200.0)]
    manager = page.context.browser.new_context().new_page()  # a manager's decisions page says so too
    sign_in(manager, console, console.keys["manager"])
    manager.goto(f"{console.url}/console/decisions?lead_id={won['lead_id']}")
    assert "Outcome: won, value 5,200.00" in manager.locator("main").inner_text()
    manager.context.close()

    row = page.locator(f"#offer-{returned['id']}")
    row.get_by_text("Return to marketing").focus()
    page.keyboard.press("Enter")  # a summary opens from the keyboard
    row.get_by_label(f"Why return {returned['lead_id']}").select_option("not_mature")
    row.get_by_label(f"Note for marketing on {returned['lead_id']}").fill("call back in Q3")
    row.get_by_role("button", name="Return").click()
    row.get_by_text("returned lead").wait_for()
    assert row.locator(".state").inner_text() == "returned"
    assert console.assignment(returned["id"])["state"] == "returned"
    assert "not_mature (call back in Q3)" in console.assignment(returned["id"])["reason"]
    nurture = api(console, "manager", "GET", "/v1/pool").json()["data"]
    assert [(p["lead_id"], p["queue"]) for p in nurture if p["lead_id"] == returned["lead_id"]] == [
        (returned["lead_id"], "nurture")
    ]

    # What the API refuses, the console refuses with the same sentence, naming the field or the state.
    assert "value: Input should be greater than or equal to 0" in console_post(
        page, f"/console/inbox/{returned['id']}/outcome", {"result": "won", "value": "-5"}
    )
    assert "is returned: an outcome needs an offered or accepted lead" in console_post(
        page, f"/console/inbox/{returned['id']}/outcome", {"result": "lost"}
    )
    assert "reason: unknown return reason 'bored'" in console_post(
        page, f"/console/inbox/{others[0]['id']}/return", {"reason": "bored"}
    )
    # Another rep's offer is not found for this rep, as through the API (404), and stays as it was.
    assert "not found" in console_post(page, f"/console/inbox/{others[0]['id']}/return", {"reason": "not_mature"})
    assert console.assignment(others[0]["id"])["state"] == "offered"


def test_a_rep_claims_from_its_pool_and_is_told_when_another_was_faster(page, console: Console) -> None:
    publish(console, TO_POOL.replace('action = "claim_pool"', 'action = "blind_pool"'))
    assert console.route("blind-1", account="Secret Corp")["queue"] == "pool"
    publish(console, TO_POOL)
    for lead_id in ("pool-1", "pool-2"):
        assert console.route(lead_id, account="Open Corp")["queue"] == "pool"
    bob_key = create_key(db=console.db, role="rep", rep_id=console.reps["Bob"], name="bob")[1]
    sign_in(page, console, console.keys["rep"])
    page.get_by_role("navigation", name="Console pages").get_by_role("link", name="Pool").click()
    assert page.locator("tr.pool-lead").count() == 3 and "Open Corp" in page.locator("tbody").inner_text()

    # A blind pool shows the rep only what the API shows it: no account, no score.
    assert "hidden until claimed" in page.locator('tr[data-lead="blind-1"]').inner_text()
    assert "Secret Corp" not in page.content()
    rep_view = next(p for p in api(console, "rep", "GET", "/v1/pool").json()["data"] if p["lead_id"] == "blind-1")
    assert rep_view["lead"] is None and rep_view["score"] is None

    # Bob claims pool-1 through the API while Ann's page still shows it.
    bob = {"Authorization": f"Bearer {bob_key}"}
    assert httpx.post(f"{console.url}/v1/pool/pool-1/claim", headers=bob).status_code == 200
    late = httpx.post(f"{console.url}/v1/pool/pool-1/claim", headers=bob)
    assert late.status_code == 409
    page.get_by_role("button", name="Claim lead pool-1").click()
    row = page.locator('tr[data-lead="pool-1"]')
    row.get_by_role("alert").wait_for()
    assert row.get_by_role("alert").inner_text() == late.json()["detail"] == "lead 'pool-1' was already claimed"

    page.get_by_role("button", name="Claim lead pool-2").click()
    page.locator('tr[data-lead="pool-2"]').get_by_text("claimed lead pool-2").wait_for()
    shot(page, "pool")
    mine = api(console, "admin", "GET", "/v1/assignments", params={"lead_id": "pool-2"}).json()["data"]
    assert [(a["rep_id"], a["state"], a["source"]) for a in mine if a["rep_id"]] == [
        (console.reps["Ann"], "accepted", "claim")
    ]
    # A refused request is said at the top of the page, in the server's words, not swallowed.
    page.evaluate("document.body.setAttribute('hx-headers', JSON.stringify({'X-CSRF-Token': 'forged'}))")
    page.get_by_role("button", name="Claim lead blind-1").click()
    flash = page.locator("#flash")
    flash.wait_for()
    assert flash.inner_text().startswith("Refused (403): the form's CSRF token is missing or wrong")
    assert any(p["lead_id"] == "blind-1" for p in api(console, "rep", "GET", "/v1/pool").json()["data"])

    # A manager may not claim (the API's rule: claiming is for reps).
    manager = page.context.browser.new_context().new_page()
    sign_in(manager, console, console.keys["manager"])
    assert "may not claim leads (allowed: rep)" in console_post(manager, "/console/pool/blind-1/claim", {}, status=403)
    manager.context.close()


def test_a_manager_reassigns_an_offer_forcing_an_out_of_office_rep(page, console: Console) -> None:
    publish(console, GOOD_FLOW)
    now = utcnow()
    away = {"start": (now - timedelta(days=1)).isoformat(), "end": (now + timedelta(days=3)).isoformat(), "reason": "trip"}
    dora = create_rep(db=console.db, fields={"name": "Dora", "capacity": 5, "out_of_office": [away]}).id
    offer = console.route("move-1")
    assert offer["rep_id"] != dora  # routing passes an out-of-office rep by
    sign_in(page, console, console.keys["manager"])
    row = page.locator(f"#offer-{offer['id']}")
    row.get_by_text("Reassign").click()
    row.get_by_label("Rep for move-1").select_option(label="Dora (0/5 open, out of office)")
    row.get_by_label("Reason for assigning move-1").fill("speaks Dutch")
    row.get_by_role("button", name="Assign").click()
    page.locator(f"#offer-{offer['id']}").get_by_role("alert").wait_for()
    refused = page.locator(f"#offer-{offer['id']}").get_by_role("alert").inner_text()
    assert "(Dora) is out of office until" in refused and "tick “assign even if away” to assign the lead anyway" in refused
    assert console.assignment(offer["id"])["state"] == "offered"  # nothing moved

    row = page.locator(f"#offer-{offer['id']}")
    row.get_by_text("Reassign").click()
    row.get_by_label("Rep for move-1").select_option(label="Dora (0/5 open, out of office)")
    row.get_by_label("Reason for assigning move-1").fill("speaks Dutch")
    row.get_by_label("assign even if away").check()
    shot(page, "inbox-reassign")
    row.get_by_label("Reason for assigning move-1").press("Enter")
    page.get_by_text("assigned lead move-1 to Dora").wait_for()
    message = page.get_by_text("assigned lead move-1 to Dora").inner_text()
    assert "warning: rep Dora is out of office until" in message
    old = console.assignment(offer["id"])
    assert old["state"] == "reassigned" and "speaks Dutch" in old["reason"]
    new = api(console, "admin", "GET", "/v1/assignments", params={"lead_id": "move-1", "state": "offered"}).json()["data"]
    assert [(a["rep_id"], a["source"], a["reason"]) for a in new] == [(dora, "manual", "speaks Dutch")]

    # The decisions page tells the story in words: the first decision (Dora excluded, out of office),
    # then the hand-assignment with its warning.
    page.goto(f"{console.url}/console/decisions?lead_id=move-1")
    first, second = page.locator("article.decision").all()
    assert "first decision" in first.inner_text() and "Steps tried" in first.inner_text()
    assert "Dora: out of office" in first.inner_text() and "Runner-up:" in first.inner_text()
    assert "Decision 2: offered to Dora" in second.inner_text() and "assigned by hand" in second.inner_text()
    assert "warning: rep Dora is out of office" in second.inner_text()


def test_a_manager_assigns_a_lead_from_the_manager_queue(page, console: Console) -> None:
    publish(console, TO_MANAGER)
    assert console.route("queued-1", account="Waiting Ltd")["queue"] == "manager"
    sign_in(page, console, console.keys["manager"])
    page.get_by_role("navigation", name="Console pages").get_by_role("link", name="Queues").click()
    row = page.locator('tr[data-lead="queued-1"]')
    assert "manager" in row.inner_text() and "Waiting Ltd" in row.inner_text()  # a manager sees everything
    cleo_option = row.get_by_label("Rep for queued-1").locator("option", has_text="Cleo").inner_text()
    row.get_by_label("Rep for queued-1").select_option(label=cleo_option)
    shot(page, "queues")
    row.get_by_role("button", name="Assign").click()
    page.locator('tr[data-lead="queued-1"]').get_by_text("assigned lead queued-1 to Cleo").wait_for()
    given = api(console, "admin", "GET", "/v1/assignments", params={"lead_id": "queued-1"}).json()["data"]
    assert [(a["rep_id"], a["state"], a["source"]) for a in given if a["rep_id"]] == [
        (console.reps["Cleo"], "offered", "manual")
    ]
    # An unknown rep id is named, not a stack trace.
    assert "rep_id: Input should be a valid integer" in console_post(page, "/console/pool/queued-1/assign", {"rep_id": "x"})

    # An optimised decision reads its capacity prices in words (none solved yet on a fresh service: 0).
    publish(console, GOOD_FLOW.replace('stratgy = "round_robin"', 'strategy = "optimised"').replace('strategy = "round_robin"', 'strategy = "optimised"'))
    console.route("priced-1")
    page.goto(f"{console.url}/console/decisions?lead_id=priced-1")
    decision = page.locator("article.decision").inner_text()
    assert "with the optimised strategy" in decision and "Scored by model version world-1" in decision
    assert "Capacity price 0 for every candidate" in decision and "no capacity prices yet" in decision


def test_an_admin_compares_two_flow_versions_and_rolls_back(page, console: Console) -> None:
    alpha = publish(console, GOOD_FLOW.replace('name = "typo"', 'name = "alpha"'))
    beta = publish(console, GOOD_FLOW.replace('name = "typo"', 'name = "beta"').replace("round_robin", "best_fit"))
    sign_in(page, console, console.keys["admin"])
    page.get_by_role("link", name="Flows").click()
    page.get_by_role("link", name="Version history, diff and rollback").click()
    assert page.locator(f"#version-{beta}").get_by_text("active").count() == 1

    page.get_by_label("From version").select_option(str(alpha))
    page.get_by_label("To version").select_option(str(beta))
    page.get_by_role("button", name="Show the diff").click()
    changes = page.get_by_label(f"Changes to the file from version {alpha} to {beta}")
    changes.wait_for()
    assert '-name = "alpha"' in changes.inner_text() and '+name = "beta"' in changes.inner_text()
    assert '+strategy = "best_fit"' in changes.inner_text()

    page.get_by_role("button", name=f"Activate version {alpha}").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(f"in place of version {beta}").wait_for()
    assert '+strategy = "round_robin"' in dialog.inner_text()  # what the rollback changes
    shot(page, "flow-history")
    dialog.get_by_role("button", name="Cancel").click()
    assert page.get_by_role("dialog").count() == 0
    with console.db.read_session() as session:
        assert [r.version for r in flows.list_flows(session=session, name=flows.FLOW_NAME) if r.active] == [beta]

    page.get_by_role("button", name=f"Activate version {alpha}").click()
    page.get_by_role("button", name=f"Yes, activate version {alpha}").click()
    page.get_by_text(f"version {alpha} is active").wait_for()
    assert page.locator(f"#version-{alpha}").get_by_text("active").count() == 1
    assert page.get_by_role("dialog").count() == 0
    assert console.route("after-rollback")["flow_version"] == alpha

    # Managers may preview drafts but not read or activate stored versions (the API's rule).
    manager = page.context.browser.new_context().new_page()
    sign_in(manager, console, console.keys["manager"])
    refused = console_post(manager, f"/console/flows/versions/{beta}/activate", {}, status=403)
    assert "may not read or activate stored flow versions (allowed: admin)" in refused
    assert manager.goto(f"{console.url}/console/flows/history").status == 403
    manager.context.close()


PAGES = {
    "rep": ["/console/inbox", "/console/pool"],
    "manager": ["/console/inbox", "/console/pool", "/console/decisions?lead_id=act-0", "/console/reps", "/console/flows"],
    "admin": ["/console/inbox", "/console/pool", "/console/reps", "/console/flows", "/console/flows/history"],
    "integration": ["/console/decisions?lead_id=act-0"],
}
UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button, summary')]
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
  .map(el => el.outerHTML.slice(0, 120))"""


def test_every_control_is_labelled_and_every_page_fits_a_phone(page, console: Console) -> None:
    for role, paths in PAGES.items():
        sign_in(page, console, console.keys[role])
        for path in paths:
            page.set_viewport_size({"width": 1280, "height": 900})
            page.goto(f"{console.url}{path}")
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
            assert page.evaluate(UNLABELLED) == [], (role, path)
            page.set_viewport_size({"width": 390, "height": 844})
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (role, path, width)  # no sideways scrolling on a phone
        # Keyboard: the first Tab lands on a control whose focus is visible.
        page.keyboard.press("Tab")
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
        page.context.clear_cookies()
