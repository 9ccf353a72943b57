"""What a valid provider and location are (crm.providers.rules), and how capacity reads."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.providers.capacity import capacity_note
from crm.providers.rules import (
    LOCATION_DEFAULTS,
    PROVIDER_DEFAULTS,
    RecordInvalid,
    changed_fields,
    clean_location,
    clean_provider,
)

TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def _location(**changes: Any) -> dict[str, Any]:
    return {
        **LOCATION_DEFAULTS,
        "name": "Otley House",
        "address": "12 Westgate",
        "town": "Otley",
        "postcode": "LS21 3AT",
        "levels_of_care": ["residential_rehab"],
        "substances": ["ketamine"],
        "funding_accepted": ["self_funded"],
        **changes,
    }


def _errors(**changes: Any) -> dict[str, list[str]]:
    with pytest.raises(RecordInvalid) as caught:
        clean_location(_location(**changes), TODAY)
    return caught.value.field_errors


def test_a_minimal_location_is_completed_with_defaults() -> None:
    clean = clean_location(_location(), TODAY)
    assert clean["country"] == "GB" and clean["region"] == "yorkshire"
    assert clean["min_age"] == 18 and clean["single_sex"] == "mixed" and clean["status"] == "active"
    assert set(clean) == set(LOCATION_DEFAULTS)
    assert clean_location(clean, TODAY) == clean, "cleaning is idempotent"


def test_lists_are_deduplicated_in_vocabulary_order() -> None:
    clean = clean_location(
        _location(substances=["ketamine", "alcohol", "ketamine"], levels_of_care=["aftercare"]),
        TODAY,
    )
    assert clean["substances"] == ["alcohol", "ketamine"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"price_per_week_min": Decimal("-1")}, "price_per_week_min", "cannot be negative"),
        ({"price_per_week_min": Decimal("1.234")}, "price_per_week_min", "at most 2 decimals"),
        ({"price_per_week_min": Decimal("NaN")}, "price_per_week_min", "cannot be negative"),
        ({"min_age": 30, "max_age": 20}, "max_age", "cannot be below the minimum"),
        ({"min_age": 121}, "min_age", "from 0 to 120"),
        ({"minimum_stay_days": -1}, "minimum_stay_days", "from 0 to 365"),
        ({"mental_health_accepted": ["anxiety"]}, "mental_health_accepted", "dual-diagnosis"),
        ({"insurers": ["Bupa"]}, "insurers", "private_insurance"),
        ({"region": "scotland", "country": "ES", "postcode": None}, "region", "in the UK"),
        ({"postcode": "GY1 1AA"}, "country", "GY postcodes are in GG, not GB"),
        ({"rating_date": TODAY + timedelta(days=1)}, "rating_date", "cannot be in the future"),
        ({"rating": "excellent"}, "rating", "Unknown rating 'excellent'"),
        ({"currency": "pounds"}, "currency", "3-letter code"),
        ({"admissions_phone": "12"}, "admissions_phone", "valid phone number"),
        ({"admissions_email": "nobody"}, "admissions_email", "valid email"),
        ({"exclusions": "ok\x00bad"}, "exclusions", "control characters"),
        ({"name": "x" * 201}, "name", "at most 200 characters"),
        ({"dual_diagnosis": "yes"}, "dual_diagnosis", "yes or no"),
        ({"latitude": True, "longitude": 1.0}, "latitude", "must be a number"),
    ],
)
def test_each_rule_names_its_field(changes: dict[str, Any], field: str, message: str) -> None:
    errors = _errors(**changes)
    assert field in errors, errors
    assert message in " ".join(errors[field])


def test_crown_dependencies_use_their_own_country_codes() -> None:
    clean = clean_location(_location(postcode="je2 3ab", country="JE"), TODAY)
    assert (clean["postcode"], clean["country"], clean["region"]) == ("JE2 3AB", "JE", None)
    assert clean_location(_location(country="uk"), TODAY)["country"] == "GB"


def test_a_given_region_is_kept_and_a_phone_is_read_in_the_country() -> None:
    clean = clean_location(_location(region="north_east", admissions_phone="0113 496 0123"), TODAY)
    assert clean["region"] == "north_east" and clean["admissions_phone"] == "+441134960123"
    abroad = clean_location(
        _location(country="IE", postcode="D02 XY45", admissions_phone="01 234 5678"), TODAY
    )
    assert abroad["admissions_phone"] == "+35312345678" and abroad["postcode"] == "D02 XY45"


def test_providers_are_validated() -> None:
    clean = clean_provider({**PROVIDER_DEFAULTS, "name": " Aire Valley "})
    assert clean["name"] == "Aire Valley" and clean["regulator"] == "cqc"
    with pytest.raises(RecordInvalid) as caught:
        clean_provider(
            {**PROVIDER_DEFAULTS, "name": "", "status": "open", "website": "javascript:alert(1)"}
        )
    assert set(caught.value.field_errors) == {"name", "status", "website"}


def test_changed_fields_lists_only_differences() -> None:
    before = clean_location(_location(), TODAY)
    after = {**before, "town": "Ilkley", "status": "paused"}
    assert changed_fields(before, after) == ["town", "status"]
    assert changed_fields(before, before) == []


@given(
    st.fixed_dictionaries(
        {
            "price_per_week_min": st.none() | st.decimals(allow_nan=True, places=3),
            "min_age": st.integers(-5, 130),
            "max_age": st.none() | st.integers(-5, 130),
            "postcode": st.none() | st.text(max_size=10),
            "country": st.sampled_from(["GB", "ES", "", "zz", "JE"]),
            "substances": st.lists(st.sampled_from(["alcohol", "ketamine", "spice"]), max_size=3),
        }
    )
)
def test_any_values_are_cleaned_or_refused_by_field(changes: dict[str, Any]) -> None:
    try:
        clean = clean_location(_location(**changes), TODAY)
    except RecordInvalid as exc:
        assert exc.field_errors and all(exc.field_errors.values())
        assert set(exc.field_errors) <= set(LOCATION_DEFAULTS)
        return
    assert clean_location(clean, TODAY) == clean


def test_capacity_reads_with_its_age_and_goes_stale() -> None:
    note = capacity_note(3, NOW - timedelta(days=2, hours=1), "Ada", NOW, 7)
    assert note.summary == "3 beds · confirmed 2 days ago by Ada" and note.known
    assert capacity_note(1, NOW, None, NOW, 7).summary == "1 bed · confirmed today"
    assert capacity_note(0, NOW - timedelta(days=1), "Max", NOW, 7).age == "yesterday"
    stale = capacity_note(3, NOW - timedelta(days=7, minutes=1), "Ada", NOW, 7)
    assert stale.stale and not stale.known
    never = capacity_note(None, None, None, NOW, 7)
    assert never.summary == "Beds not confirmed" and not never.known and not never.stale
