"""The directory CSV, pure: the file as a whole, the columns, each row's values and reasons."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.providers import csv_rules
from crm.providers.csv_rules import (
    COLUMNS,
    MAX_BYTES,
    REQUIRED_COLUMNS,
    FileRefused,
    ValidRow,
    check_upload,
    decode,
    first_provider_rows,
    first_rows,
    parse_row,
    read_table,
    validate_row,
)
from crm.providers.rules import LOCATION_DEFAULTS, location_values

ROOT = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 25)
HEADER = tuple(c.name for c in COLUMNS)
GOOD = {
    "provider_name": "Aire Valley Recovery",
    "regulator": "CQC",
    "regulator_provider_id": "1-101",
    "regulator_location_id": "1-201",
    "location_name": "Otley House",
    "address": "12 Westgate",
    "town": "Otley",
    "postcode": "ls21 3at",
    "levels_of_care": "Residential rehab; medical_detox",
    "substances": "ketamine;alcohol",
    "funding_accepted": "self_funded",
    "price_per_week_min": "£1,200",
    "price_per_week_max": "1500.50",
    "dual_diagnosis": "Yes",
    "mental_health_accepted": "depression",
    "rating_date": "14/03/2025",
}


def _text(rows: list[dict[str, str]], header: tuple[str, ...] = HEADER) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _row(**changes: str) -> tuple[str, ...]:
    values = {**GOOD, **changes}
    return tuple(values.get(name, "") for name in HEADER)


def _judge(**changes: str) -> ValidRow | list[str]:
    return validate_row(parse_row(HEADER, 2, _row(**changes)), None, None, TODAY)


# --- the file --------------------------------------------------------------------------------


def test_utf8_with_or_without_the_excel_bom_is_read() -> None:
    text = _text([GOOD])
    assert decode(text.encode("utf-8")) == text
    assert decode(b"\xef\xbb\xbf" + text.encode("utf-8")) == text
    assert read_table(decode(b"\xef\xbb\xbf" + text.encode())).header == HEADER


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"\r\n \r\n", "The file is empty."),
        ("Café,Zürich".encode("cp1252"), "not in UTF-8 encoding"),
        ("Café".encode("utf-16"), "not in UTF-8 encoding"),
        (b"PK\x03\x04rest of a workbook", "Excel workbook"),
        (b"a,b\x00,c", "binary data"),
        (b"x" * (MAX_BYTES + 1), "larger than 5 MB"),
    ],
)
def test_whole_file_problems_are_refused_with_what_to_do(data: bytes, message: str) -> None:
    with pytest.raises(FileRefused, match=message):
        check_upload(data)


def test_encoding_refusals_say_how_to_save_the_file() -> None:
    with pytest.raises(FileRefused) as caught:
        decode("Café".encode("latin-1"))
    assert 'Save the sheet as "CSV UTF-8 (Comma delimited)"' in str(caught.value)


def test_missing_required_columns_are_listed_by_name() -> None:
    header = ("provider_name", "town", "substances")
    with pytest.raises(FileRefused) as caught:
        read_table(_text([GOOD], header))
    assert str(caught.value) == (
        "Missing required columns: regulator, regulator_location_id, location_name, address, "
        "postcode, levels_of_care, funding_accepted."
    )


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ((*REQUIRED_COLUMNS, "substance"), "Unknown columns: substance."),
        ((*REQUIRED_COLUMNS, ""), r"Unknown columns: \(blank\)."),
        ((*REQUIRED_COLUMNS, "town"), "Columns named more than once: town."),
    ],
)
def test_unknown_and_repeated_columns_are_refused(header: tuple[str, ...], message: str) -> None:
    with pytest.raises(FileRefused, match=message):
        read_table(",".join(header) + "\r\n" + ",".join("x" for _ in header) + "\r\n")


def test_header_names_ignore_case_and_spaces() -> None:
    header = ",".join(f" {name.upper()} " for name in REQUIRED_COLUMNS)
    table = read_table(header + "\n" + ",".join("x" for _ in REQUIRED_COLUMNS) + "\n")
    assert table.header == REQUIRED_COLUMNS


def test_semicolon_separated_files_are_recognised() -> None:
    with pytest.raises(FileRefused, match="separated by semicolons"):
        read_table(";".join(REQUIRED_COLUMNS) + "\n")


def test_blank_rows_are_dropped_and_row_numbers_are_the_spreadsheet_s() -> None:
    text = (
        _text([GOOD])
        + ",,,\r\n"
        + _text([{**GOOD, "regulator_location_id": "1-202"}])[len(",".join(HEADER)) + 2 :]
    )
    table = read_table(text)
    assert [number for number, _ in table.rows] == [2, 4]


def test_header_only_and_broken_quoting_are_refused() -> None:
    with pytest.raises(FileRefused, match="no rows to import"):
        read_table(",".join(HEADER) + "\r\n")
    with pytest.raises(FileRefused, match="not valid CSV"):
        read_table(",".join(HEADER) + '\r\n"unterminated\r\n')


def test_duplicates_point_at_the_first_row_with_the_id() -> None:
    rows = [GOOD, {**GOOD, "regulator_location_id": "1-202"}, GOOD]
    table = read_table(_text(rows))
    assert first_rows(table) == {"1-201": 2, "1-202": 3}
    assert first_provider_rows(table) == {("id", "1-101"): 2}
    by_name = read_table(_text([{**GOOD, "regulator_provider_id": ""}]))
    assert first_provider_rows(by_name) == {("name", "aire valley recovery"): 2}


# --- a row -----------------------------------------------------------------------------------


def test_a_good_row_becomes_clean_records() -> None:
    judged = _judge()
    assert isinstance(judged, ValidRow)
    assert judged.provider["regulator"] == "cqc"
    location = judged.location
    assert location["postcode"] == "LS21 3AT" and location["region"] == "yorkshire"
    assert location["levels_of_care"] == ["residential_rehab", "medical_detox"]
    assert location["substances"] == ["ketamine", "alcohol"] or location["substances"] == [
        "alcohol",
        "ketamine",
    ]
    assert (location["price_per_week_min"], location["price_per_week_max"]) == (
        Decimal("1200.00"),
        Decimal("1500.50"),
    )
    assert location["rating_date"] == date(2025, 3, 14)
    assert location["dual_diagnosis"] is True and location["country"] == "GB"
    assert location["min_age"] == 18 and location["currency"] == "GBP"


@pytest.mark.parametrize(
    ("changes", "reasons"),
    [
        ({"price_per_week_min": "-100"}, ["price_per_week_min: cannot be negative (-100)"]),
        (
            {"price_per_week_min": "12,00"},
            ["price_per_week_min: '12,00' is not an amount (write 1250 or 1250.00)"],
        ),
        (
            {"price_per_week_min": "2000"},
            ["price_per_week_max: The highest price cannot be below the lowest."],
        ),
        (
            {"price_per_week_max": "10.005"},
            [
                "price_per_week_max: Highest price per week must be at most 99999999.99 "
                "with at most 2 decimals."
            ],
        ),
        ({"postcode": "LS21"}, ["postcode: Enter a UK postcode, like LS1 4AP."]),
        (
            {"postcode": "QQ1 1AA"},
            ["postcode: QQ is not a UK postcode area. Enter a UK postcode, like LS1 4AP."],
        ),
        ({"postcode": ""}, ["postcode: A UK location needs its postcode."]),
        ({"substances": "ketamine;spice"}, ["substances: Unknown substances: spice (known: "]),
        ({"levels_of_care": "rehab"}, ["levels_of_care: Unknown levels of care: rehab (known: "]),
        ({"funding_accepted": "cash"}, ["funding_accepted: Unknown funding: cash (known: "]),
        ({"country": "Spain", "postcode": ""}, ["country: 'Spain' is not an ISO 3166-1"]),
        ({"latitude": "53.9"}, ["longitude: Give both latitude and longitude, or neither."]),
        ({"latitude": "91", "longitude": "1"}, ["latitude: Latitude must be between -90 and 90."]),
        ({"dual_diagnosis": "sometimes"}, ["dual_diagnosis: 'sometimes' is not yes or no"]),
        ({"rating_date": "2099-01-01"}, ["rating_date: The rating date cannot be in the future."]),
        ({"min_age": "eighteen"}, ["min_age: 'eighteen' is not a whole number"]),
        ({"location_name": ""}, ["location_name: Location name is required."]),
        ({"regulator": "ofsted"}, ["regulator: Unknown regulator 'ofsted': use one of "]),
        (
            {"regulator_location_id": ""},
            ["regulator_location_id: required (it is how a later import finds this location)"],
        ),
    ],
)
def test_each_bad_value_is_a_reason_naming_its_column(
    changes: dict[str, str], reasons: list[str]
) -> None:
    judged = _judge(**changes)
    assert isinstance(judged, list), judged
    assert len(judged) == len(reasons), judged
    for got, expected in zip(judged, reasons, strict=True):
        assert got.startswith(expected), (got, expected)


def test_every_problem_of_a_row_is_reported_at_once() -> None:
    judged = _judge(postcode="nope", substances="spice", price_per_week_min="-1")
    assert isinstance(judged, list)
    assert [r.split(":")[0] for r in judged] == ["price_per_week_min", "substances", "postcode"]


def test_a_row_with_the_wrong_number_of_cells_is_refused_whole() -> None:
    parsed = parse_row(HEADER, 5, _row()[:-3])
    assert parsed.reasons == [
        f"has {len(HEADER) - 3} cells but the header has {len(HEADER)} columns"
    ]


def test_abroad_rows_need_no_postcode_and_keep_their_currency() -> None:
    judged = _judge(country="es", postcode="", currency="eur", latitude="36.51", longitude="-4.88")
    assert isinstance(judged, ValidRow)
    assert (judged.location["country"], judged.location["postcode"]) == ("ES", None)
    assert judged.location["currency"] == "EUR" and judged.location["region"] is None


def test_a_partial_row_keeps_what_is_stored_for_missing_columns() -> None:
    stored = {**LOCATION_DEFAULTS, **_judge().location}  # type: ignore[union-attr]
    stored["exclusions"] = "No active psychosis"
    header = tuple(n for n in HEADER if n != "exclusions")
    cells = tuple({**GOOD, "price_per_week_max": "1600"}.get(n, "") for n in header)
    judged = validate_row(parse_row(header, 2, cells), None, stored, TODAY)
    assert isinstance(judged, ValidRow)
    assert judged.location["exclusions"] == "No active psychosis"
    assert judged.location["price_per_week_max"] == Decimal("1600.00")


def test_the_sample_file_is_valid_and_matches_the_documented_columns() -> None:
    data = (ROOT / "docs" / "sample-providers.csv").read_bytes()
    _, table = check_upload(data)
    assert table.header == HEADER
    results = [
        validate_row(parse_row(table.header, n, c), None, None, TODAY) for n, c in table.rows
    ]
    assert all(isinstance(r, ValidRow) for r in results), results
    docs = (ROOT / "docs" / "providers.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for column in COLUMNS:
        assert f"`{column.name}`" in docs, f"docs/providers.md does not describe {column.name}"
        named = f"**`{column.name}`**" if column.required else f"`{column.name}`"
        assert named in readme, f"README.md does not name {column.name} as documented"


def test_stored_values_round_trip_through_the_rules() -> None:
    judged = _judge()
    assert isinstance(judged, ValidRow)

    class Stored:
        pass

    stored = Stored()
    for name, value in judged.location.items():
        setattr(stored, name, value)
    assert location_values(stored) == judged.location


@given(st.lists(st.text(max_size=30), min_size=len(HEADER), max_size=len(HEADER)))
def test_any_cells_give_reasons_or_clean_records_never_an_exception(cells: list[str]) -> None:
    parsed = parse_row(HEADER, 2, tuple(cells))
    judged = validate_row(parsed, None, None, TODAY)
    assert isinstance(judged, ValidRow) or (judged and all(isinstance(r, str) for r in judged))


@given(st.binary(max_size=300))
def test_any_bytes_are_read_or_refused_with_file_refused(data: bytes) -> None:
    try:
        _, table = check_upload(data)
    except FileRefused as exc:
        assert str(exc)
        return
    assert set(csv_rules.REQUIRED_COLUMNS) <= set(table.header)
