"""Matching a lead, presenting options, referring and the referral lifecycle, on a database."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from crm import clock
from crm.errors import DomainError
from crm.extensions import db
from crm.fees.models import FeeAgreement
from crm.intake.models import Lead, StageChange
from crm.notify.models import OutboundMessage
from crm.oncall.models import Reminder
from crm.privacy.models import ConsentRecord, DisclosureRecord
from crm.referrals import referring
from crm.referrals.lifecycle import MoveRequest
from crm.referrals.models import Presentation, PresentedOption, Referral, ReferralEvent
from crm.referrals.presenting import OptionChoice, present_options
from crm.referrals.services import match_lead
from tests.services.intake_factories import actor_for, reload, team
from tests.services.referral_factories import NOW, STORY_ANSWERS, assessed_lead, location, present

pytestmark = pytest.mark.usefixtures("db_session")
REFERRAL_TABLES = (
    Presentation,
    PresentedOption,
    Referral,
    ReferralEvent,
    ConsentRecord,
    DisclosureRecord,
    OutboundMessage,
    Reminder,
    StageChange,
)


def rows() -> dict[str, int]:
    return {
        m.__tablename__: db.session.scalar(select(func.count()).select_from(m)) or 0
        for m in REFERRAL_TABLES
    }


def refused(action, *args, **kwargs) -> DomainError:
    before = rows()
    with pytest.raises(DomainError) as caught:
        action(*args, **kwargs)
    assert rows() == before, "a refused action writes nothing"
    return caught.value


@pytest.fixture
def people():
    return team()


@pytest.fixture
def advisor(people):
    return people["admissions"]


def test_the_story_ranks_the_yorkshire_ketamine_clinic_first_and_explains_the_rest(advisor):
    best = location("Dales Recovery")
    location("Southern Sands", latitude=50.82, longitude=-0.14, postcode="BN1 1AA")
    location("Booze Only", substances=["alcohol"])
    location("Closed Clinic", status="closed")
    location("Men Only", single_sex="male_only")
    lead = assessed_lead(advisor)
    with clock.pinned(NOW):
        outcome = match_lead(lead.id)
    assert [m.candidate.location_id for m in outcome.eligible] == [best.id]
    reasons = {
        m.candidate.name.split(" — ")[1]: [f.name for f in m.filters if not f.passed]
        for m in outcome.excluded
    }
    assert reasons == {
        "Southern Sands": ["distance"],
        "Booze Only": ["substance"],
        "Closed Clinic": ["status"],
        "Men Only": ["single_sex"],
    }


def test_matching_ignores_fees_entirely(advisor):
    clinics = [
        location(f"Clinic {i}", beds_available=i % 3, latitude=53.8 + i / 50) for i in range(6)
    ]
    lead = assessed_lead(advisor)

    def ranking():
        with clock.pinned(NOW):
            outcome = match_lead(lead.id)
        return [(m.candidate.location_id, m.total, m.explanation()) for m in outcome.eligible]

    before = ranking()
    for i, clinic in enumerate(clinics):
        db.session.add(
            FeeAgreement(
                provider_id=clinic.provider_id,
                basis="flat_per_admission",
                amount=Decimal(1000 * (i + 1)),
                effective_from=date(2026, 1, 1),
            )
        )
    db.session.flush()
    assert ranking() == before
    for fee in db.session.scalars(select(FeeAgreement)):
        fee.amount = Decimal("99999.00") - fee.amount
        fee.basis = "percent_of_treatment_value"
    db.session.flush()
    assert ranking() == before


def test_an_assessment_missing_what_a_filter_needs_says_which_field(advisor):
    location("Dales Recovery")
    answers = {**STORY_ANSWERS, "funding": "self_funded", "budget_band": ""}
    lead = assessed_lead(advisor, answers)
    error = refused(match_lead, lead.id)
    assert "weekly budget" in error.message
    assert "budget_band" in error.field_errors


def test_presenting_records_disclosure_consent_and_explanations_and_moves_the_lead(advisor):
    dales = location("Dales Recovery")
    ours = location("Our Own Place", owned_or_affiliated=True)
    lead = assessed_lead(advisor)
    option_ids = present(lead, advisor, dales, ours)
    options = [db.session.get(PresentedOption, i) for i in option_ids]
    assert [o.location_id for o in options] == [dales.id, ours.id]
    assert options[0].explanation["filters"] and options[0].total > 0
    assert [o.owned_or_affiliated for o in options] == [False, True]
    kinds = db.session.scalars(
        select(DisclosureRecord.kind).where(
            DisclosureRecord.lead_id == lead.id,
            DisclosureRecord.wording_version.like("presenting-%"),
        )
    ).all()
    assert sorted(kinds) == ["affiliation", "commission"]
    shares = db.session.scalars(
        select(ConsentRecord.purpose).where(
            ConsentRecord.lead_id == lead.id, ConsentRecord.purpose.like("share%")
        )
    ).all()
    assert sorted(shares) == ["share_health_with_provider"] * 2 + ["share_with_provider"] * 2
    assert reload(lead).stage == "matched"


def test_presenting_without_the_disclosure_or_with_an_ineligible_clinic_is_refused(advisor):
    dales = location("Dales Recovery")
    far = location("Far Away", latitude=50.1, longitude=-5.5)
    lead = assessed_lead(advisor)
    actor = actor_for(advisor)
    with clock.pinned(NOW):
        error = refused(
            present_options,
            lead.id,
            [OptionChoice(dales.id, True)],
            disclosure_given=False,
            channel="phone",
            actor=actor,
        )
        assert "paid by the clinics" in error.message
        error = refused(
            present_options,
            lead.id,
            [OptionChoice(far.id, True)],
            disclosure_given=True,
            channel="phone",
            actor=actor,
        )
        assert "not a match any more" in error.message
        error = refused(
            present_options,
            lead.id,
            [OptionChoice(dales.id, False, True)],
            disclosure_given=True,
            channel="phone",
            actor=actor,
        )
        assert "Health details can only be shared" in error.message


def test_a_referral_needs_consent_to_share(advisor):
    dales = location("Dales Recovery")
    lead = assessed_lead(advisor)
    [option_id] = present(lead, advisor, dales, consent=False)
    with clock.pinned(NOW):
        error = refused(referring.refer, option_id, actor_for(advisor))
    assert "has not agreed to share their details" in error.message


def _refer(lead, advisor, *clinics, health=True):
    option_ids = present(lead, advisor, *clinics, health=health)
    with clock.pinned(NOW):
        referral = referring.refer(option_ids[0], actor_for(advisor))
        db.session.flush()
    return referral


def test_referring_sends_a_summary_keeps_it_and_sets_a_chase_two_working_days_later(advisor):
    dales = location("Dales Recovery")
    lead = assessed_lead(advisor)
    referral = _refer(lead, advisor, dales, health=False)
    assert referral.status == "sent"
    message = db.session.scalar(
        select(OutboundMessage).where(
            OutboundMessage.idempotency_key == f"referral:{referral.id}:summary"
        )
    )
    assert message.address == dales.admissions_email and message.channel == "email"
    assert message.body == referral.summary
    assert "Ketamine" not in referral.summary and "not agreed to share them" in referral.summary
    chase = db.session.scalar(select(Reminder).where(Reminder.referral_id == referral.id))
    # Sent on Wednesday 25 November: two working days later is Friday 27th, 10:00 UK time.
    assert (chase.kind, chase.due_at) == ("provider_chase", NOW.replace(day=27, hour=10, minute=0))
    assert reload(lead).stage == "referred"
    with clock.pinned(NOW):
        error = refused(referring.refer, referral.option_id, actor_for(advisor))
    assert "already has a referral in progress" in error.message


def test_a_clinic_without_an_admissions_email_cannot_be_sent_a_referral(advisor):
    silent = location("Silent Clinic", admissions_email=None)
    lead = assessed_lead(advisor)
    [option_id] = present(lead, advisor, silent)
    with clock.pinned(NOW):
        error = refused(referring.refer, option_id, actor_for(advisor))
    assert "no admissions email" in error.message


def _move(referral, advisor, status, **details):
    with clock.pinned(NOW + timedelta(days=details.pop("days", 0))):
        referring.move_referral(referral.id, MoveRequest(status, **details), actor_for(advisor))
        db.session.flush()


def test_the_story_from_sent_to_discharged_moves_the_lead_and_its_reminders(advisor):
    dales = location("Dales Recovery")
    lead = assessed_lead(advisor)
    referral = _refer(lead, advisor, dales)
    _move(referral, advisor, "accepted")
    chase = db.session.scalar(select(Reminder).where(Reminder.kind == "provider_chase"))
    assert chase.status == "done", "the clinic replied: no chase"
    _move(referral, advisor, "admission_planned", on_date=date(2026, 11, 30))
    check = db.session.scalar(select(Reminder).where(Reminder.kind == "admission_check"))
    assert check.due_at == NOW.replace(day=30, hour=10, minute=0) and check.status == "pending"
    _move(referral, advisor, "admitted", on_date=date(2026, 11, 30), days=5)
    assert db.session.get(Reminder, check.id).status == "done"
    assert reload(lead).stage == "admitted"
    _move(referral, advisor, "discharged", on_date=date(2026, 12, 28), outcome="completed", days=33)
    referral = db.session.get(Referral, referral.id)
    assert (referral.status, referral.discharge_outcome) == ("discharged", "completed")
    history = [(e.from_status, e.to_status) for e in referral.events]
    assert history == [
        (None, "sent"),
        ("sent", "accepted"),
        ("accepted", "admission_planned"),
        ("admission_planned", "admitted"),
        ("admitted", "discharged"),
    ]
    stages = db.session.scalars(
        select(StageChange.to_stage).where(StageChange.lead_id == lead.id).order_by(StageChange.id)
    ).all()
    assert stages == ["new", "contacted", "assessed", "matched", "referred", "admitted"]


def test_moves_out_of_order_and_declines_without_a_reason_are_refused(advisor):
    lead = assessed_lead(advisor)
    referral = _refer(lead, advisor, location("Dales Recovery"))
    with clock.pinned(NOW):
        error = refused(
            referring.move_referral,
            referral.id,
            MoveRequest("admitted", on_date=date(2026, 11, 25)),
            actor_for(advisor),
        )
        assert "cannot become admitted" in error.message
        error = refused(
            referring.move_referral, referral.id, MoveRequest("declined"), actor_for(advisor)
        )
        assert "Say why" in error.message


def test_when_every_referral_ends_the_lead_goes_back_to_matched(advisor):
    lead = assessed_lead(advisor)
    referral = _refer(lead, advisor, location("Dales Recovery"))
    _move(
        referral, advisor, "declined", decline_code="no_bed", reason="No female beds until February"
    )
    lead = reload(lead)
    assert lead.stage == "matched"
    last = db.session.scalar(
        select(StageChange).where(StageChange.lead_id == lead.id).order_by(StageChange.id.desc())
    )
    assert "declined" in last.reason
    declined = db.session.get(Referral, referral.id)
    assert (declined.decline_code, declined.decline_reason) == (
        "no_bed",
        "No female beds until February",
    )


def test_a_closed_lead_cannot_be_matched(advisor, people):
    location("Dales Recovery")
    lead = assessed_lead(advisor)
    from crm.intake import pipeline

    pipeline.change_stage(lead.id, "closed", actor_for(people["manager"]), close_reason="not_ready")
    error = refused(match_lead, lead.id)
    assert "closed" in error.message


def test_an_unassessed_lead_cannot_be_matched(advisor):
    from tests.services.intake_factories import capture

    lead = capture(0).lead
    error = refused(match_lead, lead.id)
    assert "Complete the assessment" in error.message
    assert db.session.get(Lead, lead.id).stage == "new"


def test_the_directory_copy_is_reread_when_a_clinic_changes(advisor):
    from crm.referrals.candidates import load_candidates

    dales = location("Dales Recovery")
    first = load_candidates()
    assert load_candidates() is first, "unchanged directory: the process's copy is reused"
    dales.beds_available = 0
    db.session.flush()
    [again] = load_candidates()
    assert again.beds_available == 0
    location("Second Clinic")
    assert len(load_candidates()) == 2
