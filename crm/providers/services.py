"""Provider use cases: create and edit providers and locations, confirm capacity, locate.

Every change is validated by ``crm.providers.rules`` first (DomainError with field errors,
nothing written) and audited. Services flush, never commit: the boundary does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import select

from crm import clock
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.privacy.services import Actor, record_audit_event
from crm.providers import geography, rules
from crm.providers.models import Provider, ProviderLocation

MAX_BEDS = 1000


def london_today() -> date:
    """Today's date in the UK: what "not in the future" means for a rating date."""
    return clock.now().astimezone(clock.LONDON).date()


def _invalid(exc: rules.RecordInvalid) -> DomainError:
    return DomainError("Check the highlighted fields.", field_errors=exc.field_errors)


def _audit_edit(actor: Actor, object_type: str, object_id: int, fields: Iterable[str]) -> None:
    """Audit an edit: which fields changed, never their values."""
    detail = "changed: " + ", ".join(fields)
    record_audit_event(actor, "update", object_type=object_type, object_id=object_id, detail=detail)


def get_provider(provider_id: int) -> Provider:
    """The provider, or DomainError NOT_FOUND."""
    provider = db.session.get(Provider, provider_id)
    if provider is None:
        raise DomainError("No such provider.", ErrorKind.NOT_FOUND)
    return provider


def get_location(location_id: int) -> ProviderLocation:
    """The location, or DomainError NOT_FOUND."""
    location = db.session.get(ProviderLocation, location_id)
    if location is None:
        raise DomainError("No such provider location.", ErrorKind.NOT_FOUND)
    return location


def location_point(location: ProviderLocation) -> tuple[float, float] | None:
    """Where the location is: its coordinates, else its postcode area's centre, else None."""
    if location.latitude is not None and location.longitude is not None:
        return (location.latitude, location.longitude)
    if location.country in ("GB", "GG", "JE", "IM"):
        return geography.approximate_point(location.postcode)
    return None


def create_provider(values: Mapping[str, Any], actor: Actor) -> Provider:
    """A new provider from the back office form."""
    try:
        clean = rules.clean_provider(values)
    except rules.RecordInvalid as exc:
        raise _invalid(exc) from None
    now = clock.now()
    provider = Provider(**clean, created_at=now, updated_at=now)
    db.session.add(provider)
    db.session.flush()
    record_audit_event(actor, "create", object_type="providers", object_id=provider.id)
    return provider


def update_provider(provider_id: int, values: Mapping[str, Any], actor: Actor) -> Provider:
    """Change a provider's details; only what changed is recorded in the audit trail."""
    provider = get_provider(provider_id)
    before = rules.provider_values(provider)
    try:
        clean = rules.clean_provider({**before, **values})
    except rules.RecordInvalid as exc:
        raise _invalid(exc) from None
    changed = rules.changed_fields(before, clean)
    if changed:
        _assign(provider, clean, changed)
        _audit_edit(actor, "providers", provider.id, changed)
    return provider


def create_location(provider_id: int, values: Mapping[str, Any], actor: Actor) -> ProviderLocation:
    """A new location of a provider from the back office form."""
    provider = get_provider(provider_id)
    clean = _clean_location(values, location_id=None)
    now = clock.now()
    location = ProviderLocation(**clean, provider=provider, created_at=now, updated_at=now)
    db.session.add(location)
    db.session.flush()
    record_audit_event(actor, "create", object_type="provider_locations", object_id=location.id)
    return location


def update_location(location_id: int, values: Mapping[str, Any], actor: Actor) -> ProviderLocation:
    """Change a location's details (not its capacity: see ``confirm_capacity``)."""
    location = get_location(location_id)
    before = rules.location_values(location)
    clean = _clean_location({**before, **values}, location_id=location_id)
    changed = rules.changed_fields(before, clean)
    if changed:
        _assign(location, clean, changed)
        _audit_edit(actor, "provider_locations", location.id, changed)
    return location


def confirm_capacity(location_id: int, beds: int, actor: Actor) -> ProviderLocation:
    """Record the beds a clinic says it has now, and who confirmed it when."""
    if isinstance(beds, bool) or not isinstance(beds, int) or not 0 <= beds <= MAX_BEDS:
        raise DomainError(
            "Enter the number of beds available now.",
            field_errors={"beds_available": [f"A whole number from 0 to {MAX_BEDS}."]},
        )
    location = get_location(location_id)
    location.beds_available = beds
    location.capacity_confirmed_at = clock.now()
    location.capacity_confirmed_by_id = actor.user_id
    record_audit_event(
        actor,
        "update",
        object_type="provider_locations",
        object_id=location.id,
        detail=f"capacity confirmed: {beds} beds",
    )
    return location


def _clean_location(values: Mapping[str, Any], location_id: int | None) -> dict[str, Any]:
    try:
        clean = rules.clean_location(values, london_today())
    except rules.RecordInvalid as exc:
        raise _invalid(exc) from None
    key = clean["regulator_location_id"]
    if key is not None:
        holder = db.session.scalar(
            select(ProviderLocation).where(ProviderLocation.regulator_location_id == key)
        )
        if holder is not None and holder.id != location_id:
            raise DomainError(
                "Another location already has this regulator location id.",
                ErrorKind.CONFLICT,
                field_errors={"regulator_location_id": [f"Already used by {holder.name}."]},
            )
    return clean


def _assign(model: Any, clean: Mapping[str, Any], changed: list[str]) -> None:
    for name in changed:
        setattr(model, name, clean[name])
    model.updated_at = clock.now()
