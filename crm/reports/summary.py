"""The report summaries (crm/reports/models.py): built from the leads by the same rules the
drill-down's lead sets use (crm/reports/leads.py), refreshed by the engine, read by the reports.

A refresh rebuilds every UK day that holds a lead changed since the last one (the dirty-lead log
the database triggers write) and every day the clock has passed through since (repeat requests
count on the day they arrive), then re-sums the months those days are in. The first refresh
builds every day. The same refresh, under the same lock, brings the referrals, on-call, staff
and fees reports' facts up to date (crm/reports/activity.py). Services never commit: the
caller's unit of work does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import and_, delete, func, insert, literal, or_, select

from crm import clock
from crm.extensions import db
from crm.intake.models import CallbackRequest, Lead
from crm.intake.stages import PIPELINE
from crm.oncall.wallclock import LONDON, local_date
from crm.reports import activity
from crm.reports import definitions as d
from crm.reports.leads import (
    NO_CAMPAIGN,
    Filters,
    LeadRow,
    first_entries,
    furthest_stage,
    lead_rows,
)
from crm.reports.model import Report
from crm.reports.models import (
    ReportCount,
    ReportDirtyLead,
    ReportSlowest,
    ReportSummaryState,
    ReportValue,
)
from crm.reports.periods import Period, month_of, month_pieces, month_runs

SLOWEST = 20
CAMPAIGN_LENGTH = 100
STAGES = [s.value for s in PIPELINE]
STATE_ID = 1


# --- building ----------------------------------------------------------------------------------


@dataclass
class _Day:
    counts: dict[tuple[str, str, bool, str], int]
    values: dict[tuple[str, bool, str, int, int], int]
    slowest: dict[str, list[tuple[float, int]]]


def _empty() -> _Day:
    return _Day(defaultdict(int), defaultdict(int), defaultdict(list))


def _add_lead(into: _Day, row: LeadRow, entries: dict[str, datetime]) -> None:
    campaign = row.campaign[:CAMPAIGN_LENGTH]
    key = (row.source, campaign, row.in_hours)
    if row.merged:
        into.counts[(*key, "merged")] += 1
        return
    into.counts[(*key, "leads")] += 1
    furthest = furthest_stage(entries, row.stage)
    for stage in STAGES[: furthest + 1]:
        into.counts[(*key, f"reached:{stage}")] += 1
    if row.stage == "closed":
        into.counts[(*key, f"closed:{row.close_reason or 'other'}")] += 1
    for before, stage in pairwise(STAGES):
        if before in entries and stage in entries:
            hours = max(0.0, (entries[stage] - entries[before]).total_seconds() / 3600)
            into.values[(row.source, row.in_hours, f"gap:{stage}", 0, d.gap_bucket(hours))] += 1
    speed = row.speed
    if speed is None:
        into.counts[(*key, "not_contacted")] += 1
        return
    into.counts[(*key, "contacted")] += 1
    bucket = d.speed_bucket(speed)
    local = row.created_at.astimezone(LONDON)
    into.values[(row.source, row.in_hours, "speed", 0, bucket)] += 1
    into.values[(row.source, row.in_hours, "heat", local.weekday() * 24 + local.hour, bucket)] += 1
    into.slowest[row.source].append((speed, row.id))


def _build_run(run: Period) -> None:
    """Rebuild the day rows of one run of days from the leads and requests."""
    rows = lead_rows(run, Filters())
    entries = first_entries([r.id for r in rows if not r.merged])
    days: dict[date, _Day] = defaultdict(_empty)
    for row in rows:
        _add_lead(days[local_date(row.created_at)], row, entries.get(row.id, {}))
    for received_at, source in _repeats(run):
        days[local_date(received_at)].counts[(source, NO_CAMPAIGN, False, "repeat")] += 1
    session = db.session
    for table in (ReportCount, ReportSlowest):
        session.execute(delete(table).where(table.day.between(run.start, run.end)))
    session.execute(
        delete(ReportValue).where(
            ReportValue.grain == "d", ReportValue.day.between(run.start, run.end)
        )
    )
    counts, values, slowest = [], [], []
    for day, built in days.items():
        counts += [
            {"day": day, "source": s, "campaign": c, "in_hours": h, "metric": m, "n": n}
            for (s, c, h, m), n in built.counts.items()
        ]
        values += [
            {
                "grain": "d",
                "day": day,
                "source": s,
                "in_hours": h,
                "metric": m,
                "cell": cell,
                "value": v,
                "n": n,
            }
            for (s, h, m, cell, v), n in built.values.items()
        ]
        for source, speeds in built.slowest.items():
            top = sorted(speeds, key=lambda item: (-item[0], item[1]))[:SLOWEST]
            slowest += [
                {"day": day, "source": source, "lead_id": lead_id, "minutes": minutes}
                for minutes, lead_id in top
            ]
    batches: list[tuple[Any, list[dict[str, Any]]]] = [
        (ReportCount, counts),
        (ReportValue, values),
        (ReportSlowest, slowest),
    ]
    for table, batch in batches:
        for start in range(0, len(batch), 5000):
            session.execute(insert(table), batch[start : start + 5000])


def _repeats(run: Period) -> list[tuple[datetime, str]]:
    """(received at, source) of the run's repeat requests: one read for the whole run."""
    start, end = run.bounds()
    return [
        (received_at, source)
        for received_at, source in db.session.execute(
            select(CallbackRequest.received_at, CallbackRequest.source).where(
                CallbackRequest.received_at >= start,
                CallbackRequest.received_at < end,
                CallbackRequest.repeat.is_(True),
            )
        )
    ]


