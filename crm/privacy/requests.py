"""Rights requests: logging one, finding whom it concerns, verifying identity, extending the
due date, closing it; the reminder a week before it is due. Services: they never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import or_, select

from crm import clock
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.intake.models import Contact, Lead
from crm.intake.references import parse_reference
from crm.oncall import reminders
from crm.oncall.models import Reminder
from crm.oncall.wallclock import local_date, local_to_utc
from crm.privacy import deadlines
from crm.privacy.models import (
    RECEIVED_VIA,
    REQUEST_KINDS,
    RightsRequest,
    RightsRequestSubject,
)
from crm.privacy.services import Actor, record_audit_event
from crm.validation import clean_text, normalise_email, normalise_phone

KIND_LABELS = {
    "access": "Subject access",
    "erasure": "Erasure",
    "rectification": "Rectification",
    "restriction": "Restriction",
    "objection": "Objection",
}
OPEN_STATUSES = ("received", "verified")
REMINDER_AT = time(9, 0)  # UK time, a week before the due date


@dataclass(frozen=True)
class NewRequest:
    """What an admin types when a request arrives."""

    kind: str
    requester_name: str
    requester_phone: str | None
    requester_email: str | None
    received_via: str
    received_at: datetime
    description: str
    find: str  # phone numbers, emails or lead references, separated by commas or lines


def get_request(request_id: int) -> RightsRequest:
    row = db.session.get(RightsRequest, request_id)
    if row is None:
        raise DomainError("No such rights request.", ErrorKind.NOT_FOUND)
    return row


def find_contacts(terms: str) -> tuple[list[Contact], list[str]]:
    """Contacts found by each phone, email or lead reference in ``terms``, and the terms that
    found nobody (so the admin sees exactly what did not match)."""
    found: dict[int, Contact] = {}
    missed: list[str] = []
    for term in _split(terms):
        contacts = _contacts_for(term)
        if not contacts:
            missed.append(term)
        for contact in contacts:
            found.setdefault(contact.id, contact)
    return sorted(found.values(), key=lambda c: c.id), missed


def _split(terms: str) -> list[str]:
    raw = (terms or "").replace(";", ",").replace("\n", ",").split(",")
    return [t.strip()[:254] for t in raw if t.strip()][:20]


def _contacts_for(term: str) -> list[Contact]:
    reference = parse_reference(term)
    if reference:
        lead = db.session.scalar(select(Lead).where(Lead.reference == reference))
        if lead is not None:
            return [c for c in (db.session.get(Contact, lead.client_id),) if c is not None]
    if "@" in term:
        try:
            email = normalise_email(term)
        except ValueError:
            return []
        return list(db.session.scalars(select(Contact).where(Contact.email == email)))
    try:
        phone = normalise_phone(term)
    except ValueError:
        return []
    return list(db.session.scalars(select(Contact).where(Contact.phone == phone)))


def _clean_new(new: NewRequest) -> tuple[str, str | None, str | None, str]:
    if new.kind not in REQUEST_KINDS:
        raise DomainError(f"Unknown kind of request {new.kind!r}.")
    if new.received_via not in RECEIVED_VIA:
        raise DomainError(f"Unknown way of receiving a request {new.received_via!r}.")
    if new.received_at > clock.now() + timedelta(minutes=5):
        raise DomainError(
            "A request cannot be received in the future.",
            field_errors={"received_at": ["That time has not come yet."]},
        )
    try:
        name = clean_text(new.requester_name, label="Requester's name", max_length=120)
        description = clean_text(
            new.description, label="Description", max_length=5000, required=False
        )
        phone = normalise_phone(new.requester_phone) if new.requester_phone else None
        email = normalise_email(new.requester_email) if new.requester_email else None
    except ValueError as exc:
        raise DomainError(str(exc)) from None
    return name, phone, email, description


def log_request(new: NewRequest, actor: Actor) -> RightsRequest:
    """Record a request, the contacts it concerns and the reminder a week before it is due.
    An erasure or access request that finds nobody is refused: there is nothing to act on."""
    name, phone, email, description = _clean_new(new)
    contacts, missed = find_contacts(new.find)
    if missed:
        raise DomainError(
            "Nobody was found for " + ", ".join(repr(m) for m in missed) + ": check the phone "
            "number, email or lead reference (nothing was recorded).",
            field_errors={"find": ["Nobody found for: " + ", ".join(missed)]},
        )
    if not contacts:
        raise DomainError(
            "Give the phone number, email or lead reference of the person the request is about.",
            field_errors={"find": ["Required."]},
        )
    row = RightsRequest(
        kind=new.kind,
        status="received",
        requester_name=name,
        requester_phone=phone,
        requester_email=email,
        description=description,
        received_via=new.received_via,
        received_at=new.received_at,
        due_on=deadlines.due_on(local_date(new.received_at)),
        handled_by_id=actor.user_id,
        created_at=clock.now(),
        created_by_id=actor.user_id,
    )
    db.session.add(row)
    db.session.flush()
    for contact in contacts:
        db.session.add(
            RightsRequestSubject(
                rights_request_id=row.id, contact_id=contact.id, added_by_id=actor.user_id
            )
        )
    _set_reminder(row)
    record_audit_event(
        actor, "create", object_type="rights_requests", object_id=row.id, detail=row.kind
    )
    return row


def _reminder_due(due: date) -> datetime:
    return max(local_to_utc(deadlines.reminder_day(due), REMINDER_AT), clock.now())


def _set_reminder(row: RightsRequest) -> None:
    """One open rights_request_due reminder per request, a week before its due date."""
    due_at = _reminder_due(row.effective_due_on)
    existing = _open_reminder(row.id)
    if existing is not None:
        existing.due_at, existing.escalate_at = due_at, due_at + timedelta(days=1)
        existing.status, existing.notified_at = "pending", None
        return
    reminder = reminders.create_reminder(
        "rights_request_due",
        due_at,
        owner_id=row.handled_by_id,
        lead_id=None,
        note=f"{KIND_LABELS[row.kind]} request {row.id} due {row.effective_due_on:%d %b %Y}",
        grace_minutes=24 * 60,
    )
    reminder.rights_request_id = row.id


def _open_reminder(request_id: int) -> Reminder | None:
    return db.session.scalar(
        select(Reminder).where(
            Reminder.rights_request_id == request_id,
            Reminder.status.in_(reminders.OPEN_REMINDER),
        )
    )


def _check_open(row: RightsRequest) -> None:
    if not row.is_open:
        raise DomainError(f"Request {row.id} is {row.status}: it cannot be changed.")


def verify_identity(request_id: int, method: str | None, actor: Actor) -> RightsRequest:
    """Record how the requester's identity was checked; nothing is released before it."""
    row = get_request(request_id)
    _check_open(row)
    try:
        how = clean_text(method, label="How identity was verified", max_length=200)
    except ValueError as exc:
        raise DomainError(
            "Say how the requester's identity was verified (for example: photo ID by email, "
            "and a call back on the number we hold).",
            field_errors={"method": [str(exc)]},
        ) from None
    row.identity_verified_at, row.identity_method = clock.now(), how
    row.verified_by_id, row.status = actor.user_id, "verified"
    record_audit_event(actor, "verify_identity", object_type="rights_requests", object_id=row.id)
    return row


