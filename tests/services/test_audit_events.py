"""The audit trail is append-only: in the ORM and, below it, in the database itself."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import exc, select, text

from crm.extensions import db
from crm.privacy.models import AuditEvent
from crm.privacy.services import Actor, record_audit_event

pytestmark = pytest.mark.usefixtures("db_session")


def _committed_event() -> AuditEvent:
    actor = Actor(
        email="system:tests", role="system", ip="198.51.100.4", request_id=f"req-{uuid.uuid4().hex}"
    )
    row = record_audit_event(actor, "export", object_type="leads", object_id=42, detail="x" * 600)
    db.session.commit()
    return row


def _stored(event_id: int) -> tuple[str, str | None, str]:
    db.session.expire_all()
    row = db.session.execute(
        text("SELECT action, detail, outcome FROM audit_events WHERE id = :id"), {"id": event_id}
    ).one()
    return row.action, row.detail, row.outcome


def test_record_audit_event_writes_one_row() -> None:
    event = _committed_event()
    db.session.expire_all()
    stored = db.session.scalars(select(AuditEvent).where(AuditEvent.id == event.id)).one()
    assert (stored.action, stored.object_type, stored.object_id) == ("export", "leads", "42")
    assert (stored.actor_id, stored.actor_email, stored.actor_role) == (
        None,
        "system:tests",
        "system",
    )
    assert stored.outcome == "success"
    assert stored.detail == "x" * 500  # truncated to the column, never an error
    assert stored.occurred_at.utcoffset() is not None


def test_orm_refuses_to_change_an_event() -> None:
    event = _committed_event()
    with pytest.raises(PermissionError, match="append-only"), db.session.begin_nested():
        event.action = "tampered"
        db.session.flush()
    db.session.rollback()
    assert _stored(event.id)[0] == "export"


def test_orm_refuses_to_delete_an_event() -> None:
    event = _committed_event()
    with pytest.raises(PermissionError, match="append-only"), db.session.begin_nested():
        db.session.delete(event)
        db.session.flush()
    db.session.rollback()
    assert _stored(event.id)[0] == "export"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET action = 'x'",
        "UPDATE audit_events SET detail = NULL WHERE id = :id",
        "DELETE FROM audit_events",
        "DELETE FROM audit_events WHERE id = :id",
    ],
)
def test_database_refuses_raw_changes(statement: str) -> None:
    event = _committed_event()
    before = _stored(event.id)
    # A failed statement aborts a PostgreSQL transaction: contain it in a savepoint.
    with pytest.raises(exc.DBAPIError, match="append-only"), db.session.begin_nested():
        db.session.execute(text(statement), {"id": event.id})
    assert _stored(event.id) == before


def test_database_still_accepts_new_events() -> None:
    _committed_event()
    db.session.execute(
        text(
            "INSERT INTO audit_events (occurred_at, action, outcome) "
            "VALUES (CURRENT_TIMESTAMP, 'raw-insert', 'success')"
        )
    )
    db.session.commit()
    count = db.session.scalar(text("SELECT count(*) FROM audit_events WHERE action = 'raw-insert'"))
    assert count == 1


def test_only_events_older_than_six_years_can_be_deleted() -> None:
    """The retention period: the database lets go of a row after six years, never before."""
    young = _committed_event()
    old_at = datetime.now(UTC) - timedelta(days=2200)
    db.session.execute(
        text(
            "INSERT INTO audit_events (occurred_at, action, outcome) VALUES (:at, 'old', 'success')"
        ),
        {"at": old_at.replace(tzinfo=None) if db.engine.dialect.name == "sqlite" else old_at},
    )
    db.session.commit()
    db.session.execute(text("DELETE FROM audit_events WHERE action = 'old'"))
    db.session.commit()
    assert db.session.scalar(text("SELECT count(*) FROM audit_events WHERE action = 'old'")) == 0
    with pytest.raises(exc.DBAPIError, match="only after six years"), db.session.begin_nested():
        db.session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": young.id})
    assert _stored(young.id)[0] == "export"
