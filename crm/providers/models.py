"""Providers (organisations), their locations (the unit matched and referred), directory imports."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm import clock
from crm.database import Base, UTCDateTime
from crm.intake.vocabulary import REGIONS
from crm.providers import vocabulary

LEVELS_OF_CARE = tuple(vocabulary.LEVELS_OF_CARE)
# treatment_wanted values in crm.intake.vocabulary.TREATMENTS map 1:1 onto the first four.
FUNDING_ACCEPTED = tuple(vocabulary.FUNDING_ACCEPTED)
REGULATORS = tuple(vocabulary.REGULATORS)
PROVIDER_STATUSES = tuple(vocabulary.PROVIDER_STATUSES)
CONTRACT_STATUSES = tuple(vocabulary.CONTRACT_STATUSES)
SINGLE_SEX = tuple(vocabulary.SINGLE_SEX)
RATINGS = tuple(vocabulary.RATINGS)
IMPORT_STATUSES = ("queued", "running", "done", "failed")


def _in(column: str, values: Any, *, nullable: bool = False) -> str:
    listed = f"{column} IN ({', '.join(repr(str(v)) for v in values)})"
    return f"{column} IS NULL OR {listed}" if nullable else listed


class Provider(Base):
    """An organisation with one or more locations; owned/affiliated ones must be disclosed."""

    __tablename__ = "providers"
    __table_args__ = (
        CheckConstraint(_in("regulator", REGULATORS), name="regulator_known"),
        CheckConstraint(_in("status", PROVIDER_STATUSES), name="status_known"),
        CheckConstraint(_in("contract_status", CONTRACT_STATUSES), name="contract_status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    regulator: Mapped[str] = mapped_column(String(30))
    regulator_provider_id: Mapped[str | None] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(10), default="active", index=True)
    contract_status: Mapped[str] = mapped_column(String(20), default="none")
    owned_or_affiliated: Mapped[bool] = mapped_column(Boolean, default=False)
    affiliation_note: Mapped[str | None] = mapped_column(String(300))
    website: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=clock.now, onupdate=clock.now
    )

    locations: Mapped[list[ProviderLocation]] = relationship(
        back_populates="provider", order_by="ProviderLocation.name"
    )

    def __str__(self) -> str:
        return self.name


class ProviderLocation(Base):
    """One service or site of a provider: what matching ranks and a referral goes to."""

    __tablename__ = "provider_locations"
    __table_args__ = (
        CheckConstraint(_in("status", PROVIDER_STATUSES), name="status_known"),
        CheckConstraint(_in("single_sex", SINGLE_SEX), name="single_sex_known"),
        CheckConstraint(_in("rating", RATINGS, nullable=True), name="rating_known"),
        CheckConstraint(_in("region", REGIONS, nullable=True), name="region_known"),
        CheckConstraint(
            "price_per_week_min IS NULL OR price_per_week_max IS NULL"
            " OR price_per_week_min <= price_per_week_max",
            name="price_range_ordered",
        ),
        CheckConstraint(
            "(price_per_week_min IS NULL OR price_per_week_min >= 0)"
            " AND (price_per_week_max IS NULL OR price_per_week_max >= 0)",
            name="prices_not_negative",
        ),
        CheckConstraint("beds_available IS NULL OR beds_available >= 0", name="beds_not_negative"),
        CheckConstraint("min_age >= 0 AND (max_age IS NULL OR max_age >= min_age)", name="ages"),
        CheckConstraint(
            "minimum_stay_days IS NULL OR minimum_stay_days >= 0", name="minimum_stay_not_negative"
        ),
        CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint(
            "longitude IS NULL OR longitude BETWEEN -180 AND 180", name="longitude_range"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    # The directory import's idempotency key (CQC location id, Care Inspectorate number ...).
    regulator_location_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    registration_status: Mapped[str | None] = mapped_column(String(40))
    rating: Mapped[str | None] = mapped_column(String(30))
    rating_date: Mapped[date | None] = mapped_column(Date)
    address: Mapped[str] = mapped_column(String(300))
    town: Mapped[str] = mapped_column(String(100), index=True)
    postcode: Mapped[str | None] = mapped_column(String(10), index=True)
    country: Mapped[str] = mapped_column(String(2), default="GB")
    region: Mapped[str | None] = mapped_column(String(40))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    levels_of_care: Mapped[list[str]] = mapped_column(JSON, default=list)
    substances: Mapped[list[str]] = mapped_column(JSON, default=list)
    dual_diagnosis: Mapped[bool] = mapped_column(Boolean, default=False)
    mental_health_accepted: Mapped[list[str]] = mapped_column(JSON, default=list)
    exclusions: Mapped[str | None] = mapped_column(Text)
    min_age: Mapped[int] = mapped_column(Integer, default=18)
    max_age: Mapped[int | None] = mapped_column(Integer)
    single_sex: Mapped[str] = mapped_column(String(20), default="mixed")
    accepts_pregnant: Mapped[bool] = mapped_column(Boolean, default=False)
    wheelchair_accessible: Mapped[bool] = mapped_column(Boolean, default=False)
    funding_accepted: Mapped[list[str]] = mapped_column(JSON, default=list)
    insurers: Mapped[list[str]] = mapped_column(JSON, default=list)
    price_per_week_min: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    price_per_week_max: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    currency: Mapped[str] = mapped_column(String(3), default="GBP")
    minimum_stay_days: Mapped[int | None] = mapped_column(Integer)
    beds_available: Mapped[int | None] = mapped_column(Integer)
    capacity_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    capacity_confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(10), default="active", index=True)
    admissions_phone: Mapped[str | None] = mapped_column(String(20))
    admissions_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=clock.now, onupdate=clock.now
    )

    provider: Mapped[Provider] = relationship(back_populates="locations")

    def __str__(self) -> str:
        return self.name

    @property
    def matchable(self) -> bool:
        """Only a location that is active, of a provider that is active, can be matched."""
        return self.status == "active" and self.provider.status == "active"


class ImportJob(Base):
    """One uploaded directory CSV, worked through in batches by a task, with its report."""

    __tablename__ = "provider_imports"
    __table_args__ = (
        CheckConstraint(_in("status", IMPORT_STATUSES), name="status_known"),
        CheckConstraint("processed_rows <= total_rows", name="processed_within_total"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text)  # the uploaded CSV, decoded
    status: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    total_rows: Mapped[int] = mapped_column(Integer)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    # [{row, regulator_location_id, outcome: created|updated|skipped, reasons: [...]}, ...]
    report: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
