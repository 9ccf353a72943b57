"""Builders for the on-call and notify service tests: people, rotas, policies, leads, counts,
and a scratch database for tests that need real commits from several threads."""

from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from crm import clock
from crm.app import create_app
from crm.auth.models import User
from crm.database import dispose_with_twin
from crm.extensions import db
from crm.intake import services as intake
from crm.intake import wording
from crm.intake.callback import parse_callback_request
from crm.intake.models import Lead
from crm.notify import services as notify
from crm.notify.models import OutboundMessage
from crm.oncall import policies, rotas
from crm.oncall.models import EscalationPolicy, Page, PageEvent, Rota
from crm.privacy.services import Actor
from tests.conftest import make_settings
from tests.support.databases import scratch_database as shared_scratch_database

SYSTEM = Actor.system("tests")
# Sunday 02:40 (GMT) is out of hours; Wednesday 10:00 (GMT) is in hours.
SUNDAY_NIGHT = datetime(2026, 11, 29, 2, 40, tzinfo=clock.LONDON)
WEDNESDAY_MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=clock.LONDON)
# Scratch apps send their wake-ups to their own Redis database, away from everyone else's.
SCRATCH_REDIS_DB = 9
NO_LOGIN = "!no-login"


def count(model: Any, *where: Any) -> int:
    """Rows of ``model`` (matching ``where``) as the database holds them now."""
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def person(
    role: str = "admissions",
    name: str | None = None,
    *,
    phone: str | None = None,
    methods: tuple[tuple[str, str, int], ...] = (),
    active: bool = True,
    available: bool = False,
) -> User:
    """A committed staff member with the given contact methods (channel, address, delay)."""
    label = name or f"Test {role.title()} {uuid.uuid4().hex[:4]}"
    email = f"{label.lower().replace(' ', '.')}.{uuid.uuid4().hex[:6]}@staff.example"
    # Built directly (no password hashing): these people are paged, they never log in here.
    user = User(
        name=label,
        email=email,
        role=role,
        phone=phone,
        active=active,
        available=available,
        password_hash=NO_LOGIN,
        created_at=clock.now(),
    )
    db.session.add(user)
    db.session.flush()
    for position, (channel, address, delay) in enumerate(methods):
        notify.save_contact_method(
            user.id, channel, address, position, delay, allow_http_webhooks=True
        )
    db.session.commit()
    return user


def deactivate(user: User) -> None:
    user.active = False
    db.session.commit()


def rota(
    members: list[User],
    *,
    name: str | None = None,
    shift_days: int = 7,
    handoff: time = time(9),
    starts_on: date = date(2026, 1, 5),
) -> Rota:
    row = rotas.save_rota(
        name or f"Rota {uuid.uuid4().hex[:6]}",
        [m.id for m in members],
        shift_days,
        handoff,
        starts_on,
        "Europe/London",
        SYSTEM,
    )
    db.session.commit()
    return row


def rota_step(rota_row: Rota, delay: int) -> policies.StepInput:
    return policies.StepInput("rota", rota_row.id, None, None, delay)


def user_step(user: User, delay: int) -> policies.StepInput:
    return policies.StepInput("user", None, user.id, None, delay)


def webhook_step(url: str, delay: int) -> policies.StepInput:
    return policies.StepInput("webhook", None, None, url, delay)


def policy(
    steps: list[policies.StepInput], *, repeat_count: int = 0, name: str | None = None
) -> EscalationPolicy:
    row = policies.save_policy(
        name or f"Policy {uuid.uuid4().hex[:6]}",
        repeat_count,
        True,
        steps,
        SYSTEM,
        allow_http=True,
    )
    db.session.commit()
    return row


def lead(at: datetime, *, name: str = "Marigold Featherstone", phone: str | None = None) -> Lead:
    """A lead captured through the intake service at ``at`` (committed)."""
    payload = {
        "name": name,
        "phone": phone or f"07700 900{uuid.uuid4().int % 1000:03d}",
        "consent_to_contact": True,
        "consent_wording_version": wording.CONSENT_VERSION,
        "disclosure_wording_version": wording.DISCLOSURE_VERSION,
    }
    with clock.pinned(at):
        result = intake.capture_callback_request(
            parse_callback_request(payload),
            source="web_form",
            channel="web_form",
            target_minutes=15,
            actor=SYSTEM,
        )
        db.session.commit()
    return result.lead


def events(page: Page) -> list[tuple[str, str | None]]:
    """The page's history, in order, as (kind, detail)."""
    rows = db.session.scalars(
        select(PageEvent).where(PageEvent.page_id == page.id).order_by(PageEvent.id)
    )
    return [(e.kind, e.detail) for e in rows]


def messages(**where: Any) -> list[OutboundMessage]:
    query = select(OutboundMessage).order_by(OutboundMessage.id)
    for name, value in where.items():
        query = query.where(getattr(OutboundMessage, name) == value)
    return list(db.session.scalars(query))


# --- a scratch database that threads commit to for real --------------------------------------


def _redis_db(url: str, number: int) -> str:
    base, _, last = url.rpartition("/")
    return f"{base}/{number}" if last.isdigit() else f"{url.rstrip('/')}/{number}"


@contextmanager
def scratch_database(tmp_path: Path, label: str) -> Iterator[str]:
    """The shared scratch database; SQLite on tmpfs where there is one (no fsync per commit)."""
    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path
    try:
        with shared_scratch_database(folder, label) as url:
            yield url
    finally:
        if folder != tmp_path:
            shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def scratch_app(tmp_path: Path, redis_url: str, label: str, **overrides: Any) -> Iterator[Flask]:
    """An app on its own freshly migrated database, with no per-test rollback: commits are
    real, and each app context (each thread) has its own session and connection."""
    from flask_migrate import upgrade

    with scratch_database(tmp_path, label) as url:
        app = create_app(make_settings(url, _redis_db(redis_url, SCRATCH_REDIS_DB)), **overrides)
        with app.app_context():
            upgrade()
        try:
            yield app
        finally:
            with app.app_context():
                db.session.remove()
                dispose_with_twin(db.engine)


def run_threads(app: Flask, work: list[Callable[[], None]]) -> list[BaseException]:
    """Run each callable in its own thread and app context, started together."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(work))

    def body(fn: Callable[[], None]) -> None:
        try:
            with app.app_context():
                start.wait(timeout=30)
                fn()
        except BaseException as exc:  # reported to the test, never lost in a thread
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(fn,)) for fn in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a tick never finished"
    return errors
