"""Logging in and out as staff do it: the form, its errors, rate limits, redirects, sessions."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select

from crm.auth.models import StaffSession, User
from crm.extensions import db
from tests.conftest import PASSWORD, create_staff, login
from tests.web.conftest import (
    is_login_redirect,
    location_of,
    page_csrf_token,
    post_login,
)

GENERIC_FAILURE = "Email or password is incorrect."
TOO_MANY = "Too many failed attempts."
MENU = {
    "Engine health": "/admin/engine_health/",
    "Staff": "/admin/staff/",
    "Audit trail": "/admin/audit/",
}
NEW_PASSWORD = "amber cloud tortoise river"


def _sessions_of(user_id: int) -> list[StaffSession]:
    return list(db.session.scalars(select(StaffSession).where(StaffSession.user_id == user_id)))


def _menu_links(html: str) -> set[str]:
    """The menu entries shown, as (label, href) → label for links into the admin."""
    return {
        label
        for label, href in MENU.items()
        if re.search(rf'<a[^>]+href="{re.escape(href)}"[^>]*>\s*{label}\s*<', html)
    }


def _settings(app: Flask):  # type: ignore[no-untyped-def]
    return app.config["CRM_SETTINGS"]


@pytest.mark.parametrize(
    ("role", "menu"),
    [
        ("admissions", set()),
        ("manager", {"Engine health"}),
        ("admin", {"Engine health", "Staff", "Audit trail"}),
    ],
)
def test_login_shows_name_role_and_the_roles_menu(client, staff, role, menu) -> None:  # type: ignore[no-untyped-def]
    user = staff[role]
    response = login(client, user)
    assert response.status_code == 302 and location_of(response) == "/admin/"
    page = client.get("/admin/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    whoami = (
        rf'data-testid="whoami">{re.escape(user.name)} · <span class="badge[^"]*">{role}</span>'
    )
    assert re.search(whoami, html), "the header names the user and their role"
    assert f"Good to see you, {user.name.split()[0]}" in html
    assert _menu_links(html) == menu
    assert "Change password" in html and "Log out" in html
    for label, href in MENU.items():
        if label not in menu:
            assert href not in html, f"{role} is shown a link to {href}"


def _assert_refused(client, response, user_id: int | None = None) -> None:  # type: ignore[no-untyped-def]
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert GENERIC_FAILURE in html
    assert 'class="form-control is-invalid"' in html
    assert is_login_redirect(client.get("/admin/"), "/admin/")
    if user_id is not None:
        assert _sessions_of(user_id) == []


def test_wrong_password_is_refused_with_the_generic_message(client, staff) -> None:  # type: ignore[no-untyped-def]
    user = staff["manager"]
    response = post_login(client, user.email, PASSWORD + "x")
    _assert_refused(client, response, user.id)
    assert client.get_cookie("remember_token") is None


def test_unknown_email_gets_the_same_message(client, staff) -> None:  # type: ignore[no-untyped-def]
    response = post_login(client, "nobody.here@staff.example", PASSWORD)
    _assert_refused(client, response)
    assert db.session.scalar(select(StaffSession.id)) is None


def test_deactivated_account_cannot_log_in(client, db_session) -> None:  # type: ignore[no-untyped-def]
    user = create_staff("admissions", active=False)
    response = post_login(client, user.email, PASSWORD)
    _assert_refused(client, response, user.id)


def test_email_is_matched_case_insensitively(client, staff) -> None:  # type: ignore[no-untyped-def]
    response = post_login(client, staff["admissions"].email.upper(), PASSWORD)
    assert response.status_code == 302 and location_of(response) == "/admin/"


def test_failures_per_account_are_limited_even_for_the_right_password(app, client, staff) -> None:  # type: ignore[no-untyped-def]
    user = staff["admissions"]
    limit = _settings(app).login_failures_per_account
    assert limit == 5
    for attempt in range(limit):
        response = post_login(client, user.email, f"wrong guess {attempt}")
        assert response.status_code == 200, attempt
        assert GENERIC_FAILURE in response.get_data(as_text=True)
    blocked = post_login(client, user.email, "wrong again")
    assert blocked.status_code == 429
    assert TOO_MANY in blocked.get_data(as_text=True)
    right = post_login(client, user.email, PASSWORD)
    assert right.status_code == 429
    assert TOO_MANY in right.get_data(as_text=True)
    assert _sessions_of(user.id) == []
    assert is_login_redirect(client.get("/admin/"))
    # The limit is per account: someone else can still log in from the same address.
    other = post_login(app.test_client(), staff["manager"].email, PASSWORD)
    # Her password is accepted: a manager's second step follows.
    assert other.status_code == 302 and location_of(other) == "/login/second-step"


def test_failures_per_address_are_limited_across_emails(app, client, staff) -> None:  # type: ignore[no-untyped-def]
    limit = _settings(app).login_failures_per_ip
    assert limit == 20
    client.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for attempt in range(limit):
        response = post_login(client, f"guess{attempt}@staff.example", "any password at all")
        assert response.status_code == 200, attempt
    user = staff["manager"]
    blocked = post_login(client, user.email, PASSWORD)
    assert blocked.status_code == 429
    assert TOO_MANY in blocked.get_data(as_text=True)
    assert _sessions_of(user.id) == []
    # The same account from another address is not affected.
    elsewhere = post_login(app.test_client(), user.email, PASSWORD)
    assert elsewhere.status_code == 302 and location_of(elsewhere) == "/login/second-step"


def test_successful_logins_do_not_count_towards_the_limit(app, client, staff) -> None:  # type: ignore[no-untyped-def]
    user = staff["admissions"]
    for _ in range(_settings(app).login_failures_per_account + 2):
        fresh = app.test_client()
        response = post_login(fresh, user.email, PASSWORD)
        assert response.status_code == 302


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        "http:/evil.example",
        "///evil.example",
    ],
)
def test_login_never_redirects_off_site(client, staff, target) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    assert "evil.example" not in page and "javascript:" not in page
    response = post_login(client, staff["admissions"].email, PASSWORD, next_url=target)
    assert response.status_code == 302
    assert location_of(response) == "/admin/"


def test_login_honours_a_same_site_next(client, staff) -> None:  # type: ignore[no-untyped-def]
    first = client.get("/admin/queue/")
    assert is_login_redirect(first, "/admin/queue/")
    response = post_login(client, staff["admissions"].email, PASSWORD, next_url="/admin/queue/")
    assert location_of(response) == "/admin/queue/"
    assert client.get("/admin/queue/").status_code == 200


def test_a_copied_cookie_is_worthless_after_logout(app, client, staff) -> None:  # type: ignore[no-untyped-def]
    user = staff["manager"]
    login(client, user)
    stolen = client.get_cookie("crm_session")
    assert stolen is not None
    token = page_csrf_token(client, "/admin/")
    out = client.post("/logout", data={"csrf_token": token})
    assert is_login_redirect(out)
    assert "You have logged out." in client.get("/login").get_data(as_text=True)
    (ended,) = _sessions_of(user.id)
    assert ended.ended_at is not None and ended.ended_reason == "logout"

    replay = app.test_client()
    replay.set_cookie("crm_session", stolen.value)
    assert is_login_redirect(replay.get("/admin/"), "/admin/")
    assert is_login_redirect(replay.get("/account/password"))


def test_deactivation_by_an_admin_ends_the_live_session(app, client_for, staff) -> None:  # type: ignore[no-untyped-def]
    victim = staff["admissions"]
    victim_client = client_for("admissions")
    assert victim_client.get("/admin/").status_code == 200
    admin = client_for("admin")
    edit = f"/admin/staff/edit/?id={victim.id}"
    token = page_csrf_token(admin, edit)
    response = admin.post(
        edit,
        data={
            "csrf_token": token,
            "name": victim.name,
            "email": victim.email,
            "role": victim.role,
            "phone": "",
            "password": "",  # "active" unticked
        },
    )
    assert response.status_code == 302 and location_of(response).startswith("/admin/staff/")
    assert db.session.get(User, victim.id).active is False
    assert is_login_redirect(victim_client.get("/admin/"), "/admin/")
    (ended,) = _sessions_of(victim.id)
    assert ended.ended_at is not None
    _assert_refused(app.test_client(), post_login(app.test_client(), victim.email, PASSWORD))


def test_password_change_ends_other_sessions_but_keeps_this_one(app, client_for, staff) -> None:  # type: ignore[no-untyped-def]
    user = staff["admissions"]
    here, elsewhere = client_for("admissions"), client_for("admissions")
    token = page_csrf_token(here, "/account/password")
    response = here.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302 and location_of(response) == "/admin/"
    dashboard = here.get("/admin/")
    assert dashboard.status_code == 200
    assert "Other sessions were logged out." in dashboard.get_data(as_text=True)
    assert is_login_redirect(elsewhere.get("/admin/"), "/admin/")
    open_sessions = [s for s in _sessions_of(user.id) if s.ended_at is None]
    assert len(open_sessions) == 1
    old = post_login(app.test_client(), user.email, PASSWORD)
    assert GENERIC_FAILURE in old.get_data(as_text=True)
    new = post_login(app.test_client(), user.email, NEW_PASSWORD)
    assert new.status_code == 302 and location_of(new) == "/admin/"


def test_password_change_refuses_a_wrong_current_password(client_for, staff) -> None:  # type: ignore[no-untyped-def]
    user = staff["admissions"]
    here = client_for("admissions")
    before = db.session.get(User, user.id).password_hash
    token = page_csrf_token(here, "/account/password")
    response = here.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": "not my password",
            "new_password": NEW_PASSWORD,
        },
    )
    assert response.status_code == 200
    assert "Not correct." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == before


def _session_cookie_header(response) -> str:  # type: ignore[no-untyped-def]
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("crm_session=")]
    assert len(headers) == 1, response.headers.getlist("Set-Cookie")
    return headers[0]


def test_session_cookie_flags_and_no_remember_me(client, staff) -> None:  # type: ignore[no-untyped-def]
    response = login(client, staff["admissions"])
    cookies = response.headers.getlist("Set-Cookie")
    assert [c.split("=", 1)[0] for c in cookies] == ["crm_session"]
    flags = [part.strip().lower() for part in _session_cookie_header(response).split(";")[1:]]
    assert "httponly" in flags and "samesite=lax" in flags
    assert "secure" not in flags  # the test settings are not production: plain http works
    assert not any(flag.startswith(("expires=", "max-age=")) for flag in flags)
    assert client.get_cookie("remember_token") is None
    assert client.get_cookie("crm_session") is not None


def test_production_session_cookie_is_secure(production_app) -> None:  # type: ignore[no-untyped-def]
    settings = production_app.config["CRM_SETTINGS"]
    assert settings.env == "production" and settings.session_cookie_secure is True
    response = production_app.test_client().get("/login", base_url="https://localhost")
    flags = [part.strip().lower() for part in _session_cookie_header(response).split(";")[1:]]
    assert {"secure", "httponly", "samesite=lax"} <= set(flags)


def test_logout_is_post_only(client, staff) -> None:  # type: ignore[no-untyped-def]
    login(client, staff["admin"])
    response = client.get("/logout")
    assert response.status_code == 405
    assert client.get("/admin/").status_code == 200
