"""Fee agreements per provider, versioned by effective dates (a later issue adds the ledger)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from crm import clock
from crm.database import Base, UTCDateTime

FEE_BASES = ("flat_per_admission", "percent_of_treatment_value", "per_week_of_stay")


class FeeAgreement(Base):
    """What a provider pays per referred admission, between its effective dates."""

    __tablename__ = "fee_agreements"
    __table_args__ = (
        CheckConstraint(f"basis IN {FEE_BASES!r}", name="basis_known"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from", name="dates_ordered"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    basis: Mapped[str] = mapped_column(String(30))
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
