"""The single permission table by role. Pure: no Flask, no database."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A staff member's role (DOMAIN.md: who uses the back office)."""

    ADMISSIONS = "admissions"
    MANAGER = "manager"
    ADMIN = "admin"


class Permission(StrEnum):
    """Something a view or action needs. Views declare one; roles grant a set."""

    VIEW_DASHBOARD = "view_dashboard"
    CHANGE_OWN_PASSWORD = "change_own_password"  # noqa: S105 (a permission name)
    WORK_LEADS = "work_leads"
    VIEW_ENGINE_HEALTH = "view_engine_health"
    VIEW_ONCALL = "view_oncall"
    MANAGE_ONCALL = "manage_oncall"
    MANAGE_CONFIG = "manage_config"
    REASSIGN_LEADS = "reassign_leads"
    SEE_SAFEGUARDING_FLAGS = "see_safeguarding_flags"
    MANAGE_STAFF = "manage_staff"
    MANAGE_API_KEYS = "manage_api_keys"
    READ_AUDIT = "read_audit"
    VIEW_PROVIDERS = "view_providers"
    CONFIRM_CAPACITY = "confirm_capacity"  # staff phone clinics and record the beds they hear
    MANAGE_PROVIDERS = "manage_providers"
    VIEW_FEES = "view_fees"  # referral fees, the ledger and invoices: never admissions staff
    MANAGE_FEES = "manage_fees"
    VIEW_REPORTS = "view_reports"  # the manager reports (their fee figures need VIEW_FEES too)
    # Rights requests, subject access exports, erasure, retention, purposes, the breach
    # register: admins only (DOMAIN.md, data protection).
    MANAGE_DATA_PROTECTION = "manage_data_protection"


_EVERY_STAFF_MEMBER = frozenset(
    {
        Permission.VIEW_DASHBOARD,
        Permission.CHANGE_OWN_PASSWORD,
        Permission.WORK_LEADS,
        Permission.VIEW_ONCALL,
        Permission.VIEW_PROVIDERS,
        Permission.CONFIRM_CAPACITY,
    }
)

_MANAGING = frozenset(
    {
        Permission.VIEW_ENGINE_HEALTH,
        Permission.REASSIGN_LEADS,
        Permission.SEE_SAFEGUARDING_FLAGS,
        Permission.MANAGE_ONCALL,
        Permission.MANAGE_PROVIDERS,
        Permission.VIEW_FEES,
        Permission.MANAGE_FEES,
        Permission.VIEW_REPORTS,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMISSIONS: _EVERY_STAFF_MEMBER,
    Role.MANAGER: _EVERY_STAFF_MEMBER | _MANAGING,
    Role.ADMIN: _EVERY_STAFF_MEMBER
    | _MANAGING
    | {
        Permission.MANAGE_STAFF,
        Permission.MANAGE_API_KEYS,
        Permission.READ_AUDIT,
        Permission.MANAGE_CONFIG,
        Permission.MANAGE_DATA_PROTECTION,
    },
}


def parse_role(value: str) -> Role:
    """The Role named by ``value``; ValueError with a clear message otherwise."""
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise ValueError(f"Unknown role {value!r}: choose one of {allowed}.") from None


def has_permission(role: str | None, permission: Permission) -> bool:
    """Whether a member of ``role`` may do what ``permission`` guards."""
    if role is None:
        return False
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False
