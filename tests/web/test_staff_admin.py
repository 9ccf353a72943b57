"""Admins manage personal staff accounts through the back office; bad input changes nothing."""

from __future__ import annotations

import html as html_lib

import pytest
from sqlalchemy import select

from crm.auth.models import User
from crm.extensions import db
from crm.privacy.models import AuditEvent
from tests.web.conftest import (
    audit_events,
    count_rows,
    database_snapshot,
    location_of,
    page_csrf_token,
    post_login,
    user_by_email,
)

NEW_PASSWORD = "violet lantern orbit maple"
VALID = {
    "name": "Marigold Featherstone",
    "email": "marigold.featherstone@clinic.example",
    "role": "admissions",
    "phone": "07911 123456",
    "active": "y",
    "password": NEW_PASSWORD,
}
DUPLICATE = object()  # stands for an email another account already uses


def _create(admin, **changes):  # type: ignore[no-untyped-def]
    token = page_csrf_token(admin, "/admin/staff/new/")
    data = {**VALID, **changes, "csrf_token": token}
    return admin.post("/admin/staff/new/", data={k: v for k, v in data.items() if v is not None})


def test_admin_creates_an_account_that_can_log_in(app, client_for, staff) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("admin")
    before = count_rows(User)
    response = _create(admin)
    assert response.status_code == 302 and location_of(response).startswith("/admin/staff/")
    listing = admin.get("/admin/staff/").get_data(as_text=True)
    assert "Record was successfully created." in listing
    assert "Marigold Featherstone" in listing and VALID["email"] in listing

    assert count_rows(User) == before + 1
    user = user_by_email(VALID["email"])
    assert user is not None
    assert (user.name, user.role, user.phone, user.active) == (
        "Marigold Featherstone",
        "admissions",
        "+447911123456",
        True,
    )
    assert user.password_hash.startswith("$argon2id$")
    assert NEW_PASSWORD not in user.password_hash

    (created,) = audit_events(action="create", object_type="users", object_id=str(user.id))
    assert created.actor_id == staff["admin"].id and created.outcome == "success"

    newcomer = app.test_client()
    logged_in = post_login(newcomer, VALID["email"], NEW_PASSWORD)
    assert logged_in.status_code == 302 and location_of(logged_in) == "/admin/"
    dashboard = newcomer.get("/admin/").get_data(as_text=True)
    assert "Good to see you, Marigold" in dashboard


