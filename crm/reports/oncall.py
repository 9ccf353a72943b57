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

The page's figures are counted by the database (``oncall_stats``: pages by kind, by UTC hour
turned into UK hours, and a histogram of whole seconds to acknowledge; reminders by kind); the
rows themselves are read only for a drill-down (``oncall_sets_for``), by the same rules.

Lead sets (drill-downs; pages and reminders about no lead are counted but not listed):
``paged``, ``kind:<kind>``, ``escalated``, ``fallback``, ``overdue``, ``overdue:<reminder kind>``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, and_, case, cast, distinct, exists, extract, func, or_, select

from crm import clock
from crm.extensions import db
from crm.intake.models import Lead
from crm.notify.models import CHANNELS, OutboundMessage
from crm.oncall.models import REMINDER_KINDS, Page, PageEvent, Reminder
from crm.oncall.wallclock import LONDON
from crm.reports import definitions as d
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
    "leads_paged": "Leads that a page triggered in the period was about (pages about no lead, "
    "such as engine alerts, are not counted here).",
    "kind": "Why the page was opened: an out-of-hours callback request, a reminder past its "
    "grace time (by the reminder's kind), or an engine alert; read from the page's summary "
    "and subject when it was first triggered.",
    "hour": "Pages triggered in the period by the hour of the day in UK time (00 is midnight "
    "to 01:00).",
    "acknowledged": "Pages triggered in the period that someone has acknowledged.",
    "ack_median": "Median minutes from a page being triggered to its acknowledgement, over the "
    "acknowledged pages.",
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


@dataclass
class OnCallData:
    pages: list[PageRow]
    reminders: list[ReminderRow]
    messages: dict[tuple[str, str], int]  # (channel, outcome) -> count


def _lead_filter(query: Any, lead_column: Any, filters: Filters) -> Any:
    if not (filters.source or filters.owner_id):
        return query
    query = query.join(Lead, Lead.id == lead_column)
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
        )
        .where(Reminder.due_at >= start, Reminder.due_at < end)
        .order_by(Reminder.due_at, Reminder.id)
    )
    query = _lead_filter(query, Reminder.lead_id, filters)
    return [
        ReminderRow(r.id, r.kind, r.lead_id, bool(r.overdue), bool(r.paged))
        for r in db.session.execute(query)
    ]


def message_counts(period: Period, filters: Filters) -> dict[tuple[str, str], int]:
    """Messages created in the period, counted in SQL by channel and outcome."""
    start, end = period.bounds()
    outcome = case(
        (
            and_(OutboundMessage.status == "failed", OutboundMessage.error.like("cancelled:%")),
            "cancelled",
        ),
        (OutboundMessage.status.in_(("pending", "sending")), "waiting"),
        else_=OutboundMessage.status,
    ).label("outcome")
    query = (
        select(OutboundMessage.channel, outcome, func.count())
        .where(OutboundMessage.created_at >= start, OutboundMessage.created_at < end)
        .group_by(OutboundMessage.channel, outcome)
    )
    if filters.source or filters.owner_id:
        lead_of = func.coalesce(
            select(Page.lead_id).where(Page.id == OutboundMessage.page_id).scalar_subquery(),
            select(Reminder.lead_id)
            .where(Reminder.id == OutboundMessage.reminder_id)
            .scalar_subquery(),
        )
        query = _lead_filter(query, lead_of, filters)
    return {(channel, out): int(n) for channel, out, n in db.session.execute(query)}


def _fallback_exists() -> Any:
    return exists().where(PageEvent.page_id == Page.id, PageEvent.kind == "fallback")


def _kind_sql() -> Any:
    """``page_kind`` in SQL: the same rules, for counting in the database."""
    overdue = [
        (
            or_(Page.summary == f"{words} overdue", Page.summary.like(f"{words} overdue for %")),
            f"overdue_{kind}",
        )
        for words, kind in REMINDER_BY_WORDS.items()
    ]
    return case(
        (Page.subject.like(f"{ENGINE_SUBJECT}%"), "engine"),
        (Page.summary.like(f"{CALLBACK_PREFIX}%"), "callback_request"),
        *overdue,
        else_="other",
    )


def _seconds_sql(later: Any, earlier: Any) -> Any:
    """Whole seconds between two instants, in the database's own arithmetic."""
    if db.session.get_bind().dialect.name == "sqlite":
        days = func.julianday(later) - func.julianday(earlier)
        return cast(func.round(days * 86400), Integer)
    return cast(func.round(extract("epoch", later - earlier)), Integer)


def _hour_sql() -> Any:
    """The UTC hour a page was triggered in (turned into UK hours in Python: UK offsets are
    whole hours)."""
    if db.session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H", Page.triggered_at)
    return func.to_char(func.timezone("UTC", Page.triggered_at), "YYYY-MM-DD HH24")


