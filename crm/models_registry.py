"""Imports every domain's models so metadata (and Alembic autogenerate) sees all tables."""

from crm.auth.models import StaffSession, User
from crm.health.models import Heartbeat
from crm.intake.models import (
    ApiKey,
    Assessment,
    Assignment,
    CallbackRequest,
    CallLog,
    Contact,
    IdempotencyRecord,
    Lead,
    LeadNote,
    StageChange,
)
from crm.privacy.models import AuditEvent, ConsentRecord, DisclosureRecord

__all__ = [
    "ApiKey",
    "Assessment",
    "Assignment",
    "AuditEvent",
    "CallLog",
    "CallbackRequest",
    "ConsentRecord",
    "Contact",
    "DisclosureRecord",
    "Heartbeat",
    "IdempotencyRecord",
    "Lead",
    "LeadNote",
    "StaffSession",
    "StageChange",
    "User",
]
