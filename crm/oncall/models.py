"""Office hours, rotas, escalation policies, pages and reminders."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm import clock
from crm.database import Base, UTCDateTime

REMINDER_KINDS = (
    "callback_due",
    "follow_up",
    "provider_chase",
    "admission_check",
    "fee_chase",
    "rights_request_due",
)
REMINDER_STATUSES = ("pending", "notified", "escalated", "done", "cancelled")
PAGE_STATUSES = ("triggered", "acknowledged", "resolved")
STEP_TARGETS = ("rota", "user", "webhook")


class OfficeHoursSpan(Base):
    """The office is open from ``opens_at`` to ``closes_at`` (Europe/London) on a weekday."""

    __tablename__ = "office_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),
        CheckConstraint("closes_at > opens_at", name="closes_after_opens"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    weekday: Mapped[int] = mapped_column(Integer)
    opens_at: Mapped[time] = mapped_column(Time)
    closes_at: Mapped[time] = mapped_column(Time)


class Closure(Base):
    """A whole local day the office is closed (a bank holiday or a one-off closure)."""

    __tablename__ = "closures"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    name: Mapped[str] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(20), default="manual")


class Rota(Base):
    """A rotation of staff: members take turns for ``shift_days`` from the handoff time."""

    __tablename__ = "rotas"
    __table_args__ = (CheckConstraint("shift_days BETWEEN 1 AND 28", name="shift_days_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    shift_days: Mapped[int] = mapped_column(Integer, default=7)
    handoff_time: Mapped[time] = mapped_column(Time)
    starts_on: Mapped[date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(60), default="Europe/London")
    ical_token: Mapped[str] = mapped_column(String(64), unique=True)

    members: Mapped[list[RotaMember]] = relationship(
        order_by="RotaMember.position", cascade="all, delete-orphan"
    )


class RotaMember(Base):
    __tablename__ = "rota_members"
    __table_args__ = (UniqueConstraint("rota_id", "user_id", name="uq_rota_members_person"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rota_id: Mapped[int] = mapped_column(ForeignKey("rotas.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    position: Mapped[int] = mapped_column(Integer)


class RotaOverride(Base):
    """Someone covers part of a rota (cover or swap)."""

    __tablename__ = "rota_overrides"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_starts"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rota_id: Mapped[int] = mapped_column(ForeignKey("rotas.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class EscalationPolicy(Base):
    """Ordered steps, repeated ``repeat_count`` more times; then every active manager."""

    __tablename__ = "escalation_policies"
    __table_args__ = (CheckConstraint("repeat_count BETWEEN 0 AND 5", name="repeat_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    repeat_count: Mapped[int] = mapped_column(Integer, default=1)
    is_default: Mapped[bool] = mapped_column(default=False)

    steps: Mapped[list[EscalationStep]] = relationship(
        order_by="EscalationStep.position", cascade="all, delete-orphan"
    )


class EscalationStep(Base):
    __tablename__ = "escalation_steps"
    __table_args__ = (
        CheckConstraint("delay_minutes >= 1", name="delay_positive"),
        CheckConstraint(f"target IN {STEP_TARGETS!r}", name="target_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("escalation_policies.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    target: Mapped[str] = mapped_column(String(10))
    rota_id: Mapped[int | None] = mapped_column(ForeignKey("rotas.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    delay_minutes: Mapped[int] = mapped_column(Integer, default=5)


class Page(Base):
    """One alert about one thing; acknowledging it stops the escalation."""

    __tablename__ = "pages"
    __table_args__ = (
        CheckConstraint(f"status IN {PAGE_STATUSES!r}", name="status_known"),
        # One open page per subject: a second trigger attaches to the open one.
        Index(
            "uq_pages_open_subject",
            "subject",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
            sqlite_where=text("status <> 'resolved'"),
        ),
        Index("ix_pages_due", "status", "next_step_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(60))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), index=True)
    summary: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="triggered")
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("escalation_policies.id"))
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    cycle: Mapped[int] = mapped_column(Integer, default=0)
    next_step_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    triggered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, index=True)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    trigger_count: Mapped[int] = mapped_column(Integer, default=1)
    last_notified_at: Mapped[datetime | None]


class PageEvent(Base):
    """Everything that happened to a page, in order."""

    __tablename__ = "page_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    kind: Mapped[str] = mapped_column(String(30))
    detail: Mapped[str | None] = mapped_column(String(500))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Reminder(Base):
    """Something that must happen by ``due_at`` (UTC); done when the activity is logged."""

    __tablename__ = "reminders"
    __table_args__ = (
        CheckConstraint(f"kind IN {REMINDER_KINDS!r}", name="kind_known"),
        CheckConstraint(f"status IN {REMINDER_STATUSES!r}", name="status_known"),
        Index("ix_reminders_due", "status", "due_at", "id"),  # the claim's order, no sort
        Index("ix_reminders_due_at", "due_at"),  # the on-call report's period
        Index("ix_reminders_escalation", "status", "escalate_at"),
        Index("ix_reminders_lead_kind", "lead_id", "kind", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    grace_minutes: Mapped[int] = mapped_column(Integer, default=10)
    escalate_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default="pending")
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    notified_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    page_id: Mapped[int | None] = mapped_column(ForeignKey("pages.id"))
    # provider_chase and admission_check belong to one referral of the lead.
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"), index=True)
    # fee_chase belongs to one invoice.
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    # rights_request_due belongs to one rights request (a subject access or erasure).
    rights_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("rights_requests.id"), index=True
    )
