"""Imports every domain's models so metadata (and Alembic autogenerate) sees all tables."""

from crm.auth.models import StaffSession, User
from crm.health.models import Heartbeat
from crm.privacy.models import AuditEvent

__all__ = ["AuditEvent", "Heartbeat", "StaffSession", "User"]
