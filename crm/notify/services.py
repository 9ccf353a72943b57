"""Queueing messages (idempotently) and delivering due ones through their channels."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crm import clock
from crm.auth.models import User
from crm.errors import DomainError
from crm.extensions import db
from crm.notify.channels import Channel, ChatWebhook, DeliveryError, Message, SmtpEmail, TwilioSms
from crm.notify.models import ContactMethod, OutboundMessage
from crm.validation import check_webhook_url, normalise_email, normalise_phone

MAX_ATTEMPTS = 3
SENDING_TIMEOUT = timedelta(minutes=2)


def queue_message(
    key: str,
    channel: str,
    address: str,
    subject: str,
    body: str,
    *,
    user_id: int | None = None,
    page_id: int | None = None,
    reminder_id: int | None = None,
    due_at: datetime | None = None,
) -> bool:
    """Add a message unless one with ``key`` exists; True when it was added.

    One ``INSERT ... ON CONFLICT DO NOTHING`` (both databases): a concurrent tick that wrote
    the same key first simply wins, with no savepoint and no look-up first.
    """
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = clock.now()
    statement = (
        insert(OutboundMessage)
        .values(
            idempotency_key=key,
            channel=channel,
            address=address,
            subject=subject[:200],
            body=body,
            user_id=user_id,
            page_id=page_id,
            reminder_id=reminder_id,
            due_at=due_at or now,
            created_at=now,
            status="pending",
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboundMessage.__table__.c.id)
    )
    return db.session.execute(statement).scalar() is not None


def contact_methods(user: User) -> list[tuple[str, str, int]]:
    """(channel, address, delay minutes) for a person, in their order; email as a fallback."""
    rows = db.session.scalars(
        select(ContactMethod)
        .where(ContactMethod.user_id == user.id)
        .order_by(ContactMethod.position, ContactMethod.id)
    ).all()
    methods = [(r.channel, r.address, r.delay_minutes) for r in rows]
    return methods or [("email", user.email, 0)] + ([("sms", user.phone, 0)] if user.phone else [])


def notify_person(
    user: User,
    key: str,
    subject: str,
    body: str,
    *,
    page_id: int | None = None,
    reminder_id: int | None = None,
    methods: list[tuple[str, str, int]] | None = None,
) -> int:
    """Queue one message per contact method of ``user`` (``methods`` if the caller already
    looked them up); returns how many were new."""
    now = clock.now()
    added = 0
    for channel, address, delay in contact_methods(user) if methods is None else methods:
        added += queue_message(
            f"{key}:{user.id}:{channel}:{address}",
            channel,
            address,
            subject,
            body,
            user_id=user.id,
            page_id=page_id,
            reminder_id=reminder_id,
            due_at=now + timedelta(minutes=delay),
        )
    return added


def save_contact_method(
    user_id: int,
    channel: str,
    address: str,
    position: int,
    delay_minutes: int,
    *,
    allow_http_webhooks: bool,
) -> ContactMethod:
    """Add a way to reach a staff member, validated for its channel."""
    if channel not in ("email", "sms", "webhook"):
        raise DomainError(
            "Choose email, SMS or chat webhook.", field_errors={"channel": ["Unknown channel."]}
        )
    try:
        if channel == "email":
            clean = normalise_email(address)
        elif channel == "sms":
            clean = normalise_phone(address)
        else:
            clean = check_webhook_url(address, allow_http_webhooks)
    except ValueError as exc:
        raise DomainError(str(exc), field_errors={"address": [str(exc)]}) from None
    if delay_minutes < 0 or delay_minutes > 120:
        raise DomainError(
            "The delay must be between 0 and 120 minutes.",
            field_errors={"delay_minutes": ["Between 0 and 120."]},
        )
    if db.session.get(User, user_id) is None:
        raise DomainError("No such staff member.")
    if db.session.scalar(
        select(ContactMethod.id).where(
            ContactMethod.user_id == user_id,
            ContactMethod.channel == channel,
            ContactMethod.address == clean,
        )
    ):
        message = "This person already has that contact method."
        raise DomainError(message, field_errors={"address": [message]})
    method = ContactMethod(
        user_id=user_id,
        channel=channel,
        address=clean,
        position=position,
        delay_minutes=delay_minutes,
    )
    db.session.add(method)
    return method


# --- delivery ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Channels:
    """The configured adapters; ``hold`` keeps messages in the dev outbox instead of sending."""

    by_name: dict[str, Channel]
    hold: bool

    @classmethod
    def from_settings(cls, s: Any) -> Channels:
        by_name: dict[str, Channel] = {
            "email": SmtpEmail(
                s.smtp_host,
                s.smtp_port,
                s.smtp_from,
                s.smtp_username,
                s.smtp_password,
                s.smtp_starttls,
            ),
            "webhook": ChatWebhook(),
        }
        if s.sms_provider == "twilio":
            by_name["sms"] = TwilioSms(
                s.twilio_account_sid, s.twilio_auth_token, s.twilio_from, s.twilio_api_base
            )
        return cls(by_name, hold=s.notify_delivery == "dev_outbox")


def claim_due_messages(limit: int = 100) -> list[int]:
    """Claim due pending messages (pending → sending); each id is claimed by one caller only."""
    now = clock.now()
    query = (
        select(OutboundMessage.id)
        .where(OutboundMessage.status == "pending", OutboundMessage.due_at <= now)
        .order_by(OutboundMessage.due_at)
        .limit(limit)
    )
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = []
    for message_id in db.session.scalars(query).all():
        result = db.session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id, OutboundMessage.status == "pending")
            .values(status="sending", claimed_at=now, attempts=OutboundMessage.attempts + 1)
        )
        if getattr(result, "rowcount", 0) == 1:
            claimed.append(message_id)
    return claimed


def _hold_page_while_sending(message: OutboundMessage) -> bool:
    """For a page's message: True (and the page row locked until commit) if still triggered.

    The conditional UPDATE takes the page's row lock (the database lock on SQLite) for the
    rest of this transaction, so an acknowledgement racing this send waits for it to finish:
    nothing is sent after an acknowledgement commits.
    """
    if message.page_id is None:
        return True
    from crm.oncall.models import Page

    result = db.session.execute(
        update(Page)
        .where(Page.id == message.page_id, Page.status == "triggered")
        .values(last_notified_at=clock.now())
    )
    return getattr(result, "rowcount", 0) == 1


def deliver(message_id: int, channels: Channels) -> str:
    """Send one claimed message and record the outcome; returns the new status."""
    message = db.session.get(OutboundMessage, message_id)
    if message is None or message.status != "sending":
        return "skipped"
    if not _hold_page_while_sending(message):
        message.status, message.error = "failed", "cancelled: page already acknowledged"
        return message.status
    if channels.hold:
        message.status, message.provider_ref = "held", "dev-outbox"
        return message.status
    adapter = channels.by_name.get(message.channel)
    if adapter is None:
        message.status, message.error = "failed", f"no {message.channel} channel configured"
        return message.status
    try:
        message.provider_ref = adapter.send(Message(message.address, message.subject, message.body))
    except DeliveryError as exc:
        message.error = str(exc)[:500]
        if exc.transient and message.attempts < MAX_ATTEMPTS:
            message.status = "pending"
            message.due_at = clock.now() + timedelta(seconds=30 * message.attempts)
        else:
            message.status = "failed"
        return message.status
    message.status, message.sent_at = "sent", clock.now()
    return message.status


def mark_stuck_messages_unknown() -> int:
    """Messages left ``sending`` by a crashed worker: their fate is unknown; never resend."""
    cutoff = clock.now() - SENDING_TIMEOUT
    result = db.session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.status == "sending", OutboundMessage.claimed_at < cutoff)
        .values(status="unknown", error="worker stopped mid-send; not resent")
    )
    return int(getattr(result, "rowcount", 0) or 0)
