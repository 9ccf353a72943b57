"""The permission table by role, and role parsing."""

from __future__ import annotations

import pytest

from crm.auth.permissions import ROLE_PERMISSIONS, Permission, Role, has_permission, parse_role

STAFF_ONLY = {Permission.MANAGE_STAFF, Permission.READ_AUDIT}


def test_every_role_has_an_entry() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(
    "permission", [Permission.VIEW_DASHBOARD, Permission.CHANGE_OWN_PASSWORD, Permission.WORK_LEADS]
)
def test_every_staff_member_can_do_the_daily_work(role: Role, permission: Permission) -> None:
    assert has_permission(role.value, permission)


@pytest.mark.parametrize(
    "permission",
    [Permission.MANAGE_STAFF, Permission.READ_AUDIT, Permission.VIEW_ENGINE_HEALTH],
)
def test_admissions_cannot_see_administration(permission: Permission) -> None:
    assert not has_permission("admissions", permission)


def test_manager_sees_engine_health_but_not_staff_or_audit() -> None:
    assert has_permission("manager", Permission.VIEW_ENGINE_HEALTH)
    assert not has_permission("manager", Permission.MANAGE_STAFF)
    assert not has_permission("manager", Permission.READ_AUDIT)


@pytest.mark.parametrize("permission", list(Permission))
def test_admin_has_everything(permission: Permission) -> None:
    assert has_permission("admin", permission)


def test_permissions_only_grow_with_seniority() -> None:
    assert ROLE_PERMISSIONS[Role.ADMISSIONS] < ROLE_PERMISSIONS[Role.MANAGER]
    assert ROLE_PERMISSIONS[Role.MANAGER] < ROLE_PERMISSIONS[Role.ADMIN]
    assert ROLE_PERMISSIONS[Role.ADMIN] == set(Permission)


@pytest.mark.parametrize("value", ["admissions", "manager", "admin"])
def test_parse_role_accepts_known_roles(value: str) -> None:
    assert parse_role(value) == Role(value)


@pytest.mark.parametrize("value", ["", "Admin", "superuser", "admin "])
def test_parse_role_names_the_allowed_roles(value: str) -> None:
    with pytest.raises(ValueError, match="choose one of admissions, manager, admin") as excinfo:
        parse_role(value)
    assert repr(value) in str(excinfo.value)


@pytest.mark.parametrize("role", [None, "", "root", "ADMIN", "system"])
def test_unknown_or_missing_role_has_no_permission(role: str | None) -> None:
    assert all(not has_permission(role, permission) for permission in Permission)
