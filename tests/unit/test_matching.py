"""Matching (crm/referrals/matching.py): needs from an assessment, every hard filter, ranking."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.intake.assessment import parse_assessment
from crm.intake.vocabulary import BUDGET_BANDS, MENTAL_HEALTH, TREATMENTS
from crm.referrals.matching import (
    BUDGET_CEILINGS,
    FILTER_ORDER,
    MENTAL_HEALTH_KEYS,
    Needs,
    NeedsIncomplete,
    needs_from_assessment,
    rank,
)
from crm.referrals.matching_filters import TREATMENT_LEVELS
from tests.unit.matching_factories import (
    LEEDS,
    SETTINGS,
    STORY_ANSWERS,
    clinic,
    filter_result,
    match_for,
    north_of_leeds,
    story_needs,
)

# --- needs from the assessment ---------------------------------------------------------------


def answers(**changes: Any) -> dict[str, Any]:
    return {**STORY_ANSWERS, **changes}


def missing(**changes: Any) -> NeedsIncomplete:
    with pytest.raises(NeedsIncomplete) as refused:
        needs_from_assessment(answers(**changes), LEEDS)
    return refused.value


def test_the_story_assessment_gives_the_story_needs() -> None:
    assert needs_from_assessment(STORY_ANSWERS, LEEDS) == story_needs()


def test_needs_come_from_a_stored_assessment_as_parse_assessment_writes_it() -> None:
    stored = parse_assessment(
        {
            **{k: v for k, v in STORY_ANSWERS.items() if v is not None},
            "depression": "yes",
            "age": " 34 ",
            "max_travel_miles": "60",
            "home_postcode": "ls14ap",
        }
    )
    assert needs_from_assessment(stored, LEEDS) == story_needs()


def test_the_vocabulary_and_matching_agree_on_keys() -> None:
    assert set(BUDGET_CEILINGS) == set(BUDGET_BANDS)
    assert tuple(MENTAL_HEALTH) == MENTAL_HEALTH_KEYS
    assert set(TREATMENT_LEVELS) == set(TREATMENTS) - {"unsure"}


@pytest.mark.parametrize(
    ("band", "budget"),
    [
        ("under_1000", Decimal("1000")),
        ("1000_1500", Decimal("1500")),
        ("1500_2500", Decimal("2500")),
        ("2500_5000", Decimal("5000")),
        ("over_5000", None),
    ],
)
def test_the_budget_is_the_upper_end_of_the_band(band: str, budget: Decimal | None) -> None:
    assert needs_from_assessment(answers(budget_band=band), LEEDS).budget_per_week == budget


def test_budget_and_insurer_only_count_for_their_funding() -> None:
    insured = needs_from_assessment(
        answers(funding="private_insurance", insurer=" Bupa ", budget_band="under_1000"), LEEDS
    )
    assert (insured.budget_per_week, insured.insurer) == (None, "Bupa")
    assert needs_from_assessment(answers(insurer="Bupa"), LEEDS).insurer is None


@pytest.mark.parametrize("field", ["primary_substance", "treatment_wanted", "funding"])
def test_a_missing_core_answer_is_named(field: str) -> None:
    refused = missing(**{field: None})
    assert refused.missing == (field,)
    assert isinstance(refused, ValueError)
    assert field.replace("_", " ") in str(refused)


def test_every_missing_answer_is_named_at_once() -> None:
    refused = missing(primary_substance="", treatment_wanted="  ", funding=None)
    assert refused.missing == ("primary_substance", "treatment_wanted", "funding")
    assert str(refused) == (
        "Matching needs these answers from the assessment: "
        "primary substance; treatment wanted; funding."
    )


def test_self_funding_needs_a_known_budget_band() -> None:
    assert missing(budget_band=None).reasons == {"budget_band": "weekly budget"}
    assert "'weekly' is not one we know" in str(missing(budget_band="weekly"))


def test_private_insurance_needs_the_insurer() -> None:
    assert missing(funding="private_insurance", insurer=" ").missing == ("insurer",)


def test_a_travel_limit_needs_a_home_that_can_be_located() -> None:
    with pytest.raises(NeedsIncomplete) as no_point:
        needs_from_assessment(answers(home_postcode="ZE9 9ZZ"), None)
    assert no_point.value.missing == ("home_postcode",)
    assert "ZE9 9ZZ could not be placed on the map" in str(no_point.value)
    with pytest.raises(NeedsIncomplete) as no_postcode:
        needs_from_assessment(answers(home_postcode=None), None)
    assert "to check the 60-mile travel limit" in str(no_postcode.value)


def test_no_limit_or_open_to_abroad_needs_no_home() -> None:
    assert needs_from_assessment(answers(max_travel_miles=None), None).home_point is None
    abroad = needs_from_assessment(answers(open_to_abroad=True), None)
    assert (abroad.open_to_abroad, abroad.max_travel_miles) == (True, 60)


def test_conditions_mobility_and_substances_are_read_as_matching_needs_them() -> None:
    needs = needs_from_assessment(
        answers(
            trauma_symptoms="y",
            depression=True,
            mental_health_other="panic attacks",
            mobility_needs="uses a wheelchair",
            substances=["cocaine", "ketamine", "cocaine"],
            withdrawal="yes",
        ),
        LEEDS,
    )
    assert needs.co_occurring == ("depression", "trauma_symptoms", "other")
    assert needs.substances == ("ketamine", "cocaine")
    assert (needs.mobility_needs, needs.withdrawal) == (True, True)
    assert needs_from_assessment(answers(mobility_needs="  "), LEEDS).mobility_needs is False


@given(
    st.dictionaries(
        st.sampled_from([*STORY_ANSWERS, "budget_band", "insurer", "age", "max_travel_miles"]),
        st.none() | st.booleans() | st.integers(-5, 500) | st.text(max_size=12),
    ),
    st.none() | st.just(LEEDS),
)
def test_any_answers_give_needs_or_say_what_is_missing(
    raw: dict[str, Any], point: tuple[float, float] | None
) -> None:
    try:
        needs = needs_from_assessment(raw, point)
    except NeedsIncomplete as refused:
        assert refused.missing
        assert str(refused).startswith("Matching needs")
    else:
        assert needs.primary_substance and needs.treatment_wanted and needs.funding
        rank(needs, [clinic()], SETTINGS)  # and matching copes with whatever they hold


# --- one test per hard filter: its pass and its failure, in staff's words ---------------------


def outcome(candidate_changes: dict[str, Any], **needs_changes: Any) -> tuple[bool, str]:
    """(passed, detail) of the filter the test is about: the one whose result changed."""
    baseline = match_for(story_needs(**needs_changes), clinic())
    changed = match_for(story_needs(**needs_changes), clinic(**candidate_changes))
    differ = [f for f in changed.filters if f not in baseline.filters]
    assert len(differ) == 1, differ
    return differ[0].passed, differ[0].detail


def test_the_story_clinic_passes_every_filter_and_each_says_why() -> None:
    match = match_for(story_needs(), clinic())
    assert match.eligible
    assert [(f.name, f.passed, f.detail) for f in match.filters] == [
        ("status", True, "Active"),
        ("substance", True, "Treats ketamine"),
        ("treatment", True, "Offers residential rehab"),
        ("funding", True, "Accepts self-funded clients"),
        ("age", True, "Takes ages 18 and over; the client is 34"),
        ("single_sex", True, "Mixed unit"),
        ("pregnancy", True, "Pregnancy not reported"),
        ("accessibility", True, "No mobility needs reported"),
        ("distance", True, "Within the client's 60-mile limit"),
        ("dual_diagnosis", True, "Accepts co-occurring conditions (depression)"),
        ("medical_detox", True, "No withdrawal reported: medical detox not required"),
    ]


@pytest.mark.parametrize(
    ("status", "detail"),
    [("paused", "Paused: not taking referrals"), ("closed", "Closed: not taking referrals")],
)
def test_status_must_be_active(status: str, detail: str) -> None:
    assert outcome({"status": status}) == (False, detail)


def test_substance_primary_must_be_treated() -> None:
    assert outcome({"substances": frozenset({"alcohol"})}) == (False, "Does not treat ketamine")
    other = match_for(story_needs(primary_substance="other"), clinic())
    assert filter_result(other, "substance") == (False, "Does not treat other substances")


def test_treatment_wanted_must_be_offered() -> None:
    outpatient = {"levels_of_care": frozenset({"outpatient"})}
    assert outcome(outpatient) == (False, "Does not offer residential rehab")
    unsure = story_needs(treatment_wanted="unsure")
    assert filter_result(match_for(unsure, clinic(**outpatient)), "treatment") == (
        True,
        "Client unsure of the treatment: any level of care",
    )
    aftercare_only = clinic(levels_of_care=frozenset({"aftercare"}))
    assert filter_result(match_for(unsure, aftercare_only), "treatment")[0] is False


def test_funding_must_be_accepted() -> None:
    assert outcome({"funding_accepted": frozenset({"nhs_or_local_authority"})}) == (
        False,
        "Does not accept self-funded clients",
    )
    nhs = story_needs(funding="nhs_or_local_authority", budget_per_week=None)
    assert filter_result(match_for(nhs, clinic()), "funding") == (
        False,
        "Does not accept NHS or local-authority funding",
    )
    unsure = story_needs(funding="unsure", budget_per_week=None)
    assert filter_result(match_for(unsure, clinic(funding_accepted=frozenset())), "funding") == (
        True,
        "Funding not decided yet: not checked",
    )


def test_private_insurance_needs_the_named_insurer() -> None:
    insured = story_needs(funding="private_insurance", insurer="AXA  Health", budget_per_week=None)
    takes = {"funding_accepted": frozenset({"private_insurance"})}
    listed = clinic(**takes, insurers=frozenset({"bupa", "axa health"}))
    assert filter_result(match_for(insured, listed), "funding") == (
        True,
        "Accepts AXA  Health insurance",
    )
    unlisted = clinic(**takes, insurers=frozenset({"bupa"}))
    assert filter_result(match_for(insured, unlisted), "funding") == (
        False,
        "Takes private insurance, but not AXA  Health",
    )
    assert filter_result(match_for(insured, clinic()), "funding") == (
        False,
        "Does not accept private insurance",
    )


def test_age_must_be_in_range() -> None:
    assert outcome({"max_age": 25}) == (False, "Takes ages 18–25; the client is 34")
    assert outcome({"min_age": 35}) == (False, "Takes ages 35 and over; the client is 34")
    assert outcome({"min_age": 34, "max_age": 34}) == (True, "Takes ages 34–34; the client is 34")
    assert outcome({"min_age": None}) == (True, "Takes all ages; the client is 34")
    unknown = match_for(story_needs(age=None), clinic(min_age=40))
    assert filter_result(unknown, "age") == (True, "Age not recorded: check the clinic's age range")


def test_single_sex_units_take_only_their_sex() -> None:
    assert outcome({"single_sex": "male_only"}) == (False, "Male-only unit; the client is female")
    assert outcome({"single_sex": "female_only"}) == (
        True,
        "Female-only unit; the client is female",
    )
    for gender, said in ((None, "not recorded"), ("non_binary", "non binary")):
        match = match_for(story_needs(gender=gender), clinic(single_sex="female_only"))
        assert filter_result(match, "single_sex") == (
            False,
            f"Female-only unit; the client's gender is {said}: check with the clinic",
        )


def test_pregnancy_needs_a_clinic_that_accepts_it() -> None:
    pregnant = story_needs(pregnant=True)
    assert filter_result(match_for(pregnant, clinic()), "pregnancy") == (
        False,
        "Does not accept pregnant clients",
    )
    accepting = clinic(accepts_pregnant=True)
    assert filter_result(match_for(pregnant, accepting), "pregnancy") == (
        True,
        "Accepts pregnant clients",
    )


def test_mobility_needs_need_wheelchair_access() -> None:
    mobility = story_needs(mobility_needs=True)
    assert filter_result(match_for(mobility, clinic()), "accessibility") == (
        False,
        "Not wheelchair accessible; the client has mobility needs",
    )
    accessible = clinic(wheelchair_accessible=True)
    assert filter_result(match_for(mobility, accessible), "accessibility") == (
        True,
        "Wheelchair accessible",
    )


def test_distance_must_be_within_the_travel_limit() -> None:
    far = match_for(story_needs(), clinic(point=north_of_leeds(62)))
    assert far.miles == 62.0
    assert filter_result(far, "distance") == (
        False,
        "62 miles away; the client will travel up to 60",
    )
    just_over = match_for(story_needs(), clinic(point=north_of_leeds(60.3)))
    assert filter_result(just_over, "distance") == (
        False,
        "60.3 miles away; the client will travel up to 60",
    )
    edge = match_for(story_needs(), clinic(point=north_of_leeds(59.98)))
    assert (edge.miles, edge.eligible) == (60.0, True)


def test_an_unknown_distance_fails_a_travel_limit() -> None:
    assert outcome({"point": None}) == (
        False,
        "Distance unknown (the clinic has no location); the client will travel up to 60 miles",
    )
    assert filter_result(match_for(story_needs(home_point=None), clinic()), "distance") == (
        False,
        "Distance unknown (the client's home has no location); "
        "the client will travel up to 60 miles",
    )


def test_abroad_passes_only_a_client_open_to_abroad() -> None:
    spain = clinic(country="ES", point=(36.72, -4.42))
    assert filter_result(match_for(story_needs(), spain), "distance") == (
        False,
        "Abroad (ES); the client is not open to going abroad",
    )
    open_ = story_needs(open_to_abroad=True)
    assert filter_result(match_for(open_, spain), "distance") == (
        True,
        "Abroad (ES); the client is open to going abroad",
    )
    # Open to abroad means no distance limit at home either (DOMAIN.md: "unless open to abroad").
    assert match_for(open_, clinic(point=north_of_leeds(200))).eligible


def test_no_travel_limit_passes_any_distance() -> None:
    far = match_for(story_needs(max_travel_miles=None), clinic(point=north_of_leeds(300)))
    assert filter_result(far, "distance") == (True, "No travel limit given")


def test_co_occurring_conditions_need_dual_diagnosis() -> None:
    assert outcome({"dual_diagnosis": False}) == (
        False,
        "No dual diagnosis; the client reports depression",
    )
    none = match_for(story_needs(co_occurring=()), clinic(dual_diagnosis=False))
    assert filter_result(none, "dual_diagnosis") == (
        True,
        "No co-occurring mental health conditions reported",
    )


def test_alcohol_or_benzodiazepine_withdrawal_needs_medical_detox() -> None:
    drinker = story_needs(primary_substance="alcohol", substances=("alcohol",), withdrawal=True)
    no_detox = clinic(levels_of_care=frozenset({"residential_rehab"}))
    assert filter_result(match_for(drinker, no_detox), "medical_detox") == (
        False,
        "No medical detox; alcohol withdrawal is dangerous without medical care",
    )
    assert filter_result(match_for(drinker, clinic()), "medical_detox") == (
        True,
        "Offers medical detox for alcohol withdrawal",
    )
    # Any of the substances counts, not only the primary one.
    mixed = story_needs(substances=("ketamine", "benzodiazepines"), withdrawal=True)
    assert not match_for(mixed, no_detox).eligible
    ketamine_only = story_needs(withdrawal=True)
    assert filter_result(match_for(ketamine_only, no_detox), "medical_detox") == (
        True,
        "Withdrawal reported, not from alcohol or benzodiazepines: medical detox not required",
    )


def test_every_filter_is_recorded_even_after_the_first_failure() -> None:
    hopeless = clinic(status="closed", substances=frozenset(), point=north_of_leeds(200))
    match = match_for(story_needs(), hopeless)
    assert tuple(f.name for f in match.filters) == FILTER_ORDER
    assert match.excluded_because == (
        "Closed: not taking referrals",
        "Does not treat ketamine",
        "200 miles away; the client will travel up to 60",
    )
    assert (match.eligible, match.scores, match.total) == (False, (), 0.0)


def test_needs_built_by_hand_are_matched_too() -> None:
    needs = Needs(**{**dataclasses.asdict(story_needs()), "substances": ()})
    assert match_for(needs, clinic()).eligible
