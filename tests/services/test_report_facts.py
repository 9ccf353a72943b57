"""The report facts (crm/reports/activity.py) of the referrals, on-call and staff reports equal
a direct computation from the records (each report's ``day_facts`` over the whole period, with
no summaries), for weeks, a month read from its month rows and a period with loose days either
side; after changes made through raw SQL (the triggers see them), a row moved to another day,
an event added to a page or a referral, a row deleted, a lead's source corrected; and when the
clock passes a reminder's escalation time with nothing written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.oncall.models import Page, Reminder
from crm.reports import activity, oncall, referrals, staff, summary
from crm.reports.activity import Facts
from crm.reports.leads import Filters
from crm.reports.models import ReportDirtyRow, ReportFact, ReportSummaryState
from crm.reports.periods import Period
from tests.conftest import create_staff
from tests.services.referral_report_factories import referral_story
from tests.services.report_factories import NOW, hand_built_week, refresh_summaries
from tests.services.test_reports_oncall import night_of_pages

BUILDERS = {
    "referrals": referrals.day_facts,
    "oncall": oncall.day_facts,
    "staff": staff.day_facts,
}
PERIODS = (
    Period(date(2026, 11, 16), date(2026, 11, 22)),  # last week
    Period(date(2026, 11, 9), date(2026, 11, 15)),  # the week before
    Period(date(2026, 11, 1), date(2026, 11, 30)),  # a whole month: its month rows
    Period(date(2026, 10, 20), date(2026, 12, 3)),  # loose days, a whole month, loose days
)


@pytest.fixture
def advisor(db_session: object) -> User:
    return create_staff("admissions", name="Ada Advisor")


@pytest.fixture
def records(advisor: User) -> dict[str, object]:
    story = referral_story(advisor)
    hand_built_week(advisor)
    night = night_of_pages()
    return {"story": story, "night": night}


def direct(report: str, period: Period, filters: Filters | None = None) -> Facts:
    """The period's facts computed from the records now, without the summaries."""
    filters = filters or Filters()
    return activity.collapse(BUILDERS[report](period, filters))


def assert_summaries_equal_direct(now: datetime = NOW) -> None:
    with clock.pinned(now):
        for report in BUILDERS:
            for period in PERIODS:
                got = activity.read(report, period)
                assert got == direct(report, period), (report, period)
            for source in ("web_form", "phone", "email"):
                got = activity.read(report, PERIODS[0], source)
                assert got == direct(report, PERIODS[0], Filters(source=source)), (report, source)


def test_the_facts_equal_a_direct_computation(records: dict[str, object]) -> None:
    refresh_summaries(NOW)
    assert_summaries_equal_direct()
    # Every report counted something, so the comparison is not of two empty sets.
    for report in BUILDERS:
        assert activity.read(report, PERIODS[0]).counts, report
    months = db.session.scalar(
        select(ReportFact.n).where(ReportFact.grain == "m", ReportFact.report == "oncall").limit(1)
    )
    assert months is not None


def test_a_provider_and_a_person_read_their_keys(records: dict[str, object], advisor: User) -> None:
    refresh_summaries(NOW)
    dales = records["story"]["dales"]  # type: ignore[index]
    with clock.pinned(NOW):
        got = referrals.referral_facts(PERIODS[0], Filters(provider_id=dales.provider_id))
        assert got == direct("referrals", PERIODS[0], Filters(provider_id=dales.provider_id))
        assert got.keys() == {dales.id}
        mine = staff.staff_facts(PERIODS[0], Filters(owner_id=advisor.id))
        assert mine == direct("staff", PERIODS[0], Filters(owner_id=advisor.id))
        assert mine.total("referred") == 5 and mine.total("calls") == 2


