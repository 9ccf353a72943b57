"""The report summaries (crm/reports/summary.py): the precomputed figures equal a direct
computation from the leads, a refresh rebuilds exactly the days whose leads changed (through
any write path: the triggers see bulk SQL too), and whole months read their month rows."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.intake import pipeline
from crm.intake.models import Lead
from crm.privacy.services import Actor
from crm.reports import definitions as d
from crm.reports import intake, summary
from crm.reports.leads import Filters, funnel_sets, lead_rows
from crm.reports.models import ReportDirtyLead, ReportSummaryState, ReportValue
from crm.reports.periods import Period, month_pieces
from tests.conftest import create_staff
from tests.services.report_factories import NOW, Week, at, hand_built_week, refresh_summaries
from tests.web.intake_helpers import make_lead

TARGET = 15
LAST_WEEK = Period(date(2026, 11, 16), date(2026, 11, 22))
AUTUMN = Period(date(2026, 9, 20), date(2026, 11, 22))  # 11 loose days, all October, 22 loose
SOURCES = ("web_form", "phone", "email", "partner_referral", "other")


@pytest.fixture
def advisor(db_session: object) -> User:
    return create_staff("admissions")


@pytest.fixture
def week(advisor: User) -> Week:
    return hand_built_week(advisor)


def scattered_leads(advisor: User, count: int) -> None:
    """Leads over September to November at any hour, some called back, some taken on."""
    rng = random.Random(11)
    actor = Actor(advisor.id)
    for i in range(count):
        created = datetime(2026, 9, 20, tzinfo=UTC) + timedelta(minutes=rng.randrange(92_000))
        lead = make_lead(
            f"Person {i}",
            f"07700 9{i:05d}",
            at=created,
            source=rng.choice(SOURCES),
            utm_campaign=rng.choice(("spring", "autumn", None)),
        )
        if rng.random() < 0.7:
            when = created + timedelta(minutes=rng.expovariate(1 / 25))
            with clock.pinned(when):
                pipeline.log_call(lead.id, actor, direction="outbound", outcome="connected")
                db.session.commit()
            if rng.random() < 0.5:
                with clock.pinned(when + timedelta(hours=rng.uniform(1, 80))):
                    pipeline.change_stage(lead.id, "assessed", actor)
                    db.session.commit()
        elif rng.random() < 0.3:
            with clock.pinned(created + timedelta(hours=2)):
                pipeline.change_stage(lead.id, "closed", actor, close_reason="unreachable")
                db.session.commit()


def figures(report) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {f.key: f.value for f in report.figures}


@pytest.mark.parametrize("source", [None, "web_form", "phone"])
def test_the_summaries_equal_a_direct_computation(advisor: User, source: str | None) -> None:
    hand_built_week(advisor)
    scattered_leads(advisor, 60)
    refresh_summaries()
    filters = Filters(source=source)
    with clock.pinned(NOW):
        for period in (AUTUMN, LAST_WEEK, Period(date(2026, 10, 1), date(2026, 10, 31))):
            rows = lead_rows(period, filters)
            kept = [r for r in rows if not r.merged]
            speeds = [d.speed_bucket(s) for r in kept if (s := r.speed) is not None]
            speed = intake.speed_report(period, filters, TARGET)
            got = figures(speed)
            assert got["median"] == d.percentile(speeds, 50)
            assert got["p90"] == d.percentile(speeds, 90)
            assert got["within"] == d.share_within(speeds, TARGET)
            assert got["contacted"] == len(speeds)
            for in_hours, row in zip((True, False), speed.table("hours").rows, strict=True):
                part = [
                    d.speed_bucket(s) for r in kept if r.in_hours is in_hours and (s := r.speed)
                ]
                assert row[1] == len([r for r in kept if r.in_hours is in_hours])
                assert row[2] == d.percentile(part, 50)
            slowest = sorted(
                ((r.speed, r.reference) for r in kept if r.speed is not None), reverse=True
            )[:20]
            assert [row[0] for row in speed.table("slowest").rows] == [ref for _, ref in slowest]
            # Every figure that counts leads is the length of its live lead set.
            for build, sets in (
                (
                    intake.intake_report(period, filters, TARGET),
                    intake.intake_sets_for(period, filters, TARGET),
                ),
                (intake.funnel_report(period, filters), intake.funnel_sets_for(period, filters)),
                (speed, intake.speed_sets_for(period, filters, TARGET)),
            ):
                for key in build.drill_keys():
                    counted = [f.value for f in build.figures if f.drill == key] + [
                        row[c]
                        for t in build.tables
                        for r, row in enumerate(t.rows)
                        for c in range(len(row))
                        if t.drill(r, c) == key
                    ]
                    assert counted, key
                    assert all(v == len(sets.get(key, [])) for v in counted), (key, counted)
            funnel = intake.funnel_report(period, filters)
            _, entries = funnel_sets(rows)
            gaps = [
                d.gap_bucket(max(0.0, (e["assessed"] - e["contacted"]).total_seconds() / 3600))
                for r in kept
                if "contacted" in (e := entries.get(r.id, {})) and "assessed" in e
            ]
            assessed = {row[0]: row for row in funnel.table("stages").rows}["Assessed"]
            assert assessed[4] == d.percentile(gaps, 50)


def test_a_whole_month_reads_its_month_rows_and_equals_its_days(advisor: User) -> None:
    scattered_leads(advisor, 30)
    refresh_summaries()
    october = Period(date(2026, 10, 1), date(2026, 10, 31))
    months, loose = month_pieces(AUTUMN)
    assert months == [date(2026, 10, 1)]
    assert loose == [
        (date(2026, 9, 20), date(2026, 9, 30)),
        (date(2026, 11, 1), date(2026, 11, 22)),
    ]
    month = summary.histogram(october, None, "speed")
    days: dict[int, int] = {}
    for value, n in db.session.execute(
        select(ReportValue.value, func.sum(ReportValue.n))
        .where(ReportValue.grain == "d", ReportValue.metric == "speed")
        .where(ReportValue.day.between(october.start, october.end))
        .group_by(ReportValue.value)
    ):
        days[value] = int(n)
    assert month[()] == days and sum(days.values()) > 0


def test_a_refresh_rebuilds_only_the_days_whose_leads_changed(advisor: User, week: Week) -> None:
    with clock.pinned(NOW):
        before = figures(intake.speed_report(LAST_WEEK, Filters(), TARGET))
    assert before["contacted"] == 2
    # L3 (Sat 21 Nov) is called back on Monday morning: only its day and today are rebuilt.
    later = NOW + timedelta(minutes=30)
    with clock.pinned(later):
        pipeline.log_call(week.l3.id, Actor(advisor.id), direction="outbound", outcome="connected")
        db.session.commit()
        stale = figures(intake.speed_report(LAST_WEEK, Filters(), TARGET))
    assert stale["contacted"] == 2  # not yet refreshed: the page says how old its figures are
    assert db.session.scalar(select(func.count()).select_from(ReportDirtyLead)) > 0
    refresh_summaries(later)
    state = db.session.get(ReportSummaryState, summary.STATE_ID)
    assert state is not None and state.days_refreshed == 2  # Sat 21 Nov and Mon 23 Nov
    assert db.session.scalar(select(func.count()).select_from(ReportDirtyLead)) == 0
    with clock.pinned(later):
        after = intake.speed_report(LAST_WEEK, Filters(), TARGET)
    assert figures(after)["contacted"] == 3
    assert summary.refreshed_at() == later
    assert any("refreshed 23 Nov 09:30 UK time" in note for note in after.notes)


def test_bulk_sql_marks_the_lead_for_the_next_refresh(week: Week) -> None:
    # A change made outside the services (a bulk UPDATE) still reaches the summaries.
    db.session.execute(update(Lead).where(Lead.id == week.l1.id).values(source="email"))
    db.session.commit()
    refresh_summaries(NOW + timedelta(minutes=1))
    with clock.pinned(NOW):
        report = intake.intake_report(LAST_WEEK, Filters(source="email"), TARGET)
    assert figures(report)["leads"] == 1


def test_the_first_refresh_builds_every_day_and_a_repeat_counts_on_its_own_day(
    advisor: User,
) -> None:
    make_lead("Old", "07700 900501", at=at(2, 10, month=10))
    lead = make_lead("Asked twice", "07700 900502", at=at(16, 23))
    again = make_lead("Asked twice", "07700 900502", at=at(17, 0, 30))
    assert again.id == lead.id
    refresh_summaries()
    state = db.session.get(ReportSummaryState, summary.STATE_ID)
    assert state is not None and state.built_at == NOW
    # From the first lead's day (2 Oct) to today.
    assert state.days_refreshed == (date(2026, 11, 23) - date(2026, 10, 2)).days + 1
    counted = summary.counts(Period(date(2026, 11, 17), date(2026, 11, 17)), None, ())
    assert counted[("repeat",)] == 1 and ("leads",) not in counted


def test_the_triggers_exist_on_this_database(db_session: object) -> None:
    lead = make_lead("Marked", "07700 900601", at=NOW)
    marked = db.session.scalars(
        select(ReportDirtyLead.lead_id).where(ReportDirtyLead.lead_id == lead.id)
    ).all()
    assert marked  # the insert of the lead and of its callback request
    db.session.execute(
        text("UPDATE stage_changes SET reason = 'x' WHERE lead_id = :id"), {"id": lead.id}
    )
    assert len(
        db.session.scalars(
            select(ReportDirtyLead.id).where(ReportDirtyLead.lead_id == lead.id)
        ).all()
    ) > len(marked)
