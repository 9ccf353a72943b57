"""The report facts (``report_facts``): the referrals, on-call, staff and fees reports' counts,
histograms and sums per UK day of the event each counts, built by the reports' own rules
(``day_facts`` in crm/reports/referrals.py, oncall.py, staff.py, fees.py), refreshed with the lead
summaries (crm/reports/summary.py, every minute by the engine), read by the reports.

A fact is (day, source, key, metric, value) → how many: ``source`` is the lead's source ("" for
a page, reminder or message about no lead), ``key`` the clinic (referrals) or the staff member
(staff), the provider (fees), 0 otherwise, ``value`` a bucket of a histogram, an hour, or 0 for
a plain count. Every fact is a count of events (or, for fees, a sum of amounts in pence), so a
period's figure is the sum of its days' (and whole months').

A refresh rebuilds, per report, the UK days of the rows the triggers logged as changed (the day
each row is on now and the day it was on before), the days of reminders whose escalation time
the clock has passed since the last refresh (they count as overdue from then), and today. The
first refresh builds every day. Services never commit: the caller's unit of work does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, literal, or_, select

from crm.extensions import db
from crm.fees.models import LedgerEntry
from crm.intake.models import Assessment, CallLog
from crm.notify.models import OutboundMessage
from crm.oncall.models import Page, Reminder
from crm.oncall.wallclock import LONDON, local_date
from crm.referrals.models import Referral
from crm.reports.leads import Filters
from crm.reports.models import ReportDirtyRow, ReportFact, ReportSummaryState
from crm.reports.periods import Period, month_of, month_pieces, month_runs

REPORTS = ("referrals", "oncall", "staff", "fees")
# Which reports count a changed row of each kind (a referral is also a staff member's work).
KIND_REPORTS = {
    "referral": ("referrals", "staff"),
    "call": ("staff",),
    "assessment": ("staff",),
    "page": ("oncall",),
    "reminder": ("oncall",),
    "message": ("oncall",),
    "ledger": ("fees",),
    # Its source changed: everything about it moves to another source (fees have none).
    "lead": ("referrals", "oncall", "staff"),
}
# Which reports count a changed row's own day (``on_day``): a discharge, an accounting day.
ON_DAY_REPORTS = {"referral": ("referrals",), "ledger": ("fees",)}
NO_SOURCE = ""

FactKey = tuple[str, int, str, int]  # (source, key, metric, value)
DayFacts = dict[date, dict[FactKey, int]]


def day_facts() -> DayFacts:
    """An empty collection of per-day facts for a builder to add to."""
    return defaultdict(lambda: defaultdict(int))


class Facts:
    """A period's facts, summed over its days: {(key, metric, value): how many}, indexed by
    metric for the report's many lookups."""

    def __init__(self, counts: dict[tuple[int, str, int], int] | None = None) -> None:
        self.counts: dict[tuple[int, str, int], int] = {
            k: n for k, n in (counts or {}).items() if n
        }
        self._by_metric: dict[str, dict[int, dict[int, int]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        for (key, metric, value), n in self.counts.items():
            self._by_metric[metric][key][value] = n

    def total(self, metric: str, key: int | None = None) -> int:
        return sum(self.histogram(metric, key).values())

    def histogram(self, metric: str, key: int | None = None) -> dict[int, int]:
        """{value: how many} of one metric, for one key or all of them."""
        keys = self._by_metric.get(metric, {})
        if key is not None:
            return dict(keys.get(key, {}))
        out: dict[int, int] = defaultdict(int)
        for values in keys.values():
            for value, n in values.items():
                out[value] += n
        return dict(out)

    def keys(self) -> set[int]:
        return {k for k, _, _ in self.counts}

    def metrics(self) -> set[str]:
        return set(self._by_metric)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Facts) and self.counts == other.counts

    def __repr__(self) -> str:  # pragma: no cover - test failure messages
        return f"Facts({dict(sorted(self.counts.items()))!r})"


def collapse(days: DayFacts) -> Facts:
    """Per-day facts summed into a period's (a direct computation, without the summaries; the
    builder has already applied any filters)."""
    out: dict[tuple[int, str, int], int] = defaultdict(int)
    for facts in days.values():
        for (_, key, metric, value), n in facts.items():
            out[(key, metric, value)] += n
    return Facts(out)


# --- SQL helpers the builders share --------------------------------------------------------------


def utc_hour(column: Any) -> Any:
    """The UTC hour of an instant as text 'YYYY-MM-DD HH', in the database's own functions
    (grouping by it counts in the database; UK offsets are whole hours, so each UTC hour lies
    in one UK day and one UK hour)."""
    if db.session.get_bind().dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H", column)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24")