def test_changes_through_raw_sql_are_seen_and_only_their_days_rebuilt(
    records: dict[str, object],
) -> None:
    refresh_summaries(NOW)
    night = records["night"]
    later = NOW + timedelta(minutes=5)
    p1, p2 = night.pages["p1"], night.pages["p2"]  # type: ignore[attr-defined]
    # A page moved from Monday 16 to Thursday 12 (the week before), acknowledged later.
    db.session.execute(
        text("UPDATE pages SET triggered_at = :at WHERE id = :id"),
        {"at": datetime(2026, 11, 12, 1, 0, tzinfo=UTC).replace(tzinfo=None), "id": p1.id}
        if db.engine.dialect.name == "sqlite"
        else {"at": datetime(2026, 11, 12, 1, 0, tzinfo=UTC), "id": p1.id},
    )
    # The manager fallback reached for another page: an event, no change to the page's row.
    db.session.execute(
        text(
            "INSERT INTO page_events (page_id, at, kind, detail) "
            "VALUES (:id, :at, 'fallback', 'every active manager')"
        ),
        {"id": p2.id, "at": datetime(2026, 11, 17, 23, 0)},
    )
    # A referral declined by a bulk update, and a call deleted.
    db.session.execute(
        text(
            "UPDATE referrals SET status = 'declined', decline_code = 'funding' "
            "WHERE status = 'sent'"
        )
    )
    db.session.execute(text("DELETE FROM call_logs WHERE id = (SELECT min(id) FROM call_logs)"))
    # A lead's source corrected: its pages, reminders, referrals and calls move with it.
    db.session.execute(
        text("UPDATE leads SET source = 'email' WHERE id = :id"),
        {"id": night.a.id},  # type: ignore[attr-defined]
    )
    db.session.commit()
    assert db.session.scalar(select(ReportDirtyRow.id).limit(1)) is not None
    with clock.pinned(later):
        outcome = summary.refresh()
        db.session.commit()
    assert not outcome.full
    assert 0 < outcome.fact_days < 30  # the changed rows' days (and today), not every day
    assert db.session.scalar(select(ReportDirtyRow.id).limit(1)) is None
    assert_summaries_equal_direct(later)
    with clock.pinned(later):
        moved = activity.read("oncall", PERIODS[1])
    assert moved.total("pages:callback_request") == 2  # P0 and the moved P1
    with clock.pinned(later):
        assert (
            activity.read("oncall", PERIODS[0], "email").total("pages_lead:overdue_callback_due")
            == 1
        )  # P3, about lead A


def test_a_reminder_counts_as_overdue_once_the_clock_passes_its_escalation(
    records: dict[str, object],
) -> None:
    night = records["night"]
    due = NOW - timedelta(minutes=5)  # Monday 23, due 08:55, escalates at 09:05
    db.session.add(
        Reminder(
            kind="follow_up",
            lead_id=night.a.id,  # type: ignore[attr-defined]
            due_at=due,
            escalate_at=due + timedelta(minutes=10),
            status="pending",
        )
    )
    db.session.commit()
    today = Period(date(2026, 11, 23), date(2026, 11, 23))
    refresh_summaries(NOW)
    with clock.pinned(NOW):
        assert activity.read("oncall", today).total("overdue:follow_up") == 0
    db.session.query(ReportDirtyRow).delete()  # nothing written between the refreshes
    db.session.commit()
    later = NOW + timedelta(minutes=6)
    refresh_summaries(later)
    with clock.pinned(later):
        assert activity.read("oncall", today).total("overdue:follow_up") == 1
    assert_summaries_equal_direct(later)


def test_the_first_refresh_builds_every_day_and_the_page_says_how_fresh(
    records: dict[str, object],
) -> None:
    refresh_summaries(NOW)
    state = db.session.get(ReportSummaryState, summary.STATE_ID)
    assert state is not None and state.facts_built_at == NOW
    first = db.session.scalar(select(Page.triggered_at).order_by(Page.triggered_at).limit(1))
    assert first is not None
    with clock.pinned(NOW + timedelta(minutes=3)):
        report = oncall.oncall_report(PERIODS[0], Filters())
        by_owner = oncall.oncall_report(PERIODS[0], Filters(owner_id=1))
    assert report.summarised and report.as_of == NOW
    assert any("3 min ago" in note for note in report.notes)
    assert not by_owner.summarised  # the lead's owner can change: computed from the records
