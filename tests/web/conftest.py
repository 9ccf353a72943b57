"""Web-tier helpers: logged-in clients per role, the URL map's requirements, database snapshots."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_admin import BaseView
from sqlalchemy import func, select
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from crm.auth.models import User
from crm.auth.permissions import Permission, has_permission
from crm.extensions import db
from crm.privacy.models import AuditEvent
from tests.conftest import login
from tests.support.html import csrf_token

ROLES = ("admissions", "manager", "admin")
ANONYMOUS = None
# Endpoints that serve files and need no declaration (Flask's and Flask-Admin's static files).
UNDECLARED_OK = frozenset({"static", "admin.static"})


@dataclass(frozen=True)
class Requirement:
    """What an endpoint needs: ``public`` or a permission, and where that was declared."""

    public: bool
    permission: Permission | None
    declared_by: str

    def allows(self, role: str | None) -> bool:
        if self.public:
            return True
        assert self.permission is not None
        return has_permission(role, self.permission)


def requirement_of(app: Flask, endpoint: str) -> Requirement | None:
    """The declared requirement of ``endpoint``, or None when it declares nothing."""
    view = app.view_functions[endpoint]
    if getattr(view, "is_public", False):
        return Requirement(True, None, "@public")
    permission = getattr(view, "required_permission", None)
    if permission is not None:
        return Requirement(False, Permission(permission), "@requires")
    admin_view = getattr(view, "__self__", None)
    if isinstance(admin_view, BaseView):
        with app.app_context():  # a view may derive its permission from the settings
            permission = getattr(admin_view, "permission", None)
        if permission is not None:
            return Requirement(False, Permission(permission), type(admin_view).__name__)
    return None


def admin_view_of(app: Flask, endpoint: str) -> BaseView | None:
    admin_view = getattr(app.view_functions[endpoint], "__self__", None)
    return admin_view if isinstance(admin_view, BaseView) else None


def checked_rules(app: Flask) -> list[Rule]:
    """Every URL rule except the static-file ones, in a stable order."""
    rules = [r for r in app.url_map.iter_rules() if r.endpoint not in UNDECLARED_OK]
    return sorted(rules, key=lambda r: (r.rule, r.endpoint))


# Values for URL arguments that need a particular one; any other argument gets a value by its
# converter: ids of rows that do not exist (a permitted role gets 404, the others are refused
# before any lookup) and tokens that match nothing.
SAMPLE_ARGUMENTS: dict[str, object] = {"export_type": "csv"}
SAMPLE_BY_CONVERTER: dict[str, object] = {
    "IntegerConverter": 987654,
    "UnicodeConverter": "no-such-token-0000",
    "UUIDConverter": "00000000-0000-4000-8000-000000000000",
}


def build_path(app: Flask, rule: Rule) -> str:
    values: dict[str, object] = {}
    for name in rule.arguments:
        converter = type(rule._converters[name]).__name__
        value = SAMPLE_ARGUMENTS.get(name, SAMPLE_BY_CONVERTER.get(converter))
        assert value is not None, (
            f"{rule.rule}: add a sample {name} ({converter}) to SAMPLE_ARGUMENTS"
        )
        values[name] = value
    return app.url_map.bind("localhost").build(rule.endpoint, values)


def location_of(response: TestResponse) -> str:
    return response.headers.get("Location", "")


def is_login_redirect(response: TestResponse, next_path: str | None = None) -> bool:
    """A redirect to /login (remembering ``next_path`` when given)."""
    if response.status_code not in (302, 303):
        return False
    parts = urlsplit(location_of(response))
    if parts.netloc not in ("", "localhost") or parts.path != "/login":
        return False
    return next_path is None or parse_qs(parts.query).get("next") == [next_path]


def page_csrf_token(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return csrf_token(response.get_data(as_text=True))


@pytest.fixture
def client_for(
    app: Flask, staff: dict[str, User], client: FlaskClient
) -> Callable[..., FlaskClient]:
    """A new test client, logged in as ``role`` (or as a given user), or anonymous for None."""

    def make(role: str | None = None, user: User | None = None) -> FlaskClient:
        fresh = app.test_client()
        who = user or (staff[role] if role else None)
        if who is not None:
            response = login(fresh, who)
            assert response.status_code == 302 and location_of(response) == "/admin/", (
                f"login as {who.email} failed: {response.status_code}"
            )
        return fresh

    return make


def count_rows(model: type) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def audit_events(**where: object) -> list[AuditEvent]:
    """Audit rows matching ``where`` (column=value), oldest first."""
    query = select(AuditEvent).filter_by(**where).order_by(AuditEvent.id)
    return list(db.session.scalars(query))


def database_snapshot() -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, so a test can prove a refused request wrote nothing."""
    snapshot: dict[str, list[tuple[object, ...]]] = {}
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(select(table)).all()
        snapshot[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return snapshot


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email))


@pytest.fixture(scope="session")
def production_app(app: Flask, database_url: str, redis_url: str) -> Flask:
    """A second app from CRM_ENV=production settings (their real defaults), same database."""
    from config import load_settings
    from crm.app import create_app
    from tests.conftest import RequestScopedClient

    settings = load_settings(
        {
            "CRM_ENV": "production",
            "SECRET_KEY": "production-like-secret-" + "y" * 32,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SERVICE_LEGAL_NAME": "Admissions Referral Services Ltd",
            "SERVICE_ADDRESS": "1 Example Street | Leeds | LS1 1AA",
            "SERVICE_VAT_NUMBER": "GB123456789",
        }
    )
    production = create_app(settings)
    production.test_client_class = RequestScopedClient
    return production


def post_login(
    client: FlaskClient, email: str, password: str, next_url: str | None = None
) -> TestResponse:
    """Open the login page (for its CSRF token) and submit it, keeping ``next`` in the URL."""
    query = {"next": next_url} if next_url is not None else {}
    token = csrf_token(client.get("/login", query_string=query).get_data(as_text=True))
    return client.post(
        "/login",
        query_string=query,
        data={"email": email, "password": password, "csrf_token": token},
    )
