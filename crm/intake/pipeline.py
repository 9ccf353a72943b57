"""Working a lead: stage changes, calls, notes, reassignment, the assessment and merging."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from crm import clock
from crm.auth.models import User
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.intake import services
from crm.intake.assessment import AssessmentInvalid, missing_for_completion, parse_assessment
from crm.intake.models import (
    Assessment,
    Assignment,
    CallbackRequest,
    CallLog,
    Lead,
    LeadNote,
    StageChange,
)
from crm.intake.stages import PIPELINE, Stage, TransitionError, check_transition, parse_stage
from crm.intake.vocabulary import CALL_DIRECTIONS, CALL_OUTCOMES
from crm.oncall import paging, reminders
from crm.privacy.models import ConsentRecord, DisclosureRecord
from crm.privacy.services import Actor, record_audit_event
from crm.validation import clean_text

MAX_NOTE = 5000


def get_lead(lead_id: int) -> Lead:
    lead = db.session.get(Lead, lead_id)
    if lead is None:
        raise DomainError("No such lead.", ErrorKind.NOT_FOUND)
    return lead


def _move(
    lead: Lead,
    target: Stage,
    actor: Actor,
    *,
    reason: str | None = None,
    close_reason: str | None = None,
    note: str | None = None,
) -> StageChange:
    try:
        move = check_transition(
            parse_stage(lead.stage), target, reason=reason, close_reason=close_reason, note=note
        )
    except TransitionError as exc:
        raise DomainError(str(exc)) from None
    change = StageChange(
        lead_id=lead.id,
        from_stage=move.from_stage.value,
        to_stage=move.to_stage.value,
        close_reason=move.close_reason.value if move.close_reason else None,
        reason=move.reason,
        note=move.note,
        actor_id=actor.user_id,
        changed_at=clock.now(),
    )
    db.session.add(change)
    lead.stage = move.to_stage.value
    lead.close_reason = move.close_reason.value if move.close_reason else None
    lead.updated_at = clock.now()
    record_audit_event(
        actor,
        "update",
        object_type="leads",
        object_id=lead.id,
        detail=f"stage {move.from_stage.value} -> {move.to_stage.value}",
    )
    return change


def follow(lead: Lead, target: Stage, actor: Actor, reason: str) -> None:
    """Bring a lead to the stage its referrals imply, one recorded stage at a time.

    Forward moves pass through every stage in between; a move back (every referral ended)
    carries ``reason``. A closed lead stays closed: staff closed it on purpose.
    """
    current = parse_stage(lead.stage)
    if current in (Stage.CLOSED, target):
        return
    start, end = PIPELINE.index(current), PIPELINE.index(target)
    for stage in PIPELINE[start + 1 : end + 1] if end > start else (target,):
        _move(lead, stage, actor, reason=reason)


def change_stage(
    lead_id: int,
    target: str,
    actor: Actor,
    *,
    reason: str | None = None,
    close_reason: str | None = None,
    note: str | None = None,
) -> StageChange:
    """Move a lead by hand, under the rules in stages.py."""
    try:
        stage = parse_stage(target)
    except TransitionError as exc:
        raise DomainError(str(exc)) from None
    for label, text in (("Reason", reason), ("Note", note)):
        try:
            clean_text(
                text, label=label, max_length=MAX_NOTE if label == "Note" else 500, required=False
            )
        except ValueError as exc:
            raise DomainError(str(exc)) from None
    return _move(
        get_lead(lead_id), stage, actor, reason=reason, close_reason=close_reason, note=note
    )


def _check_call(
    direction: str, outcome: str, started: datetime, duration_seconds: Any, notes: str | None
) -> tuple[int, str | None]:
    """The call's duration and notes, or DomainError listing every bad field."""
    errors: dict[str, list[str]] = {}
    if direction not in CALL_DIRECTIONS:
        errors["direction"] = ["Choose inbound or outbound."]
    if outcome not in CALL_OUTCOMES:
        errors["outcome"] = ["Choose the call's outcome."]
    duration = 0
    try:
        duration = int(duration_seconds or 0)
        if not 0 <= duration <= 6 * 3600:
            raise ValueError
    except (TypeError, ValueError):
        errors["duration_seconds"] = ["Duration must be between 0 and 21600 seconds."]
    if started.tzinfo is None:
        errors["started_at"] = ["The start time needs a time zone."]
    elif started > clock.now():
        errors["started_at"] = ["A call cannot start in the future."]
    text = None
    try:
        text = clean_text(notes, label="Notes", max_length=MAX_NOTE, required=False) or None
    except ValueError as exc:
        errors["notes"] = [str(exc)]
    if errors:
        raise DomainError("The call could not be logged.", field_errors=errors)
    return duration, text


def log_call(
    lead_id: int,
    actor: Actor,
    *,
    direction: str,
    outcome: str,
    started_at: datetime | None = None,
    duration_seconds: Any = 0,
    notes: str | None = None,
) -> CallLog:
    """Log a call; the first connected one sets first contact and moves new → contacted."""
    started = started_at or clock.now()
    duration, text = _check_call(direction, outcome, started, duration_seconds, notes)
    lead = get_lead(lead_id)
    call = CallLog(
        lead_id=lead.id,
        direction=direction,
        outcome=outcome,
        started_at=started,
        duration_seconds=duration,
        notes=text,
        actor_id=actor.user_id,
        logged_at=clock.now(),
    )
    db.session.add(call)
    lead.updated_at = clock.now()
    if outcome == "connected":
        if lead.first_contact_at is None:
            lead.first_contact_at = started
            if lead.stage == Stage.NEW.value:
                _move(lead, Stage.CONTACTED, actor, reason="First connected call")
        # The call is the activity reminders wait for; it also ends any page about the lead.
        reminders.complete_reminders(lead.id, ("callback_due",))
        reminders.complete_reminders(
            lead.id, ("follow_up",), due_before=clock.now() + timedelta(hours=1)
        )
        paging.resolve_pages_for_lead(lead.id, actor, "connected call logged")
    record_audit_event(
        actor, "create", object_type="call_logs", object_id=lead.id, detail=f"call {outcome}"
    )
    return call


