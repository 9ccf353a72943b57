"""Reading leads (the queue, search, the timeline); possible duplicates and merging them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.auth.models import User
from crm.extensions import db
from crm.intake import pipeline, queries
from crm.intake.models import (
    Assessment,
    CallbackRequest,
    CallLog,
    Contact,
    Lead,
    LeadNote,
    StageChange,
)
from crm.privacy.models import ConsentRecord
from crm.privacy.services import Actor
from tests.services.intake_factories import (
    T0,
    actor_for,
    at,
    capture,
    minutes_after_t0,
    refused,
    reload,
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


def person(number: int, minutes: float = 0, name: str = "Sam Smith", **changes: object) -> Lead:
    """A new lead from a distinct person (own phone and email) at T0 + ``minutes``."""
    fields = {"phone": f"07700 900{number:03d}", "email": f"person{number}@example.com"}
    return capture(minutes, name=name, **{**fields, **changes}).lead


def ids(leads: list[Lead]) -> list[int]:
    return [lead.id for lead in leads]


# --- the queue -------------------------------------------------------------------------------


def test_queue_puts_new_leads_first_by_deadline_then_the_rest_by_last_touch(
    advisor: Actor, staff: dict[str, User]
) -> None:
    due_later = person(1, 0, "Ann New")  # due T0+15
    overdue = person(2, -40, "Bob Overdue")  # due T0-25
    touched_late = walk_to(person(3, -60, "Cat Contacted"), "contacted", advisor, minutes=5)
    touched_early = walk_to(person(4, -50, "Dan Assessed"), "assessed", advisor, minutes=2)
    closed = person(5, -30, "Eve Closed")
    with minutes_after_t0(1):
        pipeline.change_stage(closed.id, "closed", advisor, close_reason="spam")
    walk_to(person(6, -90, "Fay Admitted"), "admitted", advisor, minutes=3)
    db.session.flush()

    rows = queries.queue(advisor.user_id or 0)
    assert [r.first_name for r in rows] == ["Bob", "Ann", "Dan", "Cat"]
    assert [r.id for r in rows] == [overdue.id, due_later.id, touched_early.id, touched_late.id]
    first = rows[0]
    assert (first.reference, first.source, first.stage, first.callback_due_at) == (
        overdue.reference,
        "web_form",
        "new",
        at(-25),
    )
    assert (first.created_at, first.request_count, first.safeguarding) == (at(-40), 1, False)
    assert first.callback_due_at < T0, "the top lead is the overdue one"


def test_queue_filters_mine_unassigned_and_all(staff: dict[str, User]) -> None:
    ann = staff_member("admissions", "Ann Able")
    manager = actor_for(staff["manager"])
    mine, theirs, nobodys = person(1, 0), person(2, 1), person(3, 2)
    pipeline.reassign(mine.id, ann.id, manager)
    pipeline.reassign(theirs.id, staff["admissions"].id, manager)
    db.session.flush()
    assert [r.id for r in queries.queue(ann.id, "mine")] == [mine.id]
    assert [r.owner_name for r in queries.queue(ann.id, "mine")] == ["Ann Able"]
    assert [r.id for r in queries.queue(ann.id, "unassigned")] == [nobodys.id]
    assert [r.id for r in queries.queue(ann.id, "all")] == [mine.id, theirs.id, nobodys.id]
    assert queries.queue(staff["admin"].id, "mine") == []


def test_queue_shows_safeguarding_flags_and_repeat_requests(advisor: Actor) -> None:
    lead = person(1, 0)
    capture(3, phone="+447700900001", email=...)
    pipeline.save_assessment(lead.id, {"immediate_danger": "y"}, advisor, complete=False)
    db.session.flush()
    [row] = queries.queue(advisor.user_id or 0)
    assert (row.request_count, row.safeguarding) == (2, True)


# --- search ----------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["{ref}", "{lower}", "{lower_nodash}", " {ref} ", "L {body}"])
def test_search_by_reference_in_any_case(typed: str) -> None:
    lead, _other = person(1), person(2)
    ref = lead.reference
    term = typed.format(
        ref=ref, lower=ref.lower(), lower_nodash=ref.lower().replace("-", ""), body=ref[2:]
    )
    assert ids(queries.search(term)) == [lead.id]


@pytest.mark.parametrize(
    "typed",
    [
        "07700 900123",
        "+44 7700 900123",
        "447700900123",
        "07700900123",
        "0044 7700 900123",
        "(07700) 900-123",
    ],
)
def test_search_by_phone_in_any_format(typed: str) -> None:
    lead = person(123)
    person(124)
    assert ids(queries.search(typed)) == [lead.id]


def test_search_by_phone_prefix() -> None:
    first, second = person(123, 0), person(456, 1)
    other = capture(2, name="Lee", phone="+33 1 42 68 53 00", email="lee@example.fr").lead
    assert set(ids(queries.search("07700 900"))) == {first.id, second.id}
    assert ids(queries.search("07700 9004")) == [second.id]
    assert ids(queries.search("+33 1 42")) == [other.id]
    assert ids(queries.search("0033 142")) == [other.id]


def test_search_by_email_ignores_case() -> None:
    lead = person(1, email="Sam.Smith@Example.com")
    person(2)
    assert ids(queries.search("SAM.SMITH@example.COM")) == [lead.id]
    assert queries.search("sam.smith@example") == []


@pytest.mark.parametrize("term", ["mit", "MIT", "Sam Smith", "sam", "Sm", "h"])
def test_search_by_name_substring(term: str) -> None:
    sam = person(1, 0, "Sam Smith")
    person(2, 1, "Jo Brown")
    found = queries.search(term)
    assert ids(found) == ([sam.id] if len(term) >= 2 else [])


def test_search_finds_the_client_named_by_a_caller() -> None:
    lead = person(
        1,
        name="Pat Parent",
        for_whom="someone_else",
        relationship="family",
        client_name="Robin Hood",
    )
    assert ids(queries.search("obin")) == [lead.id]
    assert ids(queries.search("arent")) == [lead.id]


def test_renaming_a_contact_updates_name_search() -> None:
    lead = person(1, name="Sam Smith")
    assert ids(queries.search("mit")) == [lead.id]
    contact = db.session.get(Contact, lead.caller_id)
    contact.name = "Alex Jones"
    db.session.flush()
    assert queries.search("mit") == []
    assert queries.search("Sam Smith") == []
    assert ids(queries.search("jone")) == [lead.id]
    assert ids(queries.search("alex jones")) == [lead.id]


def test_names_that_look_like_a_reference_still_find_the_person() -> None:
    lead = person(1, name="Jo Lambert")
    assert ids(queries.search("Lambert")) == [lead.id]


@pytest.mark.parametrize(
    "term", ["zzqx", "", "   ", "%%%", "__", "L-AAAAAA", "07999 9", "nobody@example.com", "\\"]
)
def test_a_term_that_matches_nothing_finds_nothing(term: str) -> None:
    person(1, name="Sam Smith")
    assert queries.search(term) == []


def test_newest_lead_first_and_returning_leads_all_found(advisor: Actor) -> None:
    first = person(1, 0)
    with minutes_after_t0(5):
        pipeline.change_stage(first.id, "closed", advisor, close_reason="not_ready")
    again = person(1, 60)
    assert ids(queries.search("07700 900001")) == [again.id, first.id]


# --- possible duplicates ---------------------------------------------------------------------


def test_possible_duplicates_share_a_phone_an_email_or_a_name(advisor: Actor) -> None:
    lead = person(1, 0, "Sam Smith")
    by_name = person(2, 1, "SAM SMITH")
    by_phone = person(3, 2, "S. Smith")
    by_email = person(4, 3, "Samuel")
    unrelated = person(5, 4, "Jo Brown")
    db.session.get(Contact, by_phone.caller_id).phone = "+447700900001"
    db.session.get(Contact, by_email.caller_id).email = "person1@example.com"
    closed = person(6, 5, "Sam Smith")
    with minutes_after_t0(6):
        pipeline.change_stage(closed.id, "closed", advisor, close_reason="duplicate")
    db.session.flush()
    found = ids(queries.possible_duplicates(lead))
    assert set(found) == {by_name.id, by_phone.id, by_email.id}
    assert found == [by_email.id, by_phone.id, by_name.id], "newest first"
    assert unrelated.id not in found and lead.id not in found
    pipeline.merge_leads(by_name.id, lead.id, advisor)
    assert by_name.id not in ids(queries.possible_duplicates(reload(lead)))
    assert queries.possible_duplicates(reload(unrelated)) == []


# --- merging duplicates ----------------------------------------------------------------------


def _two_leads_for_sam(advisor: Actor) -> tuple[Lead, Lead]:
    keep = capture(0).lead
    duplicate = capture(20, phone="07700 900777", email="sam.smith@example.org").lead
    with minutes_after_t0(25):
        pipeline.log_call(duplicate.id, advisor, direction="outbound", outcome="connected")
        pipeline.add_note(duplicate.id, "Same person as the earlier request.", advisor)
    return keep, duplicate


def test_merge_moves_history_to_the_kept_lead_and_closes_the_duplicate(advisor: Actor) -> None:
    keep, duplicate = _two_leads_for_sam(advisor)
    with minutes_after_t0(40):
        kept = pipeline.merge_leads(duplicate.id, keep.id, advisor)
    assert kept.id == keep.id
    kept, gone = reload(keep), db.session.get(Lead, duplicate.id)
    assert (gone.stage, gone.close_reason, gone.merged_into_id) == ("closed", "duplicate", keep.id)
    assert (kept.request_count, kept.first_contact_at) == (2, at(25))
    for model in (CallbackRequest, CallLog, ConsentRecord):
        assert db.session.scalars(select(model).where(model.lead_id == duplicate.id)).all() == []
    assert len(db.session.scalars(select(CallLog).where(CallLog.lead_id == keep.id)).all()) == 1
    bodies = db.session.scalars(select(LeadNote.body).where(LeadNote.lead_id == keep.id)).all()
    assert "Same person as the earlier request." in bodies
    assert f"Merged {duplicate.reference} into this lead; its history is shown here." in bodies
    closing = db.session.scalars(
        select(StageChange).where(StageChange.lead_id == duplicate.id)
    ).all()
    assert [(c.to_stage, c.close_reason, c.note) for c in closing] == [
        ("closed", "duplicate", f"Merged into {keep.reference}")
    ]
    kinds = {entry.kind for entry in queries.timeline(keep.id)}
    assert kinds == {"request", "call", "stage", "note"}


def test_merge_refuses_a_lead_into_itself_and_merging_twice(advisor: Actor) -> None:
    keep, duplicate = _two_leads_for_sam(advisor)
    error = refused(pipeline.merge_leads, keep.id, keep.id, advisor)
    assert error.message == "Choose two different leads to merge."
    pipeline.merge_leads(duplicate.id, keep.id, advisor)
    error = refused(pipeline.merge_leads, duplicate.id, keep.id, advisor)
    assert error.message == f"{duplicate.reference} was already merged."


def test_merge_refuses_a_kept_lead_that_was_itself_merged(advisor: Actor) -> None:
    keep, duplicate = _two_leads_for_sam(advisor)
    pipeline.merge_leads(duplicate.id, keep.id, advisor)
    error = refused(pipeline.merge_leads, keep.id, duplicate.id, advisor)
    assert (
        error.message == f"{duplicate.reference} was merged into another lead; merge into that one."
    )
    assert reload(keep).merged_into_id is None


def test_merge_refuses_when_both_leads_have_an_assessment(advisor: Actor) -> None:
    keep, duplicate = _two_leads_for_sam(advisor)
    for lead_id in (keep.id, duplicate.id):
        pipeline.save_assessment(lead_id, {"funding": "unsure"}, advisor, complete=False)
    error = refused(pipeline.merge_leads, duplicate.id, keep.id, advisor)
    assert "Both leads have an assessment" in error.message


def test_merge_carries_the_duplicates_assessment_across(advisor: Actor) -> None:
    keep, duplicate = _two_leads_for_sam(advisor)
    pipeline.save_assessment(duplicate.id, {"funding": "unsure"}, advisor, complete=False)
    pipeline.merge_leads(duplicate.id, keep.id, advisor)
    [row] = db.session.scalars(select(Assessment)).all()
    assert (row.lead_id, row.funding) == (keep.id, "unsure")
    assert reload(keep).callback_due_at == at(15), "the kept lead keeps its own deadline"


# --- the timeline ----------------------------------------------------------------------------


def test_timeline_shows_every_kind_of_entry_newest_first(staff: dict[str, User]) -> None:
    advisor = actor_for(staff["admissions"])
    manager = actor_for(staff["manager"])
    lead = person(1, 0)
    capture(4, phone="07700900001", email=..., best_time_to_call="now please")
    with minutes_after_t0(6):
        pipeline.reassign(lead.id, staff["admissions"].id, manager, "on shift")
    with minutes_after_t0(10):
        pipeline.log_call(
            lead.id,
            advisor,
            direction="outbound",
            outcome="connected",
            started_at=at(8),
            duration_seconds=300,
            notes="Talked it through",
        )
    with minutes_after_t0(12):
        pipeline.add_note(lead.id, "Wants a female-only unit", advisor)
    with minutes_after_t0(20):
        pipeline.change_stage(
            lead.id, "closed", manager, close_reason="other", note="Found help locally"
        )
    db.session.flush()
    entries = queries.timeline(lead.id)
    assert [(e.at, e.kind, e.title, e.actor) for e in entries] == [
        (at(20), "stage", "Stage: contacted → closed (other)", "Test Manager"),
        (at(12), "note", "Note", "Test Admissions"),
        (at(10), "stage", "Stage: new → contacted", "Test Admissions"),
        (at(8), "call", "Outbound call: connected (5 min)", "Test Admissions"),
        (at(6), "assignment", "Assigned to Test Admissions", "Test Manager"),
        (at(4), "request", "Requested again", None),
        (at(0), "request", "Callback requested", None),
        (at(0), "stage", "Stage: — → new", None),
    ]
    bodies = {e.title: e.body for e in entries}
    assert bodies["Stage: contacted → closed (other)"] == "Found help locally"
    assert bodies["Note"] == "Wants a female-only unit"
    assert bodies["Outbound call: connected (5 min)"] == "Talked it through"
    assert (
        bodies["Requested again"] == "via website form, best time: now please, substances: ketamine"
        "\nStruggling since the summer."
    )
    assert bodies["Assigned to Test Admissions"] == "on shift"
    assert queries.timeline(987654) == []


def test_the_timeline_says_who_was_assigned_automatically(db_session: object) -> None:
    ann = staff_member("admissions", "Ann Able", available=True)
    lead = person(1, 0)
    assert reload(lead).owner_id == ann.id
    [assignment] = [e for e in queries.timeline(lead.id) if e.kind == "assignment"]
    assert (assignment.title, assignment.body, assignment.actor) == (
        "Assigned to Ann Able",
        "round-robin",
        "automatic",
    )
    assert db.session.scalar(select(Lead.owner_id).where(Lead.id == lead.id)) == ann.id
