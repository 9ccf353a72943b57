"""Staff use cases against a real database: log in and out, sessions, managing accounts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import argon2
import pytest
from sqlalchemy import func, select

from crm import clock
from crm.auth import passwords
from crm.auth.models import StaffSession, User
from crm.auth.services import (
    StaffDetails,
    change_own_password,
    create_user,
    end_all_sessions,
    load_session_user,
    log_in,
    log_out,
    update_user,
)
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.privacy.models import AuditEvent
from crm.privacy.services import Actor
from tests.conftest import PASSWORD, create_staff

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
NEW_PASSWORD = "violet lanterns drift east"

pytestmark = pytest.mark.usefixtures("db_session")


def _request() -> Actor:
    return Actor(ip="203.0.113.7", request_id=f"req-{uuid.uuid4().hex}")


def _as(user: User) -> Actor:
    return Actor(user.id, user.email, user.role, "203.0.113.8", f"req-{uuid.uuid4().hex}")


def _events(request_id: str | None) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.request_id == request_id).order_by(AuditEvent.id)
    return list(db.session.scalars(query))


def _count(model: type) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def _session_row(session_id: str) -> StaffSession:
    db.session.expire_all()
    row = db.session.get(StaffSession, session_id)
    assert row is not None
    return row


def _sessions_of(user: User) -> list[StaffSession]:
    return list(db.session.scalars(select(StaffSession).where(StaffSession.user_id == user.id)))


def _open_session(user: User, at: datetime = T0) -> str:
    with clock.pinned(at):
        outcome = log_in(user.email, PASSWORD, _request(), "pytest")
    db.session.commit()
    assert outcome.session_id is not None
    return outcome.session_id


# --- log in -------------------------------------------------------------------------------


def test_log_in_opens_a_session_and_audits_it() -> None:
    user = create_staff("admissions")
    actor = _request()
    with clock.pinned(T0):
        outcome = log_in(f"  {user.email.upper()} ", PASSWORD, actor, "Firefox/128")
    db.session.commit()
    assert outcome.user is not None and outcome.user.id == user.id
    row = _session_row(str(outcome.session_id))
    assert row.user_id == user.id
    assert row.started_at == row.last_seen_at == T0
    assert row.ended_at is None
    assert (row.ip, row.user_agent) == ("203.0.113.7", "Firefox/128")
    assert db.session.get(User, user.id).last_login_at == T0
    [event] = _events(actor.request_id)
    assert (event.action, event.outcome, event.actor_id) == ("login", "success", user.id)
    assert (event.object_type, event.object_id, event.ip) == ("users", str(user.id), actor.ip)


def test_log_in_rehashes_a_hash_with_weaker_parameters() -> None:
    user = create_staff("manager")
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    user.password_hash = weak
    db.session.commit()
    assert log_in(user.email, PASSWORD, _request(), None).user is not None
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(User, user.id).password_hash
    assert stored != weak
    assert stored.startswith("$argon2id$")
    assert not passwords.needs_rehash(stored)
    assert passwords.verify_password(stored, PASSWORD)


def test_wrong_password_does_not_rehash_or_open_a_session() -> None:
    user = create_staff("manager")
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    user.password_hash = weak
    db.session.commit()
    actor = _request()
    assert log_in(user.email, "not the password at all", actor, None).session_id is None
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == weak
    assert db.session.get(User, user.id).last_login_at is None
    assert _sessions_of(user) == []
    [event] = _events(actor.request_id)
    assert (event.action, event.outcome, event.detail) == ("login", "failure", "wrong password")


@pytest.mark.parametrize("typed", ["nobody@staff.example", "not an email", ""])
def test_unknown_account_is_audited_without_an_actor(typed: str) -> None:
    sessions_before = _count(StaffSession)
    actor = _request()
    outcome = log_in(typed, PASSWORD, actor, None)
    db.session.commit()
    assert (outcome.user, outcome.session_id) == (None, None)
    assert _count(StaffSession) == sessions_before
    [event] = _events(actor.request_id)
    assert (event.action, event.outcome, event.detail) == ("login", "failure", "unknown account")
    assert (event.actor_id, event.actor_email, event.object_id) == (None, None, None)
    assert event.ip == "203.0.113.7"
    # The typed address is not kept: it may be a mistyped password or someone else's email.
    assert event.detail == "unknown account"


def test_deactivated_account_is_refused_even_with_the_right_password() -> None:
    user = create_staff("admissions", active=False)
    actor = _request()
    outcome = log_in(user.email, PASSWORD, actor, None)
    db.session.commit()
    assert outcome.session_id is None
    assert _sessions_of(user) == []
    [event] = _events(actor.request_id)
    assert (event.outcome, event.detail) == ("failure", "account deactivated")


# --- sessions -----------------------------------------------------------------------------


def test_session_stays_alive_while_used_and_records_activity() -> None:
    user = create_staff("admissions")
    sid = _open_session(user)
    with clock.pinned(T0 + timedelta(seconds=30)):
        assert load_session_user(sid, user.id, idle_minutes=60, max_hours=12) == user
    db.session.commit()
    assert _session_row(sid).last_seen_at == T0  # not rewritten on every request
    with clock.pinned(T0 + timedelta(minutes=59)):
        assert load_session_user(sid, user.id, idle_minutes=60, max_hours=12) == user
    db.session.commit()
    assert _session_row(sid).last_seen_at == T0 + timedelta(minutes=59)


def test_idle_session_ends() -> None:
    user = create_staff("admissions")
    sid = _open_session(user)
    late = T0 + timedelta(minutes=60, seconds=1)
    with clock.pinned(late):
        assert load_session_user(sid, user.id, idle_minutes=60, max_hours=12) is None
    db.session.commit()
    row = _session_row(sid)
    assert (row.ended_at, row.ended_reason) == (late, "idle")
    with clock.pinned(T0 + timedelta(minutes=1)):  # ended stays ended
        assert load_session_user(sid, user.id, idle_minutes=60, max_hours=12) is None


def test_session_ends_at_its_maximum_age_even_when_busy() -> None:
    user = create_staff("manager")
    sid = _open_session(user)
    for minutes in (50, 100):
        with clock.pinned(T0 + timedelta(minutes=minutes)):
            assert load_session_user(sid, user.id, idle_minutes=60, max_hours=2) == user
        db.session.commit()
    with clock.pinned(T0 + timedelta(minutes=121)):
        assert load_session_user(sid, user.id, idle_minutes=60, max_hours=2) is None
    db.session.commit()
    assert _session_row(sid).ended_reason == "expired"


def test_session_of_a_deactivated_user_ends() -> None:
    user = create_staff("admissions")
    sid = _open_session(user)
    user.active = False
    db.session.commit()
    with clock.pinned(T0 + timedelta(minutes=1)):
        assert load_session_user(sid, user.id, idle_minutes=60, max_hours=12) is None
    db.session.commit()
    assert _session_row(sid).ended_reason == "deactivated"


def test_session_cookie_for_another_user_or_unknown_id_is_refused() -> None:
    user, other = create_staff("admissions"), create_staff("admin")
    sid = _open_session(user)
    with clock.pinned(T0):
        assert load_session_user(sid, other.id, idle_minutes=60, max_hours=12) is None
        assert load_session_user("no-such-session", user.id, 60, 12) is None
    assert _session_row(sid).ended_at is None


def test_log_out_ends_the_session_and_is_audited() -> None:
    user = create_staff("admissions")
    sid = _open_session(user)
    actor = _as(user)
    with clock.pinned(T0 + timedelta(minutes=5)):
        log_out(sid, actor)
    db.session.commit()
    row = _session_row(sid)
    assert (row.ended_at, row.ended_reason) == (T0 + timedelta(minutes=5), "logout")
    with clock.pinned(T0 + timedelta(minutes=6)):
        assert load_session_user(sid, user.id, idle_minutes=60, max_hours=12) is None
    [event] = _events(actor.request_id)
    assert (event.action, event.actor_id, event.object_id) == ("logout", user.id, str(user.id))
    with clock.pinned(T0 + timedelta(minutes=9)):
        log_out(sid, actor)  # a second click changes nothing
    db.session.commit()
    assert _session_row(sid).ended_at == T0 + timedelta(minutes=5)


def test_end_all_sessions_keeps_only_the_named_one() -> None:
    user, other = create_staff("admissions"), create_staff("manager")
    keep, *rest = [_open_session(user) for _ in range(3)]
    others = _open_session(other)
    with clock.pinned(T0 + timedelta(hours=1)):
        assert end_all_sessions(user.id, "security", keep=keep) == 2
    db.session.commit()
    assert _session_row(keep).ended_at is None
    assert [_session_row(s).ended_reason for s in rest] == ["security", "security"]
    assert _session_row(others).ended_at is None
    assert end_all_sessions(user.id, "again") == 1  # only the kept one was still open


# --- managing accounts --------------------------------------------------------------------


def test_create_user_stores_canonical_details_and_audits() -> None:
    admin = create_staff("admin")
    actor = _as(admin)
    details = StaffDetails(" Priya Shah ", "Priya.Shah@Clinic.Example", "manager", "07700 900123")
    user = create_user(details, NEW_PASSWORD, actor)
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(User, user.id)
    assert (stored.name, stored.email, stored.role) == (
        "Priya Shah",
        "priya.shah@clinic.example",
        "manager",
    )
    assert stored.phone == "+447700900123"
    assert stored.active is True
    assert NEW_PASSWORD not in stored.password_hash
    assert passwords.verify_password(stored.password_hash, NEW_PASSWORD)
    [event] = _events(actor.request_id)
    assert (event.action, event.object_id, event.detail) == ("create", str(user.id), "role=manager")
    assert event.actor_id == admin.id


SAM = {"name": "Sam Lee", "email": "sam.lee@clinic.example", "role": "admissions"}
INVALID_ACCOUNTS = [  # (what differs from SAM, password, the field that is named)
    ({"name": ""}, NEW_PASSWORD, "name"),
    ({"name": "Sam\x00Lee"}, NEW_PASSWORD, "name"),
    ({"email": "sam.lee@"}, NEW_PASSWORD, "email"),
    ({"email": "info@clinic.example"}, NEW_PASSWORD, "email"),  # a team mailbox
    ({"role": "superuser"}, NEW_PASSWORD, "role"),
    ({"role": None}, NEW_PASSWORD, "role"),
    ({"phone": "12345"}, NEW_PASSWORD, "phone"),
    ({}, "short", "password"),
    ({}, "leavemealone", "password"),
    ({}, "sam.lee likes tea", "password"),
    ({}, None, "password"),
]


@pytest.mark.parametrize(("changes", "password", "field"), INVALID_ACCOUNTS)
def test_create_user_refuses_bad_input_and_writes_nothing(
    changes: dict[str, str | None], password: str | None, field: str
) -> None:
    users, events = _count(User), _count(AuditEvent)
    with pytest.raises(DomainError) as excinfo:
        create_user(StaffDetails(**{**SAM, **changes}), password, Actor.system("tests"))
    assert excinfo.value.kind is ErrorKind.INVALID
    assert list(excinfo.value.field_errors) == [field]
    assert all(excinfo.value.field_errors[field])
    db.session.commit()
    assert (_count(User), _count(AuditEvent)) == (users, events)


def test_create_user_reports_every_wrong_field_at_once() -> None:
    with pytest.raises(DomainError) as excinfo:
        create_user(StaffDetails("", "nope", "boss", "hello"), NEW_PASSWORD, Actor.system("t"))
    assert set(excinfo.value.field_errors) == {"name", "email", "role", "phone"}
    assert excinfo.value.field_errors["role"] == [
        "Unknown role 'boss': choose one of admissions, manager, admin."
    ]


def test_create_user_refuses_an_email_already_in_use_whatever_its_case() -> None:
    existing = create_staff("admissions")
    users = _count(User)
    with pytest.raises(DomainError) as excinfo:
        create_user(
            StaffDetails("Twin", existing.email.upper(), "admissions"),
            NEW_PASSWORD,
            Actor.system("tests"),
        )
    assert excinfo.value.field_errors == {"email": ["Another account already uses this email."]}
    assert _count(User) == users


def _details(user: User, **changes: object) -> StaffDetails:
    base = {
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "phone": user.phone,
        "active": user.active,
    }
    return StaffDetails(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "changed"),
    [
        ({"role": "manager"}, "role"),
        ({"active": False}, "active"),
        ({"email": "renamed.person@clinic.example"}, "email"),
    ],
)
def test_update_user_ending_sessions(changes: dict[str, object], changed: str) -> None:
    admin, user = create_staff("admin"), create_staff("admissions")
    sid = _open_session(user)
    actor = _as(admin)
    update_user(user.id, _details(user, **changes), None, actor)
    db.session.commit()
    assert _session_row(sid).ended_reason == "account changed"
    [event] = _events(actor.request_id)
    assert (event.action, event.detail) == ("update", f"changed: {changed}")
    stored = db.session.get(User, user.id)
    assert all(getattr(stored, k) == v for k, v in changes.items())


def test_deactivated_user_cannot_log_in_afterwards() -> None:
    admin, user = create_staff("admin"), create_staff("admissions")
    update_user(user.id, _details(user, active=False), None, _as(admin))
    db.session.commit()
    assert log_in(user.email, PASSWORD, _request(), None).session_id is None


def test_renaming_keeps_sessions_open() -> None:
    admin, user = create_staff("admin"), create_staff("admissions")
    sid = _open_session(user)
    update_user(user.id, _details(user, name="Renamed Person"), None, _as(admin))
    db.session.commit()
    assert _session_row(sid).ended_at is None
    assert db.session.get(User, user.id).name == "Renamed Person"


def test_password_reset_by_admin_ends_sessions_and_takes_effect() -> None:
    admin, user = create_staff("admin"), create_staff("admissions")
    sid = _open_session(user)
    update_user(user.id, _details(user), NEW_PASSWORD, _as(admin))
    db.session.commit()
    assert _session_row(sid).ended_reason == "account changed"
    assert log_in(user.email, PASSWORD, _request(), None).session_id is None
    assert log_in(user.email, NEW_PASSWORD, _request(), None).session_id is not None


@pytest.mark.parametrize("changes", [{"active": False}, {"role": "manager"}])
def test_admin_cannot_deactivate_or_demote_themselves(changes: dict[str, object]) -> None:
    admin = create_staff("admin")
    sid = _open_session(admin)
    actor = _as(admin)
    with pytest.raises(DomainError, match="cannot deactivate your own account"):
        update_user(admin.id, _details(admin, **changes), None, actor)
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(User, admin.id)
    assert (stored.active, stored.role) == (True, "admin")
    assert _session_row(sid).ended_at is None
    assert _events(actor.request_id) == []


def test_update_user_refuses_bad_input_and_writes_nothing() -> None:
    admin, user = create_staff("admin"), create_staff("admissions")
    taken = create_staff("manager").email
    original = (user.name, user.email, user.role, user.password_hash)
    actor = _as(admin)
    with pytest.raises(DomainError) as excinfo:
        update_user(user.id, _details(user, name="", email=taken, role="manager"), None, actor)
    assert set(excinfo.value.field_errors) == {"name", "email"}
    with pytest.raises(DomainError) as excinfo:
        update_user(user.id, _details(user, role="manager"), "short", actor)
    assert set(excinfo.value.field_errors) == {"password"}
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(User, user.id)
    assert (stored.name, stored.email, stored.role, stored.password_hash) == original
    assert _events(actor.request_id) == []


def test_update_unknown_user_is_not_found() -> None:
    admin = create_staff("admin")
    details = StaffDetails("Ghost Person", "ghost.person@clinic.example", "admissions")
    with pytest.raises(DomainError) as excinfo:
        update_user(10**9, details, None, _as(admin))
    assert excinfo.value.kind is ErrorKind.NOT_FOUND


def test_change_own_password_keeps_this_session_and_ends_the_others() -> None:
    user = create_staff("manager")
    here, elsewhere = _open_session(user), _open_session(user)
    actor = _as(user)
    change_own_password(user.id, PASSWORD, NEW_PASSWORD, here, actor)
    db.session.commit()
    assert _session_row(here).ended_at is None
    assert _session_row(elsewhere).ended_reason == "password changed"
    stored = db.session.get(User, user.id)
    assert passwords.verify_password(stored.password_hash, NEW_PASSWORD)
    assert not passwords.verify_password(stored.password_hash, PASSWORD)
    [event] = _events(actor.request_id)
    assert event.detail == "changed: own password"


@pytest.mark.parametrize(
    ("current", "new", "field"),
    [
        ("wrong current password", NEW_PASSWORD, "current_password"),
        (PASSWORD, "tiny", "password"),
        (PASSWORD, "leavemealone", "password"),
    ],
)
def test_change_own_password_refusals_change_nothing(current: str, new: str, field: str) -> None:
    user = create_staff("manager")
    here, elsewhere = _open_session(user), _open_session(user)
    original_hash = user.password_hash
    actor = _as(user)
    with pytest.raises(DomainError) as excinfo:
        change_own_password(user.id, current, new, here, actor)
    assert list(excinfo.value.field_errors) == [field]
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == original_hash
    assert _session_row(elsewhere).ended_at is None
    assert _events(actor.request_id) == []