def test_markup_in_a_name_is_shown_as_text(client_for) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("admin")
    name = '<script>alert("x")</script> Smith'
    assert _create(admin, name=name).status_code == 302
    listing = admin.get("/admin/staff/").get_data(as_text=True)
    assert html_lib.escape(name, quote=False) in listing or "&lt;script&gt;" in listing
    assert '<script>alert("x")</script>' not in listing


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"email": "marigold@@clinic"}, "Enter a valid email address"),
        ({"email": ""}, "Email is required."),
        ({"name": "N" * 121}, "Field cannot be longer than 120 characters."),
        ({"name": "Bob\x07 Smith"}, "Name contains control characters."),
        ({"name": "Bob\u202eSmith"}, "Name contains control characters."),
        ({"name": "   "}, "Name is required."),
        ({"role": "superuser"}, "Not a valid choice"),
        ({"email": "admissions@clinic.example"}, "Accounts are personal"),
        ({"email": "Info@Clinic.Example"}, "Accounts are personal"),
        ({"email": DUPLICATE}, "Another account already uses this email."),
        ({"phone": "12345"}, "Enter a valid phone number"),
        ({"password": "short-pw-1"}, "Use at least 12 characters"),
        ({"password": None}, "Use at least 12 characters"),
        ({"password": "password1234"}, "This password is too common"),
        ({"password": "qwertyuiop123"}, "This password is too common"),
        ({"password": "marigold garden party"}, "Do not include your name"),
        ({"password": "featherstone-rowing-club"}, "Do not include your name"),
    ],
    ids=[
        "malformed-email",
        "no-email",
        "long-name",
        "bell-in-name",
        "bidi-override-in-name",
        "blank-name",
        "unknown-role",
        "team-mailbox",
        "team-mailbox-uppercase",
        "duplicate-email",
        "bad-phone",
        "short-password",
        "no-password",
        "common-password",
        "keyboard-walk",
        "first-name-in-password",
        "surname-in-password",
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(client_for, staff, changes, message) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("admin")
    if changes.get("email") is DUPLICATE:
        changes = {"email": staff["manager"].email.upper()}
    before = database_snapshot()
    response = _create(admin, **changes)
    page = html_lib.unescape(response.get_data(as_text=True))
    assert response.status_code == 200, "the form is shown again"
    assert message in page
    assert "is-invalid" in page, "the field in error is highlighted"
    assert "Record was successfully created." not in page
    assert database_snapshot() == before


def test_admin_cannot_deactivate_or_demote_themselves(client_for, staff) -> None:  # type: ignore[no-untyped-def]
    me = staff["admin"]
    admin = client_for("admin")
    edit = f"/admin/staff/edit/?id={me.id}"
    for change in ({"active": None}, {"role": "manager"}):
        token = page_csrf_token(admin, edit)
        data = {
            "csrf_token": token,
            "name": me.name,
            "email": me.email,
            "role": "admin",
            "active": "y",
            "password": "",
            **change,
        }
        before = database_snapshot()
        response = admin.post(edit, data={k: v for k, v in data.items() if v is not None})
        assert response.status_code == 200
        assert "You cannot deactivate your own account or change your own role." in (
            html_lib.unescape(response.get_data(as_text=True))
        )
        assert database_snapshot() == before
    assert db.session.get(User, me.id).active is True
    assert admin.get("/admin/").status_code == 200


def test_staff_accounts_cannot_be_deleted(client_for, staff) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("admin")
    target = staff["admissions"]
    listing = admin.get("/admin/staff/").get_data(as_text=True)
    assert "/admin/staff/delete/" not in listing
    assert 'value="delete"' not in listing and "Delete" not in listing
    token = page_csrf_token(admin, "/admin/staff/")
    before = database_snapshot()
    admin.post("/admin/staff/delete/", data={"csrf_token": token, "id": str(target.id)})
    admin.post(
        "/admin/staff/action/",
        data={"csrf_token": token, "action": "delete", "rowid": str(target.id)},
    )
    assert database_snapshot() == before
    assert db.session.get(User, target.id) is not None


def test_admin_edits_an_account_and_it_is_audited(client_for, staff) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("admin")
    target = staff["manager"]
    edit = f"/admin/staff/edit/?id={target.id}"
    page = admin.get(edit).get_data(as_text=True)
    assert 'type="password" value=""' in page, "the password is never prefilled"
    token = page_csrf_token(admin, edit)
    response = admin.post(
        edit,
        data={
            "csrf_token": token,
            "name": "Renamed Manager",
            "email": target.email,
            "role": "manager",
            "active": "y",
            "password": "",
        },
    )
    assert response.status_code == 302
    assert "Record was successfully saved." in admin.get("/admin/staff/").get_data(as_text=True)
    assert db.session.get(User, target.id).name == "Renamed Manager"
    (updated,) = audit_events(action="update", object_type="users", object_id=str(target.id))
    assert updated.actor_id == staff["admin"].id and updated.detail == "changed: name"


@pytest.mark.parametrize("role", ["admissions", "manager"])
def test_other_roles_cannot_open_or_post_to_staff(client_for, role) -> None:  # type: ignore[no-untyped-def]
    member = client_for(role)
    for path in ("/admin/staff/", "/admin/staff/new/"):
        response = member.get(path)
        assert response.status_code == 403
        assert "You do not have access to this page" in response.get_data(as_text=True)
    token = page_csrf_token(member, "/admin/")
    users_before = count_rows(User)
    response = member.post("/admin/staff/new/", data={**VALID, "csrf_token": token})
    assert response.status_code == 403
    assert count_rows(User) == users_before
    assert user_by_email(VALID["email"]) is None
    denied = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "access_denied")
    ).all()
    assert len(denied) == 3
