"""The staff activity report: per person, the calls they logged (and how many connected), the
assessments they completed and the referrals they sent in the period. Reads only.

Every figure counts events, not people: two calls to one person are two calls. The figures are
read from the report facts (crm/reports/activity.py: per UK day of the call's start, the
assessment's completion or the referral's sending, per person); the lead sets behind them
(drill-downs) hold one lead id per event, so a list's length is its figure: ``calls``,
``connected``, ``assessed``, ``referred``, and each for one person as ``staff:<id>:<measure>``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import case, func, select

from crm.auth.models import User
from crm.extensions import db
from crm.intake.models import Assessment, CallLog, Lead
from crm.referrals.models import Referral
from crm.reports import activity, summary
from crm.reports import definitions as d
from crm.reports.activity import DayFacts, Facts, uk_time, utc_hour
from crm.reports.leads import Filters
from crm.reports.model import Cell, Chart, Figure, Report, Series, Table
from crm.reports.periods import Period

MEASURES = {
    "calls": ("Calls logged", "Calls the person logged in the period (by the call's start)."),
    "connected": ("Connected calls", "Calls logged in the period that reached the person called."),
    "assessed": ("Assessments completed", "Assessments the person completed in the period."),
    "referred": ("Referrals sent", "Referrals to a clinic the person sent in the period."),
}
RATE_DEFINITION = "Connected rate: connected calls over calls logged."


def _sources() -> dict[str, tuple[Any, Any, Any, Any]]:
    """Per measure: (table's person column, lead column, time column, extra condition)."""
    connected = CallLog.outcome == "connected"
    return {
        "calls": (CallLog.actor_id, CallLog.lead_id, CallLog.started_at, None),
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
    query = (
        select(*columns)
        .join(Lead, Lead.id == lead)
        .where(at >= start, at < end, person.is_not(None))
    )
    if extra is not None:
        query = query.where(extra)
    if filters.owner_id:
        query = query.where(person == filters.owner_id)
    if filters.source:
        query = query.where(Lead.source == filters.source)
    return query


def day_facts(period: Period, filters: Filters) -> DayFacts:
    """The report's facts per UK day (crm/reports/activity.py), counted by the database per UTC
    hour, person and lead source; the key is the person."""
    out = activity.day_facts()
    for key in ("calls", "assessed", "referred"):
        person, _, at, _ = _sources()[key]
        hour = utc_hour(at).label("hour")
        columns: list[Any] = [hour, person, Lead.source, func.count()]
        if key == "calls":
            columns.append(func.count(case((CallLog.outcome == "connected", 1))))
        query = _query(period, filters, key, *columns).group_by(hour, person, Lead.source)
        for row in db.session.execute(query):
            facts = out[uk_time(row[0]).date()]
            facts[(row[2], row[1], key, 0)] += int(row[3])
            if key == "calls":
                facts[(row[2], row[1], "connected", 0)] += int(row[4])
    return out


def staff_facts(period: Period, filters: Filters) -> Facts:
    """The period's facts from the summaries, narrowed to the source and the person."""
    keys = [filters.owner_id] if filters.owner_id else None
    return activity.read("staff", period, filters.source, keys)


def staff_sets_for(period: Period, filters: Filters) -> dict[str, list[int]]:
    """The drill-down's lead sets: one lead id per event, for everyone and per person."""
    sets: dict[str, list[int]] = defaultdict(list)
    for key in MEASURES:
        person, lead, at, _ = _sources()[key]
        query = _query(period, filters, key, person, lead).order_by(at)
        for who, lead_id in db.session.execute(query):
            sets[key].append(lead_id)
            sets[f"staff:{who}:{key}"].append(lead_id)
    return dict(sets)


def staff_report(period: Period, filters: Filters) -> Report:
    previous = period.previous()
    facts, before = staff_facts(period, filters), staff_facts(previous, filters)
    report = summary.summarised_report("staff", "Staff activity", period)
    report.notes.append("Figures count events, not people: two calls to one person are two.")
    for key, (label, definition) in MEASURES.items():
        report.figures.append(
            Figure(key, label, facts.total(key), before.total(key), "count", definition, key)
        )
    report.figures.insert(
        2,
        Figure(
            "connected_rate",
            "Connected rate",
            d.rate(facts.total("connected"), facts.total("calls")),
            d.rate(before.total("connected"), before.total("calls")),
            "share",
            RATE_DEFINITION,
        ),
    )
    people = sorted(facts.keys())
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
        calls, connected = facts.total("calls", person), facts.total("connected", person)
        rows.append(
            [
                names.get(person, f"#{person}"),
                calls,
                connected,
                d.rate(connected, calls),
                facts.total("assessed", person),
                facts.total("referred", person),
            ]
        )
        drills.append(
            [
                None,
                f"staff:{person}:calls",
                f"staff:{person}:connected",
                None,
                f"staff:{person}:assessed",
                f"staff:{person}:referred",
            ]
        )
    report.tables.append(
        Table(
            "people",
            "Per person",
            [
                "Staff member",
                "Calls logged",
                "Connected calls",
                "Connected rate",
                "Assessments completed",
                "Referrals sent",
            ],
            rows,
            " ".join(defn for _, defn in MEASURES.values()) + " " + RATE_DEFINITION,
            drills,
            ["text", "count", "count", "share", "count", "count"],
        )
    )
    report.charts.append(
        Chart(
            "people",
            "Per person",
            "bar",
            [str(r[0]) for r in rows],
            [
                Series("Calls logged", [r[1] for r in rows], [dr[1] for dr in drills]),
                Series("Assessments completed", [r[4] for r in rows], [dr[4] for dr in drills]),
                Series("Referrals sent", [r[5] for r in rows], [dr[5] for dr in drills]),
            ],
            "people",
        )
    )
    return report
