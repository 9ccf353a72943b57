"""The on-call report on hand-built pages, reminders and messages with exact figures, the
previous period, an empty period, a lead filter, drill-downs whose length is their figure, and
one page escalated by the real engine to the manager fallback.

"Last week" is Monday 16 to Sunday 22 November 2026 (GMT, so UK time is UTC), seen from
Monday 23 November 09:00; the week before is 9 to 15 November. Leads A (web form) and B
(phone) were captured in June, in office hours, so their own reminders fall outside both weeks.

| page | lead | kind | triggered (UK) | acknowledged | escalation |
| --- | --- | --- | --- | --- | --- |
| P1 | A | callback request | Mon 16 02:00 | 02:04 (4 min), resolved | first step only |
| P2 | B | follow-up overdue | Tue 17 22:30 | 22:50 (20 min) | second step run |
| P3 | A | callback due overdue | Wed 18 03:15 | never | repeated, then the managers |
| P4 | none | engine alert | Sat 21 02:40 | 02:50 (10 min) | straight to the managers |
| P0 | B | callback request | Tue 10 23:00 (previous week) | 23:30 (30 min), resolved | none |
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from crm import clock
from crm.extensions import db
from crm.intake.models import Lead
from crm.notify.models import OutboundMessage
from crm.oncall import paging
from crm.oncall.models import EscalationPolicy, Page, PageEvent, Reminder
from crm.reports import oncall
from crm.reports.leads import Filters
from crm.reports.model import Report
from crm.reports.periods import Period
from tests.conftest import create_staff
from tests.services.oncall_factories import person, policy, user_step
from tests.services.report_factories import refresh_summaries
from tests.web.intake_helpers import make_lead

LAST_WEEK = Period(date(2026, 11, 16), date(2026, 11, 22))
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
JUNE = datetime(2026, 6, 3, 9, 0, tzinfo=UTC)  # Wednesday 10:00 BST: in office hours


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@dataclass
class Night:
    a: Lead
    b: Lead
    pages: dict[str, Page]


def _page(
    lead: Lead | None,
    summary: str,
    triggered: datetime,
    *,
    acknowledged: datetime | None = None,
    status: str = "triggered",
    policy_id: int | None = None,
    step_index: int = 0,
    cycle: int = 0,
    subject: str | None = None,
    fallback: bool = False,
) -> Page:
    page = Page(
        subject=subject or f"lead:{lead.id if lead else uuid.uuid4().hex[:8]}",
        lead_id=lead.id if lead else None,
        summary=summary,
        status=status,
        policy_id=policy_id,
        step_index=step_index,
        cycle=cycle,
        triggered_at=triggered,
        acknowledged_at=acknowledged,
        resolved_at=acknowledged if status == "resolved" else None,
    )
    db.session.add(page)
    db.session.flush()
    db.session.add(PageEvent(page_id=page.id, at=triggered, kind="triggered", detail=summary))
    if fallback:
        db.session.add(
            PageEvent(
                page_id=page.id,
                at=triggered + timedelta(minutes=30),
                kind="fallback",
                detail="every active manager: none active",
            )
        )
    return page


def _reminder(
    kind: str,
    lead: Lead | None,
    due: datetime,
    status: str,
    *,
    grace: int = 10,
    done: datetime | None = None,
    page: Page | None = None,
) -> Reminder:
    reminder = Reminder(
        kind=kind,
        lead_id=lead.id if lead else None,
        due_at=due,
        grace_minutes=grace,
        escalate_at=due + timedelta(minutes=grace),
        status=status,
        created_at=due - timedelta(days=1),
        done_at=done,
        page_id=page.id if page else None,
    )
    db.session.add(reminder)
    db.session.flush()
    return reminder


def _message(
    channel: str,
    status: str,
    created: datetime,
    *,
    page: Page | None = None,
    reminder: Reminder | None = None,
    error: str | None = None,
) -> None:
    db.session.add(
        OutboundMessage(
            idempotency_key=f"test:{uuid.uuid4().hex}",
            channel=channel,
            address="someone@staff.example" if channel == "email" else "+447700900999",
            page_id=page.id if page else None,
            reminder_id=reminder.id if reminder else None,
            subject="[Admissions CRM] test",
            body="test",
            status=status,
            due_at=created,
            created_at=created,
            error=error,
        )
    )


@pytest.fixture
def night(db_session: object) -> Night:
    return night_of_pages()


def night_of_pages() -> Night:
    """The pages, reminders and messages of the table above, committed."""
    a = make_lead("Lead Alpha", "07700 900401", at=JUNE)
    b = make_lead("Lead Bravo", "07700 900402", at=JUNE, source="phone")
    rule = EscalationPolicy(name=f"Test policy {uuid.uuid4().hex[:6]}", repeat_count=1)
    db.session.add(rule)
    db.session.flush()
    p1 = _page(
        a,
        f"Out-of-hours callback request {a.reference}",
        at(16, 2),
        acknowledged=at(16, 2, 4),
        status="resolved",
        policy_id=rule.id,
        step_index=1,
    )
    p2 = _page(
        b,
        f"Follow up overdue for {b.reference}",
        at(17, 22, 30),
        acknowledged=at(17, 22, 50),
        status="acknowledged",
        policy_id=rule.id,
        step_index=2,
    )
    p3 = _page(
        a,
        f"Callback due overdue for {a.reference}",
        at(18, 3, 15),
        policy_id=rule.id,
        step_index=1,
        cycle=1,
        fallback=True,
    )
    p4 = _page(
        None,
        "Engine behind: 3 due items over 2 minutes late",
        at(21, 2, 40),
        acknowledged=at(21, 2, 50),
        status="acknowledged",
        subject="engine:late",
        fallback=True,
    )
    p0 = _page(
        b,
        f"Out-of-hours callback request {b.reference}",
        at(10, 23),
        acknowledged=at(10, 23, 30),
        status="resolved",
        policy_id=rule.id,
        step_index=1,
    )
    # Just outside both weeks: the first instant after last week, the last before the previous.
    _page(None, "Engine behind: 1 due items over 2 minutes late", at(23, 0), subject="engine:x")
    _page(None, "Engine behind: 2 due items over 2 minutes late", at(8, 23, 59), subject="engine:y")

    _reminder("follow_up", b, at(17, 22), "escalated", page=p2)
    _reminder("callback_due", a, at(18, 3), "done", grace=0, done=at(18, 3, 20), page=p3)
    _reminder("follow_up", a, at(19, 10), "done", done=at(19, 10, 5))  # done within its grace
    r4 = _reminder("fee_chase", None, at(20, 9), "notified")  # never pages; still open
    _reminder("provider_chase", b, at(22, 23), "cancelled", done=at(22, 23, 30))
    _reminder("follow_up", b, at(12, 10), "done", done=at(12, 10, 30))  # previous week, late
    _reminder("follow_up", a, at(23, 10), "pending")  # after last week

    _message("sms", "sent", at(16, 2, 1), page=p1)
    _message("email", "failed", at(16, 2, 1), page=p1, error="cancelled: acknowledged")
    _message("sms", "failed", at(17, 22, 31), page=p2, error="provider refused")
    _message("webhook", "unknown", at(21, 2, 41), page=p4)
    _message("email", "sent", at(20, 9), reminder=r4)
    _message("email", "pending", at(22, 23, 59))
    _message("sms", "sent", at(10, 23, 1), page=p0)
    _message("sms", "sent", at(23, 0))  # after last week
    db.session.commit()
    return Night(a, b, {"p0": p0, "p1": p1, "p2": p2, "p3": p3, "p4": p4})


def build(period: Period = LAST_WEEK, filters: Filters | None = None) -> Report:
    """The report as a manager opens it: after the engine's refresh of the summaries."""
    refresh_summaries(NOW)
    with clock.pinned(NOW):
        return oncall.oncall_report(period, filters or Filters())