def uk_time(hour: str) -> datetime:
    """A ``utc_hour`` text as the UK wall-clock time it began."""
    return datetime.strptime(hour, "%Y-%m-%d %H").replace(tzinfo=UTC).astimezone(LONDON)


# --- building -------------------------------------------------------------------------------


def _builders() -> dict[str, Callable[[Period, Filters], DayFacts]]:
    from crm.reports import fees, oncall, referrals, staff  # the rules live with each report

    return {
        "referrals": referrals.day_facts,
        "oncall": oncall.day_facts,
        "staff": staff.day_facts,
        "fees": fees.day_facts,
    }


def _build_run(report: str, run: Period, builder: Callable[[Period, Filters], DayFacts]) -> None:
    built = builder(run, Filters())
    db.session.execute(
        delete(ReportFact).where(
            ReportFact.grain == "d",
            ReportFact.report == report,
            ReportFact.day.between(run.start, run.end),
        )
    )
    rows = [
        {
            "grain": "d",
            "day": day,
            "report": report,
            "source": source,
            "key": key,
            "metric": metric,
            "value": value,
            "n": n,
        }
        for day, facts in built.items()
        if run.start <= day <= run.end
        for (source, key, metric, value), n in facts.items()
        if n
    ]
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(ReportFact), rows[start : start + 5000])


def _sum_months(report: str, months: Iterable[date]) -> None:
    """Month rows (grain m) as the sums of their day rows."""
    for month in sorted(set(months)):
        following = (month + timedelta(days=32)).replace(day=1)
        db.session.execute(
            delete(ReportFact).where(
                ReportFact.grain == "m", ReportFact.report == report, ReportFact.day == month
            )
        )
        columns = (ReportFact.source, ReportFact.key, ReportFact.metric, ReportFact.value)
        days = (
            select(literal("m"), literal(month), literal(report), *columns, func.sum(ReportFact.n))
            .where(
                ReportFact.grain == "d",
                ReportFact.report == report,
                ReportFact.day >= month,
                ReportFact.day < following,
            )
            .group_by(*columns)
        )
        db.session.execute(
            insert(ReportFact).from_select(
                ["grain", "day", "report", "source", "key", "metric", "value", "n"], days
            )
        )


def build_days(report: str, days: Iterable[date]) -> int:
    """Rebuild one report's facts of these UK days (and re-sum their months); days rebuilt."""
    chosen = sorted(set(days))
    builder = _builders()[report]
    for run in month_runs(chosen):
        _build_run(report, run, builder)
    _sum_months(report, {month_of(day) for day in chosen})
    return len(chosen)


def _event_days() -> tuple[date, date] | None:
    """The UK days of the earliest and the latest event these reports count (reminders fall
    due, and clinics' discharge dates are set, ahead of today)."""
    found: list[date] = []
    for column in (
        Referral.sent_at,
        CallLog.started_at,
        Assessment.completed_at,
        Page.triggered_at,
        Reminder.due_at,
        OutboundMessage.created_at,
    ):
        low, high = db.session.execute(select(func.min(column), func.max(column))).one()
        found += [local_date(t) for t in (low, high) if t is not None]
    for day_column in (Referral.discharged_on, LedgerEntry.posted_on):
        first, last = db.session.execute(select(func.min(day_column), func.max(day_column))).one()
        found += [d for d in (first, last) if d is not None]
    return (min(found), max(found)) if found else None


def _dirty_days(seen: int) -> dict[str, set[date]]:
    """Per report, the days of the rows logged as changed (up to log id ``seen``)."""
    days: dict[str, set[date]] = defaultdict(set)
    parents: dict[str, set[int]] = defaultdict(set)
    rows = db.session.execute(
        select(ReportDirtyRow.kind, ReportDirtyRow.ref_id, ReportDirtyRow.at, ReportDirtyRow.on_day)
        .where(ReportDirtyRow.id <= seen)
        .distinct()
    )
    for kind, ref_id, at, on_day in rows:
        reports = KIND_REPORTS.get(kind, ())
        if at is None and on_day is None and ref_id is not None:
            parents[kind].add(ref_id)  # an event: its parent's time is looked up below
        if at is not None:
            for report in reports:
                days[report].add(local_date(at))
        if on_day is not None:
            for report in ON_DAY_REPORTS.get(kind, ()):
                days[report].add(on_day)
    _parent_days(days, parents)
    return days


