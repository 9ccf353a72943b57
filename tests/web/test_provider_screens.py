"""Provider screens: who may see, edit and confirm what; forms that refuse bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from crm import clock
from crm.database import unit_of_work
from crm.extensions import db
from crm.providers import services
from crm.providers.models import Provider, ProviderLocation
from crm.providers.vocabulary import OWNED_LABEL
from tests.services.provider_factories import MANAGER, location_form, provider_form
from tests.web.conftest import database_snapshot, location_of, page_csrf_token

Clients = Callable[..., FlaskClient]
DENIED = "You do not have access to this page"


@pytest.fixture
def clinic(db_session: object) -> ProviderLocation:
    with unit_of_work():
        provider = services.create_provider(
            provider_form(owned_or_affiliated=True, affiliation_note="Same parent company"),
            MANAGER,
        )
        location = services.create_location(provider.id, location_form(), MANAGER)
    return location


def _page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def test_every_staff_member_finds_a_clinic_and_sees_it_is_ours(
    client_for: Clients, clinic: ProviderLocation
) -> None:
    advisor = client_for("admissions")
    listing = _page(advisor, "/admin/provider_locations/?search=otley")
    assert "Otley House" in listing and OWNED_LABEL in listing
    assert "Add provider" not in listing and "Import CSV" not in listing
    for search in ("LS21", "1-999000101", "westgate-not-searched"):
        found = _page(advisor, f"/admin/provider_locations/?search={search}")
        assert ("Otley House" in found) is (search != "westgate-not-searched")
    page = _page(advisor, f"/admin/directory/locations/{clinic.id}/")
    assert OWNED_LABEL in page and "Same parent company" in page
    assert "GBP 1,200.00 – 1,500.00" in page
    assert "Beds not confirmed" in page
    assert "Edit location" not in page
    providers = _page(advisor, "/admin/providers/")
    assert "Aire Valley Recovery" in providers and OWNED_LABEL in providers


def test_lists_filter_by_status_and_level_of_care(
    client_for: Clients, clinic: ProviderLocation
) -> None:
    with unit_of_work():
        services.create_location(
            clinic.provider_id,
            location_form(
                name="Leeds Day Service",
                regulator_location_id="1-999000102",
                levels_of_care=["outpatient"],
                status="paused",
            ),
            MANAGER,
        )
    manager = client_for("manager")
    listing = _page(manager, "/admin/provider_locations/")
    filters = {  # Flask-Admin numbers the filters in the order they are declared
        "flt0_0=paused": {"Leeds Day Service"},
        "flt0_0=active": {"Otley House"},
        "flt1_1=outpatient": {"Leeds Day Service"},
        "flt1_1=medical_detox": {"Otley House"},
        "flt1_1=nonsense": set(),
    }
    assert "Otley House" in listing and "Leeds Day Service" in listing
    for query, expected in filters.items():
        shown = _page(manager, f"/admin/provider_locations/?{query}")
        names = {n for n in ("Otley House", "Leeds Day Service") if n in shown}
        assert names == expected, query


def test_list_pages_do_not_query_per_row(app: object, client_for: Clients, clinic: object) -> None:
    from sqlalchemy import event

    with unit_of_work():
        for n in range(12):
            provider = services.create_provider(
                provider_form(name=f"Group {n}", regulator_provider_id=f"1-8{n}"), MANAGER
            )
            services.create_location(
                provider.id,
                location_form(name=f"Site {n}", regulator_location_id=f"1-9{n}"),
                MANAGER,
            )
    manager = client_for("manager")
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        page = _page(manager, "/admin/provider_locations/")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert page.count('data-testid="location-link"') == 13
    location_selects = [s for s in statements if "FROM provider_locations" in s]
    provider_selects = [s for s in statements if "FROM providers" in s]
    assert len(location_selects) == 1 and len(provider_selects) <= 1, statements


def test_any_staff_member_confirms_capacity_with_who_and_when(
    client_for: Clients, clinic: ProviderLocation, staff: dict[str, object]
) -> None:
    advisor = client_for("admissions")
    path = f"/admin/directory/locations/{clinic.id}/"
    token = page_csrf_token(advisor, path)
    response = advisor.post(
        f"/admin/capacity/{clinic.id}", data={"beds_available": "2", "csrf_token": token}
    )
    assert response.status_code == 302 and location_of(response) == path
    db.session.expire_all()
    stored = db.session.get(ProviderLocation, clinic.id)
    assert stored is not None and stored.capacity_confirmed_at is not None
    assert stored.beds_available == 2
    assert abs(stored.capacity_confirmed_at - clock.now()) < timedelta(minutes=1)
    assert stored.capacity_confirmed_by_id == staff["admissions"].id  # type: ignore[attr-defined]
    assert "2 beds · confirmed today by Test Admissions" in _page(advisor, path)
    # Logging in moves with the real clock, so the confirmation is moved back instead.
    stored.capacity_confirmed_at = clock.now() - timedelta(days=3, hours=1)
    db.session.commit()
    page = _page(advisor, path)
    assert "2 beds · confirmed 3 days ago by Test Admissions" in page
    assert 'data-testid="capacity-stale"' not in page
    stored.capacity_confirmed_at = clock.now() - timedelta(days=8)
    db.session.commit()
    assert 'data-testid="capacity-stale"' in _page(advisor, path)
    listing = _page(advisor, "/admin/provider_locations/")
    assert "2 · 8 days ago" in listing and "stale" in listing


@pytest.mark.parametrize("beds", ["-1", "many", "", "5000"])
def test_nonsense_capacity_is_refused_and_nothing_changes(
    client_for: Clients, clinic: ProviderLocation, beds: str
) -> None:
    advisor = client_for("admissions")
    path = f"/admin/directory/locations/{clinic.id}/"
    token = page_csrf_token(advisor, path)
    before = database_snapshot()
    response = advisor.post(
        f"/admin/capacity/{clinic.id}", data={"beds_available": beds, "csrf_token": token}
    )
    assert response.status_code == 302
    assert "Enter the number of beds available now" in _page(advisor, path)
    after = database_snapshot()
    before.pop("audit_events"), after.pop("audit_events")
    assert after == before


def test_admissions_cannot_edit_providers_or_import(
    client_for: Clients, clinic: ProviderLocation
) -> None:
    advisor = client_for("admissions")
    token = page_csrf_token(advisor, "/admin/")
    before = database_snapshot()
    for path in (
        "/admin/provider-edit/new",
        f"/admin/provider-edit/{clinic.provider_id}/",
        f"/admin/provider-edit/{clinic.provider_id}/locations/new",
        f"/admin/provider-edit/locations/{clinic.id}/",
        "/admin/provider-imports/",
    ):
        assert advisor.get(path).status_code == 403, path
        refused = advisor.post(path, data={**provider_form(name="Hacked"), "csrf_token": token})
        assert refused.status_code == 403 and DENIED in refused.get_data(as_text=True), path
    after = database_snapshot()
    before.pop("audit_events"), after.pop("audit_events")
    assert after == before


def test_a_manager_adds_a_provider_and_a_location_through_the_forms(
    client_for: Clients, db_session: object
) -> None:
    manager = client_for("manager")
    token = page_csrf_token(manager, "/admin/provider-edit/new")
    response = manager.post(
        "/admin/provider-edit/new",
        data={
            "name": "Minster Recovery",
            "regulator": "cqc",
            "regulator_provider_id": "1-101000014",
            "status": "active",
            "contract_status": "active",
            "website": "https://minster.example",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    provider = db.session.scalar(select(Provider).where(Provider.name == "Minster Recovery"))
    assert provider is not None and not provider.owned_or_affiliated
    form_path = f"/admin/provider-edit/{provider.id}/locations/new"
    token = page_csrf_token(manager, form_path)
    data = {
        "name": "Minster View",
        "regulator_location_id": "1-201000016",
        "address": "6 Bootham",
        "town": "York",
        "postcode": "yo30 7bl",
        "country": "GB",
        "levels_of_care": ["residential_rehab", "medical_detox"],
        "substances": ["alcohol", "ketamine"],
        "dual_diagnosis": "y",
        "mental_health_accepted": ["depression"],
        "min_age": "18",
        "single_sex": "mixed",
        "funding_accepted": ["self_funded", "private_insurance"],
        "insurers": "Bupa\r\nVitality\r\n",
        "price_per_week_min": "1400",
        "price_per_week_max": "2200",
        "currency": "GBP",
        "status": "active",
        "rating": "outstanding",
        "rating_date": "2025-05-22",
        "csrf_token": token,
    }
    response = manager.post(form_path, data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    location = db.session.scalar(
        select(ProviderLocation).where(ProviderLocation.name == "Minster View")
    )
    assert location is not None
    assert (location.postcode, location.region) == ("YO30 7BL", "yorkshire")
    assert location.insurers == ["Bupa", "Vitality"]
    page = _page(manager, location_of(response))
    assert "Minster View" in page and "Edit location" in page

    edit = f"/admin/provider-edit/locations/{location.id}/"
    shown = _page(manager, edit)
    assert 'value="YO30 7BL"' in shown and "Bupa\nVitality" in shown


def test_a_bad_location_form_shows_each_problem_and_saves_nothing(
    client_for: Clients, clinic: ProviderLocation
) -> None:
    manager = client_for("manager")
    form_path = f"/admin/provider-edit/{clinic.provider_id}/locations/new"
    token = page_csrf_token(manager, form_path)
    before = database_snapshot()
    response = manager.post(
        form_path,
        data={
            "name": "Broken",
            "address": "1 Road",
            "town": "Leeds",
            "postcode": "LS99",
            "country": "GB",
            "substances": ["alcohol"],
            "funding_accepted": ["self_funded"],
            "price_per_week_min": "-50",
            "min_age": "18",
            "single_sex": "mixed",
            "status": "active",
            "currency": "GBP",
            "csrf_token": token,
        },
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Check the highlighted fields." in page
    assert 'data-testid="error-postcode"' in page and "Enter a UK postcode" in page
    assert 'data-testid="error-levels_of_care"' in page
    assert "Lowest price per week cannot be negative." in page
    after = database_snapshot()
    assert after == before


def test_editing_a_location_keeps_its_capacity_and_records_the_change(
    client_for: Clients, clinic: ProviderLocation
) -> None:
    with unit_of_work():
        services.confirm_capacity(clinic.id, 4, MANAGER)
    manager = client_for("manager")
    edit = f"/admin/provider-edit/locations/{clinic.id}/"
    page = _page(manager, edit)
    token = page_csrf_token(manager, edit)
    assert "Otley House" in page
    data = {
        **{k: v for k, v in location_form().items() if v is not None},
        "price_per_week_max": "1750",
        "single_sex": "mixed",
        "status": "active",
        "min_age": "18",
        "dual_diagnosis": "y",
        "csrf_token": token,
    }
    response = manager.post(edit, data=data)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    db.session.expire_all()
    stored = db.session.get(ProviderLocation, clinic.id)
    assert stored is not None
    assert str(stored.price_per_week_max) == "1750.00" and stored.beds_available == 4
