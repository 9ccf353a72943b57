"""Staff use cases: log in and out, server-side sessions, managing accounts."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update

from crm import clock
from crm.auth import passwords
from crm.auth.models import StaffSession, User
from crm.auth.permissions import parse_role
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.privacy.services import Actor, record_audit_event
from crm.validation import clean_text, normalise_email, normalise_phone

# Mailboxes that belong to a team, not a person: accounts must be personal (no shared logins).
SHARED_MAILBOXES = frozenset(
    {
        "admin",
        "administrator",
        "admissions",
        "info",
        "office",
        "reception",
        "team",
        "shared",
        "staff",
        "support",
        "enquiries",
        "hello",
        "contact",
        "oncall",
        "root",
        "test",
        "demo",
        "default",
        "user",
        "manager",
        "noreply",
        "no-reply",
    }
)
GENERIC_LOGIN_FAILURE = "Email or password is incorrect."


@dataclass(frozen=True)
class LoginOutcome:
    """The result of a login attempt; ``user`` and ``session_id`` are set on success."""

    user: User | None
    session_id: str | None


@dataclass(frozen=True)
class StaffDetails:
    """What an admin types for a staff account; validated by ``validate_staff_details``."""

    name: str | None
    email: str | None
    role: str | None
    phone: str | None = None
    active: bool = True
    available: bool = False  # takes new leads round-robin (admissions staff)


def _actor_for(user: User, actor: Actor) -> Actor:
    return Actor(user.id, user.email, user.role, actor.ip, actor.request_id)


def log_in(email: str, password: str, actor: Actor, user_agent: str | None) -> LoginOutcome:
    """Check the credentials; on success open a server-side session. Always audited."""
    try:
        address = normalise_email(email)
    except ValueError:
        address = None
    user = db.session.scalar(select(User).where(User.email == address)) if address else None
    if user is None:
        passwords.dummy_verify(password)
        record_audit_event(actor, "login", outcome="failure", detail="unknown account")
        return LoginOutcome(None, None)
    if not passwords.verify_password(user.password_hash, password) or not user.active:
        reason = "wrong password" if user.active else "account deactivated"
        # Whoever typed the password is unknown: the account is the object, not the actor.
        record_audit_event(
            actor,
            "login",
            outcome="failure",
            object_type="users",
            object_id=user.id,
            detail=reason,
        )
        return LoginOutcome(None, None)
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    now = clock.now()
    user.last_login_at = now
    session = StaffSession(
        id=secrets.token_urlsafe(32),
        user_id=user.id,
        started_at=now,
        last_seen_at=now,
        ip=actor.ip,
        user_agent=(user_agent or "")[:200] or None,
    )
    db.session.add(session)
    record_audit_event(_actor_for(user, actor), "login", object_type="users", object_id=user.id)
    return LoginOutcome(user, session.id)


def load_session_user(
    session_id: str, user_id: int, idle_minutes: int, max_hours: int
) -> User | None:
    """The user behind a live session, or None if it ended, expired or the user was disabled."""
    session = db.session.get(StaffSession, session_id)
    if session is None or session.ended_at is not None or session.user_id != user_id:
        return None
    now = clock.now()
    if not session.user.active:
        _end(session, "deactivated")
        return None
    if now - session.last_seen_at > timedelta(minutes=idle_minutes):
        _end(session, "idle")
        return None
    if now - session.started_at > timedelta(hours=max_hours):
        _end(session, "expired")
        return None
    if now - session.last_seen_at > timedelta(minutes=1):
        session.last_seen_at = now
    return session.user


def _end(session: StaffSession, reason: str) -> None:
    session.ended_at = clock.now()
    session.ended_reason = reason


def log_out(session_id: str, actor: Actor) -> None:
    """End the session so that a copy of its cookie no longer works."""
    session = db.session.get(StaffSession, session_id)
    if session is not None and session.ended_at is None:
        _end(session, "logout")
    record_audit_event(actor, "logout", object_type="users", object_id=actor.user_id)


def end_all_sessions(user_id: int, reason: str, keep: str | None = None) -> int:
    """End every open session of a user (except ``keep``); returns how many."""
    stmt = (
        update(StaffSession)
        .where(StaffSession.user_id == user_id, StaffSession.ended_at.is_(None))
        .values(ended_at=clock.now(), ended_reason=reason)
    )
    if keep is not None:
        stmt = stmt.where(StaffSession.id != keep)
    result = db.session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


def _field(errors: dict[str, list[str]], name: str, parse: object, *args: object) -> object:
    try:
        return parse(*args)  # type: ignore[operator]
    except ValueError as exc:
        errors.setdefault(name, []).append(str(exc))
        return None


def validate_staff_details(details: StaffDetails, user_id: int | None = None) -> StaffDetails:
    """Canonical details, or DomainError listing every field that is wrong."""
    errors: dict[str, list[str]] = {}
    name = _field(
        errors, "name", lambda v: clean_text(v, label="Name", max_length=120), details.name
    )
    email = _field(errors, "email", normalise_email, details.email)
    role = _field(errors, "role", parse_role, details.role or "")
    phone = None
    if details.phone and details.phone.strip():
        phone = _field(errors, "phone", normalise_phone, details.phone)
    if isinstance(email, str):
        if email.split("@", 1)[0] in SHARED_MAILBOXES:
            errors.setdefault("email", []).append(
                "Accounts are personal: use the person's own address, not a team mailbox."
            )
        clash = db.session.scalar(
            select(User.id).where(func.lower(User.email) == email, User.id != (user_id or 0))
        )
        if clash is not None:
            errors.setdefault("email", []).append("Another account already uses this email.")
    if errors:
        raise DomainError("Please correct the highlighted fields.", field_errors=errors)
    return StaffDetails(
        str(name),
        str(email),
        str(role),
        str(phone) if phone else None,
        details.active,
        details.available,
    )


def _check_password(password: str | None, details: StaffDetails) -> str:
    local_part = (details.email or "").split("@")[0]
    # The whole name and address, and each word of them ("Marigold", "featherstone").
    personal = (
        details.name or "",
        local_part,
        *re.split(r"[\s._+-]+", f"{details.name or ''} {local_part}"),
    )
    problems = passwords.password_problems(password or "", personal=personal)
    if problems:
        raise DomainError("Choose a different password.", field_errors={"password": problems})
    return passwords.hash_password(password or "")


def create_user(details: StaffDetails, password: str | None, actor: Actor) -> User:
    """Create a personal staff account with a password that meets the policy."""
    clean = validate_staff_details(details)
    user = User(
        name=clean.name,
        email=clean.email,
        role=clean.role,
        phone=clean.phone,
        active=clean.active,
        available=clean.available,
        password_hash=_check_password(password, clean),
        password_changed_at=clock.now(),
    )
    db.session.add(user)
    db.session.flush()
    record_audit_event(
        actor, "create", object_type="users", object_id=user.id, detail=f"role={user.role}"
    )
    return user


def update_user(
    user_id: int, details: StaffDetails, new_password: str | None, actor: Actor
) -> User:
    """Change an account; deactivation, a role change or a password reset ends its sessions."""
    user = db.session.get(User, user_id)
    if user is None:
        raise DomainError("No such staff account.", ErrorKind.NOT_FOUND)
    clean = validate_staff_details(details, user_id=user_id)
    if user_id == actor.user_id and (not clean.active or clean.role != user.role):
        raise DomainError("You cannot deactivate your own account or change your own role.")
    changed = [
        f
        for f in ("name", "email", "role", "phone", "active", "available")
        if getattr(user, f) != getattr(clean, f)
    ]
    if new_password:
        user.password_hash = _check_password(new_password, clean)
        user.password_changed_at = clock.now()
        changed.append("password")
    user.name, user.email, user.role = str(clean.name), str(clean.email), str(clean.role)
    user.phone, user.active, user.available = clean.phone, clean.active, clean.available
    if {"active", "role", "password", "email"} & set(changed):
        end_all_sessions(user.id, "account changed")
    record_audit_event(
        actor,
        "update",
        object_type="users",
        object_id=user.id,
        detail="changed: " + (", ".join(changed) or "nothing"),
    )
    return user


def change_own_password(
    user_id: int, current: str, new: str, session_id: str | None, actor: Actor
) -> None:
    """A staff member changes their password; their other sessions end."""
    user = db.session.get(User, user_id)
    if user is None or not passwords.verify_password(user.password_hash, current):
        raise DomainError(
            "Your current password is not correct.",
            field_errors={"current_password": ["Not correct."]},
        )
    details = StaffDetails(user.name, user.email, user.role)
    user.password_hash = _check_password(new, details)
    user.password_changed_at = clock.now()
    end_all_sessions(user.id, "password changed", keep=session_id)
    record_audit_event(
        actor, "update", object_type="users", object_id=user.id, detail="changed: own password"
    )
