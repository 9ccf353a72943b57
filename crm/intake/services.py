"""Capturing enquiries: callback requests and staff-logged leads, de-duplication, assignment."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, or_, select

from crm import clock
from crm.auth.models import User
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.intake.callback import CallbackRequestData
from crm.intake.models import (
    ApiKey,
    Assignment,
    CallbackRequest,
    Contact,
    Lead,
    StageChange,
)
from crm.intake.references import new_reference
from crm.intake.stages import OPEN_STAGES, Stage
from crm.intake.vocabulary import SOURCES
from crm.oncall import reminders
from crm.privacy.services import Actor, record_audit_event, record_consent, record_disclosure

OPEN_STAGE_VALUES = tuple(s.value for s in OPEN_STAGES)


@dataclass(frozen=True)
class CaptureResult:
    """What happened to a callback request: a new lead, or attached to an open one."""

    lead: Lead
    created: bool
    replayed: bool = False


# --- contacts and de-duplication -------------------------------------------------------------


def find_contact(phone: str | None, email: str | None) -> Contact | None:
    """The contact with this normalised phone (preferred) or email, if we hold one."""
    if phone:
        found = db.session.scalar(select(Contact).where(Contact.phone == phone).limit(1))
        if found is not None:
            return found
    if email:
        return db.session.scalar(select(Contact).where(Contact.email == email).limit(1))
    return None


def _open_first(contact_id: int) -> Any:
    """Leads of a contact (as client or caller): the open one first, then the newest."""
    is_open = and_(Lead.stage.in_(OPEN_STAGE_VALUES), Lead.merged_into_id.is_(None))
    return (
        select(Lead)
        .where(or_(Lead.caller_id == contact_id, Lead.client_id == contact_id))
        .order_by(case((is_open, 0), else_=1), Lead.created_at.desc())
        .limit(1)
    )


def open_lead_for(contact: Contact) -> Lead | None:
    """The contact's open lead (as client or caller), if any: repeats attach to it."""
    lead = db.session.scalar(_open_first(contact.id))
    return lead if lead is not None and _is_open(lead) else None


def _is_open(lead: Lead) -> bool:
    return lead.stage in OPEN_STAGE_VALUES and lead.merged_into_id is None


def _leads_of(contact: Contact, is_new: bool) -> tuple[Lead | None, Lead | None]:
    """(the open lead to attach to, the latest lead) in one query; none for a new contact."""
    if is_new:
        return None, None
    lead = db.session.scalar(_open_first(contact.id))
    if lead is None:
        return None, None
    return (lead if _is_open(lead) else None), lead


def reference_taken(reference: str) -> bool:
    return db.session.scalar(select(Lead.id).where(Lead.reference == reference)) is not None


def unique_reference() -> str:
    for _ in range(10):
        reference = new_reference()
        if not reference_taken(reference):
            return reference
    raise RuntimeError("could not find a free lead reference")  # 30^6 space: practically never


def _free_reference(wanted: str | None) -> str:
    """``wanted`` (the reference the intake already gave the person) if no lead has it yet."""
    if wanted and not reference_taken(wanted):
        return wanted
    return unique_reference()


# --- assignment ------------------------------------------------------------------------------


def next_owner_round_robin() -> User | None:
    """The available, active admissions person who was given a lead longest ago."""
    query = (
        select(User)
        .where(User.role == "admissions", User.active.is_(True), User.available.is_(True))
        .order_by(User.last_assigned_at.is_not(None), User.last_assigned_at, User.id)
        .limit(1)
    )
    if db.engine.dialect.name != "postgresql":
        return db.session.scalar(query)
    # Skip advisors another request is assigning right now; if all are taken, wait for one
    # rather than leave the lead unassigned (seen with 8 concurrent requests, 4 advisors).
    owner = db.session.scalar(query.with_for_update(skip_locked=True))
    return owner if owner is not None else db.session.scalar(query.with_for_update())


def assign(lead: Lead, owner: User | None, actor: Actor, reason: str) -> None:
    """Give ``lead`` to ``owner`` (None: unassigned) and record it on the timeline."""
    if owner is not None and (not owner.active or owner.role == "admin"):
        raise DomainError("Leads can only be given to active admissions staff or managers.")
    if owner is not None and lead.owner_id == owner.id:
        raise DomainError(f"The lead is already assigned to {owner.name}.")
    _record_assignment(lead.id, lead.owner_id, owner, actor, reason)
    lead.owner_id = owner.id if owner else None
    lead.updated_at = clock.now()


