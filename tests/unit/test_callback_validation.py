"""parse_callback_request: canonical data or IntakeInvalid naming each bad field, never else."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from crm.intake.callback import (
    ALLOWED_FIELDS,
    CallbackRequestData,
    IntakeInvalid,
    parse_callback_request,
)


def valid(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": "Sam Smith",
        "phone": "07700 900123",
        "email": "Sam.Smith@Example.COM",
        "best_time_to_call": "evenings",
        "for_whom": "self",
        "substances": ["ketamine", "alcohol"],
        "message": "I need help with ketamine.",
        "consent_to_contact": True,
        "consent_to_health_details": True,
        "consent_wording_version": "callback-consent-2026-11",
        "disclosure_wording_version": "commission-2026-11",
        "page_url": "https://rehab.example/help",
        "utm_source": "google",
        "utm_campaign": "winter",
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}


def errors_for(payload: dict[str, Any]) -> dict[str, list[str]]:
    with pytest.raises(IntakeInvalid) as refused:
        parse_callback_request(payload)
    assert refused.value.field_errors, "IntakeInvalid always names a field"
    return refused.value.field_errors


def test_a_valid_request_is_normalised() -> None:
    data = parse_callback_request(valid())
    assert data == CallbackRequestData(
        name="Sam Smith",
        phone="+447700900123",
        email="sam.smith@example.com",
        best_time_to_call="evenings",
        relationship="self",
        client_name=None,
        substances=("ketamine", "alcohol"),
        message="I need help with ketamine.",
        consent_to_health_details=True,
        consent_wording_version="callback-consent-2026-11",
        disclosure_wording_version="commission-2026-11",
        page_url="https://rehab.example/help",
        utm={"utm_source": "google", "utm_campaign": "winter"},
    )
    assert not data.for_someone_else


@pytest.mark.parametrize(
    "typed",
    [
        "07700 900123",
        "+44 7700 900123",
        "447700900123",
        "0044 7700-900-123",
        "(07700) 900123",
        " +447700900123 ",
    ],
)
def test_phone_in_any_format_becomes_e164(typed: str) -> None:
    assert parse_callback_request(valid(phone=typed)).phone == "+447700900123"


def test_minimal_request_needs_only_name_phone_consent_and_wording() -> None:
    data = parse_callback_request(
        {
            "name": "Jo",
            "phone": "+33 1 42 68 53 00",
            "consent_to_contact": "on",
            "consent_wording_version": "v1",
            "disclosure_wording_version": "d1",
        }
    )
    assert (data.phone, data.email, data.substances, data.message) == (
        "+33142685300",
        None,
        (),
        None,
    )
    assert data.consent_to_health_details is False and data.utm == {}


def test_repeated_substances_are_kept_once_in_order() -> None:
    data = parse_callback_request(valid(substances=["cocaine", "alcohol", "cocaine"]))
    assert data.substances == ("cocaine", "alcohol")


def test_unknown_fields_are_named() -> None:
    errors = errors_for(valid(website="spam.example", admin=True))
    assert errors == {"admin": ["Unknown field."], "website": ["Unknown field."]}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone", 123, "Phone number must be text."),
        ("phone", None, "Phone number is required."),
        ("phone", "hello", "Enter a valid phone number, like 07700 900123."),
        ("substances", "ketamine", "Substances must be a list of names."),
        ("substances", [1, 2], "Substances must be a list of names."),
        ("consent_to_contact", "maybe", "Must be true or false."),
        ("consent_to_health_details", 2, "Must be true or false."),
        ("name", ["Sam"], "Your name must be text."),
        ("name", "   ", "Your name is required."),
        ("email", 5, "Email must be text."),
        ("message", "x" * 2001, "Message must be at most 2000 characters."),
        ("for_whom", "my dog", "Say whether the help is for you (self) or someone else."),
    ],
)
def test_wrong_types_get_a_clear_field_error(field: str, value: Any, message: str) -> None:
    errors = errors_for(valid(**{field: value}))
    assert message in errors[field]


def test_unknown_substances_are_listed_with_the_known_ones() -> None:
    errors = errors_for(valid(substances=["ketamine", "spice"]))
    assert errors["substances"][0].startswith("Unknown substances: spice. Known: alcohol,")


def test_bad_email_is_refused() -> None:
    assert errors_for(valid(email="not an email"))["email"][0].startswith(
        "Enter a valid email address"
    )


@pytest.mark.parametrize("refused", [False, "false", "off", None, ...])
def test_consent_to_contact_is_required(refused: Any) -> None:
    errors = errors_for(valid(consent_to_contact=refused))
    assert errors == {
        "consent_to_contact": ["We can only call you back if you agree to be contacted."]
    }


@pytest.mark.parametrize(
    "details", [{"substances": ["alcohol"], "message": None}, {"substances": [], "message": "hi"}]
)
def test_health_details_without_health_consent_are_refused(details: dict[str, Any]) -> None:
    errors = errors_for(valid(consent_to_health_details=False, **details))
    assert list(errors) == ["consent_to_health_details"]
    assert "agree to us using them" in errors["consent_to_health_details"][0]


def test_no_health_details_need_no_health_consent() -> None:
    data = parse_callback_request(valid(consent_to_health_details=False, substances=[], message=""))
    assert (data.consent_to_health_details, data.substances, data.message) == (False, (), None)


def test_someone_else_needs_a_relationship() -> None:
    for relationship in (None, "", "self", "neighbour", ["family"], {"x": 1}):
        errors = errors_for(valid(for_whom="someone_else", relationship=relationship))
        assert list(errors) == ["relationship"]
        assert errors["relationship"][0].startswith("Tell us how you know the person")
    data = parse_callback_request(
        valid(for_whom="someone_else", relationship="family", client_name=" Alex ")
    )
    assert (data.relationship, data.client_name, data.for_someone_else) == ("family", "Alex", True)


def test_client_name_is_ignored_when_the_help_is_for_the_caller() -> None:
    assert parse_callback_request(valid(client_name="Alex")).client_name is None


@pytest.mark.parametrize(
    "markup",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "'; DROP TABLE leads; --",
        "{{ config }}",
        "Ünïcødé – naïve café 😀",
    ],
)
def test_markup_is_accepted_as_plain_text(markup: str) -> None:
    data = parse_callback_request(valid(name=markup, message=markup, best_time_to_call=markup))
    assert (data.name, data.message, data.best_time_to_call) == (markup, markup, markup)


@pytest.mark.parametrize("control", ["\x00", "\x07", "\x1b[31m", "\u202e", "\ufeff", "\r"])
@pytest.mark.parametrize("field", ["name", "message", "best_time_to_call", "client_name"])
def test_control_characters_are_refused(control: str, field: str) -> None:
    payload = valid(**{field: f"Sam{control}Smith"})
    if field == "client_name":
        payload.update(for_whom="someone_else", relationship="friend")
    errors = errors_for(payload)
    assert list(errors) == [field]
    assert errors[field][0].endswith("contains control characters.")


def test_every_problem_is_reported_at_once() -> None:
    errors = errors_for({"phone": 1, "substances": "x", "consent_to_contact": "maybe", "zz": 1})
    assert set(errors) >= {
        "name",
        "phone",
        "substances",
        "consent_to_contact",
        "consent_wording_version",
        "disclosure_wording_version",
        "zz",
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(sorted(ALLOWED_FIELDS)) | st.text(max_size=12)


@given(st.dictionaries(field_names, json_values, max_size=12))
@example({"for_whom": "someone_else", "relationship": []})
@example({"for_whom": "someone_else", "relationship": {"a": 1}})
@example({"substances": [[1]], "for_whom": ["self"], "consent_to_contact": float("nan")})
def test_arbitrary_json_never_raises_anything_but_intake_invalid(payload: dict[str, Any]) -> None:
    try:
        data = parse_callback_request(payload)
    except IntakeInvalid as exc:
        assert exc.field_errors
        assert all(isinstance(k, str) and v for k, v in exc.field_errors.items())
        return
    assert data.phone.startswith("+") and data.phone[1:].isdigit()


@given(
    name=st.text(min_size=1, max_size=120).filter(lambda s: s.strip()),
    message=st.text(max_size=200),
    local=st.integers(min_value=0, max_value=999),
)
def test_valid_payloads_round_trip_or_name_the_text_fields(
    name: str, message: str, local: int
) -> None:
    payload = valid(name=name, message=message, phone=f"07700 900{local:03d}")
    try:
        data = parse_callback_request(payload)
    except IntakeInvalid as exc:
        assert set(exc.field_errors) <= {"name", "message"}
        return
    assert data.phone == f"+447700900{local:03d}"
    assert data.name == name.strip()
    assert data.message == (message.strip() or None)
    assert parse_callback_request({**payload, "name": data.name, "phone": data.phone}) == data
