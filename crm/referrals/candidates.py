"""Provider locations as matching sees them, and each clinic's referral record.

The fee-blind guarantee starts here: candidates are read column by column from the provider
tables, and no fee table is ever joined; ``crm.referrals.matching`` could not use a fee if it
were given one (an import-linter contract and tests hold both ends).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from operator import attrgetter
from typing import Any

from sqlalchemy import case, func, select

from crm.extensions import db
from crm.providers.geography import approximate_point
from crm.providers.models import Provider, ProviderLocation
from crm.referrals.lifecycle import ADMITTED_OR_AFTER, ReferralStatus
from crm.referrals.matching import Candidate
from crm.referrals.models import Referral

MIN_DECIDED_FOR_RATE = 3
_ACCEPTED = tuple(
    s.value
    for s in (
        ReferralStatus.ACCEPTED,
        ReferralStatus.WAITLISTED,
        ReferralStatus.ADMISSION_PLANNED,
        ReferralStatus.DID_NOT_ARRIVE,
        *ADMITTED_OR_AFTER,
    )
)
_STATUS_ORDER = {"closed": 2, "paused": 1, "active": 0}
_COLUMNS = (
    ProviderLocation.id,
    ProviderLocation.name,
    Provider.name.label("provider_name"),
    ProviderLocation.status,
    Provider.status.label("provider_status"),
    ProviderLocation.country,
    ProviderLocation.postcode,
    ProviderLocation.latitude,
    ProviderLocation.longitude,
    ProviderLocation.levels_of_care,
    ProviderLocation.substances,
    ProviderLocation.dual_diagnosis,
    ProviderLocation.mental_health_accepted,
    ProviderLocation.min_age,
    ProviderLocation.max_age,
    ProviderLocation.single_sex,
    ProviderLocation.accepts_pregnant,
    ProviderLocation.wheelchair_accessible,
    ProviderLocation.funding_accepted,
    ProviderLocation.insurers,
    ProviderLocation.price_per_week_min,
    ProviderLocation.price_per_week_max,
    ProviderLocation.currency,
    ProviderLocation.rating,
    ProviderLocation.rating_date,
    ProviderLocation.beds_available,
    ProviderLocation.capacity_confirmed_at,
    Provider.owned_or_affiliated,
)


@dataclass(frozen=True)
class ReferralRecord:
    """A clinic's (or location's) referrals so far: what staff and matching see."""

    sent: int = 0
    accepted: int = 0
    declined: int = 0
    admitted: int = 0

    @property
    def decided(self) -> int:
        return self.accepted + self.declined

    @property
    def acceptance_rate(self) -> float | None:
        """Accepted of those the clinic answered; None until it has answered a few."""
        if self.decided < MIN_DECIDED_FOR_RATE:
            return None
        return self.accepted / self.decided


def _record_columns() -> tuple[Any, ...]:
    def count_when(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    return (
        func.count(Referral.id),
        count_when(Referral.status.in_(_ACCEPTED)),
        count_when(Referral.status == ReferralStatus.DECLINED.value),
        count_when(Referral.status.in_([s.value for s in ADMITTED_OR_AFTER])),
    )


def _record(row: Any) -> ReferralRecord:
    return ReferralRecord(*(int(v or 0) for v in row))


def records_by_location() -> dict[int, ReferralRecord]:
    """Every location's referral record, in one grouped query."""
    rows = db.session.execute(
        select(Referral.location_id, *_record_columns()).group_by(Referral.location_id)
    )
    return {row[0]: _record(row[1:]) for row in rows}


def record_for_provider(provider_id: int) -> ReferralRecord:
    row = db.session.execute(
        select(*_record_columns())
        .join(ProviderLocation, ProviderLocation.id == Referral.location_id)
        .where(ProviderLocation.provider_id == provider_id)
    ).one()
    return _record(row)


def _point(row: Any) -> tuple[float, float] | None:
    if row.latitude is not None and row.longitude is not None:
        return (float(row.latitude), float(row.longitude))
    return approximate_point(row.postcode) if row.postcode else None


def _status(row: Any) -> str:
    worse: str = max((row.status, row.provider_status), key=lambda s: _STATUS_ORDER.get(s, 3))
    return worse


def _lower(values: Iterable[str] | None) -> frozenset[str]:
    return frozenset(v.strip().lower() for v in values or ())


def _money(value: Any) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _candidate(row: Any, records: dict[int, ReferralRecord]) -> Candidate:
    record = records.get(row.id)
    return Candidate(
        location_id=row.id,
        name=f"{row.provider_name} — {row.name}",
        status=_status(row),
        country=row.country,
        point=_point(row),
        levels_of_care=frozenset(row.levels_of_care or ()),
        substances=frozenset(row.substances or ()),
        dual_diagnosis=bool(row.dual_diagnosis),
        mental_health_accepted=frozenset(row.mental_health_accepted or ()),
        min_age=row.min_age,
        max_age=row.max_age,
        single_sex=row.single_sex,
        accepts_pregnant=bool(row.accepts_pregnant),
        wheelchair_accessible=bool(row.wheelchair_accessible),
        funding_accepted=frozenset(row.funding_accepted or ()),
        insurers=_lower(row.insurers),
        price_per_week_min=_money(row.price_per_week_min),
        price_per_week_max=_money(row.price_per_week_max),
        rating=row.rating,
        rating_date=row.rating_date,
        beds_available=row.beds_available,
        capacity_confirmed_at=row.capacity_confirmed_at,
        acceptance_rate=record.acceptance_rate if record else None,
        owned_or_affiliated=bool(row.owned_or_affiliated),
        currency=row.currency,
    )


def _read(location_ids: Iterable[int] | None) -> list[Candidate]:
    query = select(*_COLUMNS).join(Provider, Provider.id == ProviderLocation.provider_id)
    if location_ids is not None:
        query = query.where(ProviderLocation.id.in_(list(location_ids)))
    records = records_by_location()
    return [_candidate(row, records) for row in db.session.execute(query)]


def directory_version() -> tuple[Any, ...]:
    """Changes whenever a location, a provider or a referral is added, removed or changed:
    every UPDATE of those rows moves its ``updated_at``/``status_changed_at`` (one query).
    Committed data only ever moves forward; a test that rolls back calls ``forget()``."""
    columns = (
        func.count(ProviderLocation.id),
        func.max(ProviderLocation.id),
        func.max(ProviderLocation.updated_at),
        func.count(Provider.id),
        func.max(Provider.updated_at),
        func.count(Referral.id),
        func.max(Referral.status_changed_at),
    )
    return tuple(db.session.execute(select(*(select(c).scalar_subquery() for c in columns))).one())


_cache: dict[str, tuple[tuple[Any, ...], list[Candidate]]] = {}


def forget() -> None:
    """Drop this process's copy of the directory (tests roll back what they wrote)."""
    _cache.clear()


def load_candidates(location_ids: Iterable[int] | None = None) -> list[Candidate]:
    """Every provider location (or those named) as a matching Candidate.

    The whole directory is kept per process and re-read only when ``directory_version``
    changes: reading 5,000 locations (and their JSON lists) costs far more than ranking them.
    """
    if location_ids is not None:
        return _read(location_ids)
    version = directory_version()
    cached = _cache.get("all")
    if cached is not None and cached[0] == version:
        return cached[1]
    # Kept in the (name, id) order ``rank`` sorts by, so its sort has nothing to move.
    candidates = sorted(_read(None), key=attrgetter("name", "location_id"))
    _cache["all"] = (version, candidates)
    return candidates