@dataclass
class PageStats:
    """The page figures, counted by the database (minutes to acknowledge to the second)."""

    pages: int = 0
    leads: int = 0
    escalated: int = 0
    escalated_leads: int = 0
    fallback: int = 0
    fallback_leads: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [pages, leads]
    ack_seconds: dict[str, dict[int, int]] = field(default_factory=dict)  # kind -> histogram
    hours: list[int] = field(default_factory=lambda: [0] * 24)

    def acknowledged(self) -> int:
        return sum(sum(h.values()) for h in self.ack_seconds.values())

    def ack_minutes(self, p: float, kind: str | None = None) -> float | None:
        """The p-th percentile of minutes to acknowledge (of one kind, or of all pages)."""
        counts: dict[int, int] = defaultdict(int)
        for k, histogram in self.ack_seconds.items():
            if kind is None or k == kind:
                for seconds, n in histogram.items():
                    counts[max(0, seconds)] += n
        value = d.percentile_of_counts(counts, p)
        return None if value is None else value / 60


@dataclass
class ReminderStats:
    due: int
    overdue: int
    paged: int
    overdue_leads: int


def page_stats(period: Period, filters: Filters) -> PageStats:
    start, end = period.bounds()
    fallback = _fallback_exists()
    escalated = and_(
        Page.policy_id.is_not(None), or_(Page.step_index >= 2, Page.cycle >= 1, fallback)
    )

    def scoped(*columns: Any) -> Any:
        query = select(*columns).where(Page.triggered_at >= start, Page.triggered_at < end)
        return _lead_filter(query, Page.lead_id, filters)

    stats = PageStats()
    overall = db.session.execute(
        scoped(
            func.count(),
            func.count(distinct(Page.lead_id)),
            func.count(case((escalated, 1))),
            func.count(distinct(case((escalated, Page.lead_id)))),
            func.count(case((fallback, 1))),
            func.count(distinct(case((fallback, Page.lead_id)))),
        )
    ).one()
    (
        stats.pages,
        stats.leads,
        stats.escalated,
        stats.escalated_leads,
        stats.fallback,
        stats.fallback_leads,
    ) = (int(v or 0) for v in overall)
    if not stats.pages:
        return stats
    kind = _kind_sql().label("kind")
    for k, n, leads in db.session.execute(
        scoped(kind, func.count(), func.count(distinct(Page.lead_id))).group_by(kind)
    ):
        stats.by_kind[k] = [int(n), int(leads)]
    seconds = _seconds_sql(Page.acknowledged_at, Page.triggered_at).label("seconds")
    for k, secs, n in db.session.execute(
        scoped(kind, seconds, func.count())
        .where(Page.acknowledged_at.is_not(None))
        .group_by(kind, seconds)
    ):
        stats.ack_seconds.setdefault(k, {})[int(secs)] = int(n)
    hour = _hour_sql().label("hour")
    for utc_hour, n in db.session.execute(scoped(hour, func.count()).group_by(hour)):
        instant = datetime.strptime(utc_hour, "%Y-%m-%d %H").replace(tzinfo=UTC)
        stats.hours[instant.astimezone(LONDON).hour] += int(n)
    return stats


def reminder_stats(period: Period, filters: Filters, now: datetime) -> dict[str, ReminderStats]:
    """Per reminder kind: due in the period, overdue, paged, distinct leads overdue."""
    start, end = period.bounds()
    paged, overdue = _reminder_rules(now)
    query = (
        select(
            Reminder.kind,
            func.count(),
            func.count(case((overdue, 1))),
            func.count(case((paged, 1))),
            func.count(distinct(case((overdue, Reminder.lead_id)))),
        )
        .where(Reminder.due_at >= start, Reminder.due_at < end)
        .group_by(Reminder.kind)
    )
    query = _lead_filter(query, Reminder.lead_id, filters)
    return {
        kind: ReminderStats(int(due), int(late), int(p), int(leads))
        for kind, due, late, p, leads in db.session.execute(query)
    }


@dataclass
class OnCallStats:
    pages: PageStats
    reminders: dict[str, ReminderStats]
    messages: dict[tuple[str, str], int]


def oncall_stats(period: Period, filters: Filters, now: datetime) -> OnCallStats:
    return OnCallStats(
        page_stats(period, filters),
        reminder_stats(period, filters, now),
        message_counts(period, filters),
    )


def oncall_data(period: Period, filters: Filters, now: datetime) -> OnCallData:
    return OnCallData(
        page_rows(period, filters),
        reminder_rows(period, filters, now),
        message_counts(period, filters),
    )


def _leads(ids: list[int | None]) -> list[int]:
    return sorted({i for i in ids if i is not None})


def oncall_sets(data: OnCallData) -> dict[str, list[int]]:
    """The lead sets of the report, every key present (empty where nothing matched)."""
    sets: dict[str, list[int]] = {
        "paged": _leads([p.lead_id for p in data.pages]),
        "escalated": _leads([p.lead_id for p in data.pages if p.escalated]),
        "fallback": _leads([p.lead_id for p in data.pages if p.fallback]),
        "overdue": _leads([r.lead_id for r in data.reminders if r.overdue]),
    }
    for kind in PAGE_KINDS:
        sets[f"kind:{kind}"] = _leads([p.lead_id for p in data.pages if p.kind == kind])
    for kind in REMINDER_KINDS:
        sets[f"overdue:{kind}"] = _leads(
            [r.lead_id for r in data.reminders if r.overdue and r.kind == kind]
        )
    return sets


