"""The intake, funnel and speed-to-lead reports on hand-built data, with exact figures
(tests/services/report_factories.py), an empty period, a week across the clock change of
25 October 2026, merged duplicates, and drill-downs whose length is their figure."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.intake.models import Lead
from crm.reports import intake
from crm.reports.leads import Filters
from crm.reports.periods import Period, buckets, preset_period
from tests.conftest import create_staff
from tests.services.report_factories import NOW, TODAY, Week, hand_built_week, refresh_summaries
from tests.web.intake_helpers import make_lead

LAST_WEEK = Period(date(2026, 11, 16), date(2026, 11, 22))
TARGET = 15


@pytest.fixture
def advisor(db_session: object) -> User:
    return create_staff("admissions")


@pytest.fixture
def week(advisor: User) -> Week:
    return hand_built_week(advisor)


def report_now(build, *args):  # type: ignore[no-untyped-def]
    refresh_summaries()
    with clock.pinned(NOW):
        return build(*args)


def figures(report) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {f.key: (f.value, f.previous) for f in report.figures}


def test_last_week_is_the_monday_to_sunday_before_and_the_previous_is_the_week_before() -> None:
    period = preset_period("last_week", TODAY)
    assert period == LAST_WEEK
    assert period.previous() == Period(date(2026, 11, 9), date(2026, 11, 15))


def test_intake_figures_are_exact(week: Week) -> None:
    report = report_now(intake.intake_report, LAST_WEEK, Filters(), TARGET)
    assert figures(report) == {
        "leads": (3, 1),
        "repeat_requests": (1, 0),
        "merged": (1, 0),
        "in_hours": (1, 1),
        "out_of_hours": (2, 0),
    }
    by_source = {row[0]: row[1:] for row in report.table("by_source").rows}
    assert by_source == {"Website form": [2, 1], "Phone call": [1, 0]}
    by_campaign = {row[0]: row[1] for row in report.table("by_campaign").rows}
    assert by_campaign == {"(none)": 2, "winter": 1}
    by_day = [row[1] for row in report.table("by_day").rows]
    assert by_day == [2, 0, 0, 0, 0, 1, 0]  # Monday 16 and Saturday 21
    chart = next(c for c in report.charts if c.key == "by_day")
    assert chart.series[0].values == by_day  # the chart draws the table's numbers


def test_a_source_filter_narrows_every_figure(week: Week) -> None:
    report = report_now(intake.intake_report, LAST_WEEK, Filters(source="phone"), TARGET)
    assert figures(report)["leads"] == (1, 0)
    assert figures(report)["out_of_hours"] == (1, 0)


def test_speed_to_lead_figures_are_exact(week: Week) -> None:
    report = report_now(intake.speed_report, LAST_WEEK, Filters(), TARGET)
    got = figures(report)
    assert got["median"] == (17.5, 20.0)
    assert got["p90"] == (pytest.approx(27.5), 20.0)
    assert got["within"] == (0.5, 0.0)
    assert got["contacted"] == (2, 1)
    assert got["not_contacted"] == (1, 0)
    hours = {row[0]: row[1:] for row in report.table("hours").rows}
    assert hours == {"In hours": [1, 5.0, 5.0, 1.0], "Out of hours": [2, 30.0, 30.0, 0.0]}
    slowest = report.table("slowest").rows
    assert [(r[0], r[2]) for r in slowest] == [(week.l2.reference, 30.0), (week.l1.reference, 5.0)]
    heat = {row[0]: row[1:] for row in report.table("heatmap").rows}
    assert heat["Mon"][10] == 5.0 and heat["Mon"][22] == 30.0
    assert sum(v is not None for row in heat.values() for v in row) == 2


def test_the_funnel_follows_the_cohort(week: Week) -> None:
    report = report_now(intake.funnel_report, LAST_WEEK, Filters())
    stages = {row[0]: row[1:] for row in report.table("stages").rows}
    assert [
        stages[s][0] for s in ("New", "Contacted", "Assessed", "Matched", "Referred", "Admitted")
    ] == [3, 2, 1, 1, 1, 1]
    assert stages["Contacted"][2] == pytest.approx(2 / 3)
    assert stages["Assessed"][2] == 0.5
    # L1: contacted Mon 10:05, assessed Tue 10:00 (the test walks it on): 23.9 hours, in
    # whole hours rounded up: 24.
    assert stages["Assessed"][3] == 24
    assert {row[0]: row[1] for row in report.table("closed").rows} == {"Unreachable": 1}
    assert figures(report)["admitted_share"] == (pytest.approx(1 / 3), 0.0)


@pytest.mark.parametrize("report_name", ["intake", "funnel", "speed"])
def test_every_drill_down_lists_exactly_the_leads_its_figure_counts(
    week: Week, report_name: str
) -> None:
    with clock.pinned(NOW):
        if report_name == "intake":
            report = intake.intake_report(LAST_WEEK, Filters(), TARGET)
            sets = intake.intake_sets_for(LAST_WEEK, Filters(), TARGET)
        elif report_name == "funnel":
            report = intake.funnel_report(LAST_WEEK, Filters())
            sets = intake.funnel_sets_for(LAST_WEEK, Filters())
        else:
            report = intake.speed_report(LAST_WEEK, Filters(), TARGET)
            sets = intake.speed_sets_for(LAST_WEEK, Filters(), TARGET)
    checked = 0
    for figure in report.figures:
        if figure.drill:
            assert len(sets.get(figure.drill, [])) == figure.value, figure.key
            checked += 1
    for table in report.tables:
        for r, row in enumerate(table.rows):
            for c, value in enumerate(row):
                if key := table.drill(r, c):
                    assert len(sets.get(key, [])) == value, (table.key, key)
                    checked += 1
    assert checked >= 3
    assert week.l4.id in sets.get("merged", []) or report_name != "intake"
    assert all(week.l4.id not in ids for key, ids in sets.items() if key != "merged")


def test_an_empty_period_has_zeros_and_no_medians(db_session: object) -> None:
    report = report_now(intake.speed_report, LAST_WEEK, Filters(), TARGET)
    assert figures(report) == {
        "median": (None, None),
        "p90": (None, None),
        "within": (None, None),
        "contacted": (0, 0),
        "not_contacted": (0, 0),
    }
    funnel = report_now(intake.funnel_report, LAST_WEEK, Filters())
    assert figures(funnel)["admitted_share"] == (None, None)
    assert report.table("slowest").rows == []


def test_a_week_across_the_clock_change_has_seven_uk_days(db_session: object) -> None:
    week = Period(date(2026, 10, 19), date(2026, 10, 25))  # clocks go back at 02:00 on the 25th
    start, end = week.bounds()
    assert start == datetime(2026, 10, 18, 23, 0, tzinfo=UTC)  # midnight BST
    assert end == datetime(2026, 10, 26, 0, 0, tzinfo=UTC)  # midnight GMT
    assert end - start == timedelta(hours=169)
    grain, days = buckets(week)
    assert grain == "day" and len(days) == 7
    # 00:30 BST on Monday 19 is 23:30 UTC on Sunday 18; 23:30 GMT on Sunday 25 is still the 25th.
    make_lead("Early Monday", "07700 900201", at=datetime(2026, 10, 18, 23, 30, tzinfo=UTC))
    make_lead("Late Sunday", "07700 900202", at=datetime(2026, 10, 25, 23, 30, tzinfo=UTC))
    make_lead("Before", "07700 900203", at=datetime(2026, 10, 18, 22, 59, tzinfo=UTC))
    make_lead("After", "07700 900204", at=datetime(2026, 10, 26, 0, 0, tzinfo=UTC))
    refresh_summaries(datetime(2026, 10, 27, 9, tzinfo=UTC))
    with clock.pinned(datetime(2026, 10, 27, 9, tzinfo=UTC)):
        report = intake.intake_report(week, Filters(), TARGET)
    by_day = [row[1] for row in report.table("by_day").rows]
    assert by_day == [1, 0, 0, 0, 0, 0, 1]
    assert figures(report)["leads"][0] == 2


def test_a_quarter_is_bucketed_by_monday_weeks(db_session: object) -> None:
    quarter = preset_period("this_quarter", date(2026, 12, 6))
    assert quarter == Period(date(2026, 10, 1), date(2026, 12, 6))
    grain, weeks = buckets(quarter)
    assert (
        grain == "week" and weeks[0] == date(2026, 9, 28) and all(w.weekday() == 0 for w in weeks)
    )
    lead = make_lead("Quarter", "07700 900301", at=datetime(2026, 10, 1, 12, tzinfo=UTC))
    refresh_summaries(datetime(2026, 12, 6, 9, tzinfo=UTC))
    with clock.pinned(datetime(2026, 12, 6, 9, tzinfo=UTC)):
        report = intake.intake_report(quarter, Filters(), TARGET)
    assert report.table("by_day").rows[0][1] == 1
    assert db.session.get(Lead, lead.id) is not None
