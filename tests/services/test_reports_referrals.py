"""The referrals and providers report on hand-built referrals with exact figures
(tests/services/referral_report_factories.py): per clinic, declines by reason, the clinic's
reply time, discharges by day of discharge, a provider filter, an empty period, and drill-downs
listing one lead per referral."""

from __future__ import annotations

from datetime import date

import pytest

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.intake.models import Lead
from crm.referrals.models import Referral
from crm.reports.leads import Filters
from crm.reports.periods import Period
from crm.reports.referrals import referral_sets_for, referrals_report
from tests.conftest import create_staff
from tests.services.referral_report_factories import DALES, HARBOUR, NOW, at, move, referral_story
from tests.services.report_factories import refresh_summaries
from tests.services.test_reports import LAST_WEEK


@pytest.fixture
def advisor(db_session: object) -> User:
    return create_staff("admissions", name="Ada Advisor")


@pytest.fixture
def story(advisor: User) -> dict[str, object]:
    return referral_story(advisor)


def build(period: Period = LAST_WEEK, filters: Filters | None = None):  # type: ignore[no-untyped-def]
    refresh_summaries(NOW)
    with clock.pinned(NOW):
        return referrals_report(period, filters or Filters()), referral_sets_for(
            period, filters or Filters()
        )


def test_the_headline_figures_are_exact(story: dict[str, object]) -> None:
    report, _ = build()
    got = {f.key: (f.value, f.previous) for f in report.figures}
    assert got == {
        "sent": (5, 1),
        "accepted": (2, 1),
        "declined": (1, 0),
        "waitlisted": (1, 0),
        "admitted": (1, 1),
        "did_not_arrive": (0, 0),
        "acceptance_rate": (pytest.approx(2 / 3), 1.0),
        "reply_hours": (27, 0),
        "discharged:completed": (1, 0),
        "discharged:early": (1, 0),
    }
    assert all(f.definition for f in report.figures)


def test_per_clinic_rows_and_declines_by_reason(story: dict[str, object]) -> None:
    report, _ = build()
    table = report.table("by_clinic")
    assert table.columns[:9] == [
        "Clinic",
        "Sent",
        "Accepted",
        "Declined",
        "Waitlisted",
        "Admitted",
        "Did not arrive",
        "Withdrawn",
        "Awaiting reply",
    ]
    assert table.rows == [
        [DALES, 3, 1, 0, 1, 0, 0, 1, 1, 1.0, 48, 0, 0],
        [HARBOUR, 2, 1, 1, 0, 1, 0, 0, 0, 0.5, 16.5, 1, 1],
    ]
    reasons = {row[0]: row[1:] for row in report.table("by_reason").rows}
    assert reasons["No bed or place available"] == [1, 1.0, 0]
    assert sum(row[0] for row in reasons.values()) == 1
    assert [c.key for c in report.charts] == ["by_clinic", "by_reason"]


def test_drill_downs_list_one_lead_per_referral(story: dict[str, object]) -> None:
    a, b, c, d, e = story["leads"]  # type: ignore[misc]
    report, sets = build()
    assert sorted(sets["sent"]) == sorted([a.id, b.id, b.id, c.id, d.id])
    assert sorted(sets["accepted"]) == sorted([a.id, b.id])
    assert sets["declined:no_bed"] == [b.id]
    assert sets["discharged:early"] == [e.id]
    assert sets[f"loc:{story['dales'].id}:awaiting"] == [c.id]  # type: ignore[attr-defined]
    for figure in report.figures:
        if figure.drill:
            assert len(sets.get(figure.drill, [])) == figure.value, figure.key
    table = report.table("by_clinic")
    for r, row in enumerate(table.rows):
        for col, value in enumerate(row):
            if (key := table.drill(r, col)) is not None:
                assert len(sets.get(key, [])) == value, key


def test_a_provider_filter_keeps_only_its_clinics(story: dict[str, object]) -> None:
    harbour = story["harbour"]
    report, sets = build(filters=Filters(provider_id=harbour.provider_id))  # type: ignore[attr-defined]
    assert [row[0] for row in report.table("by_clinic").rows] == [HARBOUR]
    assert report.figure("sent").value == 2
    assert report.figure("discharged:early").value == 1
    assert len(sets["sent"]) == 2


def test_a_source_filter_narrows_to_the_leads_of_that_source(story: dict[str, object]) -> None:
    a = story["leads"][0]  # type: ignore[index]
    db.session.get(Lead, a.id).source = "phone"
    db.session.commit()
    report, sets = build(filters=Filters(source="phone"))
    assert report.figure("sent").value == 1 and sets["sent"] == [a.id]
    assert report.figure("discharged:completed").value == 1
    assert report.figure("discharged:early").value == 0


def test_an_empty_period_has_zeros(advisor: User) -> None:
    report, sets = build(Period(date(2026, 10, 19), date(2026, 10, 25)))
    assert report.figure("sent").value == 0
    assert report.figure("acceptance_rate").value is None
    assert report.figure("reply_hours").value is None
    assert report.table("by_clinic").rows == [] and sets == {}


def test_a_referral_declined_after_acceptance_counts_as_declined(
    story: dict[str, object], advisor: User
) -> None:
    r3 = db.session.scalar(
        db.select(Referral).where(
            Referral.location_id == story["dales"].id, Referral.status == "accepted"
        )  # type: ignore[attr-defined]
    )
    move(r3, advisor, at(22, 9), "declined", decline_code="other", reason="Changed their mind")
    db.session.commit()
    report, sets = build()
    assert report.figure("accepted").value == 1
    assert report.figure("declined").value == 2
    assert report.figure("waitlisted").value == 1  # it was waitlisted all the same
    assert len(sets["declined:other"]) == 1
