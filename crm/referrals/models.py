"""Presenting options to a client, and referrals to providers with every status change."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm import clock
from crm.database import Base, UTCDateTime
from crm.referrals.lifecycle import DECLINE_REASONS, DISCHARGE_OUTCOMES, ReferralStatus

REFERRAL_STATUSES = tuple(s.value for s in ReferralStatus)


class Presentation(Base):
    """Options put to a client: the commission disclosure was given first, and recorded."""

    __tablename__ = "presentations"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    disclosure_id: Mapped[int] = mapped_column(ForeignKey("disclosure_records.id"))
    channel: Mapped[str] = mapped_column(String(20))
    presented_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    presented_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(String(500))
    options: Mapped[list[PresentedOption]] = relationship(
        back_populates="presentation", order_by="PresentedOption.position"
    )


class PresentedOption(Base):
    """One provider location put to the client, with the explanation they were given and
    their answer on sharing their details with it (a ConsentRecord each)."""

    __tablename__ = "presented_options"

    id: Mapped[int] = mapped_column(primary_key=True)
    presentation_id: Mapped[int] = mapped_column(ForeignKey("presentations.id"), index=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("provider_locations.id"), index=True)
    position: Mapped[int]
    total: Mapped[float]
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON)
    owned_or_affiliated: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_to_share: Mapped[bool] = mapped_column(Boolean, default=False)
    share_health_details: Mapped[bool] = mapped_column(Boolean, default=False)
    share_consent_id: Mapped[int] = mapped_column(ForeignKey("consent_records.id"))
    presentation: Mapped[Presentation] = relationship(back_populates="options")


class Referral(Base):
    """One lead sent to one provider location; the lead's stage follows the most advanced."""

    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint(f"status IN {REFERRAL_STATUSES!r}", name="status_known"),
        CheckConstraint(
            f"discharge_outcome IS NULL OR discharge_outcome IN {tuple(DISCHARGE_OUTCOMES)!r}",
            name="discharge_outcome_known",
        ),
        CheckConstraint(
            f"decline_code IS NULL OR decline_code IN {tuple(DECLINE_REASONS)!r}",
            name="decline_code_known",
        ),
        Index("ix_referrals_location_status", "location_id", "status"),
        Index("ix_referrals_sent_at", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("provider_locations.id"))
    option_id: Mapped[int] = mapped_column(ForeignKey("presented_options.id"))
    status: Mapped[str] = mapped_column(String(20), default=ReferralStatus.SENT.value)
    decline_code: Mapped[str | None] = mapped_column(String(20))  # DECLINE_REASONS
    decline_reason: Mapped[str | None] = mapped_column(String(500))  # the words beside it
    planned_admission_on: Mapped[date | None]
    admitted_on: Mapped[date | None]
    discharged_on: Mapped[date | None] = mapped_column(index=True)  # reports
    discharge_outcome: Mapped[str | None] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(Text)
    summary_address: Mapped[str | None] = mapped_column(String(254))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    # A percentage fee's base: the programme's value, recorded by a manager (crm.fees).
    treatment_value: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    # Bumped each time a date correction reverses and re-posts the referral's fee entries.
    fee_revision: Mapped[int] = mapped_column(Integer, default=0)
    events: Mapped[list[ReferralEvent]] = relationship(
        back_populates="referral", order_by="ReferralEvent.id"
    )


class ReferralEvent(Base):
    """A status change of a referral: who, when, from what to what, and why."""

    __tablename__ = "referral_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(500))
    on_date: Mapped[date | None]
    outcome: Mapped[str | None] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    referral: Mapped[Referral] = relationship(back_populates="events")
