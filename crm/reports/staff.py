"""The staff activity report: per person, calls logged and connected, assessments completed and
referrals sent in the period. Reads only.

Lead sets (for the drill-down) are distinct leads: ``staff:<id>:called``,
``staff:<id>:connected``, ``staff:<id>:assessed``, ``staff:<id>:referred``, and the same
without the person for everyone (``called``, ...).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import case, distinct, func, select

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.intake.models import Assessment, CallLog, Lead
from crm.referrals.models import Referral
from crm.reports import definitions as d
from crm.reports.leads import Filters
from crm.reports.model import Cell, Chart, Figure, Report, Series, Table
from crm.reports.periods import Period

MEASURES = {
    "called": ("Leads called", "Distinct leads with a call logged by the person in the period."),
    "connected": ("Leads reached", "Distinct leads with a connected call logged in the period."),
    "assessed": ("Assessments completed", "Assessments the person completed in the period."),
    "referred": ("Leads referred", "Distinct leads the person sent a referral for."),
}
CALLS_DEFINITION = (
    "Calls: every call the person logged in the period (by its start time); connected rate: "
    "connected calls over calls."
)


def _narrow(query: Any, lead_column: Any, filters: Filters) -> Any:
    if filters.source:
        query = query.join(Lead, Lead.id == lead_column).where(Lead.source == filters.source)
    return query


def _sources() -> dict[str, tuple[Any, Any, Any, Any]]:
    """Per measure: (table's person column, lead column, time column, extra condition)."""
    connected = CallLog.outcome == "connected"
    return {
        "called": (CallLog.actor_id, CallLog.lead_id, CallLog.started_at, None),
        "connected": (CallLog.actor_id, CallLog.lead_id, CallLog.started_at, connected),
        "assessed": (
            Assessment.completed_by_id,
            Assessment.lead_id,
            Assessment.completed_at,
            None,
        ),
        "referred": (Referral.sent_by_id, Referral.lead_id, Referral.sent_at, None),
    }


def _query(period: Period, filters: Filters, key: str, *columns: Any) -> Any:
    person, lead, at, extra = _sources()[key]
    start, end = period.bounds()
    query = select(*columns).where(at >= start, at < end, person.is_not(None))
    if extra is not None:
        query = query.where(extra)
    if filters.owner_id:
        query = query.where(person == filters.owner_id)
    return _narrow(query, lead, filters)


def activity(period: Period, filters: Filters) -> tuple[dict[str, int], dict[int, list[int]]]:
    """Counted in SQL: distinct leads per measure (everyone), and per person [calls,
    connected calls, then distinct leads per measure in MEASURES order]."""
    totals: dict[str, int] = {}
    people: dict[int, list[int]] = defaultdict(lambda: [0, 0, *[0] * len(MEASURES)])
    for i, key in enumerate(MEASURES):
        person, lead, _, _ = _sources()[key]
        totals[key] = int(
            db.session.scalar(_query(period, filters, key, func.count(distinct(lead)))) or 0
        )
        for who, n in db.session.execute(
            _query(period, filters, key, person, func.count(distinct(lead))).group_by(person)
        ):
            people[who][2 + i] = int(n)
    connected = case((CallLog.outcome == "connected", 1))
    for who, calls, connected_calls in db.session.execute(
        _query(
            period, filters, "called", CallLog.actor_id, func.count(), func.count(connected)
        ).group_by(CallLog.actor_id)
    ):
        people[who][0:2] = [int(calls), int(connected_calls)]
    return totals, dict(people)


def staff_sets_for(period: Period, filters: Filters) -> dict[str, list[int]]:
    """The drill-down's lead sets: distinct leads per measure, for everyone and per person."""
    sets: dict[str, set[int]] = defaultdict(set)
    for key in MEASURES:
        person, lead, _, _ = _sources()[key]
        for who, lead_id in db.session.execute(_query(period, filters, key, person, lead)):
            sets[key].add(lead_id)
            sets[f"staff:{who}:{key}"].add(lead_id)
    return {k: sorted(v) for k, v in sets.items()}


def staff_report(period: Period, filters: Filters) -> Report:
    now = clock.now()
    previous = period.previous()
    totals, people_counts = activity(period, filters)
    totals_before, before_counts = activity(previous, filters)
    report = Report("staff", "Staff activity", period, previous, now)
    total_calls = sum(c[0] for c in people_counts.values())
    total_before = sum(c[0] for c in before_counts.values())
    report.figures.append(
        Figure("calls", "Calls logged", total_calls, total_before, "count", CALLS_DEFINITION)
    )
    report.figures.append(
        Figure(
            "connected_rate",
            "Connected rate",
            d.rate(sum(c[1] for c in people_counts.values()), total_calls),
            d.rate(sum(c[1] for c in before_counts.values()), total_before),
            "share",
            CALLS_DEFINITION,
        )
    )
    for key, (label, definition) in MEASURES.items():
        report.figures.append(
            Figure(
                key,
                label,
                totals[key],
                totals_before[key],
                "count",
                definition,
                key,
            )
        )
    people = sorted(people_counts)
    names = (
        {
            uid: name
            for uid, name in db.session.execute(
                select(User.id, User.name).where(User.id.in_(people))
            )
        }
        if people
        else {}
    )
    rows: list[list[Cell]] = []
    drills: list[list[str | None]] = []
    for person in sorted(people, key=lambda p: (names.get(p, ""), p)):
        made, connected, *counts = people_counts[person]
        rows.append(
            [names.get(person, f"#{person}"), made, connected, d.rate(connected, made), *counts]
        )
        drills.append([None, None, None, None, *[f"staff:{person}:{k}" for k in MEASURES]])
    report.tables.append(
        Table(
            "people",
            "Per person",
            [
                "Staff member",
                "Calls",
                "Connected calls",
                "Connected rate",
                *[label for label, _ in MEASURES.values()],
            ],
            rows,
            CALLS_DEFINITION + " " + " ".join(defn for _, defn in MEASURES.values()),
            drills,
            ["text", "count", "count", "share", *["count"] * len(MEASURES)],
        )
    )
    report.charts.append(
        Chart(
            "people",
            "Per person",
            "bar",
            [str(r[0]) for r in rows],
            [
                Series("Calls", [r[1] for r in rows]),
                Series("Assessments completed", [r[6] for r in rows], [dr[6] for dr in drills]),
                Series("Leads referred", [r[7] for r in rows], [dr[7] for dr in drills]),
            ],
            "people",
        )
    )
    return report
