"""Working a lead: calls, stage changes, notes, reassignment, the assessment and merging."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from crm.auth.models import User
from crm.errors import ErrorKind
from crm.extensions import db
from crm.intake import pipeline, queries, services
from crm.intake.models import (
    Assessment,
    Assignment,
    CallLog,
    Lead,
    LeadNote,
    StageChange,
)
from crm.privacy.models import AuditEvent
from crm.privacy.services import Actor
from tests.services.intake_factories import (
    COMPLETE_ASSESSMENT,
    T0,
    actor_for,
    at,
    capture,
    minutes_after_t0,
    refused,
    reload,
    request_data,
    staff_member,
    team,
    walk_to,
)

pytestmark = pytest.mark.usefixtures("db_session")


@pytest.fixture
def staff(db_session: object) -> dict[str, User]:
    return team()


@pytest.fixture
def advisor(staff: dict[str, User]) -> Actor:
    return actor_for(staff["admissions"])


@pytest.fixture
def lead(db_session: object) -> Lead:
    return capture(0).lead


def _changes(lead_id: int) -> list[tuple[str | None, str]]:
    rows = db.session.scalars(
        select(StageChange).where(StageChange.lead_id == lead_id).order_by(StageChange.id)
    )
    return [(r.from_stage, r.to_stage) for r in rows]


# --- calls -----------------------------------------------------------------------------------


def test_the_first_connected_call_sets_first_contact_and_moves_new_to_contacted(
    lead: Lead, advisor: Actor
) -> None:
    with minutes_after_t0(9):
        call = pipeline.log_call(
            lead.id,
            advisor,
            direction="outbound",
            outcome="connected",
            started_at=at(6),
            duration_seconds=420,
            notes="Spoke to Sam.",
        )
        db.session.flush()
    fresh = reload(lead)
    assert (fresh.stage, fresh.first_contact_at, fresh.updated_at) == ("contacted", at(6), at(9))
    assert fresh.speed_to_lead_seconds == 360.0
    stored = db.session.get(CallLog, call.id)
    assert (stored.direction, stored.outcome, stored.duration_seconds, stored.notes) == (
        "outbound",
        "connected",
        420,
        "Spoke to Sam.",
    )
    assert (stored.actor_id, stored.started_at, stored.logged_at) == (advisor.user_id, at(6), at(9))
    assert _changes(lead.id) == [(None, "new"), ("new", "contacted")]
    change = db.session.scalars(select(StageChange).order_by(StageChange.id.desc())).first()
    assert (change.reason, change.actor_id, change.changed_at) == (
        "First connected call",
        advisor.user_id,
        at(9),
    )


@pytest.mark.parametrize(
    "outcome", ["no_answer", "voicemail", "busy", "wrong_number", "callback_requested"]
)
def test_calls_that_did_not_connect_do_not_count_as_contact(
    lead: Lead, advisor: Actor, outcome: str
) -> None:
    with minutes_after_t0(4):
        pipeline.log_call(lead.id, advisor, direction="outbound", outcome=outcome)
    fresh = reload(lead)
    assert (fresh.stage, fresh.first_contact_at, fresh.speed_to_lead_seconds) == ("new", None, None)
    [call] = db.session.scalars(select(CallLog).where(CallLog.lead_id == lead.id))
    assert (call.outcome, call.started_at) == (outcome, at(4))


def test_speed_to_lead_of_a_call_logged_after_it_started_is_zero_not_negative(
    advisor: Actor,
) -> None:
    with minutes_after_t0(5):
        lead = services.log_enquiry(
            request_data(), source="phone", target_minutes=15, actor=advisor
        ).lead
        pipeline.log_call(lead.id, advisor, direction="inbound", outcome="connected", started_at=T0)
    fresh = reload(lead)
    assert (fresh.created_at, fresh.first_contact_at, fresh.stage) == (at(5), T0, "contacted")
    assert fresh.speed_to_lead_seconds == 0.0


def test_a_second_connected_call_keeps_the_first_contact_time(lead: Lead, advisor: Actor) -> None:
    with minutes_after_t0(5):
        pipeline.log_call(lead.id, advisor, direction="outbound", outcome="no_answer")
    with minutes_after_t0(11):
        pipeline.log_call(lead.id, advisor, direction="outbound", outcome="connected")
    with minutes_after_t0(50):
        pipeline.log_call(lead.id, advisor, direction="inbound", outcome="connected")
    fresh = reload(lead)
    assert (fresh.first_contact_at, fresh.speed_to_lead_seconds) == (at(11), 660.0)
    assert _changes(lead.id) == [(None, "new"), ("new", "contacted")]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"outcome": "answered"}, "outcome"),
        ({"direction": "sideways"}, "direction"),
        ({"duration_seconds": -1}, "duration_seconds"),
        ({"duration_seconds": "ten"}, "duration_seconds"),
        ({"duration_seconds": 6 * 3600 + 1}, "duration_seconds"),
        ({"started_at": at(31)}, "started_at"),
        ({"notes": "called \x00 back"}, "notes"),
        ({"notes": "x" * 5001}, "notes"),
    ],
)
def test_bad_call_input_is_refused_and_writes_nothing(
    lead: Lead, advisor: Actor, changes: dict[str, Any], field: str
) -> None:
    call: dict[str, Any] = {"direction": "outbound", "outcome": "connected", **changes}
    with minutes_after_t0(30):
        error = refused(pipeline.log_call, lead.id, advisor, **call)
    assert error.kind == ErrorKind.INVALID and list(error.field_errors) == [field]
    assert error.message == "The call could not be logged."
    fresh = reload(lead)
    assert (fresh.stage, fresh.first_contact_at, fresh.updated_at) == ("new", None, T0)


def test_a_call_on_a_missing_lead_is_not_found(advisor: Actor) -> None:
    error = refused(pipeline.log_call, 987654, advisor, direction="inbound", outcome="connected")
    assert error.kind == ErrorKind.NOT_FOUND


# --- stage changes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "kwargs", "message"),
    [
        ("assessed", {}, "from new the next stage is contacted"),
        ("admitted", {"reason": "skip"}, "from new the next stage is contacted"),
        ("new", {}, "The lead is already new."),
        ("closed", {}, "Closing needs a reason: one of admitted_elsewhere"),
        ("closed", {"close_reason": "bored"}, "Closing needs a reason"),
        ("closed", {"close_reason": "other", "note": "  "}, "needs a note saying why"),
        ("finished", {}, "Unknown stage 'finished'."),
        ("closed", {"close_reason": "spam", "note": "bad\x1bnote"}, "contains control characters"),
        ("contacted", {"reason": "r" * 501}, "Reason must be at most 500 characters."),
    ],
)
def test_illegal_stage_changes_are_refused_and_write_nothing(
    lead: Lead, advisor: Actor, target: str, kwargs: dict[str, Any], message: str
) -> None:
    error = refused(pipeline.change_stage, lead.id, target, advisor, **kwargs)
    assert message in error.message
    assert reload(lead).stage == "new"


def test_moving_back_needs_a_reason(lead: Lead, advisor: Actor) -> None:
    walk_to(lead, "assessed", advisor)
    error = refused(pipeline.change_stage, lead.id, "contacted", advisor, reason=" ")
    assert error.message == "Moving back from assessed to contacted needs a reason."
    with minutes_after_t0(20):
        pipeline.change_stage(lead.id, "contacted", advisor, reason="Answers were wrong")
    assert reload(lead).stage == "contacted"
    last = db.session.scalars(select(StageChange).order_by(StageChange.id.desc())).first()
    assert (last.from_stage, last.to_stage, last.reason) == (
        "assessed",
        "contacted",
        "Answers were wrong",
    )


def test_the_whole_pipeline_forward_and_admitted_is_no_longer_open(
    lead: Lead, advisor: Actor
) -> None:
    fresh = walk_to(lead, "admitted", advisor)
    assert fresh.stage == "admitted"
    assert _changes(lead.id) == [
        (None, "new"),
        ("new", "contacted"),
        ("contacted", "assessed"),
        ("assessed", "matched"),
        ("matched", "referred"),
        ("referred", "admitted"),
    ]
    assert lead.id not in [row.id for row in queries.queue(advisor.user_id or 0)]


def test_closing_records_the_reason_and_reopening_clears_it(
    lead: Lead, staff: dict[str, User]
) -> None:
    manager = actor_for(staff["manager"])
    with minutes_after_t0(30):
        pipeline.change_stage(
            lead.id, "closed", manager, close_reason="other", note=" Moved abroad "
        )
    fresh = reload(lead)
    assert (fresh.stage, fresh.close_reason, fresh.updated_at) == ("closed", "other", at(30))
    last = db.session.scalars(select(StageChange).order_by(StageChange.id.desc())).first()
    assert (last.close_reason, last.note, last.actor_id, last.changed_at) == (
        "other",
        "Moved abroad",
        manager.user_id,
        at(30),
    )
    audit = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (audit.action, audit.detail, audit.actor_id) == (
        "update",
        "stage new -> closed",
        manager.user_id,
    )
    error = refused(pipeline.change_stage, lead.id, "new", manager)
    assert error.message == "Reopening a closed lead needs a reason."
    with minutes_after_t0(40):
        pipeline.change_stage(lead.id, "new", manager, reason="Came back from abroad")
    assert (reload(lead).stage, reload(lead).close_reason) == ("new", None)


# --- notes and assignment --------------------------------------------------------------------


def test_notes_are_stored_and_bad_notesrefused(lead: Lead, advisor: Actor) -> None:
    with minutes_after_t0(3):
        note = pipeline.add_note(lead.id, "  <b>Prefers</b> text first  ", advisor)
    db.session.flush()
    stored = db.session.get(LeadNote, note.id)
    assert (stored.body, stored.author_id, stored.written_at) == (
        "<b>Prefers</b> text first",
        advisor.user_id,
        at(3),
    )
    for bad in ("", "   ", "a\x07b", "x" * 5001):
        error = refused(pipeline.add_note, lead.id, bad, advisor)
        assert list(error.field_errors) == ["body"]


def test_reassign_records_an_assignment(lead: Lead, staff: dict[str, User]) -> None:
    manager = actor_for(staff["manager"])
    ann = staff_member("admissions", "Ann Able")
    with minutes_after_t0(2):
        pipeline.reassign(lead.id, staff["admissions"].id, manager, "first owner")
    with minutes_after_t0(8):
        pipeline.reassign(lead.id, ann.id, manager, "  covering the night  ")
    assert reload(lead).owner_id == ann.id
    rows = db.session.scalars(
        select(Assignment).where(Assignment.lead_id == lead.id).order_by(Assignment.id)
    ).all()
    assert [(r.from_user_id, r.to_user_id, r.actor_id, r.reason, r.assigned_at) for r in rows] == [
        (None, staff["admissions"].id, manager.user_id, "first owner", at(2)),
        (staff["admissions"].id, ann.id, manager.user_id, "covering the night", at(8)),
    ]
    assert db.session.get(User, ann.id).last_assigned_at == at(8)


def test_reassign_refuses_admins_inactive_staff_the_same_owner_and_strangers(
    lead: Lead, staff: dict[str, User]
) -> None:
    manager = actor_for(staff["manager"])
    gone = staff_member("admissions", "Gone Away", active=False)
    pipeline.reassign(lead.id, staff["admissions"].id, manager)
    for owner_id, message in (
        (staff["admin"].id, "active admissions staff or managers"),
        (gone.id, "active admissions staff or managers"),
        (staff["admissions"].id, "already assigned to Test Admissions"),
    ):
        assert message in refused(pipeline.reassign, lead.id, owner_id, manager).message
    assert refused(pipeline.reassign, lead.id, 987654, manager).kind == ErrorKind.NOT_FOUND
    assert reload(lead).owner_id == staff["admissions"].id


# --- the assessment --------------------------------------------------------------------------


def test_a_draft_can_be_saved_on_a_new_lead(lead: Lead, advisor: Actor) -> None:
    with minutes_after_t0(2):
        row = pipeline.save_assessment(
            lead.id, {"primary_substance": "cocaine"}, advisor, complete=False
        )
    db.session.flush()
    stored = db.session.get(Assessment, row.id)
    assert (stored.primary_substance, stored.completed_at, stored.updated_by_id) == (
        "cocaine",
        None,
        advisor.user_id,
    )
    assert stored.answers["substances"] == ["cocaine"]
    assert reload(lead).stage == "new"


def test_completing_needs_a_connected_call_first(lead: Lead, advisor: Actor) -> None:
    error = refused(
        pipeline.save_assessment, lead.id, dict(COMPLETE_ASSESSMENT), advisor, complete=True
    )
    assert error.message == "Log the connected call before completing the assessment."


def test_completing_needs_the_required_answers(lead: Lead, advisor: Actor) -> None:
    walk_to(lead, "contacted", advisor)
    error = refused(
        pipeline.save_assessment, lead.id, {"funding": "unsure"}, advisor, complete=True
    )
    assert set(error.field_errors) == {
        "substances",
        "primary_substance",
        "treatment_wanted",
        "timeframe",
    }
    assert error.message.startswith("To complete the assessment, answer: substances,")


def test_invalid_answers_are_refused_with_field_errors(lead: Lead, advisor: Actor) -> None:
    error = refused(
        pipeline.save_assessment,
        lead.id,
        {"home_postcode": "nowhere", "age": "7"},
        advisor,
        complete=False,
    )
    assert error.field_errors == {
        "home_postcode": ["Enter a UK postcode, like LS1 4AP."],
        "age": ["Age must be between 12 and 110."],
    }


def test_completing_moves_contacted_to_assessed(lead: Lead, advisor: Actor) -> None:
    walk_to(lead, "contacted", advisor)
    with minutes_after_t0(25):
        pipeline.save_assessment(lead.id, {"funding": "unsure"}, advisor, complete=False)
    with minutes_after_t0(30):
        pipeline.save_assessment(lead.id, dict(COMPLETE_ASSESSMENT), advisor, complete=True)
    fresh = reload(lead)
    assert fresh.stage == "assessed" and fresh.safeguarding_flagged_at is None
    [row] = db.session.scalars(select(Assessment).where(Assessment.lead_id == lead.id))
    assert (row.primary_substance, row.treatment_wanted, row.funding, row.timeframe) == (
        "alcohol",
        "medical_detox",
        "self_funded",
        "within_a_week",
    )
    assert (row.completed_at, row.completed_by_id) == (at(30), advisor.user_id)
    assert row.answers["home_postcode"] == "LS1 4AP" and row.answers["withdrawal"] is True
    assert _changes(lead.id)[-1] == ("contacted", "assessed")


def test_immediate_danger_flags_the_lead_for_managers(lead: Lead, advisor: Actor) -> None:
    with minutes_after_t0(12):
        row = pipeline.save_assessment(lead.id, {"immediate_danger": "y"}, advisor, complete=False)
    assert row.immediate_danger
    assert reload(lead).safeguarding_flagged_at == at(12)
    assert [f.id for f in queries.flagged_for_managers()] == [lead.id]
    with minutes_after_t0(20):
        pipeline.save_assessment(
            lead.id, {"immediate_danger": "y", "risk_notes": "safe now"}, advisor, complete=False
        )
    assert reload(lead).safeguarding_flagged_at == at(12), "the first flag time is kept"
    flags = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "safeguarding_flag")
    ).all()
    assert [(f.object_type, f.object_id, f.actor_id) for f in flags] == [
        ("leads", str(lead.id), advisor.user_id)
    ]
