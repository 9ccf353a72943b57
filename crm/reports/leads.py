"""The leads a report counts, read once per report and sorted into named lead sets by the rules
of crm/reports/definitions.py. Every lead-counting figure is the size of one of these sets, and
the drill-down lists the same set, so the two cannot disagree. Reads only.

Set keys: ``leads``, ``merged``, ``in_hours``, ``out_of_hours``, ``source:<source>``,
``campaign:<campaign>``, ``day:<YYYY-MM-DD>``, ``contacted``, ``not_contacted``,
``within_target``, ``reached:<stage>``, ``closed:<reason>``, ``repeat``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from crm.extensions import db
from crm.intake.models import CallbackRequest, Lead, StageChange
from crm.intake.stages import PIPELINE
from crm.oncall import hours
from crm.oncall.models import Closure
from crm.oncall.reminders import office_spans
from crm.reports import definitions
from crm.reports.periods import Period, bucket_of

NO_CAMPAIGN = "(none)"


@dataclass(frozen=True)
class LeadRow:
    id: int
    reference: str
    stage: str
    close_reason: str | None
    source: str
    campaign: str
    created_at: datetime
    first_contact_at: datetime | None
    owner_id: int | None
    merged: bool
    in_hours: bool

    @property
    def speed(self) -> float | None:
        if self.first_contact_at is None:
            return None
        return definitions.speed_minutes(self.created_at, self.first_contact_at)


@dataclass(frozen=True)
class Filters:
    source: str | None = None
    owner_id: int | None = None
    provider_id: int | None = None  # the referrals report: one provider's clinics


def _closures(period: Period) -> set[date]:
    years = list(range(period.start.year - 1, period.end.year + 2))
    days = set(hours.bank_holidays(years))
    days.update(db.session.scalars(select(Closure.day)))
    return days


def lead_rows(period: Period, filters: Filters) -> list[LeadRow]:
    """Every lead created in the period (merged duplicates included, marked), oldest first."""
    start, end = period.bounds()
    query = (
        select(
            Lead.id,
            Lead.reference,
            Lead.stage,
            Lead.close_reason,
            Lead.source,
            Lead.utm,
            Lead.created_at,
            Lead.first_contact_at,
            Lead.owner_id,
            Lead.merged_into_id,
        )
        .where(Lead.created_at >= start, Lead.created_at < end)
        .order_by(Lead.created_at, Lead.id)
    )
    if filters.source:
        query = query.where(Lead.source == filters.source)
    if filters.owner_id:
        query = query.where(Lead.owner_id == filters.owner_id)
    spans, closures = office_spans(), _closures(period)
    return [
        LeadRow(
            id=r.id,
            reference=r.reference,
            stage=r.stage,
            close_reason=r.close_reason,
            source=r.source,
            campaign=((r.utm or {}).get("utm_campaign") or NO_CAMPAIGN),
            created_at=r.created_at,
            first_contact_at=r.first_contact_at,
            owner_id=r.owner_id,
            merged=r.merged_into_id is not None,
            in_hours=hours.is_open(r.created_at, spans, closures),
        )
        for r in db.session.execute(query)
    ]


def repeat_requests(period: Period, filters: Filters) -> dict[int, int]:
    """Repeat requests received in the period, by lead (a lead may have several)."""
    start, end = period.bounds()
    query = (
        select(CallbackRequest.lead_id, func.count())
        .join(Lead, Lead.id == CallbackRequest.lead_id)
        .where(
            CallbackRequest.received_at >= start,
            CallbackRequest.received_at < end,
            CallbackRequest.repeat.is_(True),
        )
        .group_by(CallbackRequest.lead_id)
    )
    if filters.source:
        query = query.where(CallbackRequest.source == filters.source)
    if filters.owner_id:
        query = query.where(Lead.owner_id == filters.owner_id)
    return {lead_id: int(n) for lead_id, n in db.session.execute(query)}


def first_entries(lead_ids: list[int]) -> dict[int, dict[str, datetime]]:
    """For each lead, when it first entered each stage."""
    out: dict[int, dict[str, datetime]] = defaultdict(dict)
    for start in range(0, len(lead_ids), 5000):
        chunk = lead_ids[start : start + 5000]
        rows = db.session.execute(
            select(StageChange.lead_id, StageChange.to_stage, func.min(StageChange.changed_at))
            .where(StageChange.lead_id.in_(chunk))
            .group_by(StageChange.lead_id, StageChange.to_stage)
        )
        for lead_id, stage, at in rows:
            out[lead_id][stage] = at
    return out


def furthest_stage(entries: dict[str, datetime], current: str) -> int:
    """The index in the pipeline of the furthest stage a lead entered (its current one too)."""
    order = [s.value for s in PIPELINE]
    reached = [order.index(s) for s in (*entries, current) if s in order]
    return max(reached, default=0)


def intake_sets(
    rows: list[LeadRow], target_minutes: int, grain: str = "day"
) -> dict[str, list[int]]:
    """The lead sets of intake and speed to lead, from one read of the period's leads."""
    sets: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        if row.merged:
            sets["merged"].append(row.id)
            continue
        sets["leads"].append(row.id)
        sets["in_hours" if row.in_hours else "out_of_hours"].append(row.id)
        sets[f"source:{row.source}"].append(row.id)
        sets[f"campaign:{row.campaign}"].append(row.id)
        sets[f"{grain}:{bucket_of(row.created_at, grain).isoformat()}"].append(row.id)
        speed = row.speed
        if speed is None:
            sets["not_contacted"].append(row.id)
        else:
            sets["contacted"].append(row.id)
            if speed <= target_minutes:
                sets["within_target"].append(row.id)
    return sets


def funnel_sets(rows: list[LeadRow]) -> tuple[dict[str, list[int]], dict[int, dict[str, datetime]]]:
    """The cohort's lead sets by the furthest stage reached and the reason closed."""
    cohort = [r for r in rows if not r.merged]
    entries = first_entries([r.id for r in cohort])
    order = [s.value for s in PIPELINE]
    sets: dict[str, list[int]] = defaultdict(list)
    for row in cohort:
        sets["leads"].append(row.id)
        furthest = furthest_stage(entries.get(row.id, {}), row.stage)
        for stage in order[: furthest + 1]:
            sets[f"reached:{stage}"].append(row.id)
        if row.stage == "closed":
            sets[f"closed:{row.close_reason or 'other'}"].append(row.id)
    return sets, entries
