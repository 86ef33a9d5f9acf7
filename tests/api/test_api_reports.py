"""Reports on a tiny seeded store, checked against numbers computed by hand (see the comments)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from leadwise.store.models import AssignmentRow, LeadReturnRow, LeadRow, OutcomeRow, TouchRow

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def at(minutes: float = 0, days: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, days=days)


def seed(env) -> None:
    """Four leads, five rep assignments, one queued, three outcomes, one return.

    L1 09:00 web/GTX/new, touches search (cost 10) → email demo (5): Ann 30 s later, accepted at 10 min
       (SLA 30 min), won 1000.
    L2 09:30 web/MG/existing customer, touch email (2): Bob after 60 s, expired; Ann after 1860 s,
       accepted 4200 s after creation (late), lost.
    L3 14:00 partner/no series, touch search quote request (no cost): Bob after 120 s, accepted 300 s,
       returned (not_mature); Bob again the next day (86 400 s), accepted at 88 200 s, exactly at its
       deadline, won 500.
    L4 14:10, nothing: waits in nurture.
    """
    ann, bob = env.reps["Ann"], env.reps["Bob"]
    with env.db.write_session() as s:
        leads = [
            LeadRow(external_id="L1", payload={"source": "web", "series": "GTX"}, created_at=at(0)),
            LeadRow(external_id="L2", payload={"source": "web", "series": "MG", "existing_customer": True}, created_at=at(30)),
            LeadRow(external_id="L3", payload={"source": "partner"}, created_at=at(300)),
            LeadRow(external_id="L4", payload={}, created_at=at(310), status="queued", queue="nurture"),
        ]  # fmt: skip
        s.add_all(leads)
        s.flush()
        l1, l2, l3, l4 = (lead.id for lead in leads)
        s.add_all(
            [
                TouchRow(lead_id=l1, timestamp=at(days=-3), channel="search", touch_type="visit", cost=10.0),
                TouchRow(lead_id=l1, timestamp=at(days=-1), channel="email", touch_type="demo_request", cost=5.0),
                TouchRow(lead_id=l2, timestamp=at(days=-2), channel="email", touch_type="visit", cost=2.0),
                TouchRow(lead_id=l3, timestamp=at(299), channel="search", touch_type="quote_request"),
            ]
        )  # fmt: skip

        def assignment(lead, rep, state, created, responded=None, sla=True):
            return AssignmentRow(
                lead_id=lead, rep_id=rep, state=state, source="route", explanation={}, alternatives=[],
                created_at=created, responded_at=responded,
                expires_at=created + timedelta(minutes=30) if sla else None,
            )  # fmt: skip

        rows = [
            assignment(l1, ann, "won", at(0.5), at(10)),
            assignment(l2, bob, "expired", at(31)),
            assignment(l2, ann, "lost", at(61), at(100)),
            assignment(l3, bob, "returned", at(302), at(305)),
            AssignmentRow(lead_id=l3, rep_id=bob, state="won", source="matured", explanation={}, alternatives=[],
                          created_at=at(300, days=1), responded_at=at(330, days=1), expires_at=at(330, days=1)),
            AssignmentRow(lead_id=l4, rep_id=None, queue="nurture", state="queued", explanation={}, alternatives=[],
                          created_at=at(310)),
        ]  # fmt: skip
        s.add_all(rows)
        s.flush()
        s.add_all(
            [
                OutcomeRow(assignment_id=rows[0].id, lead_id=l1, rep_id=ann, result="won", value=1000.0),
                OutcomeRow(assignment_id=rows[2].id, lead_id=l2, rep_id=ann, result="lost", value=None),
                OutcomeRow(assignment_id=rows[4].id, lead_id=l3, rep_id=bob, result="won", value=500.0),
                LeadReturnRow(assignment_id=rows[3].id, lead_id=l3, rep_id=bob, reason="not_mature", returned_by="rep"),
            ]
        )  # fmt: skip


def g(key, leads, closed, won, rate, value):
    return {
        "key": key,
        "leads": leads,
        "closed": closed,
        "won": won,
        "conversion_rate": rate,
        "won_value": value,
    }


def test_conversion_report(env) -> None:
    seed(env)
    body = env.client.get("/v1/reports/conversion", headers=env.h("manager")).json()
    assert body["channel_basis"] == "first_touch"
    assert body["total"] == g("all", 4, 3, 2, pytest.approx(2 / 3), 1500.0)
    # First touch: L1 search, L2 email, L3 search, L4 none.
    assert body["by_channel"] == [
        g("(no touches)", 1, 0, 0, None, 0.0),
        g("email", 1, 1, 0, 0.0, 0.0),
        g("search", 2, 2, 2, 1.0, 1500.0),
    ]
    assert body["by_source"] == [
        g("(none)", 1, 0, 0, None, 0.0),
        g("partner", 1, 1, 1, 1.0, 500.0),
        g("web", 2, 2, 1, 0.5, 1000.0),
    ]
    assert body["by_customer"] == [g("existing customer", 1, 1, 0, 0.0, 0.0), g("new", 3, 2, 2, 1.0, 1500.0)]
    assert body["by_series"] == [
        g("(none)", 2, 1, 1, 1.0, 500.0),
        g("GTX", 1, 1, 1, 1.0, 1000.0),
        g("MG", 1, 1, 0, 0.0, 0.0),
    ]
    # Ann was given L1 and L2 (won, lost); Bob L2 and L3 (won L3).
    assert body["by_rep"] == [g("Ann", 2, 2, 1, 0.5, 1000.0), g("Bob", 2, 1, 1, 1.0, 500.0)]


def s_(key, n, med_a, p90_a, accepted, med_c, p90_c):
    return {
        "key": key,
        "assignments": n,
        "median_seconds_to_assignment": pytest.approx(med_a),
        "p90_seconds_to_assignment": pytest.approx(p90_a),
        "accepted": accepted,
        "median_seconds_to_acceptance": pytest.approx(med_c),
        "p90_seconds_to_acceptance": pytest.approx(p90_c),
    }


def test_speed_and_sla_report(env) -> None:
    seed(env)
    body = env.client.get("/v1/reports/speed", headers=env.h("admin")).json()
    # Ann: to assignment [30, 1860], to acceptance [600, 4200]; p90 interpolates linearly.
    # Bob: to assignment [60, 120, 86400], accepted [300, 88200] (the expired offer never was).
    assert body["by_rep"] == [
        s_("Ann", 2, 945, 30 + 0.9 * 1830, 2, 2400, 600 + 0.9 * 3600),
        s_("Bob", 3, 120, 120 + 0.8 * 86280, 2, 44250, 300 + 0.9 * 87900),
    ]
    # Hour of lead creation: 09 (L1, L2: [30, 60, 1860]; accepted [600, 4200]), 14 (L3: [120, 86400]).
    assert body["by_hour"] == [
        s_("09", 3, 60, 60 + 0.8 * 1800, 2, 2400, 3840),
        s_("14", 2, 43260, 120 + 0.9 * 86280, 2, 44250, 300 + 0.9 * 87900),
    ]
    # Ann: L1 in time, L2 late; Bob: L2 expired, L3 accepted in time twice (once exactly at the deadline).
    assert body["sla"] == [
        {"key": "Ann", "offers": 2, "accepted_within_sla": 1, "expired": 0, "adherence": 0.5},
        {
            "key": "Bob",
            "offers": 3,
            "accepted_within_sla": 2,
            "expired": 1,
            "adherence": pytest.approx(2 / 3),
        },
    ]


def test_returns_report(env) -> None:
    seed(env)
    body = env.client.get("/v1/reports/returns", headers=env.h("manager")).json()
    assert body == {
        "total": 1,
        "reasons": [
            {"reason": "project_postponed", "count": 0},
            {"reason": "new_contact", "count": 0},
            {"reason": "not_mature", "count": 1},
            {"reason": "bad_data", "count": 0},
        ],
        "by_rep": [{"rep": "Bob", "reason": "not_mature", "count": 1}],
    }


def test_attribution_report(env) -> None:
    seed(env)
    body = env.client.get("/v1/reports/attribution?model=linear", headers=env.h("manager")).json()
    # Journeys with an outcome: L1 search > email (won 1000), L2 email (lost), L3 search (won 500).
    # Linear: L1 gives 0.5 to each channel, L3 1 to search.
    assert (body["model"], body["journeys"], body["won"]) == ("linear", 3, 2)
    channels = {c["channel"]: c for c in body["channels"]}
    assert channels["search"] == {
        "channel": "search", "conversions": 1.5, "share": 0.75, "revenue": 1000.0, "journeys": 2,
        "converted_journeys": 2, "conversion_rate": 1.0, "cost": 10.0, "cost_per_won": pytest.approx(10 / 1.5),
    }  # fmt: skip
    assert channels["email"] == {
        "channel": "email", "conversions": 0.5, "share": 0.25, "revenue": 500.0, "journeys": 2,
        "converted_journeys": 1, "conversion_rate": 0.5, "cost": 7.0, "cost_per_won": 14.0,
    }  # fmt: skip
    first = env.client.get("/v1/reports/attribution?model=first_touch", headers=env.h("manager")).json()
    assert {c["channel"]: c["conversions"] for c in first["channels"]} == {"email": 0.0, "search": 2.0}
    bad = env.client.get("/v1/reports/attribution?model=astrology", headers=env.h("manager"))
    assert bad.status_code == 422 and "unknown attribution model" in bad.json()["detail"]


def test_reports_on_an_empty_store(env) -> None:
    for path in ("conversion", "speed", "returns", "attribution"):
        response = env.client.get(f"/v1/reports/{path}", headers=env.h("manager"))
        assert response.status_code == 200, (path, response.text)
    assert env.client.get("/v1/reports/attribution", headers=env.h("manager")).json()["channels"] == []


def test_report_command_prints_and_logs_to_mlflow(env, tmp_path, monkeypatch) -> None:
    import mlflow

    from leadwise.cli import app

    seed(env)
    monkeypatch.chdir(tmp_path)
    tracking = f"sqlite:///{tmp_path / 'reports-mlflow.db'}"
    result = CliRunner().invoke(
        app, ["report", "--database-url", env.settings.database_url, "--tracking-uri", tracking]
    )
    assert result.exit_code == 0, result.output
    assert "conversion by first-touch channel" in result.output and "SLA adherence by rep" in result.output
    mlflow.set_tracking_uri(tracking)
    (run,) = mlflow.search_runs(experiment_names=["leadwise-reports"], output_format="list")
    assert run.data.metrics["won"] == 2 and run.data.metrics["conversion_rate"] == pytest.approx(2 / 3)
    artefacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {
        "conversion.json",
        "speed.json",
        "returns.json",
        "attribution.json",
        "conversion_by_channel.png",
    } <= artefacts


def test_report_command_refuses_an_unmigrated_database(tmp_path) -> None:
    from leadwise.cli import app

    result = CliRunner().invoke(
        app, ["report", "--database-url", f"sqlite:///{tmp_path / 'empty.db'}", "--no-log"]
    )
    assert result.exit_code == 2 and "leadwise db upgrade" in result.output
