"""The staff activity report: per person, calls logged and connected, assessments completed and
referrals sent in the period. Reads only.

Lead sets (for the drill-down) are distinct leads: ``staff:<id>:called``,
``staff:<id>:connected``, ``staff:<id>:assessed``, ``staff:<id>:referred``, and the same
without the person for everyone (``called``, ...).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

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


def _narrow(query: Any, filters: Filters) -> Any:
    if filters.source:
        query = query.where(Lead.source == filters.source)
    return query


def activity(period: Period, filters: Filters) -> tuple[dict[str, list[int]], dict[int, list[int]]]:
    """The lead sets, and per person [calls, connected calls]."""
    start, end = period.bounds()
    sets: dict[str, set[int]] = defaultdict(set)
    calls: dict[int, list[int]] = defaultdict(lambda: [0, 0])

    def add(key: str, person: int | None, lead_id: int) -> None:
        if person is None or (filters.owner_id and person != filters.owner_id):
            return
        sets[key].add(lead_id)
        sets[f"staff:{person}:{key}"].add(lead_id)

    rows = db.session.execute(
        _narrow(
            select(CallLog.actor_id, CallLog.lead_id, CallLog.outcome)
            .join(Lead, Lead.id == CallLog.lead_id)
            .where(CallLog.started_at >= start, CallLog.started_at < end),
            filters,
        )
    )
    for person, lead_id, outcome in rows:
        add("called", person, lead_id)
        if outcome == "connected":
            add("connected", person, lead_id)
        if person is not None and not (filters.owner_id and person != filters.owner_id):
            calls[person][0] += 1
            calls[person][1] += outcome == "connected"
    for person, lead_id in db.session.execute(
        _narrow(
            select(Assessment.completed_by_id, Assessment.lead_id)
            .join(Lead, Lead.id == Assessment.lead_id)
            .where(Assessment.completed_at >= start, Assessment.completed_at < end),
            filters,
        )
    ):
        add("assessed", person, lead_id)
    for person, lead_id in db.session.execute(
        _narrow(
            select(Referral.sent_by_id, Referral.lead_id)
            .join(Lead, Lead.id == Referral.lead_id)
            .where(Referral.sent_at >= start, Referral.sent_at < end),
            filters,
        )
    ):
        add("referred", person, lead_id)
    return {k: sorted(v) for k, v in sets.items()}, dict(calls)


def staff_sets_for(period: Period, filters: Filters) -> dict[str, list[int]]:
    return activity(period, filters)[0]


def staff_report(period: Period, filters: Filters) -> Report:
    now = clock.now()
    previous = period.previous()
    sets, calls = activity(period, filters)
    before, calls_before = activity(previous, filters)
    report = Report("staff", "Staff activity", period, previous, now)
    total_calls = sum(c[0] for c in calls.values())
    total_before = sum(c[0] for c in calls_before.values())
    report.figures.append(
        Figure("calls", "Calls logged", total_calls, total_before, "count", CALLS_DEFINITION)
    )
    report.figures.append(
        Figure(
            "connected_rate",
            "Connected rate",
            d.rate(sum(c[1] for c in calls.values()), total_calls),
            d.rate(sum(c[1] for c in calls_before.values()), total_before),
            "share",
            CALLS_DEFINITION,
        )
    )
    for key, (label, definition) in MEASURES.items():
        report.figures.append(
            Figure(
                key,
                label,
                len(sets.get(key, [])),
                len(before.get(key, [])),
                "count",
                definition,
                key,
            )
        )
    people = sorted({int(k.split(":")[1]) for k in sets if k.startswith("staff:")} | set(calls))
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
        made, connected = calls.get(person, [0, 0])
        counts = [len(sets.get(f"staff:{person}:{k}", [])) for k in MEASURES]
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