def sets_of(period: Period = LAST_WEEK, filters: Filters | None = None) -> dict[str, list[int]]:
    with clock.pinned(NOW):
        return oncall.oncall_sets_for(period, filters or Filters())


def figures(report: Report) -> dict[str, object]:
    return {f.key: (f.value, f.previous) for f in report.figures}


def test_page_kinds_come_from_how_the_page_was_opened() -> None:
    assert oncall.page_kind("lead:7", "Out-of-hours callback request L-7K3F9Q") == (
        "callback_request"
    )
    assert oncall.page_kind("lead:7", "Callback due overdue for L-7K3F9Q") == (
        "overdue_callback_due"
    )
    assert oncall.page_kind("reminder:9", "Admission check overdue") == "overdue_admission_check"
    assert oncall.page_kind("engine:late", "Engine behind: 3 due items") == "engine"
    assert oncall.page_kind("lead:7", "Something else") == "other"


def test_on_call_figures_are_exact_with_the_previous_week(night: Night) -> None:
    report = build()
    assert (report.key, report.title, report.previous) == (
        "oncall",
        "On call",
        Period(date(2026, 11, 9), date(2026, 11, 15)),
    )
    assert figures(report) == {
        "pages": (4, 1),
        "leads_paged": (3, 1),
        "acknowledged": (3, 1),
        "ack_median": (10.0, 30.0),
        "ack_p90": (pytest.approx(18.0), 30.0),  # 10 + 0.8 * (20 - 10)
        "escalated": (2, 0),
        "fallback": (2, 0),
        "overdue": (4, 1),
        "messages": (6, 1),
        "messages_failed": (2, 0),
    }
    assert all(f.definition for f in report.figures)
    assert all(t.definition for t in report.tables)


