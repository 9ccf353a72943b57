"""Presenting options to a client: the commission disclosure first, then per-clinic consent."""

from __future__ import annotations

from dataclasses import dataclass

from crm.errors import DomainError
from crm.extensions import db
from crm.intake import pipeline
from crm.intake.stages import Stage
from crm.privacy.services import (
    CHANNELS,
    Actor,
    record_audit_event,
    record_consent,
    record_disclosure,
)
from crm.providers.models import ProviderLocation
from crm.referrals import wording
from crm.referrals.matching import Match
from crm.referrals.models import Presentation, PresentedOption
from crm.referrals.services import match_lead
from crm.validation import clean_text

MAX_OPTIONS = 5


@dataclass(frozen=True)
class OptionChoice:
    """A clinic staff put to the client, and the client's answers about sharing with it."""

    location_id: int
    consent_to_share: bool
    share_health_details: bool = False


def _check(choices: list[OptionChoice], disclosure_given: bool, channel: str) -> None:
    if not disclosure_given:
        raise DomainError(
            "Tell the client that we are paid by the clinics we refer to, and tick that you "
            "did: options cannot be presented without that disclosure.",
            field_errors={"disclosure_given": ["Required before presenting options."]},
        )
    if not choices:
        raise DomainError("Choose at least one clinic to present.")
    if len(choices) > MAX_OPTIONS:
        raise DomainError(f"Present at most {MAX_OPTIONS} clinics at a time.")
    if len({c.location_id for c in choices}) != len(choices):
        raise DomainError("Each clinic can be presented once.")
    if channel not in CHANNELS:
        raise DomainError("Say how the options were presented: phone, email or other.")
    if any(c.share_health_details and not c.consent_to_share for c in choices):
        raise DomainError(
            "Health details can only be shared with a clinic the client agreed to share "
            "their details with."
        )


def _matches(lead_id: int, choices: list[OptionChoice]) -> dict[int, Match]:
    """Each chosen clinic, re-ranked now: the snapshot is what was true when presented."""
    outcome = match_lead(lead_id, [c.location_id for c in choices])
    found = outcome.by_location
    for choice in choices:
        match = found.get(choice.location_id)
        if match is None:
            raise DomainError("One of the chosen clinics no longer exists.")
        if not match.eligible:
            why = "; ".join(f.detail for f in match.filters if not f.passed)
            raise DomainError(f"{match.candidate.name} is not a match any more: {why}.")
    return found


def present_options(
    lead_id: int,
    choices: list[OptionChoice],
    *,
    disclosure_given: bool,
    channel: str,
    actor: Actor,
    note: str | None = None,
) -> Presentation:
    """Record the options put to the client, the disclosure and their consent per clinic."""
    _check(choices, disclosure_given, channel)
    try:
        text = clean_text(note, label="Note", max_length=500, required=False) or None
    except ValueError as exc:
        raise DomainError(str(exc)) from None
    found = _matches(lead_id, choices)
    lead = pipeline.get_lead(lead_id)
    disclosure = record_disclosure(lead.id, wording.DISCLOSURE_VERSION, channel, actor.user_id)
    db.session.flush()
    presentation = Presentation(
        lead_id=lead.id,
        disclosure_id=disclosure.id,
        channel=channel,
        presented_by_id=actor.user_id,
        note=text,
    )
    db.session.add(presentation)
    db.session.flush()
    for position, choice in enumerate(choices, start=1):
        _add_option(presentation, lead.client_id, found[choice.location_id], choice, position)
    if any(found[c.location_id].candidate.owned_or_affiliated for c in choices):
        affiliation = record_disclosure(
            lead.id, wording.AFFILIATION_VERSION, channel, actor.user_id
        )
        affiliation.kind = "affiliation"
    pipeline.follow(lead, Stage.MATCHED, actor, reason="Options presented to the client")
    record_audit_event(
        actor,
        "create",
        object_type="presentations",
        object_id=presentation.id,
        detail=f"lead {lead.id}: {len(choices)} options",
    )
    return presentation


def _add_option(
    presentation: Presentation,
    client_id: int,
    match: Match,
    choice: OptionChoice,
    position: int,
) -> None:
    lead_id, channel, by = presentation.lead_id, presentation.channel, presentation.presented_by_id
    share = record_consent(
        client_id,
        lead_id,
        "share_with_provider",
        choice.consent_to_share,
        wording.SHARE_VERSION,
        channel,
        by,
    )
    health = None
    if choice.consent_to_share:
        health = record_consent(
            client_id,
            lead_id,
            "share_health_with_provider",
            choice.share_health_details,
            wording.SHARE_VERSION,
            channel,
            by,
        )
    # Each answer names the provider it was about, so a withdrawal can find it later.
    clinic = db.session.get(ProviderLocation, match.candidate.location_id)
    for record in (share, health):
        if record is not None and clinic is not None:
            record.provider_id = clinic.provider_id
    db.session.flush()
    db.session.add(
        PresentedOption(
            presentation_id=presentation.id,
            lead_id=lead_id,
            location_id=match.candidate.location_id,
            position=position,
            total=match.total,
            explanation=match.explanation(),
            owned_or_affiliated=match.candidate.owned_or_affiliated,
            consent_to_share=choice.consent_to_share,
            share_health_details=choice.share_health_details,
            share_consent_id=share.id,
        )
    )
