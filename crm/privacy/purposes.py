"""Purposes of processing: each with its lawful basis (UK GDPR article 6) and its
special-category condition (article 9), edited by admins and included in every export."""

from __future__ import annotations

from dataclasses import dataclass

from crm import clock
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.privacy.models import ProcessingPurpose
from crm.privacy.services import Actor, record_audit_event
from crm.validation import clean_text

LAWFUL_BASES = {
    "consent": "Consent (6(1)(a))",
    "contract": "Contract (6(1)(b))",
    "legal_obligation": "Legal obligation (6(1)(c))",
    "vital_interests": "Vital interests (6(1)(d))",
    "public_task": "Public task (6(1)(e))",
    "legitimate_interests": "Legitimate interests (6(1)(f))",
}
CONDITIONS = {
    "explicit_consent": "Explicit consent (9(2)(a))",
    "vital_interests": "Vital interests (9(2)(c))",
    "legal_claims": "Legal claims (9(2)(f))",
    "health_or_social_care": "Health or social care (9(2)(h))",
    "none": "No special-category data",
}


@dataclass(frozen=True)
class PurposeText:
    name: str
    description: str
    lawful_basis: str
    special_category_condition: str


def update_purpose(purpose_id: int, text: PurposeText, actor: Actor) -> ProcessingPurpose:
    """Change a purpose's words or its legal grounds, audited."""
    row = db.session.get(ProcessingPurpose, purpose_id)
    if row is None:
        raise DomainError("No such purpose.", ErrorKind.NOT_FOUND)
    if text.lawful_basis not in LAWFUL_BASES:
        raise DomainError("Choose the lawful basis from the list.")
    if text.special_category_condition not in CONDITIONS:
        raise DomainError("Choose the special-category condition from the list.")
    try:
        name = clean_text(text.name, label="Name", max_length=120)
        description = clean_text(text.description, label="Description", max_length=2000)
    except ValueError as exc:
        raise DomainError(str(exc)) from None
    row.name, row.description = name, description
    row.lawful_basis, row.special_category_condition = (
        text.lawful_basis,
        text.special_category_condition,
    )
    row.updated_at, row.updated_by_id = clock.now(), actor.user_id
    record_audit_event(actor, "update", object_type="processing_purposes", object_id=row.id)
    return row
