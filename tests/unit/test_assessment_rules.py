"""The screening assessment's validation (crm/intake/assessment.py): fields, postcodes, rules."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from crm.intake.assessment import (
    CHOICES,
    FLAGS,
    MULTI,
    REQUIRED_TO_COMPLETE,
    TEXTS,
    AssessmentInvalid,
    co_occurring,
    missing_for_completion,
    normalise_postcode,
    parse_assessment,
)

COMPLETE = {
    "substances": ["alcohol", "cocaine"],
    "primary_substance": "alcohol",
    "usage_duration": "1_to_5_years",
    "usage_frequency": "daily",
    "cravings": "y",
    "withdrawal": True,
    "tolerance": "on",
    "depression": "yes",
    "previous_treatment": "1",
    "previous_treatment_notes": "  NHS community team, 2023  ",
    "treatment_wanted": "residential_rehab",
    "funding": "self_funded",
    "budget_band": "1000_1500",
    "home_postcode": "ls14ap",
    "max_travel_miles": "100",
    "regions_wanted": ["yorkshire", "north_east", "yorkshire"],
    "open_to_abroad": False,
    "timeframe": "within_a_week",
    "age": " 34 ",
    "gender": "female",
    "pregnant": "y",
    "mobility_needs": "",
    "immediate_danger": False,
}


def errors_for(answers: dict[str, Any]) -> dict[str, list[str]]:
    with pytest.raises(AssessmentInvalid) as refused:
        parse_assessment(answers)
    return refused.value.field_errors


def test_the_assessment_covers_every_domain_field() -> None:
    fields = set(CHOICES) | set(MULTI) | set(FLAGS) | set(TEXTS)
    fields |= {"age", "max_travel_miles", "home_postcode"}
    assert fields >= {
        "substances",
        "primary_substance",
        "usage_duration",
        "usage_frequency",
        "cravings",
        "withdrawal",
        "tolerance",
        "loss_of_control",
        "neglecting_responsibilities",
        "depression",
        "anxiety",
        "chronic_emotional_pain",
        "trauma_symptoms",
        "mental_health_other",
        "previous_treatment",
        "treatment_wanted",
        "funding",
        "budget_band",
        "insurer",
        "home_postcode",
        "max_travel_miles",
        "regions_wanted",
        "open_to_abroad",
        "timeframe",
        "age",
        "gender",
        "pregnant",
        "mobility_needs",
        "immediate_danger",
    }


def test_a_complete_assessment_is_normalised() -> None:
    clean = parse_assessment(COMPLETE)
    assert clean["substances"] == ["alcohol", "cocaine"]
    assert clean["regions_wanted"] == ["yorkshire", "north_east"]
    assert clean["home_postcode"] == "LS1 4AP"
    assert (clean["age"], clean["max_travel_miles"]) == (34, 100)
    assert clean["previous_treatment_notes"] == "NHS community team, 2023"
    assert clean["mobility_needs"] is None and clean["insurer"] is None
    flags = {name: clean[name] for name in FLAGS}
    assert [n for n, on in flags.items() if on] == [
        "cravings",
        "withdrawal",
        "tolerance",
        "depression",
        "previous_treatment",
        "pregnant",
    ]
    assert missing_for_completion(clean) == []
    assert co_occurring(clean)


def test_an_empty_draft_is_valid_and_lists_what_completing_needs() -> None:
    clean = parse_assessment({})
    assert all(clean[name] is None for name in CHOICES)
    assert all(clean[name] == [] for name in MULTI)
    assert not any(clean[name] for name in FLAGS)
    assert missing_for_completion(clean) == list(REQUIRED_TO_COMPLETE)
    assert not co_occurring(clean)


def test_primary_substance_is_added_to_the_substances() -> None:
    clean = parse_assessment({"primary_substance": "ketamine", "substances": ["alcohol"]})
    assert clean["substances"] == ["ketamine", "alcohol"]


@pytest.mark.parametrize("name", sorted(CHOICES))
def test_choices_must_be_from_the_list(name: str) -> None:
    assert errors_for({name: "something else"}) == {name: ["Choose one of the listed options."]}


@pytest.mark.parametrize("name", sorted(MULTI))
def test_multiple_choices_must_be_from_the_list(name: str) -> None:
    assert errors_for({name: ["made_up"]}) == {name: ["Choose from the listed options."]}


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
    ],
)
def test_postcodes_are_normalised(typed: str, canonical: str) -> None:
    assert normalise_postcode(typed) == canonical
    assert parse_assessment({"home_postcode": typed})["home_postcode"] == canonical


@pytest.mark.parametrize(
    "bad", ["LS1", "12345", "LS1 4A", "LS1 4APX", "1LS 4AP", "LS1-4AP", "<script>", "LS1 4ÄP"]
)
def test_bad_postcodes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"^Enter a UK postcode, like LS1 4AP\.$"):
        normalise_postcode(bad)
    assert errors_for({"home_postcode": bad}) == {
        "home_postcode": ["Enter a UK postcode, like LS1 4AP."]
    }


def test_a_postcode_in_an_area_that_does_not_exist_is_refused_with_the_area_named() -> None:
    # One normaliser for clients and clinics: an assessment in area "QQ" would otherwise be
    # accepted and then match with its distance unknown.
    message = "QQ is not a UK postcode area. Enter a UK postcode, like LS1 4AP."
    assert errors_for({"home_postcode": "QQ1 1AA"}) == {"home_postcode": [message]}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("age", "11", "Age must be between 12 and 110."),
        ("age", 111, "Age must be between 12 and 110."),
        ("age", "thirty", "Age must be a whole number."),
        ("age", "34.5", "Age must be a whole number."),
        ("max_travel_miles", "-1", "Maximum travel distance must be between 0 and 1000."),
        ("max_travel_miles", "1001", "Maximum travel distance must be between 0 and 1000."),
    ],
)
def test_numbers_out_of_range_are_refused(name: str, value: Any, message: str) -> None:
    assert errors_for({name: value}) == {name: [message]}


@pytest.mark.parametrize("age", [12, "110", " 40 "])
def test_ages_in_range_are_accepted(age: Any) -> None:
    assert parse_assessment({"age": age})["age"] == int(str(age))


def test_budget_band_is_kept_only_for_self_funding() -> None:
    assert (
        parse_assessment({"funding": "self_funded", "budget_band": "over_5000"})["budget_band"]
        == "over_5000"
    )
    for funding in ("nhs_or_local_authority", "unsure", None):
        clean = parse_assessment({"funding": funding, "budget_band": "over_5000"})
        assert clean["budget_band"] is None


def test_private_insurance_needs_the_insurer_and_others_drop_it() -> None:
    assert errors_for({"funding": "private_insurance"}) == {"insurer": ["Name the insurer."]}
    clean = parse_assessment({"funding": "private_insurance", "insurer": " Bupa "})
    assert clean["insurer"] == "Bupa"
    assert parse_assessment({"funding": "self_funded", "insurer": "Bupa"})["insurer"] is None


def test_pregnancy_is_cleared_for_male_gender() -> None:
    assert parse_assessment({"gender": "male", "pregnant": "y"})["pregnant"] is False
    assert parse_assessment({"gender": "female", "pregnant": "y"})["pregnant"] is True


def test_texts_are_limited_and_refuse_control_characters() -> None:
    assert errors_for({"risk_notes": "x" * 1001}) == {
        "risk_notes": ["Risk notes must be at most 1000 characters."]
    }
    assert (
        errors_for({"insurer": "Bu\x00pa", "funding": "private_insurance"})["insurer"][0]
        == "Insurer contains control characters."
    )
    markup = "<img src=x onerror=alert(1)>"
    assert parse_assessment({"risk_notes": markup})["risk_notes"] == markup


def test_immediate_danger_flag_is_read_from_form_values() -> None:
    assert parse_assessment({"immediate_danger": "y"})["immediate_danger"] is True
    for off in (None, "", "n", "no", False, 0):
        assert parse_assessment({"immediate_danger": off})["immediate_danger"] is False


def test_every_bad_field_is_reported_at_once() -> None:
    errors = errors_for(
        {"funding": "lottery", "age": "5", "home_postcode": "nowhere", "regions_wanted": ["mars"]}
    )
    assert set(errors) == {"funding", "age", "home_postcode", "regions_wanted"}


def test_mental_health_other_counts_as_co_occurring() -> None:
    assert co_occurring(parse_assessment({"mental_health_other": "ADHD"}))
    assert not co_occurring(parse_assessment({"cravings": "y"}))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
answer_names = st.sampled_from(
    sorted({*CHOICES, *MULTI, *FLAGS, *TEXTS, "age", "max_travel_miles", "home_postcode"})
)


@given(st.dictionaries(answer_names | st.text(max_size=8), json_values, max_size=15))
@example({"funding": ["self_funded"]})
@example({"gender": {"female": 1}, "primary_substance": ["alcohol"]})
@example({"age": 10**5000, "max_travel_miles": float("inf"), "home_postcode": 12})
def test_arbitrary_answers_never_raise_anything_but_assessment_invalid(
    answers: dict[str, Any],
) -> None:
    try:
        clean = parse_assessment(answers)
    except AssessmentInvalid as exc:
        assert exc.field_errors and all(exc.field_errors.values())
        return
    for name, allowed in CHOICES.items():
        assert clean[name] is None or clean[name] in allowed
    for name, allowed in MULTI.items():
        assert all(v in allowed for v in clean[name])
    assert all(isinstance(clean[name], bool) for name in FLAGS)
    if clean["home_postcode"] is not None:
        assert normalise_postcode(clean["home_postcode"]) == clean["home_postcode"]
    assert parse_assessment(clean) == clean, "parsing is idempotent"


@given(st.text(max_size=12))
def test_normalise_postcode_gives_canonical_form_or_a_clear_error(typed: str) -> None:
    try:
        canonical = normalise_postcode(typed)
    except ValueError as exc:
        # The shape is wrong, or the area does not exist ("QQ is not a UK postcode area. …").
        assert str(exc).endswith("Enter a UK postcode, like LS1 4AP.")
        return
    outward, inward = canonical.split(" ")
    assert 2 <= len(outward) <= 4 and len(inward) == 3
    assert normalise_postcode(canonical) == canonical
