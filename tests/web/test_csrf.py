"""CSRF: every state-changing request without a valid token is refused with 400 and writes nothing.

The POST rules come from the URL map, so a new form or Flask-Admin action is covered on arrival.
A logged-in admin sends them, so the only reason left to refuse is the token.
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from crm.auth.models import StaffSession, User
from crm.extensions import db
from tests.conftest import PASSWORD
from tests.support.html import csrf_token
from tests.web.conftest import (
    admin_view_of,
    audit_events,
    build_path,
    checked_rules,
    database_snapshot,
    is_login_redirect,
    page_csrf_token,
)

REJECTED_TEXT = "The form could not be accepted"
# POST endpoints that legitimately skip the CSRF token, each with its reason.
CSRF_EXEMPT: dict[str, str] = {
    "intake_api.create_callback_request": (
        "the website's JSON API: authenticated by an API key header, never by a staff cookie"
    ),
}


def _bad_tokens(app: Flask) -> dict[str, dict[str, str]]:
    """No token, a malformed one, and a genuine token that belongs to another browser."""
    stranger = app.test_client()
    foreign = csrf_token(stranger.get("/login").get_data(as_text=True))
    return {
        "missing": {},
        "garbage": {"csrf_token": "not-a-token"},
        "other session": {"csrf_token": foreign},
    }


def _post_rules(app: Flask) -> list:  # type: ignore[type-arg]
    return [r for r in checked_rules(app) if "POST" in (r.methods or ())]


def test_csrf_protection_is_on_in_the_tested_app(app: Flask) -> None:
    assert app.config["TESTING"] is True
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    assert app.config.get("WTF_CSRF_CHECK_DEFAULT", True) is True


def test_exempt_endpoints_exist_and_ignore_the_staff_cookie(app, client_for) -> None:  # type: ignore[no-untyped-def]
    """An exempt endpoint must not act on a logged-in browser's cookie alone."""
    admin = client_for("admin")
    by_endpoint = {r.endpoint: r for r in _post_rules(app)}
    for endpoint in CSRF_EXEMPT:
        assert endpoint in by_endpoint, f"{endpoint} is no longer in the URL map"
        before = database_snapshot()
        response = admin.post(build_path(app, by_endpoint[endpoint]), json={"name": "Forged"})
        assert response.status_code == 401, (endpoint, response.status_code)
        assert database_snapshot() == before


def test_the_post_list_covers_every_admin_form(app: Flask) -> None:
    endpoints = {r.endpoint for r in _post_rules(app)}
    for view in ("staff", "audit"):
        for method in ("create_view", "edit_view", "delete_view", "action_view", "ajax_update"):
            assert f"{view}.{method}" in endpoints
    assert {"auth.login", "auth.logout", "auth.change_password"} <= endpoints


@pytest.mark.parametrize("variant", ["missing", "garbage", "other session"])
def test_every_post_without_a_valid_token_is_refused(app, client_for, staff, variant) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("admin")
    target = staff["admissions"]
    token_field = _bad_tokens(app)[variant]
    before = database_snapshot()
    problems = []
    for rule in _post_rules(app):
        if rule.endpoint in CSRF_EXEMPT:
            continue
        path = build_path(app, rule)
        data = {
            # Everything each form would need to act, so only the token can stop it.
            "name": "Renamed By Forgery",
            "email": "forged.account@staff.example",
            "role": "admin",
            "active": "y",
            "password": "violet lantern orbit maple",
            "current_password": PASSWORD,
            "new_password": "violet lantern orbit maple",
            "id": str(target.id),
            "rowid": str(target.id),
            "list_form_pk": str(target.id),
            "action": "delete",
            **token_field,
        }
        if rule.endpoint == "auth.login":
            data.update(email=staff["manager"].email, password=PASSWORD)
        response = admin.post(path, query_string={"id": target.id}, data=data)
        body = response.get_data(as_text=True)
        if response.status_code != 400 or REJECTED_TEXT not in body:
            problems.append(f"POST {path} [{rule.endpoint}]: {response.status_code}")
    assert not problems, "accepted without a valid CSRF token:\n" + "\n".join(problems)
    assert database_snapshot() == before
    # The admin is still logged in: the forged logout did nothing either.
    assert admin.get("/admin/").status_code == 200


@pytest.mark.parametrize("variant", ["missing", "garbage", "other session"])
def test_login_without_a_valid_token_logs_nobody_in(app, client, staff, variant) -> None:  # type: ignore[no-untyped-def]
    user = staff["manager"]
    client.get("/login")
    before = database_snapshot()
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, **_bad_tokens(app)[variant]}
    )
    assert response.status_code == 400
    assert REJECTED_TEXT in response.get_data(as_text=True)
    assert is_login_redirect(client.get("/admin/"), "/admin/")
    assert database_snapshot() == before
    assert audit_events(action="login") == []


def test_logout_without_a_token_keeps_the_session(client_for, staff) -> None:  # type: ignore[no-untyped-def]
    user = staff["admissions"]
    member = client_for("admissions")
    response = member.post("/logout")
    assert response.status_code == 400
    assert member.get("/admin/").status_code == 200
    (live,) = db.session.scalars(select(StaffSession).where(StaffSession.user_id == user.id))
    assert live.ended_at is None


def test_password_change_without_a_token_changes_nothing(client_for, staff) -> None:  # type: ignore[no-untyped-def]
    user = staff["admissions"]
    member = client_for("admissions")
    before = db.session.get(User, user.id).password_hash
    response = member.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": "violet lantern orbit maple"},
    )
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == before


def test_a_valid_token_is_accepted_so_the_refusals_are_about_the_token(client_for, staff) -> None:  # type: ignore[no-untyped-def]
    """The same forged-looking edit goes through with the page's own token."""
    admin = client_for("admin")
    target = staff["admissions"]
    edit = f"/admin/staff/edit/?id={target.id}"
    token = page_csrf_token(admin, edit)
    response = admin.post(
        edit,
        data={
            "csrf_token": token,
            "name": "Renamed Properly",
            "email": target.email,
            "role": target.role,
            "active": "y",
            "password": "",
        },
    )
    assert response.status_code == 302
    assert db.session.get(User, target.id).name == "Renamed Properly"
    assert admin_view_of(admin.application, "staff.edit_view") is not None
