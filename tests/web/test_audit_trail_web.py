"""The audit trail as the web tier writes it, and as an admin reads it (and nobody changes it)."""

from __future__ import annotations

import html as html_lib

from sqlalchemy import select

from crm.extensions import db
from crm.privacy.models import AuditEvent
from tests.conftest import PASSWORD, login
from tests.web.conftest import (
    audit_events,
    database_snapshot,
    page_csrf_token,
    post_login,
)

WRONG_PASSWORD = "wrong-horse-battery-9431"


def _only(rows: list[AuditEvent]) -> AuditEvent:
    assert len(rows) == 1, [(r.action, r.outcome, r.detail) for r in rows]
    return rows[0]


def _assert_request_facts(event: AuditEvent, response) -> None:  # type: ignore[no-untyped-def]
    assert event.ip == "127.0.0.1"
    assert event.request_id and event.request_id == response.headers["X-Request-ID"]
    assert event.occurred_at is not None


def test_login_success_and_logout_are_recorded(client, staff) -> None:  # type: ignore[no-untyped-def]
    user = staff["admissions"]  # no second step: the login's own response is the one compared
    response = login(client, user)
    event = _only(audit_events(action="login", actor_id=user.id))
    assert (event.outcome, event.actor_email, event.actor_role) == (
        "success",
        user.email,
        "admissions",
    )
    assert (event.object_type, event.object_id) == ("users", str(user.id))
    _assert_request_facts(event, response)

    token = page_csrf_token(client, "/admin/")
    response = client.post("/logout", data={"csrf_token": token})
    event = _only(audit_events(action="logout"))
    assert (event.actor_id, event.outcome, event.object_id) == (user.id, "success", str(user.id))
    _assert_request_facts(event, response)


def test_failed_logins_are_recorded_without_what_was_typed(client, staff) -> None:  # type: ignore[no-untyped-def]
    user = staff["admissions"]
    response = post_login(client, user.email, WRONG_PASSWORD)
    event = _only(audit_events(action="login", outcome="failure"))
    # Whoever typed the password is unknown: the account is the object, never the actor.
    assert (event.actor_id, event.object_id, event.detail) == (
        None,
        str(user.id),
        "wrong password",
    )
    _assert_request_facts(event, response)

    response = post_login(client, "stranger.danger@elsewhere.example", WRONG_PASSWORD)
    unknown = [e for e in audit_events(action="login", outcome="failure") if e.id != event.id]
    event = _only(unknown)
    assert (event.actor_id, event.actor_email, event.object_id) == (None, None, None)
    assert event.detail == "unknown account"
    _assert_request_facts(event, response)
    for row in audit_events():
        assert "stranger.danger" not in repr(_columns(row))


def test_access_denied_is_recorded(client_for, staff) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    response = manager.get("/admin/audit/")
    assert response.status_code == 403
    event = _only(audit_events(action="access_denied"))
    assert (event.actor_id, event.actor_role, event.outcome) == (
        staff["manager"].id,
        "manager",
        "denied",
    )
    assert event.detail == "/admin/audit/"
    _assert_request_facts(event, response)


def test_back_office_create_and_update_are_recorded(client_for, staff) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("admin")
    token = page_csrf_token(admin, "/admin/staff/new/")
    response = admin.post(
        "/admin/staff/new/",
        data={
            "csrf_token": token,
            "name": "Rowan Ashdown",
            "email": "rowan.ashdown@clinic.example",
            "role": "manager",
            "active": "y",
            "password": "copper kettle meadow drift",
        },
    )
    assert response.status_code == 302
    created = _only(audit_events(action="create", actor_id=staff["admin"].id))
    assert (created.object_type, created.actor_role, created.detail) == (
        "users",
        "admin",
        "role=manager",
    )
    _assert_request_facts(created, response)

    edit = f"/admin/staff/edit/?id={created.object_id}"
    response = admin.post(
        edit,
        data={
            "csrf_token": token,
            "name": "Rowan Ashdown",
            "email": "rowan.ashdown@clinic.example",
            "role": "admissions",
            "active": "y",
            "password": "silver harbour lantern fog",
        },
    )
    assert response.status_code == 302
    updated = _only(audit_events(action="update", actor_id=staff["admin"].id))
    assert updated.object_id == created.object_id and updated.actor_id == staff["admin"].id
    assert updated.detail == "changed: role, password"
    _assert_request_facts(updated, response)


def test_rate_limited_attempts_are_recorded(app, client, staff) -> None:  # type: ignore[no-untyped-def]
    user = staff["admissions"]
    for _ in range(app.config["CRM_SETTINGS"].login_failures_per_account):
        post_login(client, user.email, WRONG_PASSWORD)
    response = post_login(client, user.email, PASSWORD)
    assert response.status_code == 429
    event = _only(audit_events(action="login", outcome="rate_limited"))
    assert event.detail == "/login"
    _assert_request_facts(event, response)