def require_verified(row: RightsRequest) -> None:
    """Nothing about a person is released or erased before their identity is verified."""
    if row.identity_verified_at is None:
        raise DomainError(
            f"Request {row.id} has no verified identity: verify who is asking before acting on it."
        )


def extend(request_id: int, extended_to: date | None, reason: str | None, actor: Actor) -> None:
    """Extend the due date by up to two months, with a reason; the reminder moves with it."""
    row = get_request(request_id)
    _check_open(row)
    try:
        text = deadlines.check_extension(row.due_on, extended_to, reason)
    except ValueError as exc:
        raise DomainError(str(exc), field_errors={"extended_to": [str(exc)]}) from None
    row.extended_due_on, row.extension_reason = extended_to, text[:500]
    _set_reminder(row)
    record_audit_event(actor, "extend", object_type="rights_requests", object_id=row.id)


def close_request(request_id: int, status: str, outcome: str | None, actor: Actor) -> None:
    """Complete, refuse or mark withdrawn, with what was done (or why not)."""
    row = get_request(request_id)
    _check_open(row)
    if status not in ("completed", "refused", "withdrawn"):
        raise DomainError(f"Unknown outcome {status!r}.")
    try:
        text = clean_text(outcome, label="Outcome", max_length=5000)
    except ValueError as exc:
        raise DomainError(
            "Say what was done, or why the request was refused.",
            field_errors={"outcome": [str(exc)]},
        ) from None
    if status == "completed":
        require_verified(row)
    row.status, row.outcome, row.closed_at = status, text, clock.now()
    open_reminder = _open_reminder(row.id)
    if open_reminder is not None:
        open_reminder.status, open_reminder.done_at = "done", clock.now()
    record_audit_event(actor, status, object_type="rights_requests", object_id=row.id)


def subject_ids(request_id: int) -> list[int]:
    return list(
        db.session.scalars(
            select(RightsRequestSubject.contact_id)
            .where(RightsRequestSubject.rights_request_id == request_id)
            .order_by(RightsRequestSubject.contact_id)
        )
    )


def leads_of(contact_ids: list[int]) -> list[Lead]:
    """Every lead on which the contacts are the client or the caller, oldest first."""
    if not contact_ids:
        return []
    return list(
        db.session.scalars(
            select(Lead)
            .where(or_(Lead.client_id.in_(contact_ids), Lead.caller_id.in_(contact_ids)))
            .order_by(Lead.id)
        )
    )


def overdue(today: date | None = None, limit: int = 20) -> list[RightsRequest]:
    """Open requests past their (extended) due date, most overdue first: the dashboard's."""
    day = today or local_date(clock.now())
    rows = db.session.scalars(
        select(RightsRequest)
        .where(RightsRequest.status.in_(OPEN_STATUSES), RightsRequest.due_on < day + timedelta(1))
        .order_by(RightsRequest.due_on)
    ).all()
    return [r for r in rows if r.effective_due_on < day][:limit]


def open_requests(limit: int = 200) -> list[RightsRequest]:
    return list(
        db.session.scalars(
            select(RightsRequest)
            .order_by(RightsRequest.status.in_(OPEN_STATUSES).desc(), RightsRequest.due_on)
            .limit(limit)
        )
    )