def _parent_days(days: dict[str, set[date]], parents: dict[str, set[int]]) -> None:
    """The days of the referrals and pages whose events changed, and of everything about a
    lead whose source changed."""
    for chunk in _chunks(sorted(parents["lead"])):
        _lead_days(days, chunk)
    for chunk in _chunks(sorted(parents["referral"])):
        _referral_days(days, Referral.id.in_(chunk))
    for chunk in _chunks(sorted(parents["page"])):
        for (triggered_at,) in db.session.execute(
            select(Page.triggered_at).where(Page.id.in_(chunk))
        ):
            days["oncall"].add(local_date(triggered_at))


def _referral_days(days: dict[str, set[date]], which: Any) -> None:
    """The days the chosen referrals count on: sent (both reports) and discharged."""
    for sent_at, discharged_on in db.session.execute(
        select(Referral.sent_at, Referral.discharged_on).where(which)
    ):
        days["referrals"].add(local_date(sent_at))
        days["staff"].add(local_date(sent_at))
        if discharged_on is not None:
            days["referrals"].add(discharged_on)


def _lead_days(days: dict[str, set[date]], lead_ids: list[int]) -> None:
    _referral_days(days, Referral.lead_id.in_(lead_ids))
    for report, column, lead in (
        ("staff", CallLog.started_at, CallLog.lead_id),
        ("staff", Assessment.completed_at, Assessment.lead_id),
        ("oncall", Page.triggered_at, Page.lead_id),
        ("oncall", Reminder.due_at, Reminder.lead_id),
    ):
        days[report] |= {
            local_date(t)
            for t in db.session.scalars(select(column).where(lead.in_(lead_ids)))
            if t is not None
        }
    messages = (
        select(OutboundMessage.created_at)
        .outerjoin(Page, Page.id == OutboundMessage.page_id)
        .outerjoin(Reminder, Reminder.id == OutboundMessage.reminder_id)
        .where(or_(Page.lead_id.in_(lead_ids), Reminder.lead_id.in_(lead_ids)))
    )
    days["oncall"] |= {local_date(t) for t in db.session.scalars(messages)}


def _chunks(ids: list[int], size: int = 5000) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _reminders_now_overdue(since: datetime, now: datetime) -> set[date]:
    """Days of open reminders whose escalation time passed since the last refresh."""
    return {
        local_date(due)
        for due in db.session.scalars(
            select(Reminder.due_at).where(
                Reminder.status.in_(("pending", "notified")),
                Reminder.escalate_at > since,
                Reminder.escalate_at <= now,
            )
        )
    }


def refresh(state: ReportSummaryState, now: datetime, full: bool) -> int:
    """Bring the facts up to date (within summary.refresh's lock); days rebuilt."""
    seen = db.session.scalar(select(func.max(ReportDirtyRow.id)))
    today = local_date(now)
    days: dict[str, set[date]] = defaultdict(set)
    if full or state.facts_built_at is None:
        span = _event_days()
        if span is not None:
            first, last = span[0], max(span[1], today)
            every = {first + timedelta(days=n) for n in range((last - first).days + 1)}
            days = {report: set(every) for report in REPORTS}
        full = True
    else:
        days = _dirty_days(seen or 0)
        if state.refreshed_at is not None:
            days["oncall"] |= _reminders_now_overdue(state.refreshed_at, now)
    built = 0
    for report in REPORTS:
        built += build_days(report, days.get(report, set()) | {today})
    if seen is not None:
        db.session.execute(delete(ReportDirtyRow).where(ReportDirtyRow.id <= seen))
    if full:
        state.facts_built_at = now
    return built


# --- reading -------------------------------------------------------------------------------


def read(
    report: str, period: Period, source: str | None = None, keys: Iterable[int] | None = None
) -> Facts:
    """A report's facts over the period from the summaries: whole months from their month rows,
    the loose days either side from their day rows; narrowed to a source and to keys."""
    months, loose = month_pieces(period)
    where = [
        and_(ReportFact.grain == "d", ReportFact.day.between(first, last)) for first, last in loose
    ]
    if months:
        where.append(and_(ReportFact.grain == "m", ReportFact.day.in_(months)))
    columns = (ReportFact.key, ReportFact.metric, ReportFact.value)
    query = (
        select(*columns, func.sum(ReportFact.n))
        .where(ReportFact.report == report, or_(*where))
        .group_by(*columns)
    )
    if source is not None:
        query = query.where(ReportFact.source == source)
    if keys is not None:
        query = query.where(ReportFact.key.in_(sorted(set(keys))))
    return Facts({(k, m, v): int(n) for k, m, v, n in db.session.execute(query)})