def _record_assignment(
    lead_id: int,
    from_user_id: int | None,
    owner: User | None,
    actor: Actor,
    reason: str,
    at: datetime | None = None,
) -> None:
    """The assignment's timeline row; the owner moves to the back of the round-robin."""
    at = at or clock.now()
    db.session.add(
        Assignment(
            lead_id=lead_id,
            from_user_id=from_user_id,
            to_user_id=owner.id if owner else None,
            actor_id=actor.user_id,
            reason=reason,
            assigned_at=at,
        )
    )
    if owner is not None:
        owner.last_assigned_at = at


# --- capture ---------------------------------------------------------------------------------


def _new_lead(
    client: Contact,
    caller: Contact,
    data: CallbackRequestData,
    source: str,
    target_minutes: int,
    actor: Actor,
    now: datetime,
    taken_by: User | None = None,
    previous: Lead | None = None,
    reference: str | None = None,
) -> Lead:
    # Staff logging a call keep the lead they are on; otherwise the next person in turn.
    # Chosen before the insert so the lead is written once, with its owner.
    owner = taken_by or next_owner_round_robin()
    lead = Lead(
        reference=_free_reference(reference),
        client_id=client.id,
        caller_id=caller.id,
        caller_relationship=data.relationship,
        source=source,
        utm=data.utm or None,
        stage=Stage.NEW.value,
        created_at=now,
        updated_at=now,
        last_request_at=now,
        callback_due_at=now + timedelta(minutes=target_minutes),
        request_count=1,
        is_returning=previous is not None,
        previous_lead_id=previous.id if previous else None,
        owner_id=owner.id if owner else None,
    )
    db.session.add(lead)
    db.session.flush()
    db.session.add(
        StageChange(
            lead_id=lead.id,
            from_stage=None,
            to_stage=Stage.NEW.value,
            reason=f"Recorded from {SOURCES.get(source, source).lower()}",
            actor_id=actor.user_id,
            changed_at=now,
        )
    )
    if owner is not None:
        _record_assignment(
            lead.id, None, owner, actor, "logged the enquiry" if taken_by else "round-robin", now
        )
    # Same transaction: the reminder (and out of hours, the page) exists iff the lead does.
    reminders.route_new_callback(lead.id, lead.reference, lead.owner_id, lead.callback_due_at)
    return lead


def _caller_contact(data: CallbackRequestData, now: datetime) -> tuple[Contact, bool]:
    """The person asking (found by phone or email, or new) and whether they are new."""
    contact = find_contact(data.phone, data.email)
    if contact is None:
        contact = Contact(
            name=data.name,
            phone=data.phone,
            email=data.email,
            preferred_contact_times=data.best_time_to_call,
            created_at=now,
        )
        db.session.add(contact)
        db.session.flush()
        return contact, True
    # Fill gaps, never overwrite what staff may have corrected.
    contact.phone = contact.phone or data.phone
    contact.email = contact.email or data.email
    if data.best_time_to_call:
        contact.preferred_contact_times = data.best_time_to_call
    return contact, False


def capture_callback_request(
    data: CallbackRequestData,
    *,
    source: str,
    channel: str,
    target_minutes: int,
    actor: Actor,
    api_key_id: int | None = None,
    taken_by: User | None = None,
    received_at: datetime | None = None,
    reference: str | None = None,
) -> CaptureResult:
    """Record a callback request: attach to the person's open lead or start a new one.

    ``received_at`` (default now) is when the person asked: the lead, its callback due time,
    the request, consents and disclosure date from it. ``reference`` is the one the intake
    already gave them, used for a new lead unless another lead has it.
    """
    now = received_at or clock.now()
    caller, is_new = _caller_contact(data, now)
    lead, previous = _leads_of(caller, is_new)
    created = lead is None
    if lead is None:
        client = caller
        if data.for_someone_else:
            client = Contact(
                name=data.client_name or f"(someone {data.name} knows)", created_at=now
            )
            db.session.add(client)
            db.session.flush()
        lead = _new_lead(
            client, caller, data, source, target_minutes, actor, now, taken_by, previous, reference
        )
    else:
        lead.request_count += 1
        lead.last_request_at = max(now, clock.as_utc(lead.last_request_at))
        lead.updated_at = clock.now()
    health = data.consent_to_health_details
    db.session.add(
        CallbackRequest(
            lead_id=lead.id,
            received_at=now,
            source=source,
            best_time_to_call=data.best_time_to_call,
            substances=list(data.substances) if health and data.substances else None,
            message=data.message if health else None,
            page_url=data.page_url,
            api_key_id=api_key_id,
            repeat=not created,
        )
    )
    version = data.consent_wording_version
    record_consent(caller.id, lead.id, "contact", True, version, channel, at=now)
    record_consent(caller.id, lead.id, "health_details", health, version, channel, at=now)
    record_disclosure(lead.id, data.disclosure_wording_version, channel, at=now)
    record_audit_event(
        actor,
        "create" if created else "update",
        object_type="leads",
        object_id=lead.id,
        detail="callback request" + ("" if created else " (requested again)"),
    )
    return CaptureResult(lead, created)