def _sum_months(months: Iterable[date]) -> None:
    """Month rows (grain m) as the sums of their day rows."""
    session = db.session
    for month in sorted(set(months)):
        following = (month + timedelta(days=32)).replace(day=1)
        session.execute(
            delete(ReportValue).where(ReportValue.grain == "m", ReportValue.day == month)
        )
        days = select(
            literal("m"),
            literal(month),
            ReportValue.source,
            ReportValue.in_hours,
            ReportValue.metric,
            ReportValue.cell,
            ReportValue.value,
            func.sum(ReportValue.n),
        ).where(ReportValue.grain == "d", ReportValue.day >= month, ReportValue.day < following)
        session.execute(
            insert(ReportValue).from_select(
                ["grain", "day", "source", "in_hours", "metric", "cell", "value", "n"],
                days.group_by(
                    ReportValue.source,
                    ReportValue.in_hours,
                    ReportValue.metric,
                    ReportValue.cell,
                    ReportValue.value,
                ),
            )
        )


def build_days(days: Iterable[date]) -> int:
    """Rebuild the summaries of these UK days (and re-sum their months); days rebuilt."""
    chosen = sorted(set(days))
    for run in month_runs(chosen):
        _build_run(run)
    _sum_months(month_of(day) for day in chosen)
    return len(chosen)


@dataclass(frozen=True)
class RefreshOutcome:
    days: int  # the lead summaries' days rebuilt
    full: bool
    refreshed_at: datetime
    fact_days: int = 0  # the report facts' days rebuilt (summed over the reports)


def _state() -> ReportSummaryState:
    state = db.session.get(ReportSummaryState, STATE_ID, with_for_update=True)
    if state is None:
        state = ReportSummaryState(id=STATE_ID, days_refreshed=0)
        db.session.add(state)
        db.session.flush()
    return state


def _all_days(today: date) -> list[date]:
    """Every day from the first lead's to today (repeat requests count on later days)."""
    first = db.session.scalar(select(func.min(Lead.created_at)))
    if first is None:
        return []
    start = local_date(first)
    return [start + timedelta(days=n) for n in range((today - start).days + 1)]


