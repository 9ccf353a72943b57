"""Helpers to build intake data for service tests, through the real services only."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from crm import clock
from crm.auth.models import User
from crm.errors import DomainError
from crm.extensions import db
from crm.intake import pipeline, services
from crm.intake.callback import CallbackRequestData, parse_callback_request
from crm.intake.models import (
    Assessment,
    Assignment,
    CallbackRequest,
    CallLog,
    Contact,
    Lead,
    LeadNote,
    StageChange,
)
from crm.privacy.models import AuditEvent, ConsentRecord, DisclosureRecord
from crm.privacy.services import Actor

# Monday 2 March 2026, 14:02 UTC: the callback from the issue.
T0 = datetime(2026, 3, 2, 14, 2, tzinfo=UTC)
WEBSITE = Actor(email="api-key:test", role="website")
INTAKE_TABLES = (
    Contact,
    Lead,
    CallbackRequest,
    StageChange,
    CallLog,
    LeadNote,
    Assignment,
    Assessment,
    ConsentRecord,
    DisclosureRecord,
    AuditEvent,
)
COMPLETE_ASSESSMENT: dict[str, Any] = {
    "substances": ["alcohol"],
    "primary_substance": "alcohol",
    "treatment_wanted": "medical_detox",
    "funding": "self_funded",
    "budget_band": "1500_2500",
    "timeframe": "within_a_week",
    "withdrawal": "y",
    "home_postcode": "ls14ap",
}


def at(minutes: float) -> datetime:
    """T0 plus ``minutes``."""
    return T0 + timedelta(minutes=minutes)


@contextmanager
def minutes_after_t0(minutes: float) -> Iterator[datetime]:
    """Pin the clock at T0 + ``minutes`` for the block."""
    instant = at(minutes)
    with clock.pinned(instant):
        yield instant


def payload(**changes: Any) -> dict[str, Any]:
    """A valid callback request as the website would post it; ``...`` removes a field."""
    body: dict[str, Any] = {
        "name": "Sam Smith",
        "phone": "07700 900123",
        "email": "sam@example.com",
        "best_time_to_call": "after 6pm",
        "for_whom": "self",
        "substances": ["ketamine"],
        "message": "Struggling since the summer.",
        "consent_to_contact": True,
        "consent_to_health_details": True,
        "consent_wording_version": "callback-consent-2026-11",
        "disclosure_wording_version": "commission-2026-11",
        "page_url": "https://rehab.example/help",
        "utm_source": "google",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def request_data(**changes: Any) -> CallbackRequestData:
    return parse_callback_request(payload(**changes))


def capture(
    minutes: float = 0,
    *,
    target_minutes: int = 15,
    data: CallbackRequestData | None = None,
    **changes: Any,
) -> services.CaptureResult:
    """A web-form callback request received at T0 + ``minutes``, flushed."""
    with minutes_after_t0(minutes):
        result = services.capture_callback_request(
            data or request_data(**changes),
            source="web_form",
            channel="web_form",
            target_minutes=target_minutes,
            actor=WEBSITE,
        )
        db.session.flush()
    return result


def without_health_consent(data: CallbackRequestData) -> CallbackRequestData:
    """The same request, but with consent to use health details refused."""
    return dataclasses.replace(data, consent_to_health_details=False)


def actor_for(user: User) -> Actor:
    return Actor(user.id, user.email, user.role, "127.0.0.1", "req-test")


def staff_member(role: str, name: str, *, available: bool = False, active: bool = True) -> User:
    """A staff row for services to refer to. These tests never log in, so the account gets an
    unusable password hash instead of a slow real one (the auth tests cover passwords)."""
    user = User(
        name=name,
        email=f"{name.lower().replace(' ', '.')}.{uuid.uuid4().hex[:6]}@staff.example",
        role=role,
        active=active,
        available=available,
        password_hash="!unusable",
        created_at=clock.now(),
    )
    db.session.add(user)
    db.session.flush()
    return user


def admissions(name: str, *, available: bool = True, active: bool = True) -> User:
    """An admissions staff member who takes round-robin leads when ``available``."""
    return staff_member("admissions", name, available=available, active=active)


def team() -> dict[str, User]:
    """One (unavailable) person per role, as the ``staff`` fixture but without password hashing."""
    return {
        role: staff_member(role, f"Test {role.title()}")
        for role in ("admissions", "manager", "admin")
    }


def counts() -> dict[str, int]:
    """Rows per intake table: a refused action must leave these unchanged."""
    return {
        model.__tablename__: db.session.scalar(select(func.count()).select_from(model)) or 0
        for model in INTAKE_TABLES
    }


def reload(lead: Lead) -> Lead:
    """The lead as the database holds it now."""
    db.session.flush()
    db.session.expire_all()
    fresh = db.session.get(Lead, lead.id)
    assert fresh is not None
    return fresh


def walk_to(lead: Lead, stage: str, actor: Actor, minutes: float = 1) -> Lead:
    """Move a new lead forward through the pipeline, one legal step at a time."""
    order = ["new", "contacted", "assessed", "matched", "referred", "admitted"]
    with minutes_after_t0(minutes):
        if order.index(stage) >= 1 and lead.stage == "new":
            pipeline.log_call(lead.id, actor, direction="outbound", outcome="connected")
        if order.index(stage) >= 2 and lead.stage == "contacted":
            pipeline.save_assessment(lead.id, dict(COMPLETE_ASSESSMENT), actor, complete=True)
        for target in order[order.index(lead.stage) + 1 : order.index(stage) + 1]:
            pipeline.change_stage(lead.id, target, actor)
        db.session.flush()
    return reload(lead)


def refused(action: Any, *args: Any, **kwargs: Any) -> DomainError:
    """Run a service that must refuse; assert it wrote nothing; return the error."""
    before = counts()
    with pytest.raises(DomainError) as caught:
        action(*args, **kwargs)
    assert counts() == before, "a refused action writes nothing"
    return caught.value
