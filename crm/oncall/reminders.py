"""Reminders, office hours and routing a new callback request (queue in hours, page out)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import Table, select, update

from crm import clock
from crm.auth.models import User
from crm.database import claim_due, skip_locked
from crm.errors import DomainError
from crm.extensions import db
from crm.notify import services as notify
from crm.oncall import hours, links, paging
from crm.oncall.models import REMINDER_KINDS, Closure, OfficeHoursSpan, Reminder
from crm.oncall.wallclock import local_to_utc
from crm.privacy.services import Actor, record_audit_event
from crm.validation import clean_text

DEFAULT_GRACE_MINUTES = 10
# Daytime office work: an unpaid invoice, a rights request due in a week. Never paged at night.
NEVER_PAGES = ("fee_chase", "rights_request_due")
OPEN_REMINDER = ("pending", "notified", "escalated")


# --- office hours ----------------------------------------------------------------------------


def office_spans() -> list[hours.OpeningSpan]:
    rows = db.session.scalars(select(OfficeHoursSpan)).all()
    if not rows:
        return list(hours.DEFAULT_HOURS)
    return [hours.OpeningSpan(r.weekday, r.opens_at, r.closes_at) for r in rows]


def closures_around(instant: datetime) -> set[date]:
    """Manual closures plus England and Wales bank holidays near ``instant``."""
    year = instant.year
    days = set(hours.bank_holidays([year - 1, year, year + 1]))
    days.update(db.session.scalars(select(Closure.day)))
    return days


def office_open(at: datetime | None = None) -> bool:
    instant = at or clock.now()
    return hours.is_open(instant, office_spans(), closures_around(instant))


# --- reminders -------------------------------------------------------------------------------


def create_reminder(
    kind: str,
    due_at: datetime,
    *,
    owner_id: int | None,
    lead_id: int | None,
    note: str | None = None,
    grace_minutes: int = DEFAULT_GRACE_MINUTES,
    actor: Actor | None = None,
) -> Reminder:
    """A reminder due at ``due_at`` (UTC), in the caller's transaction."""
    if kind not in REMINDER_KINDS:
        raise DomainError(f"Unknown reminder kind {kind!r}.")
    if grace_minutes < 0:
        raise DomainError("The grace period cannot be negative.")
    reminder = Reminder(
        kind=kind,
        due_at=due_at,
        owner_id=owner_id,
        lead_id=lead_id,
        note=note,
        grace_minutes=grace_minutes,
        escalate_at=due_at + timedelta(minutes=grace_minutes),
        status="pending",
        created_at=clock.now(),
        created_by_id=actor.user_id if actor else None,
    )
    db.session.add(reminder)
    db.session.flush()
    return reminder


def schedule_follow_up(
    lead_id: int, day: date | None, at: time | None, note: str | None, actor: Actor
) -> Reminder:
    """Staff's "call back Tuesday at 10:00": a UK wall-clock time, stored as UTC."""
    if day is None or at is None:
        raise DomainError(
            "Choose the day and time for the follow-up.",
            field_errors={"due": ["Day and time are required."]},
        )
    from crm.privacy.consents import refuse_contact  # privacy imports paging: imported late

    refuse_contact(lead_id)
    due = local_to_utc(day, at)
    if due <= clock.now():
        raise DomainError(
            "A follow-up must be in the future.", field_errors={"due": ["That time has passed."]}
        )
    if due > clock.now() + timedelta(days=366):
        raise DomainError("A follow-up must be within a year.")
    try:
        text = clean_text(note, label="Note", max_length=500, required=False) or None
    except ValueError as exc:
        raise DomainError(str(exc)) from None
    reminder = create_reminder(
        "follow_up", due, owner_id=actor.user_id, lead_id=lead_id, note=text, actor=actor
    )
    record_audit_event(actor, "create", object_type="reminders", object_id=reminder.id)
    return reminder


def complete_reminders(
    lead_id: int, kinds: tuple[str, ...], *, due_before: datetime | None = None
) -> int:
    """The activity was logged: close matching open reminders (due before ``due_before``)."""
    query = select(Reminder).where(
        Reminder.lead_id == lead_id, Reminder.kind.in_(kinds), Reminder.status.in_(OPEN_REMINDER)
    )
    if due_before is not None:
        query = query.where(Reminder.due_at <= due_before)
    open_ones = db.session.scalars(query).all()
    for reminder in open_ones:
        reminder.status, reminder.done_at = "done", clock.now()
    return len(open_ones)


def route_new_callback(
    lead_id: int, reference: str, owner_id: int | None, due_at: datetime
) -> None:
    """In hours: the queue with a callback_due reminder. Out of hours: page on-call at once."""
    create_reminder("callback_due", due_at, owner_id=owner_id, lead_id=lead_id, grace_minutes=0)
    if not office_open():
        paging.trigger_page(
            f"lead:{lead_id}", f"Out-of-hours callback request {reference}", lead_id=lead_id
        )


# --- the engine's part -------------------------------------------------------------------------