def refresh(now: datetime | None = None, full: bool = False) -> RefreshOutcome:
    """Bring the summaries up to date (the engine calls this every minute)."""
    now = now or clock.now()
    state = _state()  # locked: one refresh at a time
    seen = db.session.scalar(select(func.max(ReportDirtyLead.id)))
    if full or state.built_at is None:
        days = set(_all_days(local_date(now)))
        full = True
    else:
        dirty = select(ReportDirtyLead.lead_id).where(ReportDirtyLead.id <= (seen or 0))
        days = {
            local_date(created)
            for created in db.session.scalars(
                select(Lead.created_at).where(Lead.id.in_(dirty.distinct().scalar_subquery()))
            )
        }
        since = local_date(state.refreshed_at or now)
        days.update(since + timedelta(days=n) for n in range((local_date(now) - since).days + 1))
    days.add(local_date(now))
    built = build_days(days)
    full = full or state.facts_built_at is None  # the facts' first build is a full one too
    facts = activity.refresh(state, now, full)  # before refreshed_at moves: it reads it
    if seen is not None:
        db.session.execute(delete(ReportDirtyLead).where(ReportDirtyLead.id <= seen))
    state.refreshed_at = now
    state.days_refreshed = built
    if full:
        state.built_at = now
    return RefreshOutcome(built, full, now, facts)


# --- reading -----------------------------------------------------------------------------------


def refreshed_at() -> datetime | None:
    state = db.session.get(ReportSummaryState, STATE_ID)
    return state.refreshed_at if state else None


def summarised_report(key: str, title: str, period: Period) -> Report:
    """A report read from the summaries, stamped with their age: the last refresh."""
    refreshed = refreshed_at()
    report = Report(key, title, period, period.previous(), refreshed or clock.now())
    report.summarised = True
    if refreshed is None:
        report.notes.append(
            "The report summaries have not been built yet: the engine builds them within a "
            "minute of starting, or a manager can refresh them from this page."
        )
    else:
        age = max(0, int((clock.now() - refreshed).total_seconds() // 60))
        when = f"{refreshed.astimezone(LONDON):%d %b %H:%M}"
        report.notes.append(
            f"Figures from the report summaries refreshed {when} UK time ({age} min ago); "
            "the engine refreshes them every minute. The lists behind the figures are read live."
        )
    return report


def counts(period: Period, source: str | None, by: tuple[str, ...]) -> dict[tuple[Any, ...], int]:
    """Summed counts over the period, keyed by (metric, *by) with ``by`` column names."""
    columns = [ReportCount.metric, *[getattr(ReportCount, name) for name in by]]
    query = (
        select(*columns, func.sum(ReportCount.n))
        .where(ReportCount.day.between(period.start, period.end))
        .group_by(*columns)
    )
    if source:
        query = query.where(ReportCount.source == source)
    return {tuple(row[:-1]): int(row[-1]) for row in db.session.execute(query)}


def histogram(
    period: Period, source: str | None, metric: str, by: tuple[str, ...] = ()
) -> dict[tuple[Any, ...], dict[int, int]]:
    """{(*by): {bucket: how many}} over the period: whole months from their month rows."""
    months, loose = month_pieces(period)
    where = [
        and_(ReportValue.grain == "d", ReportValue.day.between(first, last))
        for first, last in loose
    ]
    if months:
        where.append(and_(ReportValue.grain == "m", ReportValue.day.in_(months)))
    columns = [getattr(ReportValue, name) for name in by]
    query = (
        select(*columns, ReportValue.value, func.sum(ReportValue.n))
        .where(ReportValue.metric == metric, or_(*where))
        .group_by(*columns, ReportValue.value)
    )
    if source:
        query = query.where(ReportValue.source == source)
    out: dict[tuple[Any, ...], dict[int, int]] = defaultdict(dict)
    for row in db.session.execute(query):
        out[tuple(row[: len(by)])][int(row[-2])] = int(row[-1])
    return out


def slowest(period: Period, source: str | None) -> list[tuple[int, float]]:
    """(lead id, minutes) of the period's slowest first callbacks, slowest first."""
    query = (
        select(ReportSlowest.lead_id, ReportSlowest.minutes)
        .where(ReportSlowest.day.between(period.start, period.end))
        .order_by(ReportSlowest.minutes.desc(), ReportSlowest.lead_id)
        .limit(SLOWEST)
    )
    if source:
        query = query.where(ReportSlowest.source == source)
    return [(int(lead_id), float(minutes)) for lead_id, minutes in db.session.execute(query)]
