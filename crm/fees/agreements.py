"""Fee agreements: versions by effective dates, never overlapping, frozen once they govern a fee.

The agreement in force on an admission date governs that admission for good, so an agreement
that has governed any accrual keeps its terms: to change them a manager ends it and adds a new
version from a later date. Services flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select

from crm import clock
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.fees.arithmetic import ClawbackTier, FeeTerms, FeeTermsError, check_terms
from crm.fees.models import FeeAgreement, LedgerEntry
from crm.privacy.services import Actor, record_audit_event
from crm.providers.models import Provider
from crm.referrals.models import Referral
from crm.validation import clean_text, normalise_email


@dataclass(frozen=True)
class AgreementDetails:
    """What a manager types for one version of a provider's agreement."""

    terms: FeeTerms
    effective_from: date | None
    effective_to: date | None = None
    billing_name: str = ""
    billing_address: str = ""
    accounts_email: str = ""
    po_reference: str | None = None


def terms_of(agreement: FeeAgreement) -> FeeTerms:
    """The arithmetic's view of a stored agreement."""
    return FeeTerms(
        basis=agreement.basis,
        currency=agreement.currency,
        vat_treatment=agreement.vat_treatment,
        amount=agreement.amount,
        rate=agreement.rate,
        cap=agreement.cap_amount,
        trigger_nights=agreement.trigger_nights,
        clawback_tiers=tuple(
            ClawbackTier(int(t["within_days"]), Decimal(str(t["percent"])))
            for t in agreement.clawback_tiers or []
        ),
        payment_terms_days=agreement.payment_terms_days,
    )


