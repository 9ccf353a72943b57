"""The breach register's services against the database: an incident from discovery to closed,
every refusal changing nothing, the audit trail naming breaches by id only, and the register's
order and countdowns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from crm import clock
from crm.database import unit_of_work
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.privacy import breaches
from crm.privacy.models import AuditEvent, Breach
from crm.privacy.services import Actor
from tests.services.intake_factories import actor_for, staff_member

pytestmark = pytest.mark.usefixtures("db_session")
FOUND = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
NOW = datetime(2026, 12, 4, 10, 18, tzinfo=UTC)  # 24 h 48 min after discovery
SECRET = "Client J. Smith's detox notes emailed to the wrong clinic"


@pytest.fixture
def admin() -> Actor:
    user = staff_member("admin", "Ann Admin")
    db.session.commit()
    return actor_for(user)


@pytest.fixture(autouse=True)
def pinned_now() -> Any:
    with clock.pinned(NOW):
        yield


def _details(**changes: Any) -> breaches.IncidentDetails:
    values: dict[str, Any] = {
        "title": SECRET,
        "discovered_at": FOUND,
        "occurred_at": FOUND - timedelta(hours=3),
        "description": "An assessment summary went to the wrong provider's inbox.",
        "data_involved": "Name, phone, substance use",
        "people_affected": 1,
        "special_category": True,
    }
    values.update(changes)
    return breaches.IncidentDetails(**values)


def _recorded(actor: Actor, **changes: Any) -> int:
    with unit_of_work():
        return breaches.record_breach(_details(**changes), actor).id


def _row(breach_id: int) -> tuple[Any, ...]:
    db.session.expire_all()
    return tuple(db.session.execute(select(Breach.__table__).where(Breach.id == breach_id)).one())


def _audits(breach_id: int) -> list[tuple[str, str | None]]:
    rows = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "breaches", AuditEvent.object_id == str(breach_id))
        .order_by(AuditEvent.id)
    )
    return [(e.action, e.detail) for e in rows]


def _refused(call: Any, breach_id: int | None, *words: str) -> DomainError:
    before = _row(breach_id) if breach_id else None
    audits = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    with pytest.raises(DomainError) as caught, unit_of_work():
        call()
    for word in words:
        assert word in caught.value.message
    if breach_id:
        assert _row(breach_id) == before
    assert (
        db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) == audits
    )
    return caught.value


def test_an_incident_from_discovery_to_closed(admin: Actor) -> None:
    breach_id = _recorded(admin)
    breach = breaches.get_breach(breach_id)
    assert (breach.status, breach.risk_level, breach.people_affected) == ("open", "unassessed", 1)
    assert breach.created_by_id == admin.user_id and breach.created_at == NOW
    row = breaches.register_row(breach)
    assert row.deadline == FOUND + timedelta(hours=72)
    assert (row.countdown.text, row.countdown.urgent) == ("47 h 12 min left", False)

    with unit_of_work():
        breaches.update_assessment(
            breach_id,
            breaches.Assessment("high", "Health data; cannot be recalled.", "Name, notes", 1, True),
            admin,
        )
        breaches.decide_ico(breach_id, True, "High risk: special category data.", admin)
        breaches.record_ico_notified(breach_id, NOW - timedelta(minutes=30), " IC-0001 ", admin)
        breaches.decide_people(breach_id, True, "They need to know to watch for contact.", admin)
        breaches.record_people_notified(breach_id, NOW - timedelta(minutes=10), admin)
        breaches.add_action(breach_id, "Asked the clinic to delete\nthe email.", admin)
        breaches.add_action(breach_id, "Clinic confirmed deletion.", admin)
        breaches.close_breach(breach_id, admin)

    breach = breaches.get_breach(breach_id)
    assert (breach.risk_level, breach.risk_assessment) == (
        "high",
        "Health data; cannot be recalled.",
    )
    assert (breach.notify_ico, breach.ico_reason) == (True, "High risk: special category data.")
    assert breach.ico_notified_at == NOW - timedelta(minutes=30)
    assert breach.ico_reference == "IC-0001"
    assert breach.notify_people is True and breach.people_notified_at == NOW - timedelta(minutes=10)
    assert breach.actions.splitlines() == [
        "04 Dec 2026 10:18 Ann Admin: Asked the clinic to delete the email.",
        "04 Dec 2026 10:18 Ann Admin: Clinic confirmed deletion.",
    ]
    assert (breach.status, breach.closed_at, breach.updated_by_id) == ("closed", NOW, admin.user_id)
    assert breaches.register_row(breach).countdown.text == "ICO notified 04 Dec 09:48"
    assert _audits(breach_id) == [
        ("create", None),
        ("update", "assessment"),
        ("update", "ico_decision"),
        ("update", "ico_notified"),
        ("update", "people_decision"),
        ("update", "people_notified"),
        ("update", "action_added"),
        ("update", "action_added"),
        ("close", "closed"),
    ]


def test_the_audit_trail_never_holds_the_breach_text(admin: Actor) -> None:
    breach_id = _recorded(admin)
    with unit_of_work():
        breaches.decide_ico(breach_id, False, SECRET, admin)
        breaches.add_action(breach_id, SECRET, admin)
    details = db.session.scalars(select(AuditEvent.detail)).all()
    assert details and not any(d and ("Smith" in d or "detox" in d) for d in details)


def test_a_bad_incident_is_refused_and_nothing_is_stored(admin: Actor) -> None:
    cases = [
        ({"title": "  "}, "title"),
        ({"discovered_at": NOW + timedelta(hours=1)}, "future"),
        ({"discovered_at": None}, "discovered"),
        ({"occurred_at": FOUND + timedelta(minutes=5)}, "after it was discovered"),
        ({"people_affected": -2}, "cannot be negative"),
    ]
    for changes, words in cases:
        error = _refused(
            lambda c=changes: breaches.record_breach(_details(**c), admin), None, words
        )
        assert error.kind is ErrorKind.INVALID and error.field_errors
        assert error.message.startswith("The incident was not saved:")
    assert db.session.scalars(select(Breach)).all() == []


def test_bad_steps_are_refused_and_change_nothing(admin: Actor) -> None:
    breach_id = _recorded(admin)
    b = breaches
    _refused(
        lambda: b.update_assessment(breach_id, b.Assessment("high", "", "x", 1, False), admin),
        breach_id,
        "Say why the risk",
    )
    _refused(
        lambda: b.update_assessment(breach_id, b.Assessment("low", "ok", "x", -1, False), admin),
        breach_id,
        "cannot be negative",
    )
    _refused(lambda: b.decide_ico(breach_id, True, " ", admin), breach_id, "reason")
    _refused(lambda: b.decide_ico(breach_id, None, "why", admin), breach_id, "Choose whether")
    _refused(lambda: b.decide_people(breach_id, False, "", admin), breach_id, "reason")
    _refused(
        lambda: b.record_ico_notified(breach_id, NOW, "", admin),
        breach_id,
        "first record the decision",
    )
    _refused(lambda: b.record_people_notified(breach_id, NOW, admin), breach_id, "first record")
    _refused(lambda: b.add_action(breach_id, "   ", admin), breach_id, "Describe the action")
    _refused(
        lambda: b.close_breach(breach_id, admin), breach_id, "Decide whether to notify the ICO"
    )

    with unit_of_work():
        b.decide_ico(breach_id, True, "High risk", admin)
        b.decide_people(breach_id, True, "High risk", admin)
    _refused(
        lambda: b.record_ico_notified(breach_id, FOUND - timedelta(minutes=1), "", admin),
        breach_id,
        "before it was discovered",
    )
    _refused(
        lambda: b.record_ico_notified(breach_id, NOW + timedelta(minutes=1), "", admin),
        breach_id,
        "future",
    )
    _refused(
        lambda: b.record_people_notified(breach_id, FOUND - timedelta(hours=1), admin),
        breach_id,
        "before it was discovered",
    )
    _refused(lambda: b.close_breach(breach_id, admin), breach_id, "Record when the ICO")
    with unit_of_work():
        b.record_ico_notified(breach_id, NOW, "", admin)
    _refused(lambda: b.decide_ico(breach_id, False, "changed", admin), breach_id, "already")
    _refused(lambda: b.close_breach(breach_id, admin), breach_id, "Record when the people")


def test_a_closed_incident_cannot_be_changed(admin: Actor) -> None:
    breach_id = _recorded(admin)
    with unit_of_work():
        breaches.decide_ico(breach_id, False, "Low risk: encrypted device.", admin)
        breaches.decide_people(breach_id, False, "Low risk: encrypted device.", admin)
        breaches.close_breach(breach_id, admin)
    error = _refused(lambda: breaches.add_action(breach_id, "more", admin), breach_id, "closed")
    assert error.kind is ErrorKind.CONFLICT
    _refused(lambda: breaches.close_breach(breach_id, admin), breach_id, "closed")


def test_an_unknown_incident_is_not_found(admin: Actor) -> None:
    with pytest.raises(DomainError) as caught:
        breaches.add_action(987654, "x", admin)
    assert caught.value.kind is ErrorKind.NOT_FOUND


def test_the_register_lists_open_incidents_first_by_deadline(admin: Actor) -> None:
    def at(title: str, hours_ago: int) -> int:
        return _recorded(
            admin, title=title, discovered_at=NOW - timedelta(hours=hours_ago), occurred_at=None
        )

    fresh, late, done, soon = at("Fresh", 1), at("Late", 75), at("Done", 80), at("Soon", 50)
    with unit_of_work():
        breaches.decide_ico(done, False, "Encrypted.", admin)
        breaches.decide_people(done, False, "Encrypted.", admin)
        breaches.close_breach(done, admin)
    rows = breaches.list_breaches()
    assert [r.breach.id for r in rows] == [late, soon, fresh, done]
    shown = [(r.countdown.text, r.countdown.urgent) for r in rows]
    assert shown == [
        ("overdue by 3 h 0 min", True),
        ("22 h 0 min left", True),
        ("71 h 0 min left", False),
        ("decided not to notify", False),
    ]
    assert [r.breach.id for r in breaches.open_breaches()] == [late, soon, fresh]