def _claim_escalation(reminder: Reminder) -> bool:
    """Compare-and-set notified → escalated: only one tick pages for a reminder."""
    result = db.session.execute(
        update(Reminder)
        .where(Reminder.id == reminder.id, Reminder.status == "notified")
        .values(status="escalated")
        # No in-session sync: "evaluate" scans every loaded Reminder per claim (O(n²) a batch).
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def _what(kind: str) -> str:
    return kind.replace("_", " ").capitalize()


def _summary(reminder: Reminder) -> str:
    if reminder.lead_id:
        reference = _references({reminder.lead_id}).get(reminder.lead_id, "a lead")
        return f"{_what(reminder.kind)} overdue for {reference}"
    return f"{_what(reminder.kind)} overdue"


def _references(lead_ids: set[int]) -> dict[int, str]:
    """Leads' references by id, with one query."""
    if not lead_ids:
        return {}
    from crm.intake.models import Lead

    rows = db.session.execute(select(Lead.id, Lead.reference).where(Lead.id.in_(lead_ids)))
    return {lead_id: reference for lead_id, reference in rows}


def _invoice_numbers(invoice_ids: set[int]) -> dict[int, str]:
    """Invoices' numbers by id (a fee chase names its invoice), with one query."""
    if not invoice_ids:
        return {}
    from crm.fees.models import Invoice

    rows = db.session.execute(select(Invoice.id, Invoice.number).where(Invoice.id.in_(invoice_ids)))
    return {invoice_id: number or "a draft invoice" for invoice_id, number in rows}


def _claim_due(limit: int, now: datetime) -> list[Any]:
    """Claim up to ``limit`` due pending reminders (pending → notified) with one UPDATE; safe
    with overlapping ticks on either database (``crm.database.claim_due``)."""
    table = cast(Table, Reminder.__table__)  # Core throughout: no ORM bulk-update overhead
    return claim_due(
        db.session,
        table,
        table.c.due_at,
        now,
        limit,
        {"status": "notified", "notified_at": now},
        (
            table.c.id,
            table.c.kind,
            table.c.owner_id,
            table.c.lead_id,
            table.c.invoice_id,
            table.c.rights_request_id,
        ),
    )


def _notify_owners(claimed: list[Any]) -> None:
    """Tell each claimed reminder's active owner (not for callback_due: the queue shows those),
    looking up owners, contact methods and leads once for the batch, queueing with one INSERT."""
    wanted = [r for r in claimed if r.owner_id is not None and r.kind != "callback_due"]
    if not wanted:
        return
    owners = db.session.scalars(
        select(User).where(User.id.in_({r.owner_id for r in wanted}), User.active.is_(True))
    ).all()
    methods = notify.contact_methods_for(owners)
    references = _references({r.lead_id for r in wanted if r.lead_id})
    invoices = _invoice_numbers({r.invoice_id for r in wanted if r.invoice_id})
    notices = []
    for reminder in wanted:
        if reminder.owner_id not in methods:
            continue  # the owner has left: the page after the grace period reaches on-call
        # The note may hold health details: messages carry only the reference and a link.
        title = f"{_what(reminder.kind)} due"
        link = ""
        if reminder.lead_id:
            title += f" for {references.get(reminder.lead_id, 'a lead')}"
            link = links.lead_url(reminder.lead_id)
        elif reminder.invoice_id:
            title += f" for {invoices.get(reminder.invoice_id, 'an invoice')}"
            link = links.invoice_url(reminder.invoice_id)
        elif reminder.rights_request_id:
            # The request names a person: the message carries only its number and a link.
            title += f" for request {reminder.rights_request_id}"
            link = links.rights_request_url(reminder.rights_request_id)
        notices.append(
            notify.Notice(
                reminder.owner_id,
                f"reminder:{reminder.id}",
                title,
                f"{title}.\n{link}".strip(),
                methods[reminder.owner_id],
                reminder_id=reminder.id,
            )
        )
    notify.notify_people(notices)


def fire_due_reminders(limit: int = 500) -> int:
    """Notify owners of due reminders; page on-call for those still open past their grace."""
    now = clock.now()
    claimed = _claim_due(limit, now)
    _notify_owners(claimed)
    fired = len(claimed)
    overdue = db.session.scalars(
        skip_locked(
            select(Reminder)
            # Ordered by when each one escalates, so a short grace never waits behind long ones.
            .where(Reminder.status == "notified", Reminder.escalate_at <= now)
            # Office work (an unpaid invoice, a rights request) never pages on call.
            .where(Reminder.kind.not_in(NEVER_PAGES))
            .order_by(Reminder.escalate_at)
            .limit(limit),
            db.session(),
        )
    ).all()
    for reminder in overdue:
        if not _claim_escalation(reminder):
            continue
        subject = f"lead:{reminder.lead_id}" if reminder.lead_id else f"reminder:{reminder.id}"
        page = paging.trigger_page(subject, _summary(reminder), lead_id=reminder.lead_id)
        reminder.page_id = page.id
        fired += 1
    return fired