def test_pages_by_kind_and_by_uk_hour(night: Night) -> None:
    report = build()
    by_kind = {row[0]: row[1:] for row in report.table("by_kind").rows}
    assert by_kind == {
        "Out-of-hours callback request": [1, 1, 4.0, 1],
        "Overdue reminder: callback due": [1, 1, None, 0],
        "Overdue reminder: follow up": [1, 1, 20.0, 0],
        "Engine alert (to managers)": [1, 0, 10.0, 0],
    }
    hours = report.table("by_hour").rows
    assert len(hours) == 24
    assert {row[0]: row[1] for row in hours if row[1]} == {"02:00": 2, "03:00": 1, "22:00": 1}
    assert {row[0]: row[2] for row in hours if row[2]} == {"23:00": 1}
    chart = next(c for c in report.charts if c.key == "by_hour")
    assert chart.kind == "bar" and chart.table == "by_hour"
    assert chart.labels == [row[0] for row in hours]
    assert chart.series[0].values == [row[1] for row in hours]
    assert chart.series[1].values == [row[2] for row in hours]


def test_escalation_reminders_and_messages_tables(night: Night) -> None:
    report = build()
    escalation = {row[0]: row[1:] for row in report.table("escalation").rows}
    assert escalation == {
        "Escalated past the first step": [2, 2, 0],
        "Reached the manager fallback": [2, 1, 0],
    }
    reminders = {row[0]: row[1:] for row in report.table("reminders").rows}
    assert reminders == {
        "Callback due": [1, 1, 1, 1, 0],
        "Follow up": [2, 1, 1, 1, 1],
        "Provider chase": [1, 1, 0, 1, 0],
        "Fee chase": [1, 1, 0, 0, 0],
    }
    table = report.table("messages")
    assert table.columns == [
        "Channel",
        "Sent",
        "Failed",
        "Unknown",
        "Cancelled",
        "Held",
        "Waiting",
        "Total",
        "Previous period",
    ]
    assert {row[0]: row[1:] for row in table.rows} == {
        "Email": [1, 0, 0, 1, 0, 1, 3, 0],
        "SMS": [1, 1, 0, 0, 0, 0, 2, 1],
        "Chat webhook": [0, 0, 1, 0, 0, 0, 1, 0],
    }


def test_the_lead_sets_list_one_lead_per_page_and_leave_out_pages_about_no_lead(
    night: Night,
) -> None:
    sets = sets_of()
    a, b = night.a.id, night.b.id
    assert sets["paged"] == [a, b, a]  # P1, P2, P3 in the order triggered; P4 is about no lead
    assert sets["escalated"] == [b, a]
    assert sets["fallback"] == [a]  # the engine alert (no lead) reached it too, uncounted here
    assert sets["kind:engine"] == []
    assert sets["kind:callback_request"] == [a]
    assert sets["overdue"] == [b, a, b]  # the follow-up, the callback due, the provider chase
    assert sets["overdue:follow_up"] == [b]
    assert sets["overdue:fee_chase"] == []


