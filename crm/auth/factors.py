"""Second factors: the policy by role, enrolling an authenticator app, one-time recovery
codes, passing the second step (which is what makes a session signed in), step-up freshness,
and an admin resetting someone else's factors. Services: they never commit."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, func, select

from crm import clock
from crm.auth import passwords, totp
from crm.auth.models import Passkey, RecoveryCode, StaffSession, TotpFactor, User
from crm.auth.services import end_all_sessions
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.privacy.services import Actor, record_audit_event

RECOVERY_CODES = 10
ENROL_SALT = "totp-enrolment"
ENROL_MINUTES = 15
# Recovery codes: 10 characters from an alphabet with no look-alikes, shown as xxxxx-xxxxx.
_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"


@dataclass(frozen=True)
class Policy:
    """Which roles must use a second factor (managers and admins always)."""

    required_roles: frozenset[str]

    @classmethod
    def from_settings(cls, settings: Any) -> Policy:
        roles = {"manager", "admin"}
        if getattr(settings, "admissions_second_factor", "optional") == "required":
            roles.add("admissions")
        return cls(frozenset(roles))

    def requires(self, role: str) -> bool:
        return role in self.required_roles


@dataclass(frozen=True)
class Factors:
    """What a staff member has enrolled."""

    totp: bool
    passkeys: int
    recovery_left: int

    @property
    def any(self) -> bool:
        return self.totp or self.passkeys > 0


def factors_of(user_id: int) -> Factors:
    confirmed = db.session.scalar(
        select(TotpFactor.id).where(
            TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_not(None)
        )
    )
    passkeys = db.session.scalar(select(func.count()).where(Passkey.user_id == user_id)) or 0
    return Factors(confirmed is not None, int(passkeys), recovery_left(user_id))


def recovery_left(user_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.count()).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )


def next_step(user: User, policy: Policy) -> str | None:
    """After the password: "enrol" (required, nothing enrolled), "verify" (a factor is
    enrolled, required or not), or None (optional and nothing enrolled: signed in)."""
    enrolled = factors_of(user.id).any
    if enrolled:
        return "verify"
    return "enrol" if policy.requires(user.role) else None


# --- enrolling an authenticator app -----------------------------------------------------------


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=ENROL_SALT)


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def start_totp(user_id: int, secret_key: str) -> tuple[str, str]:
    """A new secret for the person to scan (replacing an unconfirmed one), and the signed
    enrolment token the confirmation must carry."""
    row = db.session.scalar(select(TotpFactor).where(TotpFactor.user_id == user_id))
    if row is not None and row.confirmed_at is not None:
        raise DomainError(
            "An authenticator app is already set up: remove it before adding another."
        )
    secret = totp.new_secret()
    if row is None:
        row = TotpFactor(user_id=user_id, secret=secret, created_at=clock.now())
        db.session.add(row)
    else:
        row.secret, row.created_at, row.last_step = secret, clock.now(), None
    db.session.flush()
    token = _serializer(secret_key).dumps({"u": user_id, "s": _fingerprint(secret)})
    return secret, token


def confirm_totp(
    user_id: int, token: str | None, code: str | None, secret_key: str, actor: Actor
) -> list[str]:
    """Confirm the app with its first code; returns new recovery codes (shown once)."""
    row = db.session.scalar(select(TotpFactor).where(TotpFactor.user_id == user_id))
    problem = _token_problem(token, user_id, row, secret_key)
    if problem or row is None:
        record_audit_event(actor, "factor_added", outcome="failure", detail=f"totp: {problem}")
        raise DomainError(problem or "Start again: scan a new code.")
    try:
        step = totp.verify(row.secret, code, clock.now(), row.last_step)
    except totp.CodeRefused as exc:
        record_audit_event(actor, "factor_added", outcome="failure", detail="totp: wrong code")
        raise DomainError(str(exc), field_errors={"code": [str(exc)]}) from None
    row.confirmed_at, row.last_step = clock.now(), step
    record_audit_event(actor, "factor_added", object_type="users", object_id=user_id, detail="totp")
    return new_recovery_codes(user_id, actor) if recovery_left(user_id) == 0 else []


def _token_problem(
    token: str | None, user_id: int, row: TotpFactor | None, secret_key: str
) -> str | None:
    if not token:
        return "The enrolment token is missing: scan the code on this page again."
    try:
        data: Any = _serializer(secret_key).loads(token, max_age=ENROL_MINUTES * 60)
    except SignatureExpired:
        return "This enrolment has expired: start again and scan the new code."
    except BadSignature:
        return "The enrolment token is not valid: start again."
    if row is None or row.confirmed_at is not None:
        return "There is no enrolment in progress: start again."
    if not isinstance(data, dict) or data.get("u") != user_id:
        return "The enrolment token is not valid: start again."
    if data.get("s") != _fingerprint(row.secret):
        return "This enrolment was replaced by a newer one: scan the latest code."
    return None


def remove_totp(user_id: int, policy: Policy, actor: Actor) -> None:
    check_not_last(user_id, "totp", policy)
    db.session.execute(delete(TotpFactor).where(TotpFactor.user_id == user_id))
    record_audit_event(
        actor, "factor_removed", object_type="users", object_id=user_id, detail="totp"
    )


def check_not_last(user_id: int, removing: str, policy: Policy) -> None:
    """A person whose role requires a second factor cannot remove their last one."""
    user = db.session.get(User, user_id)
    have = factors_of(user_id)
    left = (0 if removing == "totp" else int(have.totp)) + have.passkeys
    left -= 1 if removing == "passkey" else 0
    if user is not None and policy.requires(user.role) and left <= 0:
        raise DomainError(
            "This is your last second factor and your role requires one: add another first."
        )


# --- recovery codes ----------------------------------------------------------------------------


def _new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def _normal(code: str | None) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def new_recovery_codes(user_id: int, actor: Actor) -> list[str]:
    """Ten new one-time codes (the old ones stop working); stored as argon2 hashes."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    codes = [_new_code() for _ in range(RECOVERY_CODES)]
    now = clock.now()
    for code in codes:
        db.session.add(
            RecoveryCode(
                user_id=user_id, code_hash=passwords.hash_password(_normal(code)), created_at=now
            )
        )
    record_audit_event(actor, "recovery_codes_created", object_type="users", object_id=user_id)
    return codes


