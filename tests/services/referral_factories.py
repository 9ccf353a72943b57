"""Providers, assessed leads and presentations for the referral service tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.intake import pipeline
from crm.intake.models import Lead
from crm.providers.models import Provider, ProviderLocation
from crm.referrals.presenting import OptionChoice, present_options
from tests.services.intake_factories import actor_for, capture, reload

# The DOMAIN.md story: Wednesday 25 November 2026, mid-morning in Leeds.
NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)

STORY_ANSWERS: dict[str, Any] = {
    "substances": ["ketamine"],
    "primary_substance": "ketamine",
    "usage_duration": "1_to_5_years",
    "usage_frequency": "daily",
    "cravings": True,
    "depression": True,
    "treatment_wanted": "residential_rehab",
    "funding": "self_funded",
    "budget_band": "1000_1500",
    "home_postcode": "LS6 2AB",
    "max_travel_miles": "60",
    "timeframe": "within_a_week",
    "age": "34",
    "gender": "female",
}


def location(name: str, **changes: Any) -> ProviderLocation:
    """An active clinic near Leeds that fits the story, unless ``changes`` say otherwise."""
    provider_fields = {
        k: changes.pop(k) for k in ("owned_or_affiliated", "provider_status") if k in changes
    }
    provider = Provider(
        name=changes.pop("provider_name", f"{name} Group"),
        regulator="cqc",
        status=provider_fields.get("provider_status", "active"),
        owned_or_affiliated=provider_fields.get("owned_or_affiliated", False),
    )
    db.session.add(provider)
    db.session.flush()
    fields: dict[str, Any] = {
        "provider_id": provider.id,
        "name": name,
        "address": "1 Clinic Lane",
        "town": "Harrogate",
        "postcode": "HG1 1AA",
        "country": "GB",
        "latitude": 53.99,
        "longitude": -1.54,
        "levels_of_care": ["residential_rehab", "medical_detox"],
        "substances": ["ketamine", "alcohol", "cocaine"],
        "dual_diagnosis": True,
        "mental_health_accepted": ["depression", "anxiety"],
        "min_age": 18,
        "single_sex": "mixed",
        "funding_accepted": ["self_funded", "private_insurance"],
        "insurers": ["Bupa"],
        "price_per_week_min": Decimal("1100"),
        "price_per_week_max": Decimal("1400"),
        "rating": "good",
        "rating_date": date(2025, 6, 1),
        "beds_available": 2,
        "capacity_confirmed_at": NOW - timedelta(days=1),
        "status": "active",
        "admissions_email": f"admissions@{name.lower().replace(' ', '-')}.example",
        "admissions_phone": "+441234567890",
    }
    fields.update(changes)
    row = ProviderLocation(**fields)
    db.session.add(row)
    db.session.flush()
    return row


def assessed_lead(
    advisor: User,
    answers: dict[str, Any] | None = None,
    phone: str = "07700 900123",
    **changes: Any,
) -> Lead:
    """A lead whose connected call is logged and whose assessment is complete; ``changes``
    go into the callback request (another ``email`` for another person)."""
    lead = capture(0, phone=phone, **changes).lead
    actor = actor_for(advisor)
    with clock.pinned(NOW - timedelta(minutes=30)):
        pipeline.log_call(lead.id, actor, direction="outbound", outcome="connected")
        pipeline.save_assessment(lead.id, dict(answers or STORY_ANSWERS), actor, complete=True)
        db.session.flush()
    return reload(lead)


def present(
    lead: Lead,
    advisor: User,
    *locations: ProviderLocation,
    consent: bool = True,
    health: bool = True,
) -> list[int]:
    """Present ``locations`` with the disclosure given; the option ids, in order."""
    with clock.pinned(NOW):
        presentation = present_options(
            lead.id,
            [OptionChoice(loc.id, consent, health and consent) for loc in locations],
            disclosure_given=True,
            channel="phone",
            actor=actor_for(advisor),
        )
        db.session.flush()
    return [o.id for o in presentation.options]
