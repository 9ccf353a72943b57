"""The referrals and providers report: per clinic, what happened to the referrals sent in the
period, how fast the clinic replied, and how its discharges ended. Reads only.

What the figures count (the definitions printed under them are in ``DEFINITIONS`` below):

- **The cohort** is the referrals *sent* in the period (``sent_at``, UK days), followed to
  wherever they are now, as the funnel follows its leads: last week's referrals can still be
  accepted or admitted today.
- **Accepted**: the clinic said yes (the referral reached accepted or admission planned) and
  has not declined it since; a referral withdrawn after acceptance still counts as accepted.
- **Declined**: the referral is declined now, by the clinic's listed reason
  (crm.referrals.lifecycle.DECLINE_REASONS; one declined before the list existed is "other").
- **Waitlisted**: the clinic put the referral on its waiting list at some point.
- **Admitted**: the client was admitted (admitted now, or discharged since).
- **Did not arrive**, **withdrawn**, **awaiting reply**: the referral's status now.
- **Acceptance rate**: accepted over accepted plus declined (referrals the clinic decided on).
- **Hours to the clinic's reply**: from sending to the clinic's first answer (accepted,
  declined or waitlisted), whole hours rounded up in the funnel's buckets
  (crm/reports/definitions.py), median over the referrals answered.
- **Discharges** are counted by the day of discharge (``discharged_on``) in the period, whenever
  the referral was sent: completed the programme against left early.
- **Filters**: the lead's source and the provider (all its clinics).

Figures count referrals, not people: a person referred to two clinics counts twice. The lead
sets behind them (drill-downs) hold one lead id per referral, so a list's length is its figure:
``sent``, ``accepted``, ``declined``, ``declined:<reason>``, ``waitlisted``, ``admitted``,
``did_not_arrive``, ``withdrawn``, ``awaiting``, ``discharged:<outcome>``, and each of those for
one clinic as ``loc:<location id>:<measure>``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, case, func, select

from crm.extensions import db
from crm.intake.models import Lead
from crm.oncall.wallclock import local_date
from crm.providers.models import Provider, ProviderLocation
from crm.referrals.lifecycle import DECLINE_REASONS, DISCHARGE_OUTCOMES, ReferralStatus
from crm.referrals.models import Referral, ReferralEvent
from crm.reports import activity, summary
from crm.reports import definitions as d
from crm.reports.activity import DayFacts, Facts
from crm.reports.leads import Filters
from crm.reports.model import Cell, Chart, Figure, Report, Series, Table
from crm.reports.periods import Period

S = ReferralStatus
ACCEPTING = (S.ACCEPTED.value, S.ADMISSION_PLANNED.value)
REPLIES = (S.ACCEPTED.value, S.DECLINED.value, S.WAITLISTED.value)
ADMITTED = frozenset({S.ADMITTED.value, S.DISCHARGED.value})
# The per-clinic measures that count referrals of the cohort, in table order.
MEASURES = {
    "sent": "Sent",
    "accepted": "Accepted",
    "declined": "Declined",
    "waitlisted": "Waitlisted",
    "admitted": "Admitted",
    "did_not_arrive": "Did not arrive",
    "withdrawn": "Withdrawn",
    "awaiting": "Awaiting reply",
}
DISCHARGES = {f"discharged:{k}": label for k, label in DISCHARGE_OUTCOMES.items()}

DEFINITIONS = {
    "sent": "Referrals sent to a clinic in the period (the cohort the other figures follow).",
    "accepted": "Referrals of the cohort the clinic accepted (accepted or admission planned at "
    "some point) and has not declined since.",
    "declined": "Referrals of the cohort the clinic declined, by the reason it gave.",
    "waitlisted": "Referrals of the cohort the clinic put on its waiting list at some point.",
    "admitted": "Referrals of the cohort whose client was admitted (admitted or discharged now).",
    "did_not_arrive": "Referrals of the cohort whose client did not arrive for admission.",
    "withdrawn": "Referrals of the cohort we withdrew (the client changed their mind, or chose "
    "another option).",
    "awaiting": "Referrals of the cohort the clinic has not answered yet.",
    "acceptance_rate": "Accepted over accepted plus declined: of the referrals the clinic "
    "decided on, the share it accepted.",
    "reply_hours": "Median hours from sending a referral to the clinic's first answer "
    "(accepted, declined or waitlisted), over the cohort's answered referrals; whole hours "
    "rounded up, in steps of a day beyond two days.",
    "discharged:completed": "Clients discharged in the period (by the day of discharge, "
    "whenever referred) who completed the programme.",
    "discharged:early": "Clients discharged in the period who left before the end of the "
    "programme.",
    "by_clinic": "Per clinic (provider and location), the cohort's referrals as defined above; "
    "discharges are counted by the day of discharge in the period.",
    "by_reason": "The cohort's declined referrals by the reason the clinic gave.",
}


@dataclass(frozen=True)
class ReferralRow:
    id: int
    lead_id: int
    location_id: int
    status: str
    decline_code: str | None
    sent_at: datetime
    first_reply_at: datetime | None
    waitlisted: bool
    accepted: bool
    source: str = ""

    def measures(self) -> list[str]:
        """The cohort measures this referral counts in (``sent`` always)."""
        out = ["sent"]
        if self.status == S.DECLINED.value:
            out += ["declined", f"declined:{self.decline_code or 'other'}"]
        elif self.accepted or self.status in ADMITTED or self.status == S.DID_NOT_ARRIVE.value:
            out.append("accepted")
        if self.waitlisted:
            out.append("waitlisted")
        if self.status in ADMITTED:
            out.append("admitted")
        elif self.status in (S.DID_NOT_ARRIVE.value, S.WITHDRAWN.value):
            out.append(self.status)
        elif self.status == S.SENT.value:
            out.append("awaiting")
        return out

    @property
    def reply_hours(self) -> int | None:
        if self.first_reply_at is None:
            return None
        return d.gap_bucket(max(0.0, (self.first_reply_at - self.sent_at).total_seconds() / 3600))


@dataclass(frozen=True)
class Discharge:
    lead_id: int
    location_id: int
    outcome: str
    source: str
    day: date


@dataclass
class ReferralData:
    cohort: list[ReferralRow]
    discharges: list[Discharge]


def _narrow(query, filters: Filters):  # type: ignore[no-untyped-def]
    """The referrals of the filters (the query already joins the lead)."""
    if filters.source:
        query = query.where(Lead.source == filters.source)
    if filters.provider_id:
        query = query.join(ProviderLocation, ProviderLocation.id == Referral.location_id).where(
            ProviderLocation.provider_id == filters.provider_id
        )
    return query


def referral_data(period: Period, filters: Filters) -> ReferralData:
    """The cohort's referrals with what their events say, and the period's discharges."""
    start, end = period.bounds()
    cohort = _narrow(
        select(Referral.id)
        .join(Lead, Lead.id == Referral.lead_id)
        .where(Referral.sent_at >= start, Referral.sent_at < end),
        filters,
    ).subquery()
    events = (
        select(
            ReferralEvent.referral_id.label("rid"),
            func.min(case((ReferralEvent.to_status.in_(REPLIES), ReferralEvent.changed_at))).label(
                "first_reply"
            ),
            func.max(case((ReferralEvent.to_status == S.WAITLISTED.value, 1), else_=0)).label(
                "waitlisted"
            ),
            func.max(case((ReferralEvent.to_status.in_(ACCEPTING), 1), else_=0)).label("accepted"),
        )
        .join(cohort, cohort.c.id == ReferralEvent.referral_id)
        .group_by(ReferralEvent.referral_id)
        .subquery()
    )
    query = (
        select(
            Referral.id,
            Referral.lead_id,
            Referral.location_id,
            Referral.status,
            Referral.decline_code,
            Referral.sent_at,
            events.c.first_reply,
            events.c.waitlisted,
            events.c.accepted,
            Lead.source,
        )
        .join(cohort, cohort.c.id == Referral.id)
        .join(Lead, Lead.id == Referral.lead_id)
        .outerjoin(events, events.c.rid == Referral.id)
        .order_by(Referral.sent_at, Referral.id)
    )
    rows = [
        ReferralRow(
            id=r.id,
            lead_id=r.lead_id,
            location_id=r.location_id,
            status=r.status,
            decline_code=r.decline_code,
            sent_at=r.sent_at,
            first_reply_at=r.first_reply,
            waitlisted=bool(r.waitlisted),
            accepted=bool(r.accepted),
            source=r.source,
        )
        for r in db.session.execute(query)
    ]
    discharged = _narrow(
        select(
            Referral.lead_id,
            Referral.location_id,
            Referral.discharge_outcome,
            Lead.source,
            Referral.discharged_on,
        )
        .join(Lead, Lead.id == Referral.lead_id)
        .where(
            and_(Referral.discharged_on >= period.start, Referral.discharged_on <= period.end),
            Referral.discharge_outcome.is_not(None),
        ),
        filters,
    ).order_by(Referral.discharged_on, Referral.id)
    return ReferralData(rows, [Discharge(*r) for r in db.session.execute(discharged)])


def referral_sets(data: ReferralData) -> dict[str, list[int]]:
    """The lead sets: one lead id per referral counted, overall and per clinic."""
    sets: dict[str, list[int]] = defaultdict(list)
    for row in data.cohort:
        for measure in row.measures():
            sets[measure].append(row.lead_id)
            sets[f"loc:{row.location_id}:{measure}"].append(row.lead_id)
    for gone in data.discharges:
        sets[f"discharged:{gone.outcome}"].append(gone.lead_id)
        sets[f"loc:{gone.location_id}:discharged:{gone.outcome}"].append(gone.lead_id)
    return dict(sets)


def referral_sets_for(period: Period, filters: Filters) -> dict[str, list[int]]:
    return referral_sets(referral_data(period, filters))


def day_facts(period: Period, filters: Filters) -> DayFacts:
    """The report's facts per UK day (crm/reports/activity.py), by the rules above: the
    cohort's measures and reply hours on the day each referral was sent, discharges on their
    day; the key is the clinic."""
    out = activity.day_facts()
    data = referral_data(period, filters)
    for row in data.cohort:
        facts = out[local_date(row.sent_at)]
        for measure in row.measures():
            facts[(row.source, row.location_id, measure, 0)] += 1
        if (hours := row.reply_hours) is not None:
            facts[(row.source, row.location_id, "reply_hours", hours)] += 1
    for gone in data.discharges:
        out[gone.day][(gone.source, gone.location_id, f"discharged:{gone.outcome}", 0)] += 1
    return out


def provider_locations(provider_id: int) -> list[int]:
    return list(
        db.session.scalars(
            select(ProviderLocation.id).where(ProviderLocation.provider_id == provider_id)
        )
    )


def referral_facts(period: Period, filters: Filters) -> Facts:
    """The period's facts from the summaries, narrowed to the source and the provider's
    clinics."""
    keys = provider_locations(filters.provider_id) if filters.provider_id else None
    return activity.read("referrals", period, filters.source, keys)


def _headline(facts: Facts) -> dict[str, float | int | None]:
    head: dict[str, float | int | None] = {k: facts.total(k) for k in MEASURES}
    head |= {k: facts.total(k) for k in DISCHARGES}
    accepted, declined = facts.total("accepted"), facts.total("declined")
    head["acceptance_rate"] = d.rate(accepted, accepted + declined)
    head["reply_hours"] = d.percentile_of_counts(facts.histogram("reply_hours"), 50)
    return head


def clinic_names(location_ids: set[int]) -> dict[int, str]:
    """ "Provider — Location" for each clinic."""
    if not location_ids:
        return {}
    rows = db.session.execute(
        select(ProviderLocation.id, Provider.name, ProviderLocation.name)
        .join(Provider, Provider.id == ProviderLocation.provider_id)
        .where(ProviderLocation.id.in_(location_ids))
    )
    return {
        lid: (location if provider == location else f"{provider} — {location}")
        for lid, provider, location in rows
    }


def referrals_report(period: Period, filters: Filters) -> Report:
    previous = period.previous()
    facts, before = referral_facts(period, filters), referral_facts(previous, filters)
    head, prior = _headline(facts), _headline(before)
    report = summary.summarised_report("referrals", "Referrals and providers", period)
    report.notes.append(
        "Figures count referrals, not people: a person referred to two clinics counts twice."
    )

    def figure(key: str, label: str, unit: str, drill: str | None = None) -> Figure:
        return Figure(key, label, head[key], prior[key], unit, DEFINITIONS[key], drill)

    report.figures = [
        figure("sent", "Referrals sent", "count", "sent"),
        figure("accepted", "Accepted", "count", "accepted"),
        figure("declined", "Declined", "count", "declined"),
        figure("waitlisted", "Waitlisted", "count", "waitlisted"),
        figure("admitted", "Admitted", "count", "admitted"),
        figure("did_not_arrive", "Did not arrive", "count", "did_not_arrive"),
        figure("acceptance_rate", "Acceptance rate", "share"),
        figure("reply_hours", "Median hours to the clinic's reply", "hours"),
        figure("discharged:completed", "Discharges: completed", "count", "discharged:completed"),
        figure("discharged:early", "Discharges: left early", "count", "discharged:early"),
    ]
    clinics = _by_clinic(facts)
    report.tables.append(clinics)
    report.charts.append(
        Chart(
            "by_clinic",
            clinics.title,
            "stacked",
            [str(r[0]) for r in clinics.rows],
            [
                Series(label, [r[i] for r in clinics.rows], [dr[i] for dr in clinics.drills or []])
                for i, label in (
                    (2, "Accepted"),
                    (3, "Declined"),
                    (8, "Awaiting reply"),
                    (7, "Withdrawn"),
                )
            ],
            "by_clinic",
        )
    )
    reasons = _by_reason(facts, before)
    report.tables.append(reasons)
    report.charts.append(
        Chart(
            "by_reason",
            reasons.title,
            "bar",
            [str(r[0]) for r in reasons.rows],
            [
                Series(
                    "This period",
                    [r[1] for r in reasons.rows],
                    [dr[1] for dr in reasons.drills or []],
                ),
                Series("Previous period", [r[3] for r in reasons.rows]),
            ],
            "by_reason",
        )
    )
    return report


def _by_clinic(facts: Facts) -> Table:
    locations = facts.keys()
    names = clinic_names(locations)
    rows: list[list[Cell]] = []
    drills: list[list[str | None]] = []
    for location in sorted(locations, key=lambda loc: (names.get(loc, ""), loc)):
        counts = [facts.total(m, location) for m in MEASURES]
        accepted, declined = counts[1], counts[2]
        discharges = [facts.total(k, location) for k in DISCHARGES]
        rows.append(
            [
                names.get(location, f"#{location}"),
                *counts,
                d.rate(accepted, accepted + declined),
                d.percentile_of_counts(facts.histogram("reply_hours", location), 50),
                *discharges,
            ]
        )
        drills.append(
            [
                None,
                *[f"loc:{location}:{m}" for m in MEASURES],
                None,
                None,
                *[f"loc:{location}:{k}" for k in DISCHARGES],
            ]
        )
    return Table(
        "by_clinic",
        "Per clinic",
        [
            "Clinic",
            *MEASURES.values(),
            "Acceptance rate",
            "Median hours to reply",
            *[f"Discharges: {label.lower()}" for label in DISCHARGE_OUTCOMES.values()],
        ],
        rows,
        DEFINITIONS["by_clinic"],
        drills,
        ["text", *["count"] * len(MEASURES), "share", "hours", *["count"] * len(DISCHARGES)],
    )


def _by_reason(facts: Facts, before: Facts) -> Table:
    declined = facts.total("declined")
    rows: list[list[Cell]] = []
    drills: list[list[str | None]] = []
    for code, label in DECLINE_REASONS.items():
        count = facts.total(f"declined:{code}")
        rows.append([label, count, d.rate(count, declined), before.total(f"declined:{code}")])
        drills.append([None, f"declined:{code}", None, None])
    return Table(
        "by_reason",
        "Declines by reason",
        ["Reason", "Declined", "Share of declines", "Previous period"],
        rows,
        DEFINITIONS["by_reason"],
        drills,
        ["text", "count", "share", "count"],
    )
