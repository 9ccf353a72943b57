"""Who can be reached how, and every message sent, with its delivery outcome."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm import clock
from crm.database import Base, UTCDateTime

CHANNELS = ("email", "sms", "webhook")


class ContactMethod(Base):
    """How to reach a staff member, in order: email, SMS or a chat webhook."""

    __tablename__ = "contact_methods"
    __table_args__ = (
        CheckConstraint("channel IN ('email', 'sms', 'webhook')", name="channel_known"),
        CheckConstraint("delay_minutes >= 0", name="delay_not_negative"),
        UniqueConstraint("user_id", "channel", "address", name="uq_contact_methods_address"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(500))
    position: Mapped[int] = mapped_column(Integer, default=0)
    delay_minutes: Mapped[int] = mapped_column(Integer, default=0)


class OutboundMessage(Base):
    """One message to one person over one channel, with its delivery outcome.

    ``idempotency_key`` is unique: writing the same message twice does nothing. A message is
    claimed ``pending → sending`` before the provider call; a crash mid-send leaves it
    ``sending``, which the auditor turns into ``unknown``: never resent by SMS.
    """

    __tablename__ = "outbound_messages"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'unknown', 'held')",
            name="status_known",
        ),
        # The claim's order (due_at, id) straight from the index: no sort of every due row.
        Index("ix_outbound_messages_due", "status", "due_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(500))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    page_id: Mapped[int | None] = mapped_column(ForeignKey("pages.id"), index=True)
    reminder_id: Mapped[int | None] = mapped_column(ForeignKey("reminders.id"), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, index=True)
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    provider_ref: Mapped[str | None] = mapped_column(String(100))


class MessageAttachment(Base):
    """A file sent with an email (an invoice's PDF): stored as queued, sent as stored."""

    __tablename__ = "message_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbound_messages.id"), index=True)
    filename: Mapped[str] = mapped_column(String(120))
    content_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)
