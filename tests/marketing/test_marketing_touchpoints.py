"""Reading touchpoints and outcomes: normalisation, one-line errors naming file/column/row, journeys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadwise.marketing.journeys import build_journeys
from leadwise.marketing.touchpoints import (
    TouchpointsError,
    load_outcomes,
    outcomes_from_table,
    read_touchpoints,
)

HEADER = "lead_id,timestamp,channel,touch_type,campaign,cost\n"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_and_normalises_touch_types_dates_and_costs(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "touchpoints.csv",
        HEADER
        + "L1,2024-01-02T10:00:00,email,Email Click,spring,1.5\n"
        + "L1,1/3/2024,webinar,webinar-attended,,\n"
        + 'L2,2024-01-05,referral,demo_request,,"1,200"\n',
    )
    frame = read_touchpoints(path)
    assert list(frame["touch_type"]) == ["email_click", "webinar_attended", "demo_request"]
    assert frame["timestamp"].iloc[1] == pd.Timestamp("2024-01-03")
    assert frame["cost"].tolist() == [1.5, 0.0, 1200.0]
    assert frame["campaign"].isna().tolist() == [False, True, True]


def test_opportunity_id_is_accepted_as_the_journey_key(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "opportunity_id,timestamp,channel,touch_type\nO1,2024-01-01,email,call\n")
    assert read_touchpoints(path)["lead_id"].tolist() == ["O1"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "L1,2024-01-01,email,fax,,0\n",
            "touchpoints.csv, column 'touch_type', row 1 (line 2): 'fax' is not a touch type",
        ),
        ("L1,2024-01-01,email,call,,0\nL2,someday,email,call,,0\n", "column 'timestamp', row 2 (line 3)"),
        (
            "L1,2024-01-01,email,call,,0\nL2,2024-01-01,email,call,,-3\n",
            "column 'cost', row 2 (line 3): -3.0 is negative",
        ),
        (
            "L1,2024-01-01,email,call,,0\nL2,2024-01-01,,call,,0\n",
            "column 'channel', row 2 (line 3): value is missing",
        ),
        (",2024-01-01,email,call,,0\n", "column 'lead_id', row 1 (line 2): value is missing"),
        ("L1,2024-01-01,email,call,,abc\n", "column 'cost', row 1 (line 2): 'abc' is not a number"),
    ],
)
def test_bad_values_give_one_line_naming_file_column_and_row(
    tmp_path: Path, body: str, expected: str
) -> None:
    path = write(tmp_path, "touchpoints.csv", HEADER + body)
    with pytest.raises(TouchpointsError) as error:
        read_touchpoints(path)
    message = str(error.value)
    assert expected in message
    assert "\n" not in message


def test_missing_columns_and_empty_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(TouchpointsError, match="touchpoints.csv: required column 'touch_type' is missing"):
        read_touchpoints(
            write(tmp_path, "touchpoints.csv", "lead_id,timestamp,channel\nL1,2024-01-01,email\n")
        )
    with pytest.raises(TouchpointsError, match="'lead_id' or 'opportunity_id'"):
        read_touchpoints(
            write(tmp_path, "touchpoints.csv", "timestamp,channel,touch_type\n2024-01-01,email,call\n")
        )
    with pytest.raises(TouchpointsError, match="no data rows"):
        read_touchpoints(write(tmp_path, "touchpoints.csv", HEADER))
    with pytest.raises(TouchpointsError, match="file not found"):
        read_touchpoints(tmp_path / "nope.csv")


def test_pipeline_outcomes_keep_closed_deals_only(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sales_pipeline.csv",
        "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value\n"
        "O1,A,P,X,Won,2024-01-01,2024-02-01,1000\n"
        "O2,A,P,X,Lost,2024-01-01,2024-02-01,0\n"
        "O3,A,P,X,Engaging,2024-01-01,,\n",
    )
    outcomes = load_outcomes(path)
    assert outcomes.to_dict("list") == {
        "lead_id": ["O1", "O2"],
        "converted": [True, False],
        "revenue": [1000.0, 0.0],
    }
    bad = write(tmp_path, "bad_pipeline.csv", "opportunity_id,deal_stage,close_value\nO1,Won,10\nO2,Maybe,\n")
    with pytest.raises(TouchpointsError, match=r"bad_pipeline.csv, column 'deal_stage', row 2 \(line 3\)"):
        load_outcomes(bad)


def test_single_table_form_carries_outcomes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "touchpoints.csv",
        "lead_id,timestamp,channel,touch_type,converted,revenue\n"
        "L1,2024-01-01,email,visit,won,500\nL1,2024-01-02,event,call,won,500\nL2,2024-01-01,email,visit,0,\n",
    )
    frame = read_touchpoints(path)
    outcomes = outcomes_from_table(frame).set_index("lead_id")
    assert outcomes.loc["L1", "converted"] and outcomes.loc["L1", "revenue"] == 500
    assert not outcomes.loc["L2", "converted"] and outcomes.loc["L2", "revenue"] == 0
    with pytest.raises(TouchpointsError, match=r"column 'converted', row 1 \(line 2\): 'perhaps'"):
        read_touchpoints(
            write(
                tmp_path,
                "t2.csv",
                "lead_id,timestamp,channel,touch_type,converted\nL,2024-01-01,e,call,perhaps\n",
            )
        )


def test_journeys_are_time_ordered_and_joined_to_outcomes() -> None:
    touches = pd.DataFrame(
        {
            "lead_id": ["B", "A", "A", "C", "A", "B"],
            "timestamp": pd.to_datetime(
                ["2024-01-03", "2024-01-05", "2024-01-01", "2024-01-01", "2024-01-03", "2024-01-01"]
            ),
            "channel": ["email", "referral", "display", "email", "webinar", "display"],
            "touch_type": ["visit"] * 6,
            "cost": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )
    outcomes = pd.DataFrame({"lead_id": ["A", "B"], "converted": [True, False], "revenue": [100.0, 50.0]})
    journeys = build_journeys(touches, outcomes)
    paths = dict(zip(journeys.ids, journeys.paths(), strict=True))
    assert paths == {"A": "display > webinar > referral", "B": "display > email"}
    assert journeys.dropped_without_outcome == 1  # C has no closed deal
    by_id = dict(zip(journeys.ids, journeys.revenue, strict=True))
    assert by_id == {"A": 100.0, "B": 0.0}  # a lost deal brings no revenue
    # Spend counts even on the journey left out: the money was spent.
    assert dict(zip(journeys.channels, journeys.channel_cost, strict=True))["email"] == 5.0
    np.testing.assert_array_equal(journeys.touched, [2, 1, 1, 1])  # display, email, referral, webinar


def test_no_matching_ids_is_an_error() -> None:
    touches = pd.DataFrame(
        {
            "lead_id": ["A"],
            "timestamp": pd.to_datetime(["2024-01-01"]),
            "channel": ["e"],
            "touch_type": ["visit"],
            "cost": [0.0],
        }
    )
    with pytest.raises(TouchpointsError, match="no touchpoint id matches"):
        build_journeys(touches, pd.DataFrame({"lead_id": ["Z"], "converted": [True], "revenue": [1.0]}))
