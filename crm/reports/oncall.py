"""The on-call report: pages, how fast they were acknowledged, how far they escalated,
reminders that ran overdue, and the messages sent. Reads only.

What the figures count (the definitions printed under them are in ``DEFINITIONS`` below):

- **A page** is a Page triggered in the period (``triggered_at``). Its **kind** comes from how
  it was opened (crm/oncall/paging.py, crm/oncall/reminders.py, crm/oncall/engine.py): the
  subject ``engine:…`` is an engine alert; the summary "Out-of-hours callback request …" is a
  callback request routed to on call; the summary "<Reminder kind> overdue …" is a reminder
  past its grace time. The summary, not the subject, decides, because both a callback request
  and an overdue reminder about a lead use the subject ``lead:<id>``. A later trigger attaches
  to the open page and does not change its kind (the first reason it was opened).
- **Escalated past the first step**: a page of an escalation policy that went beyond the
  policy's first step: its ``step_index`` (the next step to run) passed the second step, its
  policy repeated (``cycle``), or it reached the manager fallback.
- **Manager fallback**: the page has a PageEvent of kind ``fallback`` (every active manager
  paged). Engine alerts go to the managers directly, so they count here but never as escalated.
- **An overdue reminder** is a reminder due in the period (``due_at``) still open at its
  escalation time (due time plus grace, ``escalate_at``): paged on call (``page_id`` set or
  status ``escalated``), closed (done or cancelled) after that time, or still open now past it.
- **A message** is an OutboundMessage created in the period; its outcome is its status, with a
  failure that was a cancellation (acknowledged or resolved first) shown as ``cancelled``, and
  ``pending``/``sending`` shown together as ``waiting``.
- **Filters** (the lead's source, the lead's owner) narrow pages, reminders and messages to
  those about a matching lead; without a filter, those about no lead are counted too.

The page's figures are read from the report facts (crm/reports/activity.py; ``day_facts``
builds them by these rules: pages by kind and UK hour, minutes to acknowledge in the speed
buckets, reminders by kind, messages by channel and outcome), or computed from the records the
same way when filtered by the lead's owner (which can change after the event). Figures count
pages and reminders, not people.

Lead sets (drill-downs, one lead per page or reminder; those about no lead are counted but not
listed):
``paged``, ``kind:<kind>``, ``escalated``, ``fallback``, ``overdue``, ``overdue:<reminder kind>``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, or_, select

from crm import clock
from crm.extensions import db
from crm.intake.models import Lead
from crm.notify.models import CHANNELS, OutboundMessage
from crm.oncall.models import REMINDER_KINDS, Page, PageEvent, Reminder
from crm.oncall.wallclock import LONDON, local_date
from crm.reports import activity, summary
from crm.reports import definitions as d
from crm.reports.activity import NO_SOURCE, DayFacts, Facts, uk_time, utc_hour
from crm.reports.leads import Filters
from crm.reports.model import Cell, Chart, Figure, Report, Series, Table
from crm.reports.periods import Period

CALLBACK_PREFIX = "Out-of-hours callback request"
ENGINE_SUBJECT = "engine:"
OVERDUE = re.compile(r"^(?P<what>.+?) overdue(?: for .*)?$")


def _what(kind: str) -> str:
    """A reminder kind as a page summary names it (crm.oncall.reminders writes it so)."""
    return kind.replace("_", " ").capitalize()


REMINDER_BY_WORDS = {_what(k): k for k in REMINDER_KINDS}
REMINDER_LABELS = {k: _what(k) for k in REMINDER_KINDS}
PAGE_KINDS = {
    "callback_request": "Out-of-hours callback request",
    **{f"overdue_{k}": f"Overdue reminder: {_what(k).lower()}" for k in REMINDER_KINDS},
    "engine": "Engine alert (to managers)",
    "other": "Other",
}
CHANNEL_LABELS = {"email": "Email", "sms": "SMS", "webhook": "Chat webhook"}
OUTCOMES = {
    "sent": "Sent",
    "failed": "Failed",
    "unknown": "Unknown",
    "cancelled": "Cancelled",
    "held": "Held",
    "waiting": "Waiting",
}

DEFINITIONS = {
    "pages": "Pages triggered in the period (a repeat trigger of an open page is not a new page).",
    "leads_paged": "Pages triggered in the period that were about a lead, one per page (a "
    "person paged twice counts twice); pages about no lead, such as engine alerts, are not "
    "counted here.",
    "kind": "Why the page was opened: an out-of-hours callback request, a reminder past its "
    "grace time (by the reminder's kind), or an engine alert; read from the page's summary "
    "and subject when it was first triggered.",
    "hour": "Pages triggered in the period by the hour of the day in UK time (00 is midnight "
    "to 01:00).",
    "acknowledged": "Pages triggered in the period that someone has acknowledged.",
    "ack_median": "Median minutes from a page being triggered to its acknowledgement, over the "
    "acknowledged pages (whole minutes to an hour, then in steps of 10 minutes).",
    "ack_p90": "90th percentile of the same (nine in ten were acknowledged within it).",
    "escalated": "Pages of an escalation policy that went past its first step: a later step "
    "was run, the policy repeated, or every manager was paged.",
    "fallback": "Pages that reached the manager fallback: every active manager was paged "
    "(engine alerts always go to the managers).",
    "overdue": "Reminders due in the period still open at their escalation time (due time plus "
    "grace): paged on call, closed after that time, or still open past it now.",
    "paged_reminders": "Overdue reminders that paged on call (fee chases never do).",
    "due": "Reminders due in the period.",
    "messages": "Messages created in the period, by channel and delivery outcome. Cancelled: "
    "not sent because the page was acknowledged or resolved first; waiting: pending or being "
    "sent; unknown: the send was interrupted and is never retried by SMS.",
    "messages_failed": "Messages created in the period whose delivery failed or is unknown "
    "(cancellations not counted).",
}


def page_kind(subject: str, summary: str) -> str:
    """The kind of a page, from how crm.oncall opened it (see the module's docstring)."""
    if subject.startswith(ENGINE_SUBJECT):
        return "engine"
    if summary.startswith(CALLBACK_PREFIX):
        return "callback_request"
    match = OVERDUE.match(summary)
    if match and match.group("what") in REMINDER_BY_WORDS:
        return f"overdue_{REMINDER_BY_WORDS[match.group('what')]}"
    return "other"


@dataclass(frozen=True)
class PageRow:
    id: int
    lead_id: int | None
    kind: str
    triggered_at: datetime
    acknowledged_at: datetime | None
    escalated: bool
    fallback: bool
    source: str = NO_SOURCE

    @property
    def minutes_to_acknowledge(self) -> float | None:
        if self.acknowledged_at is None:
            return None
        return max(0.0, (self.acknowledged_at - self.triggered_at).total_seconds() / 60)


@dataclass(frozen=True)
class ReminderRow:
    id: int
    kind: str
    lead_id: int | None
    overdue: bool
    paged: bool
    due_at: datetime
    source: str = NO_SOURCE


def _lead_filter(query: Any, lead_column: Any, filters: Filters) -> Any:
    """Join the lead (outer: pages about no lead stay) and keep those of the filters."""
    query = query.outerjoin(Lead, Lead.id == lead_column)
    if filters.source:
        query = query.where(Lead.source == filters.source)
    if filters.owner_id:
        query = query.where(Lead.owner_id == filters.owner_id)
    return query


def page_rows(period: Period, filters: Filters) -> list[PageRow]:
    """Every page triggered in the period, oldest first."""
    start, end = period.bounds()
    fallback = _fallback_exists().label("fb")
    query = (
        select(
            Page.id,
            Page.subject,
            Page.summary,
            Page.lead_id,
            Page.triggered_at,
            Page.acknowledged_at,
            Page.policy_id,
            Page.step_index,
            Page.cycle,
            fallback,
            Lead.source,
        )
        .where(Page.triggered_at >= start, Page.triggered_at < end)
        .order_by(Page.triggered_at, Page.id)
    )
    query = _lead_filter(query, Page.lead_id, filters)
    return [
        PageRow(
            id=r.id,
            lead_id=r.lead_id,
            kind=page_kind(r.subject, r.summary),
            triggered_at=r.triggered_at,
            acknowledged_at=r.acknowledged_at,
            # step_index is the next step to run: 2 or more means a second step was run.
            escalated=r.policy_id is not None and (r.step_index >= 2 or r.cycle >= 1 or r.fb),
            fallback=bool(r.fb),
            source=r.source or NO_SOURCE,
        )
        for r in db.session.execute(query)
    ]


def _reminder_rules(now: datetime) -> tuple[Any, Any]:
    """(paged, overdue) as SQL conditions on a reminder (the module's docstring)."""
    paged = or_(Reminder.page_id.is_not(None), Reminder.status == "escalated")
    overdue = or_(
        paged,
        and_(Reminder.status.in_(("done", "cancelled")), Reminder.done_at > Reminder.escalate_at),
        and_(Reminder.status.in_(("pending", "notified")), Reminder.escalate_at <= now),
    )
    return paged, overdue


def reminder_rows(period: Period, filters: Filters, now: datetime) -> list[ReminderRow]:
    """Every reminder due in the period, with whether it ran overdue and whether it paged."""
    start, end = period.bounds()
    paged, overdue = _reminder_rules(now)
    query = (
        select(
            Reminder.id,
            Reminder.kind,
            Reminder.lead_id,
            case((overdue, True), else_=False).label("overdue"),
            case((paged, True), else_=False).label("paged"),
            Reminder.due_at,
            Lead.source,
        )
        .where(Reminder.due_at >= start, Reminder.due_at < end)
        .order_by(Reminder.due_at, Reminder.id)
    )
    query = _lead_filter(query, Reminder.lead_id, filters)
    return [
        ReminderRow(
            r.id, r.kind, r.lead_id, bool(r.overdue), bool(r.paged), r.due_at, r.source or NO_SOURCE
        )
        for r in db.session.execute(query)
    ]


def _message_outcome() -> Any:
    return case(
        (
            and_(OutboundMessage.status == "failed", OutboundMessage.error.like("cancelled:%")),
            "cancelled",
        ),
        (OutboundMessage.status.in_(("pending", "sending")), "waiting"),
        else_=OutboundMessage.status,
    ).label("outcome")


def message_counts(period: Period, filters: Filters) -> dict[tuple[str, str, str, str], int]:
    """Messages created in the period, counted by the database per UTC hour, channel, outcome
    and the source of the lead they are about (through their page or reminder)."""
    start, end = period.bounds()
    outcome = _message_outcome()
    hour = utc_hour(OutboundMessage.created_at).label("hour")
    query = (
        select(hour, OutboundMessage.channel, outcome, Lead.source, func.count())
        .outerjoin(Page, Page.id == OutboundMessage.page_id)
        .outerjoin(Reminder, Reminder.id == OutboundMessage.reminder_id)
        .where(OutboundMessage.created_at >= start, OutboundMessage.created_at < end)
        .group_by(hour, OutboundMessage.channel, outcome, Lead.source)
    )
    query = _lead_filter(query, func.coalesce(Page.lead_id, Reminder.lead_id), filters)
    return {
        (h, channel, out, source or NO_SOURCE): int(n)
        for h, channel, out, source, n in db.session.execute(query)
    }


def _fallback_exists() -> Any:
    return exists().where(PageEvent.page_id == Page.id, PageEvent.kind == "fallback")


def day_facts(period: Period, filters: Filters) -> DayFacts:
    """The report's facts per UK day (crm/reports/activity.py), by the rules above: pages on
    the day they were triggered, reminders on the day they were due, messages on the day they
    were created."""
    out = activity.day_facts()
    _page_facts(out, page_rows(period, filters))
    _reminder_facts(out, reminder_rows(period, filters, clock.now()))
    for (hour, channel, outcome, source), n in message_counts(period, filters).items():
        out[uk_time(hour).date()][(source, 0, f"msg:{channel}:{outcome}", 0)] += n
    return out


def _page_facts(out: DayFacts, pages: list[PageRow]) -> None:
    for page in pages:
        local = page.triggered_at.astimezone(LONDON)
        facts = out[local.date()]
        about_lead = page.lead_id is not None
        facts[(page.source, 0, f"pages:{page.kind}", 0)] += 1
        facts[(page.source, 0, "hour", local.hour)] += 1
        if about_lead:
            facts[(page.source, 0, f"pages_lead:{page.kind}", 0)] += 1
        if (minutes := page.minutes_to_acknowledge) is not None:
            facts[(page.source, 0, f"ack:{page.kind}", d.speed_bucket(minutes))] += 1
        for flag, name in ((page.escalated, "escalated"), (page.fallback, "fallback")):
            if flag:
                facts[(page.source, 0, name, 0)] += 1
                if about_lead:
                    facts[(page.source, 0, f"{name}_lead", 0)] += 1


def _reminder_facts(out: DayFacts, reminders: list[ReminderRow]) -> None:
    for reminder in reminders:
        facts = out[local_date(reminder.due_at)]
        facts[(reminder.source, 0, f"due:{reminder.kind}", 0)] += 1
        if reminder.overdue:
            facts[(reminder.source, 0, f"overdue:{reminder.kind}", 0)] += 1
            if reminder.lead_id is not None:
                facts[(reminder.source, 0, f"overdue_lead:{reminder.kind}", 0)] += 1
        if reminder.paged:
            facts[(reminder.source, 0, f"paged:{reminder.kind}", 0)] += 1


def oncall_facts(period: Period, filters: Filters) -> Facts:
    """The period's facts: from the summaries, or (filtered by the lead's owner, which can
    change after the event) computed from the records now."""
    if filters.owner_id:
        return activity.collapse(day_facts(period, filters))
    return activity.read("oncall", period, filters.source)


def ack_minutes(facts: Facts, p: float, kind: str | None = None) -> float | None:
    """The p-th percentile of minutes to acknowledge (of one kind of page, or of all)."""
    counts: dict[int, int] = defaultdict(int)
    for k in [kind] if kind else PAGE_KINDS:
        for minutes, n in facts.histogram(f"ack:{k}").items():
            counts[minutes] += n
    return d.percentile_of_counts(counts, p)


def _sum_of(facts: Facts, prefix: str) -> int:
    return sum(facts.total(m) for m in facts.metrics() if m.startswith(prefix))


def oncall_sets_for(period: Period, filters: Filters) -> dict[str, list[int]]:
    """The lead sets, one lead id per page or reminder about a lead (pages and reminders about
    no lead are counted but cannot be listed), every key present."""
    pages = [p for p in page_rows(period, filters) if p.lead_id is not None]
    late = [
        r
        for r in reminder_rows(period, filters, clock.now())
        if r.overdue and r.lead_id is not None
    ]
    sets: dict[str, list[int]] = {
        "paged": [p.lead_id for p in pages if p.lead_id],
        "escalated": [p.lead_id for p in pages if p.lead_id and p.escalated],
        "fallback": [p.lead_id for p in pages if p.lead_id and p.fallback],
        "overdue": [r.lead_id for r in late if r.lead_id],
    }
    for kind in PAGE_KINDS:
        sets[f"kind:{kind}"] = [p.lead_id for p in pages if p.lead_id and p.kind == kind]
    for kind in REMINDER_KINDS:
        sets[f"overdue:{kind}"] = [r.lead_id for r in late if r.lead_id and r.kind == kind]
    return sets


def _headline(facts: Facts) -> dict[str, int | float | None]:
    return {
        "pages": _sum_of(facts, "pages:"),
        "leads_paged": _sum_of(facts, "pages_lead:"),
        "acknowledged": _sum_of(facts, "ack:"),
        "ack_median": ack_minutes(facts, 50),
        "ack_p90": ack_minutes(facts, 90),
        "escalated": facts.total("escalated"),
        "fallback": facts.total("fallback"),
        "overdue": _sum_of(facts, "overdue:"),
        "messages": _sum_of(facts, "msg:"),
        "messages_failed": sum(
            facts.total(m)
            for m in facts.metrics()
            if m.startswith("msg:") and m.rsplit(":", 1)[1] in ("failed", "unknown")
        ),
    }


def oncall_report(period: Period, filters: Filters) -> Report:
    previous = period.previous()
    data, before = oncall_facts(period, filters), oncall_facts(previous, filters)
    head, prior = _headline(data), _headline(before)
    if filters.owner_id:
        report = Report("oncall", "On call", period, previous, clock.now())
    else:
        report = summary.summarised_report("oncall", "On call", period)
    report.notes.append("Hours are UK time (Europe/London), right across the clock changes.")

    def figure(key: str, label: str, unit: str, drill: str | None = None) -> Figure:
        return Figure(key, label, head[key], prior[key], unit, DEFINITIONS[key], drill)

    report.figures = [
        figure("pages", "Pages", "count"),
        figure("leads_paged", "Pages about a lead", "count", "paged"),
        figure("acknowledged", "Acknowledged", "count"),
        figure("ack_median", "Median minutes to acknowledge", "minutes"),
        figure("ack_p90", "90th percentile minutes to acknowledge", "minutes"),
        figure("escalated", "Escalated past the first step", "count"),
        figure("fallback", "Reached the manager fallback", "count"),
        figure("overdue", "Overdue reminders", "count"),
        figure("messages", "Messages", "count"),
        figure("messages_failed", "Messages failed or unknown", "count"),
    ]
    report.tables.append(_by_kind(data, before))
    report.tables.append(_by_hour(data, before))
    report.charts.append(
        Chart(
            "by_hour",
            report.tables[-1].title,
            "bar",
            [str(r[0]) for r in report.tables[-1].rows],
            [
                Series("This period", [r[1] for r in report.tables[-1].rows]),
                Series("Previous period", [r[2] for r in report.tables[-1].rows]),
            ],
            "by_hour",
        )
    )
    report.tables.append(_escalation(data, before))
    report.tables.append(_reminders(data, before))
    report.tables.append(_messages(data, before))
    return report


def _by_kind(data: Facts, before: Facts) -> Table:
    rows: list[list[Cell]] = []
    drills: list[list[str | None]] = []
    for kind, label in PAGE_KINDS.items():
        pages, earlier = data.total(f"pages:{kind}"), before.total(f"pages:{kind}")
        if not pages and not earlier:
            continue
        rows.append(
            [label, pages, data.total(f"pages_lead:{kind}"), ack_minutes(data, 50, kind), earlier]
        )
        drills.append([None, None, f"kind:{kind}", None, None])
    return Table(
        "by_kind",
        "Pages by kind",
        ["Kind", "Pages", "About a lead", "Median minutes to acknowledge", "Previous period"],
        rows,
        DEFINITIONS["kind"] + " " + DEFINITIONS["leads_paged"] + " " + DEFINITIONS["ack_median"],
        drills,
        ["text", "count", "count", "minutes", "count"],
    )


def _by_hour(data: Facts, before: Facts) -> Table:
    now_hours, before_hours = data.histogram("hour"), before.histogram("hour")
    return Table(
        "by_hour",
        "Pages by hour of the day (UK time)",
        ["Hour", "Pages", "Previous period"],
        [[f"{h:02d}:00", now_hours.get(h, 0), before_hours.get(h, 0)] for h in range(24)],
        DEFINITIONS["hour"],
        None,
        ["text", "count", "count"],
    )


def _escalation(data: Facts, before: Facts) -> Table:
    rows: list[list[Cell]] = [
        [label, data.total(key), data.total(f"{key}_lead"), before.total(key)]
        for key, label in (
            ("escalated", "Escalated past the first step"),
            ("fallback", "Reached the manager fallback"),
        )
    ]
    return Table(
        "escalation",
        "Escalation",
        ["", "Pages", "About a lead", "Previous period"],
        rows,
        DEFINITIONS["escalated"] + " " + DEFINITIONS["fallback"],
        [[None, None, "escalated", None], [None, None, "fallback", None]],
        ["text", "count", "count", "count"],
    )


def _reminders(data: Facts, before: Facts) -> Table:
    rows: list[list[Cell]] = []
    drills: list[list[str | None]] = []
    for kind in REMINDER_KINDS:
        due, earlier = data.total(f"due:{kind}"), before.total(f"due:{kind}")
        if not due and not earlier:
            continue
        rows.append(
            [
                REMINDER_LABELS[kind],
                due,
                data.total(f"overdue:{kind}"),
                data.total(f"paged:{kind}"),
                data.total(f"overdue_lead:{kind}"),
                before.total(f"overdue:{kind}"),
            ]
        )
        drills.append([None, None, None, None, f"overdue:{kind}", None])
    return Table(
        "reminders",
        "Overdue reminders by kind",
        [
            "Reminder",
            "Due",
            "Overdue",
            "Paged on call",
            "Overdue, about a lead",
            "Previous period overdue",
        ],
        rows,
        DEFINITIONS["due"] + " " + DEFINITIONS["overdue"] + " " + DEFINITIONS["paged_reminders"],
        drills,
        ["text", "count", "count", "count", "count", "count"],
    )


def _messages(data: Facts, before: Facts) -> Table:
    by_channel: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    totals_before: dict[str, int] = defaultdict(int)
    for facts, into in ((data, None), (before, totals_before)):
        for metric in facts.metrics():
            if not metric.startswith("msg:"):
                continue
            _, channel, outcome = metric.split(":", 2)
            if into is None:
                by_channel[channel][outcome if outcome in OUTCOMES else "unknown"] += facts.total(
                    metric
                )
            else:
                into[channel] += facts.total(metric)
    channels = [c for c in CHANNELS if c in by_channel or c in totals_before]
    channels += sorted(c for c in {*by_channel, *totals_before} if c not in CHANNELS)
    rows: list[list[Cell]] = [
        [
            CHANNEL_LABELS.get(c, c),
            *[by_channel[c][o] for o in OUTCOMES],
            sum(by_channel[c].values()),
            totals_before[c],
        ]
        for c in channels
    ]
    return Table(
        "messages",
        "Messages by channel and outcome",
        ["Channel", *OUTCOMES.values(), "Total", "Previous period"],
        rows,
        DEFINITIONS["messages"],
        None,
        ["text", *["count"] * (len(OUTCOMES) + 2)],
    )
