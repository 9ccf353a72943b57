"""Data protection's tables: the append-only audit trail (never health data or searched
terms), consents and disclosures, purposes, rights requests with their exports and erasures,
retention periods and runs, and the breach register."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
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


class AuditEvent(Base):
    """Who did what to which record, when and from where. Rows are never changed."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_object", "object_type", "object_id"),
        Index("ix_audit_events_actor_time", "actor_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_email: Mapped[str | None] = mapped_column(String(254))
    actor_role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60), index=True)
    object_type: Mapped[str | None] = mapped_column(String(60))
    object_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(20))
    request_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    detail: Mapped[str | None] = mapped_column(String(500))


class ConsentRecord(Base):
    """What a person agreed to, in which wording, how and when; and its withdrawal."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    given: Mapped[bool]
    wording_version: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    withdrawn_at: Mapped[datetime | None]
    # Who recorded the withdrawal, how the person told us, and the words beside it.
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    withdrawn_via: Mapped[str | None] = mapped_column(String(20))
    withdrawal_note: Mapped[str | None] = mapped_column(String(500))
    # A sharing consent names the provider it is about (the presented clinic's provider).
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id"), index=True)


class DisclosureRecord(Base):
    """That a lead was told the service is paid by the clinics it refers to."""

    __tablename__ = "disclosure_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30), default="commission")
    wording_version: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))
    disclosed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


PURPOSE_CODES = ("responding", "assessing", "sharing", "fee_accounting", "reporting")
REQUEST_KINDS = ("access", "erasure", "rectification", "restriction", "objection")
REQUEST_STATUSES = ("received", "verified", "completed", "refused", "withdrawn")
RECEIVED_VIA = ("email", "phone", "letter", "web", "in_person", "other")
EXPORT_STATUSES = ("queued", "running", "ready", "failed", "expired")
RETENTION_CODES = ("unconverted_leads", "spam_leads", "audit_events", "fee_records", "exports")
RUN_STATUSES = ("running", "done", "failed")
RISK_LEVELS = ("unassessed", "low", "medium", "high")
BREACH_STATUSES = ("open", "closed")


class ProcessingPurpose(Base):
    """Why the service holds a person's data, on which lawful basis and special-category
    condition (UK GDPR articles 6 and 9); editable by admins and included in every export."""

    __tablename__ = "processing_purposes"
    __table_args__ = (CheckConstraint(_in("code", PURPOSE_CODES), name="code_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    lawful_basis: Mapped[str] = mapped_column(String(40))
    special_category_condition: Mapped[str] = mapped_column(String(60))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class RightsRequest(Base):
    """A person's request under UK GDPR: access, erasure, rectification, restriction or
    objection, with its one-month due date (extendable by two months with a reason)."""

    __tablename__ = "rights_requests"
    __table_args__ = (
        CheckConstraint(_in("kind", REQUEST_KINDS), name="kind_known"),
        CheckConstraint(_in("status", REQUEST_STATUSES), name="status_known"),
        CheckConstraint(_in("received_via", RECEIVED_VIA), name="received_via_known"),
        CheckConstraint(
            "extended_due_on IS NULL OR extension_reason IS NOT NULL", name="extension_has_reason"
        ),
        Index("ix_rights_requests_open_due", "status", "due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="received")
    # The requester as they wrote to us: personal data, pseudonymised when they are erased.
    requester_name: Mapped[str] = mapped_column(String(120))
    requester_phone: Mapped[str | None] = mapped_column(String(20))
    requester_email: Mapped[str | None] = mapped_column(String(254))
    description: Mapped[str] = mapped_column(Text, default="")
    received_via: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_on: Mapped[date]
    extended_due_on: Mapped[date | None]
    extension_reason: Mapped[str | None] = mapped_column(String(500))
    identity_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    identity_method: Mapped[str | None] = mapped_column(String(200))
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    outcome: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Set by an erasure: the name the request is known by once the person is gone.
    pseudonym: Mapped[str | None] = mapped_column(String(20))

    @property
    def effective_due_on(self) -> date:
        return self.extended_due_on or self.due_on

    @property
    def is_open(self) -> bool:
        return self.status in ("received", "verified")


class RightsRequestSubject(Base):
    """A contact a rights request concerns (found by phone, email or lead reference)."""

    __tablename__ = "rights_request_subjects"
    __table_args__ = (
        UniqueConstraint("rights_request_id", "contact_id", name="uq_request_subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rights_request_id: Mapped[int] = mapped_column(ForeignKey("rights_requests.id"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class SubjectAccessExport(Base):
    """The ZIP a subject access request is answered with, built by a task, downloadable
    through an expiring signed link; its content is deleted when the link expires."""

    __tablename__ = "subject_access_exports"
    __table_args__ = (
        CheckConstraint(_in("status", EXPORT_STATUSES), name="status_known"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_percent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rights_request_id: Mapped[int] = mapped_column(ForeignKey("rights_requests.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str | None] = mapped_column(String(120))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    record_count: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    downloads: Mapped[int] = mapped_column(Integer, default=0)


class Erasure(Base):
    """What an erasure (or a retention run) anonymised, when, by whom and under which
    pseudonym. It names no person: only ids, the pseudonym and counts of rows changed."""

    __tablename__ = "erasures"

    id: Mapped[int] = mapped_column(primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str] = mapped_column(String(20))  # "rights_request" | "retention"
    rights_request_id: Mapped[int | None] = mapped_column(ForeignKey("rights_requests.id"))
    retention_run_id: Mapped[int | None] = mapped_column(ForeignKey("retention_runs.id"))
    contact_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    lead_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    changed: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # table → rows
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, index=True)
    erased_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_email: Mapped[str | None] = mapped_column(String(254))


class RetentionPolicy(Base):
    """How long one kind of record is kept (in days, always more than zero)."""

    __tablename__ = "retention_policies"
    __table_args__ = (
        CheckConstraint(_in("code", RETENTION_CODES), name="code_known"),
        CheckConstraint("days > 0", name="days_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    days: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class RetentionRun(Base):
    """One application of the retention periods, in batches; resumable from ``cursor``."""

    __tablename__ = "retention_runs"
    __table_args__ = (CheckConstraint(_in("status", RUN_STATUSES), name="status_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(10), default="running", index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cutoffs: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # code → ISO instant
    cursor: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # step → last id done
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # what it did
    triggered_by: Mapped[str] = mapped_column(String(254))
    error: Mapped[str | None] = mapped_column(String(500))


class Breach(Base):
    """A personal data breach: what happened, to whose data, the 72-hour ICO deadline, the
    risk assessment, the decisions to notify (with reasons) and the actions taken."""

    __tablename__ = "breaches"
    __table_args__ = (
        CheckConstraint(_in("risk_level", RISK_LEVELS), name="risk_level_known"),
        CheckConstraint(_in("status", BREACH_STATUSES), name="status_known"),
        CheckConstraint("people_affected >= 0", name="people_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    discovered_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    description: Mapped[str] = mapped_column(Text, default="")
    data_involved: Mapped[str] = mapped_column(Text, default="")
    special_category: Mapped[bool] = mapped_column(Boolean, default=False)
    people_affected: Mapped[int] = mapped_column(Integer, default=0)
    risk_level: Mapped[str] = mapped_column(String(12), default="unassessed")
    risk_assessment: Mapped[str] = mapped_column(Text, default="")
    notify_ico: Mapped[bool | None] = mapped_column(Boolean)
    ico_reason: Mapped[str | None] = mapped_column(Text)
    ico_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ico_reference: Mapped[str | None] = mapped_column(String(60))
    notify_people: Mapped[bool | None] = mapped_column(Boolean)
    people_reason: Mapped[str | None] = mapped_column(Text)
    people_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    actions: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