# --- the second step -----------------------------------------------------------------------


def _session(session_id: str, user_id: int) -> StaffSession:
    row = db.session.get(StaffSession, session_id)
    if row is None or row.user_id != user_id or row.ended_at is not None:
        raise DomainError("Your sign-in has ended: sign in again.", ErrorKind.FORBIDDEN)
    return row


def mark_passed(session_id: str, user_id: int, factor: str) -> None:
    row = _session(session_id, user_id)
    row.second_factor_at, row.second_factor = clock.now(), factor


def verify_code(user_id: int, session_id: str, code: str | None, actor: Actor) -> None:
    """The authenticator code as the second step; audited either way."""
    row = db.session.scalar(
        select(TotpFactor).where(
            TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_not(None)
        )
    )
    if row is None:
        raise DomainError("No authenticator app is set up for this account.")
    try:
        row.last_step = totp.verify(row.secret, code, clock.now(), row.last_step)
    except totp.CodeRefused as exc:
        record_audit_event(
            actor, "second_factor", outcome="failure", object_type="users", object_id=user_id,
            detail=f"totp: {exc}"[:200],
        )  # fmt: skip
        raise DomainError(str(exc), field_errors={"code": [str(exc)]}) from None
    mark_passed(session_id, user_id, "totp")
    record_audit_event(
        actor, "second_factor", object_type="users", object_id=user_id, detail="totp"
    )


def use_recovery_code(user_id: int, session_id: str, code: str | None, actor: Actor) -> int:
    """A recovery code as the second step, once; returns how many are left."""
    typed = _normal(code)
    match = None
    if len(typed) == 10:
        for row in db.session.scalars(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        ):
            if passwords.verify_password(row.code_hash, typed):
                match = row
                break
    if match is None:
        record_audit_event(
            actor, "recovery_code_used", outcome="failure", object_type="users",
            object_id=user_id,
        )  # fmt: skip
        raise DomainError(
            "That recovery code is wrong or was already used.",
            field_errors={"recovery_code": ["Not accepted."]},
        )
    match.used_at = clock.now()
    mark_passed(session_id, user_id, "recovery")
    left = recovery_left(user_id)
    record_audit_event(
        actor, "recovery_code_used", object_type="users", object_id=user_id,
        detail=f"{left} left",
    )  # fmt: skip
    return left


def is_fresh(session_id: str, minutes: int) -> bool:
    """Whether the session passed its second step within ``minutes`` (step-up)."""
    row = db.session.get(StaffSession, session_id)
    if row is None or row.second_factor_at is None:
        return False
    return clock.now() - row.second_factor_at <= timedelta(minutes=minutes)


# --- an admin's reset ------------------------------------------------------------------------


def reset_factors(target_id: int, actor: Actor) -> None:
    """Remove every factor of another staff member (a lost phone) and end their sessions; they
    enrol again at their next sign-in. Never one's own: a second admin must do it."""
    if target_id == actor.user_id:
        record_audit_event(
            actor, "factors_reset", outcome="denied", object_type="users", object_id=target_id,
            detail="own account",
        )  # fmt: skip
        raise DomainError("You cannot reset your own second factors: ask another admin.")
    target = db.session.get(User, target_id)
    if target is None:
        raise DomainError("No such staff member.", ErrorKind.NOT_FOUND)
    for model in (TotpFactor, RecoveryCode, Passkey):
        db.session.execute(delete(model).where(model.user_id == target_id))
    end_all_sessions(target_id, "factors_reset")
    record_audit_event(actor, "factors_reset", object_type="users", object_id=target_id)
