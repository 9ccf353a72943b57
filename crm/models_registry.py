"""Imports every domain's models so metadata (and Alembic autogenerate) sees all tables."""

from crm.auth.models import StaffSession, User
from crm.fees.models import FeeAgreement
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
from crm.notify.models import ContactMethod, OutboundMessage
from crm.oncall.models import (
    Closure,
    EscalationPolicy,
    EscalationStep,
    OfficeHoursSpan,
    Page,
    PageEvent,
    Reminder,
    Rota,
    RotaMember,
    RotaOverride,
)
from crm.privacy.models import AuditEvent, ConsentRecord, DisclosureRecord
from crm.providers.models import ImportJob, Provider, ProviderLocation
from crm.referrals.models import Presentation, PresentedOption, Referral, ReferralEvent

__all__ = [
    "ApiKey",
    "Assessment",
    "Assignment",
    "AuditEvent",
    "CallLog",
    "CallbackRequest",
    "Closure",
    "ConsentRecord",
    "Contact",
    "ContactMethod",
    "DisclosureRecord",
    "EscalationPolicy",
    "EscalationStep",
    "FeeAgreement",
    "Heartbeat",
    "IdempotencyRecord",
    "ImportJob",
    "Lead",
    "LeadNote",
    "OfficeHoursSpan",
    "OutboundMessage",
    "Page",
    "PageEvent",
    "Presentation",
    "PresentedOption",
    "Provider",
    "ProviderLocation",
    "Referral",
    "ReferralEvent",
    "Reminder",
    "Rota",
    "RotaMember",
    "RotaOverride",
    "StaffSession",
    "StageChange",
    "User",
]
