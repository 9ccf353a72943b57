"""What a valid provider and location look like, for the back office and the CSV import. Pure.

``clean_provider`` and ``clean_location`` take a complete record (typed values: str, bool,
int, Decimal, date, lists) and return it cleaned, or raise ``RecordInvalid`` naming every
problem by field. The import merges a row onto the stored record (or the defaults) first, so a
partial row is judged as the whole record it would produce.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from crm.intake.vocabulary import MENTAL_HEALTH, REGIONS, SUBSTANCES
from crm.providers import fields, geography
from crm.providers.fields import FieldErrors, RecordInvalid
from crm.providers.vocabulary import (
    CONTRACT_STATUSES,
    FUNDING_ACCEPTED,
    LEVELS_OF_CARE,
    PROVIDER_STATUSES,
    RATINGS,
    REGULATORS,
    SINGLE_SEX,
    UK_POSTCODE_COUNTRIES,
)

__all__ = [
    "LOCATION_DEFAULTS",
    "PROVIDER_DEFAULTS",
    "RecordInvalid",
    "clean_location",
    "clean_provider",
]

MAX_AGE = 120
MAX_STAY_DAYS = 365
# The postcode areas of the Crown Dependencies; every other area is in GB.
_AREA_COUNTRY = {"GY": "GG", "JE": "JE", "IM": "IM"}

PROVIDER_DEFAULTS: dict[str, Any] = {
    "name": "",
    "regulator": "cqc",
    "regulator_provider_id": None,
    "status": "active",
    "contract_status": "none",
    "owned_or_affiliated": False,
    "affiliation_note": None,
    "website": None,
}
LOCATION_DEFAULTS: dict[str, Any] = {
    "name": "",
    "regulator_location_id": None,
    "registration_status": None,
    "rating": None,
    "rating_date": None,
    "address": "",
    "town": "",
    "postcode": None,
    "country": "GB",
    "region": None,
    "latitude": None,
    "longitude": None,
    "levels_of_care": [],
    "substances": [],
    "dual_diagnosis": False,
    "mental_health_accepted": [],
    "exclusions": None,
    "min_age": 18,
    "max_age": None,
    "single_sex": "mixed",
    "accepts_pregnant": False,
    "wheelchair_accessible": False,
    "funding_accepted": [],
    "insurers": [],
    "price_per_week_min": None,
    "price_per_week_max": None,
    "currency": "GBP",
    "minimum_stay_days": None,
    "status": "active",
    "admissions_phone": None,
    "admissions_email": None,
}
PROVIDER_FIELDS = tuple(PROVIDER_DEFAULTS)
LOCATION_FIELDS = tuple(LOCATION_DEFAULTS)
BOOLEAN_FIELDS = ("dual_diagnosis", "accepts_pregnant", "wheelchair_accessible")


_PROVIDER_CLEANERS: dict[str, Callable[[Any], Any]] = {
    "name": fields.required_text("Provider name", 200),
    "regulator": fields.one_of("regulator", REGULATORS),
    "regulator_provider_id": fields.optional_text("Regulator provider id", 40),
    "status": fields.one_of("status", PROVIDER_STATUSES),
    "contract_status": fields.one_of("contract status", CONTRACT_STATUSES),
    "owned_or_affiliated": fields.yes_no("Owned or affiliated"),
    "affiliation_note": fields.optional_text("Affiliation note", 300),
    "website": fields.website,
}


def clean_provider(values: Mapping[str, Any]) -> dict[str, Any]:
    """The provider record cleaned; RecordInvalid naming each bad field."""
    out = {name: values.get(name, default) for name, default in PROVIDER_DEFAULTS.items()}
    errors = FieldErrors()
    for field, clean in _PROVIDER_CLEANERS.items():
        errors.check(out, field, clean)
    errors.raise_if_any()
    return out


def _location_cleaners(today: date) -> dict[str, Callable[[Any], Any]]:
    return {
        "name": fields.required_text("Location name", 200),
        "regulator_location_id": fields.optional_text("Regulator location id", 40),
        "registration_status": fields.optional_text("Registration status", 40),
        "rating": fields.one_of("rating", RATINGS, optional=True),
        "rating_date": fields.rating_date(today),
        "address": fields.required_text("Address", 300),
        "town": fields.required_text("Town", 100),
        "country": fields.country_code,
        "region": fields.one_of("region", REGIONS, optional=True),
        "latitude": fields.coordinate("Latitude", 90),
        "longitude": fields.coordinate("Longitude", 180),
        "levels_of_care": fields.some_of("levels of care", LEVELS_OF_CARE, at_least_one=True),
        "substances": fields.some_of("substances", SUBSTANCES, at_least_one=True),
        "mental_health_accepted": fields.some_of(
            "mental health conditions", MENTAL_HEALTH, at_least_one=False
        ),
        "exclusions": fields.free_text,
        "min_age": fields.whole("Minimum age", 0, MAX_AGE, optional=False),
        "max_age": fields.whole("Maximum age", 0, MAX_AGE, optional=True),
        "single_sex": fields.one_of("single-sex value", SINGLE_SEX),
        "funding_accepted": fields.some_of("funding", FUNDING_ACCEPTED, at_least_one=True),
        "insurers": fields.insurers,
        "price_per_week_min": fields.money("Lowest price per week"),
        "price_per_week_max": fields.money("Highest price per week"),
        "minimum_stay_days": fields.whole("Minimum stay (days)", 0, MAX_STAY_DAYS, optional=True),
        "status": fields.one_of("status", PROVIDER_STATUSES),
        **{field: fields.yes_no(field.replace("_", " ").capitalize()) for field in BOOLEAN_FIELDS},
    }


def clean_location(values: Mapping[str, Any], today: date) -> dict[str, Any]:
    """The location record cleaned (postcode canonical, region from the postcode area when
    not given); RecordInvalid naming each bad field, including combinations of fields."""
    out = {name: values.get(name, default) for name, default in LOCATION_DEFAULTS.items()}
    errors = FieldErrors()
    for field, clean in _location_cleaners(today).items():
        errors.check(out, field, clean)
    errors.check(out, "currency", fields.currency)
    if "country" not in errors.by_field:
        _place(out, errors)
        errors.check(out, "admissions_phone", fields.phone_for(out["country"]))
    errors.check(out, "admissions_email", fields.optional_email)
    _combinations(out, errors)
    errors.raise_if_any()
    return out


def _place(out: dict[str, Any], errors: FieldErrors) -> None:
    """Postcode by country; the region from the postcode area when none is given."""
    raw = (fields.as_text(out.get("postcode")) or "").strip()
    if out["country"] not in UK_POSTCODE_COUNTRIES:
        if out.get("region"):
            errors.add("region", "Regions are for locations in the UK.")
        out["postcode"] = raw.upper()[:10] or None
        return
    if not raw:
        errors.add("postcode", "A UK location needs its postcode.")
        return
    try:
        out["postcode"] = geography.normalise_postcode(raw)
    except ValueError as exc:
        errors.add("postcode", str(exc))
        return
    area = geography.postcode_area(out["postcode"])
    expected = _AREA_COUNTRY.get(area, "GB")
    if expected != out["country"]:
        errors.add("country", f"{area} postcodes are in {expected}, not {out['country']}.")
    if not out.get("region"):
        out["region"] = geography.postcode_areas()[area].region


def _combinations(out: dict[str, Any], errors: FieldErrors) -> None:
    low, high = out.get("price_per_week_min"), out.get("price_per_week_max")
    if isinstance(low, Decimal) and isinstance(high, Decimal) and low > high:
        errors.add("price_per_week_max", "The highest price cannot be below the lowest.")
    young, old = out.get("min_age"), out.get("max_age")
    if isinstance(young, int) and isinstance(old, int) and old < young:
        errors.add("max_age", "The maximum age cannot be below the minimum age.")
    if (out.get("latitude") is None) != (out.get("longitude") is None):
        errors.add("longitude", "Give both latitude and longitude, or neither.")
    if out.get("mental_health_accepted") and out.get("dual_diagnosis") is False:
        errors.add(
            "mental_health_accepted",
            "Mental health conditions are listed only for dual-diagnosis locations.",
        )
    funding = out.get("funding_accepted")
    if out.get("insurers") and isinstance(funding, list) and "private_insurance" not in funding:
        errors.add("insurers", "Named insurers need private_insurance in the funding accepted.")


def provider_values(provider: Any) -> dict[str, Any]:
    """The editable fields of a stored provider, as clean_provider returns them."""
    return {name: getattr(provider, name) for name in PROVIDER_FIELDS}


def location_values(location: Any) -> dict[str, Any]:
    """The editable fields of a stored location, as clean_location returns them."""
    values = {name: getattr(location, name) for name in LOCATION_FIELDS}
    for name in ("price_per_week_min", "price_per_week_max"):
        if values[name] is not None:  # SQLite hands back a float-made Decimal: normalise
            values[name] = Decimal(values[name]).quantize(Decimal("0.01"))
    return values


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The names whose value differs, in ``after``'s order."""
    return [name for name, value in after.items() if before.get(name) != value]
