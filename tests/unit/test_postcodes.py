"""UK postcodes, postcode areas and distances (crm.providers.geography)."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.providers.geography import (
    POSTCODE_HINT,
    approximate_point,
    area_of,
    miles_between,
    normalise_postcode,
    postcode_area,
    postcode_areas,
)
from crm.providers.vocabulary import UK_POSTCODE_COUNTRIES

# The 121 postcode areas of the UK (Royal Mail), plus the Crown Dependencies' GY, JE and IM.
_AREA_LETTERS = """
AB AL B BA BB BD BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT DY
E EC EH EN EX FK FY G GL GU HA HD HG HP HR HS HU HX IG IP IV KA KT KW KY L LA LD LE LL LN LS
LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA SE SG SK SL SM SN SO
SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF WN WR WS WV YO ZE
"""
UK_AREAS = frozenset(_AREA_LETTERS.split())


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("ls14ap", "LS1 4AP"),
        ("LS1 4AP", "LS1 4AP"),
        (" sw1a 1aa ", "SW1A 1AA"),
        ("m1  1ae", "M1 1AE"),
        ("B338TH", "B33 8TH"),
        ("cr26xh", "CR2 6XH"),
        ("W1A0AX", "W1A 0AX"),
        ("EC1V 9HX", "EC1V 9HX"),
        ("bt1\t5gs", "BT1 5GS"),
        ("GY1 1AA", "GY1 1AA"),
        ("ze1 0aa", "ZE1 0AA"),
    ],
)
def test_postcodes_are_normalised(typed: str, canonical: str) -> None:
    assert normalise_postcode(typed) == canonical


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "LS1",
        "12345",
        "LS1 4A",
        "LS1 4APX",
        "1LS 4AP",
        "LS1-4AP",
        "<script>",
        "LS1 4ÄP",
        "LS1 4CP",  # C never appears in the inward code
        "LS1 4AO",
        "LS1\n4AP",
        "LS1 4AP" + " " * 20,
    ],
)
def test_bad_postcodes_are_refused_with_the_hint(bad: str) -> None:
    with pytest.raises(ValueError, match=r"Enter a UK postcode, like LS1 4AP\.$"):
        normalise_postcode(bad)


def test_an_unknown_area_is_named() -> None:
    with pytest.raises(ValueError, match=r"^ZZ is not a UK postcode area\. Enter a UK"):
        normalise_postcode("ZZ1 1AA")


@given(st.one_of(st.text(max_size=20), st.text(alphabet=string.ascii_letters + "0123 ")))
def test_normaliser_raises_only_value_error_and_output_round_trips(typed: str) -> None:
    try:
        canonical = normalise_postcode(typed)
    except ValueError as exc:
        assert str(exc).endswith(POSTCODE_HINT)
        return
    outward, inward = canonical.split(" ")
    assert 2 <= len(outward) <= 4 and len(inward) == 3
    assert canonical.isascii() and canonical == canonical.upper()
    assert normalise_postcode(canonical) == canonical
    assert normalise_postcode(canonical.lower().replace(" ", "")) == canonical
    assert postcode_area(canonical) in postcode_areas()


@given(
    st.sampled_from(sorted(UK_AREAS)),
    st.integers(0, 99),
    st.integers(0, 9),
    st.text(alphabet="ABDEFGHJLNPQRSTUWXYZ", min_size=2, max_size=2),
)
def test_every_well_formed_postcode_is_accepted(
    area: str, district: int, sector: int, unit: str
) -> None:
    canonical = f"{area}{district} {sector}{unit}"
    assert normalise_postcode(canonical) == canonical
    assert postcode_area(canonical) == area
    assert approximate_point(canonical) == postcode_areas()[area].point


def test_the_table_has_every_uk_postcode_area_and_plausible_points() -> None:
    areas = postcode_areas()
    assert set(areas) == UK_AREAS | {"GY", "JE", "IM"}
    for found in areas.values():
        # The British Isles' bounding box: Jersey to Shetland, Northern Ireland to Norfolk.
        assert 49.0 <= found.latitude <= 61.0, found
        assert -8.5 <= found.longitude <= 2.0, found
        assert found.town
    assert areas["LS"].region == "yorkshire" and areas["BT"].region == "northern_ireland"
    assert areas["JE"].region is None
    assert {"GB", "GG", "JE", "IM"} == UK_POSTCODE_COUNTRIES


def test_area_and_point_of_missing_or_bad_postcodes_are_none() -> None:
    assert area_of(None) is None and area_of("") is None and area_of("nonsense") is None
    assert approximate_point(None) is None and approximate_point("ZZ1 1AA") is None
    found = area_of("ls1 4ap")
    assert found is not None and found.town == "Leeds"


def test_miles_between_known_cities() -> None:
    leeds, london = postcode_areas()["LS"].point, postcode_areas()["EC"].point
    # Leeds to the City of London is about 170 miles as the crow flies.
    assert 165 < miles_between(leeds, london) < 175
    assert miles_between(leeds, leeds) == 0.0
    assert miles_between(leeds, london) == pytest.approx(miles_between(london, leeds))
    # Antipodes: half the Earth's circumference, no math domain error.
    assert miles_between((0.0, 0.0), (0.0, 180.0)) == pytest.approx(12_436.9, rel=1e-3)


@given(
    st.tuples(st.floats(-90, 90), st.floats(-180, 180)),
    st.tuples(st.floats(-90, 90), st.floats(-180, 180)),
)
def test_distance_is_symmetric_and_bounded(a: tuple[float, float], b: tuple[float, float]) -> None:
    d = miles_between(a, b)
    assert 0.0 <= d <= 12_437.0
    assert d == pytest.approx(miles_between(b, a), abs=1e-6)
