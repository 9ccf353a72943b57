"""Role-by-endpoint matrix, generated from the URL map so a new endpoint cannot be forgotten.

Every rule is asked for by an anonymous visitor and by each role. What each should get comes
from the endpoint's declaration (``@public``, ``@requires`` or a Flask-Admin view's
``permission``) and the permission table: a login redirect, a 403, or the page.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask_admin.model import BaseModelView
from sqlalchemy import select

from crm.auth.access import public, requires
from crm.auth.models import User
from crm.auth.permissions import Permission
from crm.extensions import db
from crm.health.services import record_heartbeat
from crm.privacy.models import AuditEvent
from tests.web.conftest import (
    ANONYMOUS,
    ROLES,
    UNDECLARED_OK,
    admin_view_of,
    audit_events,
    build_path,
    checked_rules,
    database_snapshot,
    is_login_redirect,
    location_of,
    page_csrf_token,
    requirement_of,
)

DENIED_TEXT = "You do not have access to this page"
# A complete, valid new staff account: if a refused POST were acted on, a row would appear.
NEW_STAFF = {
    "name": "Should Never Exist",
    "email": "never.exists@staff.example",
    "role": "admin",
    "active": "y",
    "password": "violet lantern orbit maple",
}


@pytest.fixture
def engine_ticked(db_session) -> None:  # type: ignore[no-untyped-def]
    """A fresh heartbeat, so /healthz answers 200 rather than 503 'never ticked'."""
    record_heartbeat()
    db.session.commit()


def _sample_query(app: Flask, endpoint: str) -> str:
    """Open a real row in edit/details views, so the permitted role sees the actual page."""
    view = admin_view_of(app, endpoint)
    if not isinstance(view, BaseModelView) or not endpoint.endswith(("edit_view", "details_view")):
        return ""
    first_id = db.session.scalar(select(view.model.id).order_by(view.model.id).limit(1))
    return "" if first_id is None else f"?id={first_id}"


def _get_verdict(response, allowed: bool, role: str | None, path: str) -> str | None:  # type: ignore[no-untyped-def]
    """None when the response is what ``role`` should get, else what went wrong."""
    status, where = response.status_code, location_of(response)
    if allowed:
        if status == 403 or is_login_redirect(response):
            return f"refused a permitted role ({status} {where})"
        # A bad or missing object (sample ids and tokens match nothing) is not a refusal.
        if status not in (200, 302, 303, 400, 404, 410):
            return f"unexpected status {status}"
        return None
    if role is ANONYMOUS:
        return (
            None if is_login_redirect(response, path) else f"no login redirect ({status} {where})"
        )
    if status != 403 or DENIED_TEXT not in response.get_data(as_text=True):
        return f"expected the 403 page, got {status} {where}"
    return None


def test_every_endpoint_declares_public_or_a_permission(app: Flask) -> None:
    undeclared = [
        f"{rule.rule} ({rule.endpoint})"
        for rule in checked_rules(app)
        if requirement_of(app, rule.endpoint) is None
    ]
    assert not undeclared, "declare @public or @requires(...) / a view permission: " + ", ".join(
        undeclared
    )
    # The exemptions really are static-file endpoints and nothing else.
    static_rules = {
        r.endpoint: r.rule for r in app.url_map.iter_rules() if r.endpoint in UNDECLARED_OK
    }
    assert static_rules == {
        "static": "/static/<path:filename>",
        "admin.static": "/admin/static/<path:filename>",
    }


def test_the_declaration_check_catches_an_undeclared_view() -> None:
    probe = Flask("probe")

    @probe.get("/forgotten")
    def forgotten() -> str:
        return "open to anyone by accident"

    @probe.get("/declared")
    @requires(Permission.READ_AUDIT)
    def declared() -> str:
        return "guarded"

    @probe.get("/open")
    @public
    def open_page() -> str:
        return "public"

    assert requirement_of(probe, "forgotten") is None
    assert requirement_of(probe, "declared").permission is Permission.READ_AUDIT  # type: ignore[union-attr]
    assert requirement_of(probe, "open_page").public  # type: ignore[union-attr]


def test_matrix_covers_every_role_and_permission(app: Flask) -> None:
    """The matrix is not vacuous: each role is refused something and each permission is used."""
    requirements = [requirement_of(app, r.endpoint) for r in checked_rules(app)]
    used = {req.permission for req in requirements if req is not None and not req.public}
    assert {
        Permission.VIEW_DASHBOARD,
        Permission.VIEW_ENGINE_HEALTH,
        Permission.MANAGE_STAFF,
        Permission.READ_AUDIT,
        Permission.CHANGE_OWN_PASSWORD,
    } <= used
    for role in ("admissions", "manager"):
        assert any(req and not req.allows(role) for req in requirements), role
    assert any(req and req.public for req in requirements)


@pytest.mark.parametrize("role", [ANONYMOUS, *ROLES], ids=["anonymous", *ROLES])
def test_get_every_rule(app: Flask, client_for, role, engine_ticked) -> None:  # type: ignore[no-untyped-def]
    client = client_for(role)
    problems, seen = [], 0
    for rule in checked_rules(app):
        if "GET" not in (rule.methods or ()):
            continue
        requirement = requirement_of(app, rule.endpoint)
        assert requirement is not None, rule.endpoint
        path = build_path(app, rule) + _sample_query(app, rule.endpoint)
        response = client.get(path)
        seen += 1
        problem = _get_verdict(response, requirement.allows(role), role, path)
        if problem:
            problems.append(f"GET {path} [{rule.endpoint}] as {role or 'anonymous'}: {problem}")
    assert seen >= 10
    assert not problems, "\n".join(problems)
    # The client is still who it was: no page in the matrix logged it out.
    dashboard = client.get("/admin/")
    assert (dashboard.status_code == 200) == (role is not ANONYMOUS)


@pytest.mark.parametrize("role", [ANONYMOUS, *ROLES], ids=["anonymous", *ROLES])
def test_post_to_every_refused_rule(app: Flask, client_for, role) -> None:  # type: ignore[no-untyped-def]
    """With a valid CSRF token, so the only reason to refuse is the role."""
    client = client_for(role)
    token = page_csrf_token(client, "/login" if role is ANONYMOUS else "/admin/")
    target = db.session.scalar(select(User.id).order_by(User.id).limit(1))
    before = database_snapshot()
    last_audit_id = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    problems, refused = [], 0
    for rule in checked_rules(app):
        requirement = requirement_of(app, rule.endpoint)
        assert requirement is not None, rule.endpoint
        if "POST" not in (rule.methods or ()) or requirement.allows(role):
            continue
        path = build_path(app, rule)
        data = {
            "csrf_token": token,
            "id": str(target),
            "rowid": str(target),
            "list_form_pk": str(target),
            "action": "delete",
            **NEW_STAFF,
        }
        response = client.post(path, query_string={"id": target}, data=data)
        refused += 1
        full_path = f"{path}?id={target}"
        problem = _get_verdict(response, False, role, full_path)
        if problem:
            problems.append(f"POST {path} [{rule.endpoint}] as {role or 'anonymous'}: {problem}")
    assert not problems, "\n".join(problems)
    if role != "admin":
        assert refused > 0
    after = database_snapshot()
    # Nothing changed except the audit trail's record of each refusal.
    before.pop("audit_events"), after.pop("audit_events")
    assert after == before
    new_events = [e for e in audit_events() if last_audit_id is None or e.id > last_audit_id]
    if role is ANONYMOUS:
        assert new_events == []
    else:
        assert len(new_events) == refused
        assert {(e.action, e.outcome) for e in new_events} <= {("access_denied", "denied")}


def test_no_model_view_exports(app: Flask, client_for) -> None:  # type: ignore[no-untyped-def]
    """Flask-Admin's export would dump every column; it is off for every model view."""
    admin = client_for("admin")
    model_views = [v for v in app.extensions["admin"][0]._views if isinstance(v, BaseModelView)]
    assert {v.endpoint for v in model_views} >= {"staff", "audit"}
    for view in model_views:
        assert view.can_export is False, view.endpoint
        for export_type in ("csv", "xlsx", "json"):
            path = app.url_map.bind("localhost").build(
                f"{view.endpoint}.export", {"export_type": export_type}
            )
            response = admin.get(path)
            body = response.get_data(as_text=True)
            assert response.status_code == 302, (path, response.status_code)
            assert "Content-Disposition" not in response.headers
            assert not response.mimetype.startswith("text/csv")
            assert "@staff.example" not in body
            shown = admin.get(location_of(response)).get_data(as_text=True)
            assert "Permission denied." in shown
