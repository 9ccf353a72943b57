"""The referral lifecycle, the lead stage it implies, working days and the clinic summary."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from crm.intake.stages import Stage
from crm.referrals.lifecycle import (
    DECLINE_REASONS,
    FINAL,
    NEXT,
    MoveRequest,
    ReferralMoveError,
    ReferralStatus,
    add_working_days,
    admission_check_due,
    check_move,
    lead_stage_for,
)
from crm.referrals.summary import NOT_SHARED, SummaryFacts, build_summary

S = ReferralStatus
TODAY = date(2026, 11, 25)


def move(current, to, **details):
    return check_move(current, MoveRequest(to, **details), today=TODAY)


def test_the_story_from_sent_to_discharged():
    assert move(S.SENT, "accepted").to_status == S.ACCEPTED
    planned = move(S.ACCEPTED, "admission_planned", on_date=date(2026, 11, 30))
    assert (planned.to_status, planned.on_date) == (S.ADMISSION_PLANNED, date(2026, 11, 30))
    admitted = move(S.ADMISSION_PLANNED, "admitted", on_date=TODAY)
    assert admitted.on_date == TODAY
    discharged = check_move(
        S.ADMITTED,
        MoveRequest("discharged", on_date=date(2026, 12, 23), outcome="completed"),
        today=date(2026, 12, 23),
        admitted_on=TODAY,
    )
    assert (discharged.to_status, discharged.outcome) == (S.DISCHARGED, "completed")


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.SENT, "admitted"),
        (S.SENT, "admission_planned"),
        (S.SENT, "discharged"),
        (S.ACCEPTED, "sent"),
        (S.ADMITTED, "withdrawn"),
        (S.DECLINED, "accepted"),
        (S.DISCHARGED, "admitted"),
        (S.WITHDRAWN, "sent"),
    ],
)
def test_moves_out_of_order_are_refused_with_what_is_allowed(current, target):
    with pytest.raises(ReferralMoveError) as refused:
        move(current, target, reason="x", on_date=TODAY, outcome="completed")
    assert "cannot become" in str(refused.value)
    assert "Next it can be" in str(refused.value)


def test_every_final_status_has_no_way_out_and_every_other_has_one():
    assert {S.DECLINED, S.DISCHARGED, S.DID_NOT_ARRIVE, S.WITHDRAWN} == FINAL
    assert all(NEXT[s] for s in S if s not in FINAL)


def test_withdrawing_needs_a_reason():
    with pytest.raises(ReferralMoveError, match="Say why"):
        move(S.SENT, "withdrawn", reason="   ")
    assert move(S.SENT, "withdrawn", reason="Chose an NHS place").reason == "Chose an NHS place"


def test_declining_needs_a_listed_reason_and_words_for_another_reason():
    with pytest.raises(ReferralMoveError, match="Say why the referral was declined"):
        move(S.SENT, "declined", reason="No beds until January")
    with pytest.raises(ReferralMoveError, match="Unknown decline reason 'full'"):
        move(S.SENT, "declined", decline_code="full")
    with pytest.raises(ReferralMoveError, match="Say in words"):
        move(S.SENT, "declined", decline_code="other", reason="  ")
    with pytest.raises(ReferralMoveError, match="only for a declined referral"):
        move(S.SENT, "accepted", decline_code="no_bed")
    change = move(S.SENT, "declined", decline_code="no_bed")
    assert (change.decline_code, change.reason) == ("no_bed", None)
    change = move(S.WAITLISTED, "declined", decline_code="other", reason="Closing in March")
    assert (change.decline_code, change.reason) == ("other", "Closing in March")
    assert set(DECLINE_REASONS) == {
        "no_bed",
        "clinical_needs",
        "funding",
        "not_suitable",
        "client_unreachable",
        "other",
    }


def test_dates_are_required_and_checked():
    with pytest.raises(ReferralMoveError, match="planned admission date"):
        move(S.ACCEPTED, "admission_planned")
    with pytest.raises(ReferralMoveError, match="has passed"):
        move(S.ACCEPTED, "admission_planned", on_date=date(2026, 11, 1))
    with pytest.raises(ReferralMoveError, match="within a year"):
        move(S.ACCEPTED, "admission_planned", on_date=date(2028, 1, 1))
    with pytest.raises(ReferralMoveError, match="admission date cannot be in the future"):
        move(S.ADMISSION_PLANNED, "admitted", on_date=date(2026, 11, 26))
    with pytest.raises(ReferralMoveError, match="Give the admission date"):
        move(S.ADMISSION_PLANNED, "admitted")


def test_discharge_needs_an_outcome_and_a_date_not_before_admission():
    with pytest.raises(ReferralMoveError, match="completed the programme or left early"):
        move(S.ADMITTED, "discharged", on_date=TODAY)
    with pytest.raises(ReferralMoveError, match="before the admission date"):
        check_move(
            S.ADMITTED,
            MoveRequest("discharged", on_date=date(2026, 11, 1), outcome="early"),
            today=TODAY,
            admitted_on=date(2026, 11, 10),
        )


def test_an_admission_cannot_be_dated_before_the_referral_was_sent():
    with pytest.raises(ReferralMoveError, match="before the referral was sent"):
        check_move(
            S.ADMISSION_PLANNED,
            MoveRequest("admitted", on_date=date(2026, 11, 20)),
            today=TODAY,
            sent_on=date(2026, 11, 21),
        )


def test_a_planned_admission_can_be_replanned():
    again = move(S.ADMISSION_PLANNED, "admission_planned", on_date=date(2026, 12, 2))
    assert again.on_date == date(2026, 12, 2)


def test_an_unknown_status_is_refused():
    with pytest.raises(ReferralMoveError, match="Unknown referral status"):
        move(S.SENT, "teleported")


@pytest.mark.parametrize(
    ("statuses", "stage"),
    [
        ([], Stage.MATCHED),
        ([S.SENT], Stage.REFERRED),
        ([S.DECLINED, S.WAITLISTED], Stage.REFERRED),
        ([S.DECLINED, S.WITHDRAWN, S.DID_NOT_ARRIVE], Stage.MATCHED),
        ([S.DECLINED, S.ADMITTED], Stage.ADMITTED),
        ([S.DISCHARGED, S.SENT], Stage.ADMITTED),
    ],
)
def test_the_lead_follows_its_most_advanced_referral(statuses, stage):
    assert lead_stage_for(statuses) == stage


def test_two_working_days_skip_weekends_and_bank_holidays_at_ten_uk_time():
    thursday = datetime(2026, 12, 24, 15, 0, tzinfo=UTC)
    # Fri 25 and Mon 28 are bank holidays (Christmas, Boxing Day substitute): Tue 29, Wed 30.
    closed = {date(2026, 12, 25), date(2026, 12, 28)}
    assert add_working_days(thursday, 2, closed) == datetime(2026, 12, 30, 10, 0, tzinfo=UTC)
    friday_in_summer = datetime(2026, 7, 3, 9, 0, tzinfo=UTC)
    # BST: 10:00 in London is 09:00 UTC.
    assert add_working_days(friday_in_summer, 2, set()) == datetime(2026, 7, 7, 9, 0, tzinfo=UTC)


def test_the_admission_check_is_due_on_the_planned_day():
    assert admission_check_due(date(2026, 11, 30)) == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


ANSWERS = {
    "age": 34,
    "gender": "female",
    "primary_substance": "ketamine",
    "substances": ["ketamine", "alcohol"],
    "treatment_wanted": "residential_rehab",
    "funding": "self_funded",
    "budget_band": "1000_1500",
    "timeframe": "within_a_week",
    "depression": True,
    "cravings": True,
}


def facts(share_health: bool) -> SummaryFacts:
    return SummaryFacts(
        reference="L-7K3F9Q",
        clinic="Dales Recovery — Harrogate",
        client_name="Jess Walker",
        phone="+447700900123",
        email=None,
        best_time_to_call="evenings",
        answers=ANSWERS,
        share_health_details=share_health,
        advisor="Ada",
    )


def test_the_summary_carries_health_details_only_when_the_client_agreed():
    subject, shared = build_summary(facts(True))
    assert subject == "Referral L-7K3F9Q: Jess Walker"
    for line in ("Phone: +447700900123", "Age: 34", "Primary substance: Ketamine", "Depression"):
        assert line in shared
    assert "Funding: Self-funded (£1,000–£1,500 a week)" in shared
    _, private = build_summary(facts(False))
    assert NOT_SHARED in private
    for word in ("Ketamine", "Alcohol", "Depression", "Cravings"):
        assert word not in private
    assert "Treatment wanted: Residential rehab" in private
