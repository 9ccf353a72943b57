"""The retention sweep: leads past their period are anonymised in batches through the erasure
service, a run resumes where it stopped, a person with a live enquiry keeps their details, old
audit events and expired exports go; the preview counts what the run then does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from crm import clock
from crm.errors import DomainError
from crm.extensions import db
from crm.intake.models import Contact, Lead
from crm.privacy import retention
from crm.privacy.models import AuditEvent, Erasure, RetentionPolicy, RetentionRun
from crm.privacy.services import Actor
from tests.services.intake_factories import actor_for, team

pytestmark = pytest.mark.usefixtures("db_session")
NOW = datetime(2026, 12, 7, 2, 30, tzinfo=UTC)
SYSTEM = Actor.system("retention")


def _lead(n: int, *, closed_days_ago: int, reason: str | None = "not_ready", contact=None) -> Lead:  # type: ignore[no-untyped-def]
    person = contact or Contact(name=f"Person {n:03d} Zebedee", phone=f"+4477009{n:05d}")
    db.session.add(person)
    db.session.flush()
    when = NOW - timedelta(days=closed_days_ago)
    lead = Lead(
        reference=f"L-R{n:05d}", client_id=person.id, caller_id=person.id, source="web_form",
        stage="closed" if reason else "contacted", close_reason=reason, callback_due_at=when,
        last_request_at=when, created_at=when, updated_at=when,
    )  # fmt: skip
    db.session.add(lead)
    db.session.flush()
    return lead


def _world() -> dict[str, list[Lead]]:
    old = [_lead(i, closed_days_ago=400) for i in range(7)]
    spam = [_lead(100 + i, closed_days_ago=40, reason="spam") for i in range(3)]
    recent = [_lead(200, closed_days_ago=100), _lead(201, closed_days_ago=20, reason="spam")]
    # One person with an old closed enquiry and a live one: the old one is anonymised, the
    # person keeps their details for the live one.
    shared = old[0].client
    live = _lead(300, closed_days_ago=1, reason=None, contact=shared)
    db.session.execute(
        insert(AuditEvent),
        [{"action": "view", "outcome": "success", "occurred_at": NOW - timedelta(days=2200)}] * 4
        + [{"action": "view", "outcome": "success", "occurred_at": NOW - timedelta(days=10)}],
    )
    return {"old": old, "spam": spam, "recent": recent, "live": [live]}


def _run(batch: int) -> RetentionRun:
    with clock.pinned(NOW):
        run = retention.start_run("test")
        while retention.sweep_batch(run.id, SYSTEM, batch=batch):
            db.session.flush()
    return run


def test_preview_then_the_run_does_what_it_said() -> None:
    world = _world()
    with clock.pinned(NOW):
        preview = retention.preview()
    assert preview.counts["unconverted_leads"] == 7 and preview.counts["spam_leads"] == 3
    assert preview.counts["audit_events"] == 4
    assert preview.lines[0] == "10 leads anonymised (7 never converted, 3 spam)"

    run = _run(batch=4)

    assert run.status == "done" and run.finished_at == NOW
    assert run.counts["unconverted_leads"] == 7 and run.counts["spam_leads"] == 3
    assert run.counts["audit_events"] == 4
    done = {lead.id for lead in world["old"] + world["spam"]}
    anonymised = set(db.session.scalars(select(Lead.id).where(Lead.anonymised_at.is_not(None))))
    assert anonymised == done
    # 9 people lose their details; the person with a live enquiry keeps theirs.
    assert run.counts["contacts"] == 9
    shared = db.session.get(Contact, world["live"][0].client_id)
    assert shared is not None and shared.anonymised_at is None and shared.phone
    erased = db.session.scalars(select(Contact).where(Contact.anonymised_at.is_not(None))).all()
    assert all(c.phone is None and "Zebedee" not in c.name for c in erased)
    # In batches, each recorded as an erasure of the run.
    erasures = db.session.scalars(select(Erasure).where(Erasure.retention_run_id == run.id)).all()
    assert [len(e.lead_ids) for e in erasures] == [3, 4, 3]
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.occurred_at < NOW - timedelta(days=2000))
        )
        == 0
    )
    with clock.pinned(NOW):
        assert retention.preview().counts["unconverted_leads"] == 0


def test_a_run_cut_short_resumes_where_it_stopped() -> None:
    _world()
    with clock.pinned(NOW):
        run = retention.start_run("first night")
        assert retention.sweep_batch(run.id, SYSTEM, batch=2)  # then the worker is killed
        again = retention.start_run("second night")
    assert again.id == run.id, "the unfinished run is resumed, not restarted"
    resumed = _run(batch=50)
    assert resumed.id == run.id and resumed.status == "done"
    assert resumed.counts["spam_leads"] + resumed.counts["unconverted_leads"] == 10
    assert db.session.scalar(select(func.count()).select_from(RetentionRun)) == 1


def test_a_period_of_zero_or_less_is_refused() -> None:
    admin = actor_for(team()["admin"])
    for bad in (0, -30, "x"):
        with pytest.raises(DomainError):
            retention.set_period("unconverted_leads", bad, admin)
    days = db.session.scalar(
        select(RetentionPolicy.days).where(RetentionPolicy.code == "unconverted_leads")
    )
    assert days == 365