def _clean(details: AgreementDetails) -> tuple[AgreementDetails, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    try:
        check_terms(details.terms)
    except FeeTermsError as exc:
        errors["terms"] = exc.problems
    if details.effective_from is None:
        errors["effective_from"] = ["Give the date the agreement starts."]
    elif details.effective_to is not None and details.effective_to < details.effective_from:
        errors["effective_to"] = ["The agreement cannot end before it starts."]
    cleaned = {}
    for name, label, limit, required in (
        ("billing_name", "Billing name", 200, True),
        ("po_reference", "PO reference", 100, False),
    ):
        try:
            cleaned[name] = clean_text(
                getattr(details, name), label=label, max_length=limit, required=required
            )
        except ValueError as exc:
            errors[name] = [str(exc)]
    try:
        cleaned["billing_address"] = clean_address(details.billing_address)
    except ValueError as exc:
        errors["billing_address"] = [str(exc)]
    try:
        cleaned["accounts_email"] = normalise_email(details.accounts_email)
    except ValueError as exc:
        errors["accounts_email"] = [str(exc)]
    if errors:
        return details, errors
    return (
        replace(
            details,
            billing_name=cleaned["billing_name"],
            billing_address=cleaned["billing_address"],
            accounts_email=cleaned["accounts_email"],
            po_reference=cleaned["po_reference"] or None,
        ),
        {},
    )


def clean_address(text: str | None) -> str:
    """A postal address: up to 8 lines of plain text (an invoice prints it as typed)."""
    lines = [
        clean_text(line, label="Billing address", max_length=120, required=False)
        for line in (text or "").splitlines()
    ]
    lines = [line for line in lines if line]
    if not lines:
        raise ValueError("Billing address is required.")
    if len(lines) > 8:
        raise ValueError("Billing address must be at most 8 lines.")
    return "\n".join(lines)


def _refuse(errors: dict[str, list[str]]) -> DomainError:
    flat = [m for messages in errors.values() for m in messages]
    return DomainError(" ".join(flat), field_errors=errors)


def _overlapping(
    provider_id: int, start: date, end: date | None, except_id: int | None = None
) -> FeeAgreement | None:
    query = select(FeeAgreement).where(
        FeeAgreement.provider_id == provider_id,
        or_(FeeAgreement.effective_to.is_(None), FeeAgreement.effective_to >= start),
    )
    if end is not None:
        query = query.where(FeeAgreement.effective_from <= end)
    if except_id is not None:
        query = query.where(FeeAgreement.id != except_id)
    return db.session.scalars(query.limit(1)).first()


def _lock_provider(provider_id: int) -> Provider:
    """Hold the provider's row: two managers adding versions at once cannot both overlap."""
    provider = db.session.get(Provider, provider_id, with_for_update=True)
    if provider is None:
        raise DomainError("No such provider.", ErrorKind.NOT_FOUND)
    return provider


def _span(start: date, end: date | None) -> str:
    return f"{start:%d %b %Y} – {end:%d %b %Y}" if end else f"from {start:%d %b %Y}"


def _check_no_overlap(
    provider_id: int, start: date, end: date | None, except_id: int | None = None
) -> None:
    clash = _overlapping(provider_id, start, end, except_id)
    if clash is not None:
        raise DomainError(
            "These dates overlap the agreement in force "
            f"{_span(clash.effective_from, clash.effective_to)}: end that one first, "
            "or start this one after it.",
            field_errors={"effective_from": ["Overlaps another agreement."]},
        )


def _columns(details: AgreementDetails) -> dict[str, Any]:
    terms = details.terms
    return {
        "basis": terms.basis,
        "amount": terms.amount,
        "rate": terms.rate,
        "cap_amount": terms.cap if terms.basis == "per_week_of_stay" else None,
        "currency": terms.currency,
        "vat_treatment": terms.vat_treatment,
        "trigger_nights": terms.trigger_nights,
        "clawback_tiers": [
            {"within_days": t.within_days, "percent": str(t.percent)} for t in terms.clawback_tiers
        ],
        "payment_terms_days": terms.payment_terms_days,
        "effective_from": details.effective_from,
        "effective_to": details.effective_to,
        "billing_name": details.billing_name,
        "billing_address": details.billing_address,
        "accounts_email": details.accounts_email,
        "po_reference": details.po_reference,
    }


def create_agreement(provider_id: int, details: AgreementDetails, actor: Actor) -> FeeAgreement:
    """Add a version of a provider's agreement; refused if its dates overlap another."""
    _lock_provider(provider_id)
    details, errors = _clean(details)
    if errors:
        raise _refuse(errors)
    assert details.effective_from is not None  # noqa: S101 (_clean checked it)
    _check_no_overlap(provider_id, details.effective_from, details.effective_to)
    agreement = FeeAgreement(
        provider_id=provider_id,
        created_at=clock.now(),
        created_by_id=actor.user_id,
        **_columns(details),
    )
    db.session.add(agreement)
    db.session.flush()
    record_audit_event(
        actor,
        "create",
        object_type="fee_agreements",
        object_id=agreement.id,
        detail=f"provider {provider_id}",
    )
    return agreement


def get_agreement(agreement_id: int) -> FeeAgreement:
    agreement = db.session.get(FeeAgreement, agreement_id)
    if agreement is None:
        raise DomainError("No such fee agreement.", ErrorKind.NOT_FOUND)
    return agreement


def has_governed_fees(agreement_id: int) -> bool:
    return (
        db.session.scalar(
            select(LedgerEntry.id).where(LedgerEntry.agreement_id == agreement_id).limit(1)
        )
        is not None
    )


def update_agreement(agreement_id: int, details: AgreementDetails, actor: Actor) -> FeeAgreement:
    """Change a version. Once it has governed a fee only its end date may change, and not to
    before an admission it governs."""
    agreement = get_agreement(agreement_id)
    _lock_provider(agreement.provider_id)
    details, errors = _clean(details)
    if errors:
        raise _refuse(errors)
    assert details.effective_from is not None  # noqa: S101
    if has_governed_fees(agreement.id):
        if _columns(details) | {"effective_to": None} != _frozen(agreement):
            raise DomainError(
                "This agreement has governed fees, so its terms are kept as they were: end it "
                "and add a new version from a later date."
            )
        _check_end_keeps_admissions(agreement, details.effective_to)
    _check_no_overlap(
        agreement.provider_id, details.effective_from, details.effective_to, agreement.id
    )
    for name, value in _columns(details).items():
        setattr(agreement, name, value)
    db.session.flush()
    record_audit_event(actor, "update", object_type="fee_agreements", object_id=agreement.id)
    return agreement


def _frozen(agreement: FeeAgreement) -> dict[str, Any]:
    terms = terms_of(agreement)
    stored = AgreementDetails(
        terms,
        agreement.effective_from,
        None,
        agreement.billing_name,
        agreement.billing_address,
        agreement.accounts_email,
        agreement.po_reference,
    )
    return _columns(stored)


def _check_end_keeps_admissions(agreement: FeeAgreement, end: date | None) -> None:
    if end is None:
        return
    latest = db.session.scalar(
        select(Referral.admitted_on)
        .join(LedgerEntry, LedgerEntry.referral_id == Referral.id)
        .where(LedgerEntry.agreement_id == agreement.id, Referral.admitted_on.is_not(None))
        .order_by(Referral.admitted_on.desc())
        .limit(1)
    )
    if latest is not None and end < latest:
        raise DomainError(
            f"This agreement governs an admission on {latest:%d %b %Y}: it cannot end before then."
        )


def agreement_in_force(provider_id: int, day: date) -> FeeAgreement | None:
    """The provider's agreement on ``day``, or None (an admission then earns no fee)."""
    return db.session.scalars(
        select(FeeAgreement)
        .where(
            FeeAgreement.provider_id == provider_id,
            FeeAgreement.effective_from <= day,
            or_(FeeAgreement.effective_to.is_(None), FeeAgreement.effective_to >= day),
        )
        .limit(1)
    ).first()


def agreements_of(provider_id: int) -> list[FeeAgreement]:
    """Every version, newest first: the provider page's agreement history."""
    return list(
        db.session.scalars(
            select(FeeAgreement)
            .where(FeeAgreement.provider_id == provider_id)
            .order_by(FeeAgreement.effective_from.desc(), FeeAgreement.id.desc())
        )
    )
