"""Writing the audit trail: the one place AuditEvent rows are made."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from crm.extensions import db
from crm.privacy.models import AuditEvent


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


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, _context: Any, _instances: Any) -> None:
    """The trail is append-only: an attempt to change or delete a row fails loudly."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEvent):
            raise PermissionError("Audit events are append-only and cannot be changed.")