def log_enquiry(
    data: CallbackRequestData, *, source: str, target_minutes: int, actor: Actor
) -> CaptureResult:
    """Staff record an enquiry that came by phone, email or a partner (same rules as the web)."""
    channel = {"phone": "phone", "email": "email"}.get(source, "other")
    user = db.session.get(User, actor.user_id) if actor.user_id is not None else None
    taken_by = user if user is not None and user.active and user.role != "admin" else None
    return capture_callback_request(
        data,
        source=source,
        channel=channel,
        target_minutes=target_minutes,
        actor=actor,
        taken_by=taken_by,
    )


# --- API keys and idempotency ----------------------------------------------------------------


def _hash_key(secret: str) -> str:
    # API keys are 256-bit random: a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_api_key(name: str, actor: Actor) -> tuple[ApiKey, str]:
    """Make a key for a website; the secret is returned once and only its hash is kept."""
    label = (name or "").strip()
    if not label or len(label) > 120:
        raise DomainError(
            "Name the website the key is for (up to 120 characters).",
            field_errors={"name": ["Required, up to 120 characters."]},
        )
    prefix = secrets.token_hex(4)
    secret = f"crm_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        name=label,
        prefix=prefix,
        key_hash=_hash_key(secret),
        created_by_id=actor.user_id,
        created_at=clock.now(),
    )
    db.session.add(key)
    db.session.flush()
    record_audit_event(actor, "create", object_type="api_keys", object_id=key.id)
    return key, secret


def revoke_api_key(key_id: int, actor: Actor) -> ApiKey:
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise DomainError("No such API key.", ErrorKind.NOT_FOUND)
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        record_audit_event(
            actor, "update", object_type="api_keys", object_id=key.id, detail="revoked"
        )
    _KEYS.pop(key.prefix, None)  # this process at once; the others within API_KEY_CACHE
    return key


@dataclass(frozen=True)
class KnownKey:
    """An active website key as the intake endpoint knows it (cached; no ORM object)."""

    id: int
    prefix: str
    key_hash: str
    read_at: datetime


# Keys read in the last few seconds, by prefix: the endpoint checks a key without a query.
# A revocation reaches every process within API_KEY_CACHE (this one at once).
API_KEY_CACHE = timedelta(seconds=5)
_KEYS: dict[str, KnownKey] = {}


def _known_key(prefix: str) -> KnownKey | None:
    now = clock.now()
    cached = _KEYS.get(prefix)
    if cached is not None and timedelta(0) <= now - cached.read_at < API_KEY_CACHE:
        return cached
    row = db.session.execute(
        select(ApiKey.id, ApiKey.key_hash).where(
            ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        _KEYS.pop(prefix, None)  # unknown prefixes are not kept: guessing must not fill memory
        return None
    known = KnownKey(row.id, prefix, row.key_hash, now)
    _KEYS[prefix] = known
    return known


def authenticate_api_key(secret: str | None) -> KnownKey | None:
    """The active key matching ``secret``, compared in constant time; None otherwise."""
    if not secret or not secret.startswith("crm_") or len(secret) > 100:
        return None
    parts = secret.split("_", 2)
    if len(parts) != 3:
        return None
    key = _known_key(parts[1])
    if key is None or not secrets.compare_digest(key.key_hash, _hash_key(secret)):
        return None
    return key


API_KEY_USE_RESOLUTION = timedelta(minutes=1)


def note_api_key_used(key_id: int) -> None:
    """Keep "last used" to the minute: every request rewriting one row would serialise them."""
    key = db.session.get(ApiKey, key_id)
    now = clock.now()
    if key is not None and (
        key.last_used_at is None or now - key.last_used_at >= API_KEY_USE_RESOLUTION
    ):
        key.last_used_at = now


def request_fingerprint(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
