"""Contacts, leads and everything on a lead's timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm import clock
from crm.database import Base, CreatedAtMixin, UTCDateTime
from crm.intake.stages import CloseReason, Stage
from crm.intake.vocabulary import CALL_DIRECTIONS, CALL_OUTCOMES, RELATIONSHIPS, SOURCES

_LATER_OPEN = "stage IN ('contacted', 'assessed', 'matched', 'referred')"
_RETAINED = "stage = 'closed' AND anonymised_at IS NULL"


def _in(column: str, values: Any) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Contact(CreatedAtMixin, Base):
    """A person we hold details for; de-duplicated by normalised phone and email."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    preferred_contact_times: Mapped[str | None] = mapped_column(String(120))
    anonymised_at: Mapped[datetime | None]

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else "?"


class Lead(CreatedAtMixin, Base):
    """One enquiry episode moving through the intake stages."""

    __tablename__ = "leads"
    __table_args__ = (
        CheckConstraint(_in("stage", Stage), name="stage_known"),
        CheckConstraint(_in("source", SOURCES), name="source_known"),
        CheckConstraint(_in("caller_relationship", RELATIONSHIPS), name="relationship_known"),
        CheckConstraint(
            f"close_reason IS NULL OR {_in('close_reason', CloseReason)}", name="close_reason_known"
        ),
        CheckConstraint("stage <> 'closed' OR close_reason IS NOT NULL", name="closed_has_reason"),
        # The queue: open leads by urgency. One index serves "new by due time" and the rest.
        Index("ix_leads_queue", "stage", "callback_due_at"),
        Index("ix_leads_owner_stage", "owner_id", "stage"),
        # The queue's second part: open leads past "new", longest untouched first.
        # The retention sweep: closed leads not yet anonymised, oldest first.
        Index(
            "ix_leads_retention",
            "updated_at",
            postgresql_where=text(_RETAINED),
            sqlite_where=text(_RETAINED),
        ),
        Index(
            "ix_leads_open_untouched",
            "updated_at",
            postgresql_where=text(_LATER_OPEN),
            sqlite_where=text(_LATER_OPEN),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    caller_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    caller_relationship: Mapped[str] = mapped_column(String(20), default="self")
    source: Mapped[str] = mapped_column(String(20))
    utm: Mapped[dict[str, str] | None] = mapped_column(JSON)
    stage: Mapped[str] = mapped_column(String(20), default=Stage.NEW.value)
    close_reason: Mapped[str | None] = mapped_column(String(30))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    callback_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_contact_at: Mapped[datetime | None]
    last_request_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    request_count: Mapped[int] = mapped_column(Integer, default=1)
    is_returning: Mapped[bool] = mapped_column(Boolean, default=False)
    previous_lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"))
    safeguarding_flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # Set when erasure or the retention sweep anonymised the lead: its counts stay for reports.
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)

    client: Mapped[Contact] = relationship(foreign_keys=[client_id])
    caller: Mapped[Contact] = relationship(foreign_keys=[caller_id])

    @property
    def speed_to_lead_seconds(self) -> float | None:
        if self.first_contact_at is None:
            return None
        # An inbound call logged after it started begins before the lead does: that is 0.
        return max(0.0, (self.first_contact_at - self.created_at).total_seconds())


class CallbackRequest(Base):
    """One request to be called back; a repeat from the same person attaches to the open lead."""

    __tablename__ = "callback_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    source: Mapped[str] = mapped_column(String(20))
    best_time_to_call: Mapped[str | None] = mapped_column(String(120))
    # Health details, kept only when the person consented to their use.
    substances: Mapped[list[str] | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)
    page_url: Mapped[str | None] = mapped_column(String(500))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    repeat: Mapped[bool] = mapped_column(Boolean, default=False)


class StageChange(Base):
    """Every stage move: from, to, who, when and why."""

    __tablename__ = "stage_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    close_reason: Mapped[str | None] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(String(500))
    note: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class CallLog(Base):
    """A call with the caller or client."""

    __tablename__ = "call_logs"
    __table_args__ = (
        CheckConstraint(_in("direction", CALL_DIRECTIONS), name="direction_known"),
        CheckConstraint(_in("outcome", CALL_OUTCOMES), name="outcome_known"),
        CheckConstraint("duration_seconds >= 0", name="duration_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    direction: Mapped[str] = mapped_column(String(10))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # reports
    duration_seconds: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(20))
    notes: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class LeadNote(Base):
    """A free-text note on a lead's timeline."""

    __tablename__ = "lead_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    written_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class Assignment(Base):
    """A change of a lead's owner (round-robin on arrival, or reassignment by a manager)."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    from_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(String(200))
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class Assessment(Base):
    """The screening assessment: structured answers, so matching can use them."""

    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), unique=True)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON)
    primary_substance: Mapped[str | None] = mapped_column(String(30))
    treatment_wanted: Mapped[str | None] = mapped_column(String(30))
    funding: Mapped[str | None] = mapped_column(String(30))
    timeframe: Mapped[str | None] = mapped_column(String(30))
    immediate_danger: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at: Mapped[datetime | None] = mapped_column(index=True)  # reports
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ApiKey(CreatedAtMixin, Base):
    """A website's key for the public intake API; only its hash is stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    @property
    def active(self) -> bool:
        return self.revoked_at is None


INBOX_STATUSES = ("pending", "building", "processed", "stuck")
_INBOX_WAITING = "status = 'pending'"
_INBOX_OPEN = "status IN ('pending', 'building', 'stuck')"


class CallbackInbox(Base):
    """A callback request as it was accepted: the one row written before the 201.

    The engine turns it into the lead (``crm.intake.inbox``). Until then it holds the validated
    request; once processed only the answer remains (reference, idempotency key, fingerprint,
    lead), so a replay gets the same 201 and no personal data is kept twice.
    """

    __tablename__ = "callback_inbox"
    __table_args__ = (
        UniqueConstraint("api_key_id", "idempotency_key", name="uq_callback_inbox_idempotency"),
        CheckConstraint(_in("status", INBOX_STATUSES), name="status_known"),
        CheckConstraint(_in("source", SOURCES), name="source_known"),
        # The engine's claim: waiting rows by due time, oldest first.
        Index(
            "ix_callback_inbox_due",
            "next_attempt_at",
            "id",
            postgresql_where=text(_INBOX_WAITING),
            sqlite_where=text(_INBOX_WAITING),
        ),
        # The endpoint's answer for a repeat sent before the first was built.
        Index(
            "ix_callback_inbox_open_phone",
            "phone",
            postgresql_where=text(_INBOX_OPEN),
            sqlite_where=text(_INBOX_OPEN),
        ),
        Index(
            "ix_callback_inbox_open_email",
            "email",
            postgresql_where=text(_INBOX_OPEN),
            sqlite_where=text(_INBOX_OPEN),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    api_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    # The answer given: the lead reference and whether it was a repeat of an open lead.
    reference: Mapped[str] = mapped_column(String(12), index=True)
    requested_again: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_wording_version: Mapped[str] = mapped_column(String(40))
    disclosure_wording_version: Mapped[str] = mapped_column(String(40))
    target_minutes: Mapped[int] = mapped_column(Integer)
    # Until processed: the validated request and who sent it (cleared once the lead holds it).
    request: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    remote_addr: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), index=True)