def add_note(lead_id: int, body: str, actor: Actor) -> LeadNote:
    try:
        text = clean_text(body, label="Note", max_length=MAX_NOTE)
    except ValueError as exc:
        raise DomainError(str(exc), field_errors={"body": [str(exc)]}) from None
    lead = get_lead(lead_id)
    note = LeadNote(lead_id=lead.id, body=text, author_id=actor.user_id, written_at=clock.now())
    db.session.add(note)
    lead.updated_at = clock.now()
    record_audit_event(actor, "create", object_type="lead_notes", object_id=lead.id)
    return note


def reassign(lead_id: int, owner_id: int | None, actor: Actor, reason: str | None = None) -> None:
    """A manager (or the owner handing over) gives the lead to someone else."""
    lead = get_lead(lead_id)
    owner = db.session.get(User, owner_id) if owner_id else None
    if owner_id and owner is None:
        raise DomainError("No such staff member.", ErrorKind.NOT_FOUND)
    services.assign(lead, owner, actor, (reason or "reassigned").strip()[:200])
    record_audit_event(actor, "update", object_type="leads", object_id=lead.id, detail="reassigned")


def save_assessment(
    lead_id: int, answers: dict[str, Any], actor: Actor, *, complete: bool
) -> Assessment:
    """Save the screening answers; completing it moves contacted → assessed.

    An "immediate danger" answer flags the lead for managers at once.
    """
    lead = get_lead(lead_id)
    try:
        clean = parse_assessment(answers)
    except AssessmentInvalid as exc:
        raise DomainError("The assessment has errors.", field_errors=exc.field_errors) from None
    missing = missing_for_completion(clean) if complete else []
    if missing:
        raise DomainError(
            "To complete the assessment, answer: " + ", ".join(missing) + ".",
            field_errors={m: ["Needed to complete."] for m in missing},
        )
    if complete and lead.stage == Stage.NEW.value:
        raise DomainError("Log the connected call before completing the assessment.")
    row = db.session.scalar(select(Assessment).where(Assessment.lead_id == lead.id))
    now = clock.now()
    if row is None:
        row = Assessment(lead_id=lead.id, answers={})
        db.session.add(row)
    row.answers = clean
    for column in ("primary_substance", "treatment_wanted", "funding", "timeframe"):
        setattr(row, column, clean.get(column))
    row.immediate_danger = bool(clean.get("immediate_danger"))
    row.updated_at, row.updated_by_id = now, actor.user_id
    if complete and row.completed_at is None:
        row.completed_at, row.completed_by_id = now, actor.user_id
    if complete and lead.stage == Stage.CONTACTED.value:
        _move(lead, Stage.ASSESSED, actor, reason="Assessment completed")
    if row.immediate_danger and lead.safeguarding_flagged_at is None:
        lead.safeguarding_flagged_at = now
        record_audit_event(actor, "safeguarding_flag", object_type="leads", object_id=lead.id)
    lead.updated_at = now
    record_audit_event(
        actor,
        "update",
        object_type="assessments",
        object_id=lead.id,
        detail="completed" if complete else "draft saved",
    )
    return row


_CHILD_TABLES = (
    CallbackRequest,
    CallLog,
    LeadNote,
    StageChange,
    Assignment,
    ConsentRecord,
    DisclosureRecord,
)


def merge_leads(duplicate_id: int, keep_id: int, actor: Actor) -> Lead:
    """Fold a duplicate lead into the one kept: its history moves across, it closes."""
    if duplicate_id == keep_id:
        raise DomainError("Choose two different leads to merge.")
    duplicate, keep = get_lead(duplicate_id), get_lead(keep_id)
    if duplicate.merged_into_id is not None:
        raise DomainError(f"{duplicate.reference} was already merged.")
    if keep.merged_into_id is not None:
        # Else history would move onto a closed lead (and A→B then B→A makes a cycle).
        raise DomainError(f"{keep.reference} was merged into another lead; merge into that one.")
    if db.session.scalar(select(Assessment.id).where(Assessment.lead_id == duplicate.id)):
        if db.session.scalar(select(Assessment.id).where(Assessment.lead_id == keep.id)):
            raise DomainError(
                "Both leads have an assessment; keep the one with the assessment "
                "you want and close the other as a duplicate instead."
            )
        db.session.execute(
            update(Assessment).where(Assessment.lead_id == duplicate.id).values(lead_id=keep.id)
        )
    for table in _CHILD_TABLES:
        db.session.execute(
            update(table).where(table.lead_id == duplicate.id).values(lead_id=keep.id)
        )
    keep.request_count += duplicate.request_count
    if duplicate.first_contact_at and (
        keep.first_contact_at is None or duplicate.first_contact_at < keep.first_contact_at
    ):
        keep.first_contact_at = duplicate.first_contact_at
    db.session.flush()
    db.session.expire_all()
    duplicate = get_lead(duplicate_id)
    if duplicate.stage != Stage.CLOSED.value:
        _move(
            duplicate,
            Stage.CLOSED,
            actor,
            close_reason="duplicate",
            note=f"Merged into {keep.reference}",
        )
    duplicate.merged_into_id = keep.id
    add_note(
        keep.id, f"Merged {duplicate.reference} into this lead; its history is shown here.", actor
    )
    return get_lead(keep_id)
