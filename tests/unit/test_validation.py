"""Normalisers for what people type: phone numbers (E.164), emails and short text."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from crm.validation import MAX_PHONE_INPUT, clean_text, normalise_email, normalise_phone

PHONE_ERROR = "Enter a valid phone number, like 07700 900123."
PHONE_CHARS = st.text(alphabet="0123456789 +-()./x#*", max_size=MAX_PHONE_INPUT + 5)
EXAMPLE_NUMBERS = [
    number
    for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
    if (number := phonenumbers.example_number_for_type(region, kind)) is not None
]


@pytest.mark.parametrize(
    "typed",
    [
        "07700 900123",
        "07700900123",
        "+44 7700 900123",
        "+447700900123",
        "0044 7700 900123",
        "(0)7700-900123",
        "+44 (0)7700 900123",
        "  07700-900-123  ",
        "07700.900.123",
    ],
)
def test_uk_mobile_is_normalised_to_e164(typed: str) -> None:
    assert normalise_phone(typed) == "+447700900123"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("+33 1 42 68 53 00", "+33142685300"),
        ("0033 1 42 68 53 00", "+33142685300"),
        ("+1 202 555 0143", "+12025550143"),
        ("020 7946 0958", "+442079460958"),
        ("+353 1 234 5678", "+35312345678"),
    ],
)
def test_landlines_and_international_numbers_are_accepted(typed: str, expected: str) -> None:
    assert normalise_phone(typed) == expected


def test_national_format_of_another_region_uses_that_region() -> None:
    assert normalise_phone("01 42 68 53 00", region="FR") == "+33142685300"


@pytest.mark.parametrize(
    "junk",
    [
        "hello",
        "12345",
        "07700",
        "0770090012345678",
        "+44 1234",
        "+999 123 456 789",
        "07700 901000",
        "not-a-number-07700",
        "0800 000 000 000 000",
    ],
)
def test_junk_is_refused_with_a_clear_message(junk: str) -> None:
    with pytest.raises(ValueError, match=r"^Enter a valid phone number, like 07700 900123\.$"):
        normalise_phone(junk)


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_missing_phone_is_required(empty: str | None) -> None:
    with pytest.raises(ValueError, match=r"^Phone number is required\.$"):
        normalise_phone(empty)


def test_overlong_phone_input_is_refused_before_parsing() -> None:
    with pytest.raises(ValueError, match=r"^Phone number is too long\.$"):
        normalise_phone("0" * (MAX_PHONE_INPUT + 1))


def _assert_canonical(result: str) -> None:
    assert result.startswith("+")
    assert result[1:].isdigit()
    assert 8 <= len(result) <= 16  # E.164: at most 15 digits
    assert normalise_phone(result) == result  # idempotent


@given(st.text(max_size=60))
@example("+44 7700 900123 ext. 5")
@example("\u0660\u0667\u0667\u0660\u0660\u0669\u0660\u0660\u0661\u0662\u0663")  # Arabic digits
def test_normalise_phone_only_ever_raises_value_error(text: str) -> None:
    try:
        result = normalise_phone(text)
    except ValueError as exc:
        assert str(exc)
        return
    _assert_canonical(result)


@given(PHONE_CHARS)
def test_phone_like_input_is_canonical_and_idempotent(text: str) -> None:
    try:
        result = normalise_phone(text)
    except ValueError:
        return
    _assert_canonical(result)


@given(
    st.sampled_from(EXAMPLE_NUMBERS),
    st.sampled_from(
        [phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164]
    ),
)
def test_every_region_s_valid_numbers_are_accepted(
    number: phonenumbers.PhoneNumber, fmt: int
) -> None:
    typed = phonenumbers.format_number(number, fmt)
    expected = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    assume(len(typed) <= MAX_PHONE_INPUT)
    assert normalise_phone(typed) == expected
    _assert_canonical(expected)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Jane.Smith@Example.ORG", "jane.smith@example.org"),
        ("  sam@example.com ", "sam@example.com"),
        ("zoë@exämple.com", "zoë@exämple.com"),
    ],
)
def test_email_is_normalised_to_lower_case(typed: str, expected: str) -> None:
    assert normalise_email(typed) == expected


@pytest.mark.parametrize(
    "junk",
    [
        "jane",
        "jane@",
        "@example.com",
        "jane@@example.com",
        "jane smith@example.com",
        "jane@example",
        "jane@exa mple.com",
    ],
)
def test_invalid_email_is_refused_with_a_clear_message(junk: str) -> None:
    with pytest.raises(ValueError, match=r"^Enter a valid email address \("):
        normalise_email(junk)


def test_missing_or_overlong_email_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^Email is required\.$"):
        normalise_email("  ")
    with pytest.raises(ValueError, match=r"^Email is required\.$"):
        normalise_email(None)
    with pytest.raises(ValueError, match=r"^Email must be at most 254 characters\.$"):
        normalise_email("a" * 250 + "@example.com")


@given(st.text(max_size=300))
@example("a@\udcff.com")
@example("a@xn--.com")
@example("user@[127.0.0.1]")
def test_normalise_email_only_ever_raises_value_error(text: str) -> None:
    try:
        result = normalise_email(text)
    except ValueError as exc:
        assert str(exc)
        return
    assert result == result.lower()
    assert "@" in result
    assert normalise_email(result) == result


@given(st.emails())
def test_generated_valid_emails_are_idempotent(address: str) -> None:
    try:
        result = normalise_email(address)
    except ValueError:
        return  # hypothesis may produce addresses email-validator rightly refuses (e.g. TLDs)
    assert normalise_email(result) == result


def test_clean_text_trims_and_keeps_ordinary_text() -> None:
    assert clean_text("  Dr Anna O'Brien-Søren  ", label="Name", max_length=40) == (
        "Dr Anna O'Brien-Søren"
    )


@pytest.mark.parametrize("char", ["\x00", "\x07", "\n", "\u200b", "\u202e", "\ue000"])
def test_clean_text_refuses_control_characters(char: str) -> None:
    with pytest.raises(ValueError, match=r"^Name contains control characters\.$"):
        clean_text(f"Anna{char}Smith", label="Name", max_length=40)


@given(st.text(max_size=30))
@example("Anna\u00a0Smith")  # a no-break space: not printable to Python, allowed here
@example("line\u2028break")  # a line separator: the same
def test_clean_text_refuses_exactly_the_control_categories(value: str) -> None:
    """The isprintable() fast path changes nothing: refused iff a character is Cc/Cf/Cs/Co."""
    import unicodedata

    text = value.strip()
    assume(text)
    bad = any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co"} for ch in text)
    if bad:
        with pytest.raises(ValueError, match="control characters"):
            clean_text(value, label="Name", max_length=40)
    else:
        assert clean_text(value, label="Name", max_length=40) == text


def test_clean_text_refuses_overlong_text() -> None:
    assert clean_text("x" * 40, label="Name", max_length=40) == "x" * 40
    with pytest.raises(ValueError, match=r"^Name must be at most 40 characters\.$"):
        clean_text("x" * 41, label="Name", max_length=40)


def test_clean_text_required_and_optional() -> None:
    with pytest.raises(ValueError, match=r"^Name is required\.$"):
        clean_text("   ", label="Name", max_length=40)
    assert clean_text(None, label="Notes", max_length=40, required=False) == ""


@given(st.text(max_size=80))
def test_clean_text_only_ever_raises_value_error(text: str) -> None:
    try:
        result = clean_text(text, label="Note", max_length=50)
    except ValueError:
        return
    assert result == result.strip()
    assert 0 < len(result) <= 50