def test_every_drill_down_lists_exactly_the_leads_its_figure_counts(night: Night) -> None:
    report, sets = build(), sets_of()
    checked = 0
    for figure in report.figures:
        if figure.drill:
            assert figure.drill in sets, figure.key
            assert len(sets[figure.drill]) == figure.value, figure.key
            checked += 1
    for table in report.tables:
        for r, row in enumerate(table.rows):
            for c, value in enumerate(row):
                if key := table.drill(r, c):
                    assert key in sets, (table.key, key)
                    assert len(sets[key]) == value, (table.key, key)
                    checked += 1
    assert report.drill_keys() <= set(sets)
    assert checked >= 10


def test_a_lead_filter_narrows_pages_reminders_and_messages(night: Night) -> None:
    phone = Filters(source="phone")  # lead B only; the engine alert is about no lead
    report = build(filters=phone)
    got = figures(report)
    assert got["pages"] == (1, 1)
    assert got["leads_paged"] == (1, 1)
    assert got["ack_median"] == (20.0, 30.0)
    assert got["escalated"] == (1, 0)
    assert got["fallback"] == (0, 0)
    assert got["overdue"] == (2, 1)  # the follow-up and the provider chase
    assert got["messages"] == (1, 1)
    assert sets_of(filters=phone)["paged"] == [night.b.id]


def test_an_empty_period_has_zeros_and_no_medians(db_session: object) -> None:
    report = build()
    assert figures(report) == {
        "pages": (0, 0),
        "leads_paged": (0, 0),
        "acknowledged": (0, 0),
        "ack_median": (None, None),
        "ack_p90": (None, None),
        "escalated": (0, 0),
        "fallback": (0, 0),
        "overdue": (0, 0),
        "messages": (0, 0),
        "messages_failed": (0, 0),
    }
    assert report.table("by_kind").rows == []
    assert [row[1] for row in report.table("by_hour").rows] == [0] * 24
    assert report.table("reminders").rows == []
    assert report.table("messages").rows == []
    assert all(ids == [] for ids in sets_of().values())


def test_a_page_the_engine_escalates_to_the_managers_counts_as_both(db_session: object) -> None:
    """Through the real services: an out-of-hours callback request pages the one-step policy's
    person, nobody acknowledges, the step's delay passes and every manager is paged."""
    advisor = person("admissions", methods=(("email", "advisor@staff.example", 0),))
    policy([user_step(advisor, 5)], repeat_count=0)
    create_staff("manager")
    sunday = datetime(2026, 11, 29, 2, 40, tzinfo=UTC)  # GMT: 02:40 UK, out of hours
    lead = make_lead("Night Caller", "07700 900403", at=sunday)
    for minutes in (0, 6):
        with clock.pinned(sunday + timedelta(minutes=minutes)):
            paging.advance_due_pages()
            db.session.commit()
    day = Period(date(2026, 11, 29), date(2026, 11, 29))
    refresh_summaries(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    with clock.pinned(datetime(2026, 11, 30, 9, 0, tzinfo=UTC)):
        report = oncall.oncall_report(day, Filters())
        sets = oncall.oncall_sets_for(day, Filters())
    got = figures(report)
    assert got["pages"] == (1, 0)
    assert got["escalated"] == (1, 0)
    assert got["fallback"] == (1, 0)
    assert got["acknowledged"] == (0, 0)
    assert got["overdue"] == (1, 0)  # its callback_due reminder, never done
    assert {row[0]: row[1] for row in report.table("by_kind").rows} == {
        "Out-of-hours callback request": 1
    }
    assert {row[0]: row[1] for row in report.table("by_hour").rows if row[1]} == {"02:00": 1}
    assert sets["fallback"] == [lead.id] and sets["kind:callback_request"] == [lead.id]


def test_a_staff_member_filter_counts_the_pages_about_their_leads_now(night: Night) -> None:
    """Filtered by the lead's owner, the figures are computed from the records when the page is
    opened (the owner can change after the page): lead A's pages and reminders only."""
    owner = create_staff("admissions")
    db.session.get(Lead, night.a.id).owner_id = owner.id
    db.session.commit()
    report = build(filters=Filters(owner_id=owner.id))
    got = figures(report)
    assert not report.summarised
    assert got["pages"] == (2, 0)  # P1 and P3; P0 (the week before) is about lead B
    assert got["leads_paged"] == (2, 0)
    assert got["fallback"] == (1, 0)
    assert got["overdue"] == (1, 0)  # the callback due; A's follow-up was done within grace
    assert sets_of(filters=Filters(owner_id=owner.id))["paged"] == [night.a.id, night.a.id]
