"""Providers and locations in the back office: validation, audit, capacity, where they are."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from crm import clock
from crm.database import unit_of_work
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.privacy.models import AuditEvent
from crm.privacy.services import Actor
from crm.providers import services
from crm.providers.geography import postcode_areas
from tests.services.intake_factories import actor_for, staff_member
from tests.services.provider_factories import MANAGER, counts, location_form, provider_form

pytestmark = pytest.mark.usefixtures("db_session")
NOW = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)


def _location(**changes: object) -> int:
    with unit_of_work():
        provider = services.create_provider(provider_form(), MANAGER)
        return services.create_location(provider.id, location_form(**changes), MANAGER).id


def _audits(object_type: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.object_type == object_type).order_by(AuditEvent.id)
        )
    )


def test_a_location_is_stored_clean_and_its_creation_audited() -> None:
    location = services.get_location(_location())
    assert location.postcode == "LS21 3AT"
    assert location.region == "yorkshire"  # from the postcode area
    assert location.admissions_phone == "+441134960123"
    assert location.admissions_email == "admissions@airevalley.example"
    assert location.price_per_week_min == Decimal("1200.00")
    assert location.levels_of_care == ["residential_rehab", "medical_detox"]
    assert location.status == "active" and location.provider.status == "active"
    assert location.matchable
    assert [(e.action, e.object_id) for e in _audits("provider_locations")] == [
        ("create", str(location.id))
    ]
    assert [e.action for e in _audits("providers")] == ["create"]


def test_bad_location_values_are_named_and_nothing_is_written() -> None:
    with unit_of_work():
        provider_id = services.create_provider(provider_form(), MANAGER).id
    before = counts()
    bad = location_form(
        postcode="ZZ1 1AA",
        substances=["ketamine", "spice"],
        price_per_week_min=Decimal("-5"),
        levels_of_care=[],
        admissions_email="not an email",
    )
    with pytest.raises(DomainError) as caught, unit_of_work():
        services.create_location(provider_id, bad, MANAGER)
    errors = caught.value.field_errors
    assert set(errors) == {
        "postcode",
        "substances",
        "price_per_week_min",
        "levels_of_care",
        "admissions_email",
    }
    assert "ZZ is not a UK postcode area" in errors["postcode"][0]
    assert "spice" in errors["substances"][0]
    assert errors["price_per_week_min"] == ["Lowest price per week cannot be negative."]
    assert counts() == before


def test_price_range_and_age_range_must_be_in_order() -> None:
    provider_id = services.create_provider(provider_form(), MANAGER).id
    with pytest.raises(DomainError) as caught:
        services.create_location(
            provider_id,
            location_form(
                price_per_week_min=Decimal("2000"),
                price_per_week_max=Decimal("1500"),
                min_age=30,
                max_age=25,
                latitude=53.9,
            ),
            MANAGER,
        )
    assert set(caught.value.field_errors) == {"price_per_week_max", "max_age", "longitude"}


def test_a_location_abroad_needs_no_postcode_and_has_no_region() -> None:
    location = services.get_location(
        _location(
            country="es",
            postcode="",
            town="Marbella",
            currency="eur",
            latitude=36.51,
            longitude=-4.88,
            admissions_phone=None,
        )
    )
    assert (location.country, location.postcode, location.region) == ("ES", None, None)
    assert location.currency == "EUR"
    assert services.location_point(location) == (36.51, -4.88)


def test_a_uk_location_needs_a_valid_postcode_matching_its_country() -> None:
    provider_id = services.create_provider(provider_form(), MANAGER).id
    with pytest.raises(DomainError) as caught:
        services.create_location(provider_id, location_form(postcode=""), MANAGER)
    assert caught.value.field_errors == {"postcode": ["A UK location needs its postcode."]}
    with pytest.raises(DomainError) as caught:
        services.create_location(provider_id, location_form(postcode="JE2 3AB"), MANAGER)
    assert caught.value.field_errors == {"country": ["JE postcodes are in JE, not GB."]}


def test_location_point_prefers_coordinates_then_the_postcode_area() -> None:
    location = services.get_location(_location())
    assert services.location_point(location) == postcode_areas()["LS"].point
    location.latitude, location.longitude = 53.905, -1.694
    assert services.location_point(location) == (53.905, -1.694)
    location.latitude = location.longitude = None
    location.country, location.postcode = "TH", None
    assert services.location_point(location) is None


def test_update_records_only_what_changed() -> None:
    location_id = _location()
    with unit_of_work():
        services.update_location(
            location_id, {"price_per_week_max": Decimal("1600"), "town": "Otley"}, MANAGER
        )
    updates = [e for e in _audits("provider_locations") if e.action == "update"]
    assert [e.detail for e in updates] == ["changed: price_per_week_max"]
    with unit_of_work():
        services.update_location(location_id, {"town": "Otley"}, MANAGER)
    assert len([e for e in _audits("provider_locations") if e.action == "update"]) == 1
    assert services.get_location(location_id).price_per_week_max == Decimal("1600.00")


def test_a_regulator_location_id_belongs_to_one_location() -> None:
    _location()
    provider_id = services.create_provider(provider_form(name="Other"), MANAGER).id
    with pytest.raises(DomainError) as caught:
        services.create_location(provider_id, location_form(name="Copy"), MANAGER)
    assert caught.value.kind is ErrorKind.CONFLICT
    assert caught.value.field_errors == {"regulator_location_id": ["Already used by Otley House."]}


def test_provider_validation_and_update() -> None:
    with pytest.raises(DomainError) as caught:
        services.create_provider(
            provider_form(name=" ", regulator="ofsted", website="clinic.example"), MANAGER
        )
    assert set(caught.value.field_errors) == {"name", "regulator", "website"}
    provider = services.create_provider(provider_form(), MANAGER)
    services.update_provider(
        provider.id,
        {"owned_or_affiliated": True, "affiliation_note": "Same parent company"},
        MANAGER,
    )
    assert provider.owned_or_affiliated and provider.affiliation_note == "Same parent company"
    assert _audits("providers")[-1].detail == "changed: owned_or_affiliated, affiliation_note"


def test_unknown_ids_are_not_found() -> None:
    for call in (
        lambda: services.get_location(987654),
        lambda: services.get_provider(987654),
        lambda: services.update_location(987654, {}, MANAGER),
        lambda: services.confirm_capacity(987654, 2, MANAGER),
    ):
        with pytest.raises(DomainError) as caught:
            call()
        assert caught.value.kind is ErrorKind.NOT_FOUND


def test_confirm_capacity_records_beds_who_and_when() -> None:
    location_id = _location()
    ada = staff_member("admissions", "Ada Admissions")
    with clock.pinned(NOW), unit_of_work():
        services.confirm_capacity(location_id, 3, actor_for(ada))
    location = services.get_location(location_id)
    assert (location.beds_available, location.capacity_confirmed_at) == (3, NOW)
    assert location.capacity_confirmed_by_id == ada.id
    assert _audits("provider_locations")[-1].detail == "capacity confirmed: 3 beds"
    with unit_of_work():
        services.confirm_capacity(location_id, 0, actor_for(ada))  # full is a real answer
    assert services.get_location(location_id).beds_available == 0


@pytest.mark.parametrize("beds", [-1, 1001, True, "3", 2.5])
def test_confirm_capacity_refuses_nonsense_and_changes_nothing(beds: object) -> None:
    location_id = _location()
    with clock.pinned(NOW), unit_of_work():
        services.confirm_capacity(location_id, 2, MANAGER)
    before = counts()
    with pytest.raises(DomainError) as caught, unit_of_work():
        services.confirm_capacity(location_id, beds, Actor.system("test"))  # type: ignore[arg-type]
    assert "beds_available" in caught.value.field_errors
    location = services.get_location(location_id)
    assert (location.beds_available, location.capacity_confirmed_at) == (2, NOW)
    assert counts() == before
