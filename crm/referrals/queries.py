"""What the lead, referral and provider pages show about presentations and referrals."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from crm.extensions import db
from crm.intake.models import Lead
from crm.intake.queries import TimelineEntry, names_of
from crm.providers.models import Provider, ProviderLocation
from crm.referrals.candidates import ReferralRecord, record_for_provider
from crm.referrals.lifecycle import FINAL, NEXT, STATUS_LABELS, ReferralStatus
from crm.referrals.models import Presentation, PresentedOption, Referral, ReferralEvent


@dataclass(frozen=True)
class OptionRow:
    option: PresentedOption
    clinic: str
    referral: Referral | None


@dataclass(frozen=True)
class ReferralRow:
    referral: Referral
    clinic: str
    owned_or_affiliated: bool


@dataclass(frozen=True)
class ProviderReferral:
    referral: Referral
    lead_reference: str
    location: str


@dataclass(frozen=True)
class ProviderHistory:
    """What the provider page shows of the referrals sent to the provider's locations."""

    record: ReferralRecord
    recent: list[ProviderReferral]


def provider_history(provider_id: int, limit: int = 10) -> ProviderHistory:
    """The provider's referral record and its latest referrals, in two queries."""
    rows = db.session.execute(
        select(Referral, Lead.reference, ProviderLocation.name)
        .join(ProviderLocation, ProviderLocation.id == Referral.location_id)
        .join(Lead, Lead.id == Referral.lead_id)
        .where(ProviderLocation.provider_id == provider_id)
        .order_by(Referral.sent_at.desc(), Referral.id.desc())
        .limit(limit)
    ).all()
    return ProviderHistory(
        record_for_provider(provider_id),
        [ProviderReferral(referral, reference, location) for referral, reference, location in rows],
    )


def clinic_names(location_ids: set[int]) -> dict[int, tuple[str, bool]]:
    """Location id → ("Provider — Location", owned or affiliated), in one query."""
    if not location_ids:
        return {}
    rows = db.session.execute(
        select(
            ProviderLocation.id, Provider.name, ProviderLocation.name, Provider.owned_or_affiliated
        )
        .join(Provider, Provider.id == ProviderLocation.provider_id)
        .where(ProviderLocation.id.in_(location_ids))
    )
    return {r[0]: (f"{r[1]} — {r[2]}", bool(r[3])) for r in rows}


def lead_referrals(lead_id: int) -> list[ReferralRow]:
    referrals = db.session.scalars(
        select(Referral).where(Referral.lead_id == lead_id).order_by(Referral.sent_at.desc())
    ).all()
    names = clinic_names({r.location_id for r in referrals})
    return [ReferralRow(r, *names.get(r.location_id, ("a clinic", False))) for r in referrals]


def latest_options(lead_id: int) -> list[OptionRow]:
    """The options of the lead's latest presentation, each with its referral if one was sent."""
    presentation_id = db.session.scalar(
        select(Presentation.id)
        .where(Presentation.lead_id == lead_id)
        .order_by(Presentation.presented_at.desc(), Presentation.id.desc())
        .limit(1)
    )
    if presentation_id is None:
        return []
    options = db.session.scalars(
        select(PresentedOption)
        .where(PresentedOption.presentation_id == presentation_id)
        .order_by(PresentedOption.position)
    ).all()
    names = clinic_names({o.location_id for o in options})
    open_referrals = {
        r.location_id: r
        for r in db.session.scalars(
            select(Referral).where(
                Referral.lead_id == lead_id,
                Referral.status.not_in([s.value for s in FINAL]),
            )
        )
    }
    return [
        OptionRow(
            o, names.get(o.location_id, ("a clinic", False))[0], open_referrals.get(o.location_id)
        )
        for o in options
    ]


def next_statuses(referral: Referral) -> list[tuple[str, str]]:
    """(value, label) of the moves the lifecycle allows from the referral's status."""
    return [(s.value, STATUS_LABELS[s]) for s in NEXT[ReferralStatus(referral.status)]]


def _event_text(event: ReferralEvent) -> str | None:
    parts = [event.reason, event.on_date.strftime("%d %b %Y") if event.on_date else None]
    parts.append(event.outcome.replace("_", " ") if event.outcome else None)
    return " · ".join(p for p in parts if p) or None


def timeline_entries(lead_id: int) -> list[TimelineEntry]:
    """Presentations and referral status changes, for the lead's single timeline."""
    presentations = db.session.scalars(
        select(Presentation).where(Presentation.lead_id == lead_id)
    ).all()
    events = db.session.execute(
        select(ReferralEvent, Referral.location_id)
        .join(Referral, Referral.id == ReferralEvent.referral_id)
        .where(Referral.lead_id == lead_id)
    ).all()
    names = names_of({p.presented_by_id for p in presentations} | {e.actor_id for e, _ in events})
    clinics = clinic_names({loc for _, loc in events})
    entries = [
        TimelineEntry(
            p.presented_at,
            "referral",
            f"Presented {len(p.options)} option(s) by {p.channel.replace('_', ' ')}",
            "; ".join(
                f"{o.position}. consent to share: {'yes' if o.consent_to_share else 'no'}"
                for o in p.options
            ),
            names.get(p.presented_by_id or 0),
        )
        for p in presentations
    ]
    for event, location_id in events:
        clinic = clinics.get(location_id, ("a clinic", False))[0]
        label = STATUS_LABELS[ReferralStatus(event.to_status)]
        entries.append(
            TimelineEntry(
                event.changed_at,
                "referral",
                f"Referral to {clinic}: {label.lower()}",
                _event_text(event),
                names.get(event.actor_id or 0),
            )
        )
    return entries
