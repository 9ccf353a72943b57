"""Writing the audit trail: the one place AuditEvent rows are made."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from crm import clock
from crm.extensions import db
from crm.privacy.models import AuditEvent, ConsentRecord, DisclosureRecord

CONSENT_PURPOSES = (
    "contact",
    "health_details",
    "share_with_provider",
    "share_health_with_provider",
)
CHANNELS = ("web_form", "phone", "email", "other")


@dataclass(frozen=True)
class Actor:
    """Who is acting and from where; built by the boundary (request, task, CLI)."""

    user_id: int | None = None
    email: str | None = None
    role: str | None = None
    ip: str | None = None
    request_id: str | None = None

    @classmethod
    def system(cls, name: str) -> Actor:
        """A process acting on its own account (a worker task, a CLI command)."""
        return cls(email=f"system:{name}", role="system")


def record_audit_event(
    actor: Actor,
    action: str,
    *,
    outcome: str = "success",
    object_type: str | None = None,
    object_id: object = None,
    detail: str | None = None,
) -> AuditEvent:
    """Add one audit row to the current transaction. Never pass health data in ``detail``."""
    row = AuditEvent(
        actor_id=actor.user_id,
        actor_email=actor.email,
        actor_role=actor.role,
        action=action,
        outcome=outcome,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        request_id=actor.request_id,
        ip=actor.ip,
        detail=detail[:500] if detail else None,
    )
    db.session.add(row)
    return row


def record_consent(
    contact_id: int,
    lead_id: int | None,
    purpose: str,
    given: bool,
    wording_version: str,
    channel: str,
    recorded_by_id: int | None = None,
    at: datetime | None = None,
) -> ConsentRecord:
    """Store one consent answer (given or refused) with the wording the person saw; ``at``:
    when they gave it (default now)."""
    if purpose not in CONSENT_PURPOSES or channel not in CHANNELS:
        raise ValueError(f"unknown consent purpose {purpose!r} or channel {channel!r}")
    record = ConsentRecord(
        contact_id=contact_id,
        lead_id=lead_id,
        purpose=purpose,
        given=given,
        wording_version=wording_version,
        channel=channel,
        recorded_at=at or clock.now(),
        recorded_by_id=recorded_by_id,
    )
    db.session.add(record)
    return record


def record_disclosure(
    lead_id: int,
    wording_version: str,
    channel: str,
    recorded_by_id: int | None = None,
    at: datetime | None = None,
) -> DisclosureRecord:
    """Store that the commission disclosure was shown or read to the person."""
    record = DisclosureRecord(
        lead_id=lead_id,
        kind="commission",
        wording_version=wording_version,
        channel=channel,
        disclosed_at=at or clock.now(),
        recorded_by_id=recorded_by_id,
    )
    db.session.add(record)
    return record


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, _context: Any, _instances: Any) -> None:
    """The trail is append-only: an attempt to change or delete a row fails loudly."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEvent):
            raise PermissionError("Audit events are append-only and cannot be changed.")
