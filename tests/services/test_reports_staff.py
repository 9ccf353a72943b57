"""The staff activity report on the hand-built week (tests/services/report_factories.py), with
one unanswered call added: exact figures, a staff filter, an empty period, drill-downs."""

from __future__ import annotations

import pytest

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.intake import pipeline
from crm.privacy.services import Actor
from crm.reports.leads import Filters
from crm.reports.periods import Period
from crm.reports.staff import staff_report, staff_sets_for
from tests.conftest import create_staff
from tests.services.report_factories import NOW, Week, at, hand_built_week, refresh_summaries
from tests.services.test_reports import LAST_WEEK


@pytest.fixture
def advisor(db_session: object) -> User:
    return create_staff("admissions", name="Ada Advisor")


@pytest.fixture
def week(advisor: User) -> Week:
    built = hand_built_week(advisor)
    with clock.pinned(at(21, 12, 10)):
        pipeline.log_call(built.l3.id, Actor(advisor.id), direction="outbound", outcome="no_answer")
        db.session.commit()
    return built


def _build(period: Period, filters: Filters):  # type: ignore[no-untyped-def]
    refresh_summaries(NOW)
    with clock.pinned(NOW):
        return staff_report(period, filters), staff_sets_for(period, filters)


def test_staff_activity_figures_are_exact(week: Week, advisor: User) -> None:
    report, sets = _build(LAST_WEEK, Filters())
    got = {f.key: (f.value, f.previous) for f in report.figures}
    assert got == {
        "calls": (3, 1),
        "connected": (2, 1),
        "connected_rate": (pytest.approx(2 / 3), 1.0),
        "assessed": (0, 0),
        "referred": (0, 0),
    }
    [row] = report.table("people").rows
    assert row == ["Ada Advisor", 3, 2, pytest.approx(2 / 3), 0, 0]
    assert sorted(sets[f"staff:{advisor.id}:calls"]) == sorted([week.l1.id, week.l2.id, week.l3.id])
    assert len(sets[f"staff:{advisor.id}:connected"]) == 2
    for key in report.drill_keys():
        value = next(
            (f.value for f in report.figures if f.drill == key),
            None,
        )
        if value is not None:
            assert len(sets.get(key, [])) == value, key


def test_a_staff_filter_shows_only_that_person(week: Week, advisor: User) -> None:
    other = create_staff("admissions")
    report, _ = _build(LAST_WEEK, Filters(owner_id=other.id))
    assert report.figure("calls").value == 0 and report.table("people").rows == []
    report, _ = _build(LAST_WEEK, Filters(owner_id=advisor.id))
    assert report.figure("calls").value == 3


def test_an_empty_period_has_zeros(db_session: object) -> None:
    report, sets = _build(LAST_WEEK, Filters())
    assert report.figure("calls").value == 0
    assert report.figure("connected_rate").value is None
    assert sets == {}