def test_forwarded_for_is_ignored_without_a_trusted_proxy(client, staff) -> None:  # type: ignore[no-untyped-def]
    response = client.get(
        "/login", headers={"X-Forwarded-For": "198.51.100.7", "X-Request-ID": "bad id; DROP TABLE"}
    )
    assert response.headers["X-Request-ID"] != "bad id; DROP TABLE"
    token = page_csrf_token(client, "/login")
    client.post(
        "/login",
        data={"email": staff["manager"].email, "password": PASSWORD, "csrf_token": token},
        headers={"X-Forwarded-For": "198.51.100.7", "X-Request-ID": "req-0123456789"},
    )
    event = _only(audit_events(action="login"))
    assert event.ip == "127.0.0.1"
    assert event.request_id == "req-0123456789"


def _columns(row: AuditEvent) -> dict[str, object]:
    return {c.key: getattr(row, c.key) for c in AuditEvent.__table__.columns}


def test_audit_rows_hold_no_password_material(client_for, client, staff) -> None:  # type: ignore[no-untyped-def]
    post_login(client, staff["manager"].email, WRONG_PASSWORD)
    login(client, staff["manager"])
    admin = client_for("admin")
    token = page_csrf_token(admin, "/admin/staff/new/")
    admin.post(
        "/admin/staff/new/",
        data={
            "csrf_token": token,
            "name": "Tamsin Oakridge",
            "email": "tamsin.oakridge@clinic.example",
            "role": "admissions",
            "active": "y",
            "password": "pebble orchard violin snow",
        },
    )
    rows = audit_events()
    assert {r.action for r in rows} >= {"login", "create"}
    secrets = (WRONG_PASSWORD, PASSWORD, "pebble orchard violin snow", "$argon2")
    for row in rows:
        text = repr(_columns(row))
        for secret in secrets:
            assert secret not in text, (row.action, secret)


def test_admin_reads_the_trail(client_for, staff) -> None:  # type: ignore[no-untyped-def]
    manager = client_for("manager")
    manager.get("/admin/staff/")  # denied, and recorded
    admin = client_for("admin")
    listing = admin.get("/admin/audit/")
    assert listing.status_code == 200
    page = html_lib.unescape(listing.get_data(as_text=True))
    assert staff["manager"].email in page and staff["admin"].email in page
    assert "access_denied" in page and "/admin/staff/" in page and "login" in page
    event = _only(audit_events(action="access_denied"))
    details = admin.get(f"/admin/audit/details/?id={event.id}")
    assert details.status_code == 200
    assert event.request_id in details.get_data(as_text=True)
    # Filtering by action narrows the list.
    filtered = html_lib.unescape(
        admin.get("/admin/audit/", query_string={"flt1_action_equals": "access_denied"}).get_data(
            as_text=True
        )
    )
    assert "access_denied" in filtered


def test_the_trail_cannot_be_changed_even_by_an_admin(app, client_for) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("admin")
    event = _only(audit_events(action="login"))
    listing = admin.get("/admin/audit/").get_data(as_text=True)
    for control in ("/admin/audit/new/", "/admin/audit/edit/", "/admin/audit/delete/"):
        assert control not in listing
    for path in ("/admin/audit/new/", f"/admin/audit/edit/?id={event.id}"):
        response = admin.get(path)
        assert response.status_code == 302 and 'name="detail"' not in response.get_data(
            as_text=True
        )
    token = page_csrf_token(admin, "/admin/audit/")
    before = database_snapshot()
    forged = {
        "csrf_token": token,
        "action": "tampered",
        "outcome": "success",
        "detail": "rewritten",
        "actor_email": "someone@else.example",
    }
    attempts = {
        "create": admin.post("/admin/audit/new/", data=forged),
        "edit": admin.post(f"/admin/audit/edit/?id={event.id}", data=forged),
        "delete": admin.post(
            "/admin/audit/delete/", data={"csrf_token": token, "id": str(event.id)}
        ),
        "bulk delete": admin.post(
            "/admin/audit/action/",
            data={"csrf_token": token, "action": "delete", "rowid": str(event.id)},
        ),
        "inline edit": admin.post(
            "/admin/audit/ajax/update/",
            data={"csrf_token": token, "list_form_pk": str(event.id), "detail": "rewritten"},
        ),
    }
    assert attempts["inline edit"].status_code == 403
    for name, response in attempts.items():
        assert response.status_code in (302, 403), (name, response.status_code)
    assert database_snapshot() == before
    stored = db.session.scalar(select(AuditEvent).where(AuditEvent.id == event.id))
    assert stored is not None and stored.action == "login" and stored.detail != "rewritten"
