"""Harbour House's agreement and admitted referrals for the fee service tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.fees import agreements
from crm.fees.arithmetic import FeeTerms, parse_tiers
from crm.fees.models import FeeAgreement
from crm.oncall.wallclock import local_to_utc
from crm.providers.models import ProviderLocation
from crm.referrals import referring
from crm.referrals.lifecycle import MoveRequest
from crm.referrals.models import Referral
from tests.services.intake_factories import actor_for
from tests.services.referral_factories import assessed_lead, location, present

# The story: £2,500 + VAT per admission, earned after 3 nights, 100 % back within 7
# days, 50 % within 14, payment due 30 days after the invoice.
HARBOUR_TERMS = FeeTerms(
    basis="flat_per_admission",
    currency="GBP",
    vat_treatment="standard",
    amount=Decimal("2500.00"),
    trigger_nights=3,
    clawback_tiers=parse_tiers("7: 100, 14: 50"),
    payment_terms_days=30,
)


def uk(day: date, hour: int = 12, minute: int = 0) -> datetime:
    """An instant at a UK wall-clock time."""
    return local_to_utc(day, time(hour, minute))


def harbour_house(**changes: Any) -> ProviderLocation:
    return location("Harbour House", provider_name="Harbour House Ltd", **changes)


def agreement_for(
    clinic: ProviderLocation,
    manager: User,
    terms: FeeTerms = HARBOUR_TERMS,
    effective_from: date = date(2026, 1, 1),
    effective_to: date | None = None,
    **details: Any,
) -> FeeAgreement:
    fields = {
        "billing_name": "Harbour House Ltd (Accounts)",
        "billing_address": "2 Quay Street\nWhitby\nYO21 1AA",
        "accounts_email": "accounts@harbour-house.example",
        "po_reference": "PO-7781",
        **details,
    }
    with clock.pinned(datetime(2026, 11, 20, 9, 0, tzinfo=UTC)):
        return agreements.create_agreement(
            clinic.provider_id,
            agreements.AgreementDetails(terms, effective_from, effective_to, **fields),
            actor_for(manager),
        )


def referred(
    clinic: ProviderLocation,
    advisor: User,
    phone: str = "07700 900123",
    on: date = date(2026, 11, 26),
) -> Referral:
    """A lead referred to ``clinic`` on ``on``, accepted and planned for that day."""
    lead = assessed_lead(advisor, phone=phone)
    [option_id] = present(lead, advisor, clinic)
    with clock.pinned(uk(on, 9)):
        referral = referring.refer(option_id, actor_for(advisor))
    move(referral, advisor, "accepted", on, at_hour=9)
    return referral


def move(
    referral: Referral,
    who: User,
    status: str,
    on: date,
    *,
    at_hour: int = 11,
    outcome: str | None = None,
    reason: str | None = None,
) -> Referral:
    """Record a move as staff do, on the day it happened (the clock pinned there)."""
    request = MoveRequest(status, reason=reason, on_date=None, outcome=outcome)
    if status in ("admission_planned", "admitted", "discharged"):
        request = MoveRequest(status, reason=reason, on_date=on, outcome=outcome)
    with clock.pinned(uk(on, at_hour)):
        result = referring.move_referral(referral.id, request, actor_for(who))
        db.session.flush()
    return result


def admitted(
    clinic: ProviderLocation, advisor: User, on: date, phone: str = "07700 900123"
) -> Referral:
    """Referred, planned and admitted on ``on``."""
    referral = referred(clinic, advisor, phone, on)
    move(referral, advisor, "admission_planned", on, at_hour=10)
    return move(referral, advisor, "admitted", on)
