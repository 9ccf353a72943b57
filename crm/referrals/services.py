"""Matching a lead, presenting options with the disclosure and consent, and referring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from crm import clock
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.intake import pipeline
from crm.intake.models import Assessment, Lead
from crm.intake.stages import Stage
from crm.providers.geography import approximate_point
from crm.referrals.candidates import load_candidates
from crm.referrals.matching import (
    Match,
    MatchSettings,
    NeedsIncomplete,
    needs_from_assessment,
    rank,
)


@dataclass(frozen=True)
class MatchOutcome:
    """A lead's ranked matches: eligible ones first, then those excluded and why."""

    lead: Lead
    eligible: list[Match]
    excluded: list[Match]

    @property
    def by_location(self) -> dict[int, Match]:
        return {m.candidate.location_id: m for m in (*self.eligible, *self.excluded)}


def _assessment(lead: Lead) -> Assessment:
    assessment = db.session.query(Assessment).filter_by(lead_id=lead.id).one_or_none()
    if assessment is None or assessment.completed_at is None:
        raise DomainError(
            "Complete the assessment before matching: matching uses its answers.",
            ErrorKind.CONFLICT,
        )
    return assessment


def _settings() -> MatchSettings:
    from flask import current_app

    days = current_app.config["CRM_SETTINGS"].capacity_stale_days
    return MatchSettings(now=clock.now(), capacity_stale_after=timedelta(days=days))


def _open_lead(lead_id: int) -> Lead:
    lead = pipeline.get_lead(lead_id)
    if lead.stage == Stage.CLOSED.value:
        raise DomainError("The lead is closed: reopen it before matching or referring.")
    if lead.merged_into_id is not None:
        raise DomainError("This lead was merged into another; work on that one.")
    return lead


def match_lead(lead_id: int, location_ids: list[int] | None = None) -> MatchOutcome:
    """Rank the network for a lead's completed assessment (fee-blind: see candidates.py)."""
    lead = _open_lead(lead_id)
    answers = _assessment(lead).answers
    postcode = answers.get("home_postcode")
    try:
        needs = needs_from_assessment(answers, approximate_point(postcode) if postcode else None)
    except NeedsIncomplete as exc:
        raise DomainError(
            f"{exc} Complete them in the assessment.",
            field_errors={f: ["Needed for matching."] for f in exc.missing},
        ) from None
    matches = rank(needs, load_candidates(location_ids), _settings())
    return MatchOutcome(
        lead,
        [m for m in matches if m.eligible],
        [m for m in matches if not m.eligible],
    )