def oncall_sets_for(period: Period, filters: Filters) -> dict[str, list[int]]:
    return oncall_sets(oncall_data(period, filters, clock.now()))


def _headline(stats: OnCallStats) -> dict[str, int | float | None]:
    pages = stats.pages
    return {
        "pages": pages.pages,
        "leads_paged": pages.leads,
        "acknowledged": pages.acknowledged(),
        "ack_median": pages.ack_minutes(50),
        "ack_p90": pages.ack_minutes(90),
        "escalated": pages.escalated,
        "fallback": pages.fallback,
        "overdue": sum(r.overdue for r in stats.reminders.values()),
        "messages": sum(stats.messages.values()),
        "messages_failed": sum(
            n for (_, out), n in stats.messages.items() if out in ("failed", "unknown")
        ),
    }


def oncall_report(period: Period, filters: Filters) -> Report:
    now = clock.now()
    previous = period.previous()
    data = oncall_stats(period, filters, now)
    before = oncall_stats(previous, filters, now)
    head, prior = _headline(data), _headline(before)
    report = Report("oncall", "On call", period, previous, now)
    report.notes.append("Hours are UK time (Europe/London), right across the clock changes.")

    def figure(key: str, label: str, unit: str, drill: str | None = None) -> Figure:
        return Figure(key, label, head[key], prior[key], unit, DEFINITIONS[key], drill)

    report.figures = [
        figure("pages", "Pages", "count"),
        figure("leads_paged", "Leads paged", "count", "paged"),
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


def _by_kind(data: OnCallStats, before: OnCallStats) -> Table:
    rows: list[list[Cell]] = []
    drills: list[list[str | None]] = []
    for kind, label in PAGE_KINDS.items():
        pages, leads = data.pages.by_kind.get(kind, [0, 0])
        earlier = before.pages.by_kind.get(kind, [0, 0])[0]
        if not pages and not earlier:
            continue
        median = data.pages.ack_minutes(50, kind)
        rows.append([label, pages, leads, median, earlier])
        drills.append([None, None, f"kind:{kind}", None, None])
    return Table(
        "by_kind",
        "Pages by kind",
        ["Kind", "Pages", "Leads", "Median minutes to acknowledge", "Previous period"],
        rows,
        DEFINITIONS["kind"] + " " + DEFINITIONS["leads_paged"] + " " + DEFINITIONS["ack_median"],
        drills,
        ["text", "count", "count", "minutes", "count"],
    )


def _by_hour(data: OnCallStats, before: OnCallStats) -> Table:
    now_hours, before_hours = data.pages.hours, before.pages.hours
    return Table(
        "by_hour",
        "Pages by hour of the day (UK time)",
        ["Hour", "Pages", "Previous period"],
        [[f"{h:02d}:00", now_hours[h], before_hours[h]] for h in range(24)],
        DEFINITIONS["hour"],
        None,
        ["text", "count", "count"],
    )


def _escalation(data: OnCallStats, before: OnCallStats) -> Table:
    rows: list[list[Cell]] = [
        [
            "Escalated past the first step",
            data.pages.escalated,
            data.pages.escalated_leads,
            before.pages.escalated,
        ],
        [
            "Reached the manager fallback",
            data.pages.fallback,
            data.pages.fallback_leads,
            before.pages.fallback,
        ],
    ]
    return Table(
        "escalation",
        "Escalation",
        ["", "Pages", "Leads", "Previous period"],
        rows,
        DEFINITIONS["escalated"] + " " + DEFINITIONS["fallback"],
        [[None, None, "escalated", None], [None, None, "fallback", None]],
        ["text", "count", "count", "count"],
    )


def _reminders(data: OnCallStats, before: OnCallStats) -> Table:
    rows: list[list[Cell]] = []
    drills: list[list[str | None]] = []
    for kind in REMINDER_KINDS:
        due, earlier = data.reminders.get(kind), before.reminders.get(kind)
        if due is None and earlier is None:
            continue
        now_ = due or ReminderStats(0, 0, 0, 0)
        rows.append(
            [
                REMINDER_LABELS[kind],
                now_.due,
                now_.overdue,
                now_.paged,
                now_.overdue_leads,
                earlier.overdue if earlier else 0,
            ]
        )
        drills.append([None, None, None, None, f"overdue:{kind}", None])
    return Table(
        "reminders",
        "Overdue reminders by kind",
        ["Reminder", "Due", "Overdue", "Paged on call", "Leads overdue", "Previous period overdue"],
        rows,
        DEFINITIONS["due"] + " " + DEFINITIONS["overdue"] + " " + DEFINITIONS["paged_reminders"],
        drills,
        ["text", "count", "count", "count", "count", "count"],
    )


def _messages(data: OnCallStats, before: OnCallStats) -> Table:
    by_channel: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    for (channel, outcome), n in data.messages.items():
        by_channel[channel][outcome if outcome in OUTCOMES else "unknown"] += n
    totals_before: dict[str, int] = defaultdict(int)
    for (channel, _), n in before.messages.items():
        totals_before[channel] += n
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
