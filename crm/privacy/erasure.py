"""Erasure: anonymise a person everywhere they appear, keeping what the law requires (the fee
ledger and invoices, which name a client only by the lead reference) and the counts reports
need (stages, sources, dates). Set-based, so one person or a retention batch of thousands
costs a handful of statements. Services: they never commit."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from crm import clock
from crm.errors import DomainError
from crm.extensions import db
from crm.intake.models import (
    Assessment,
    Assignment,
    CallbackRequest,
    CallLog,
    Contact,
    Lead,
    LeadNote,
    StageChange,
)
from crm.intake.stages import OPEN_STAGES
from crm.notify.models import OutboundMessage
from crm.oncall.models import Page, PageEvent, Reminder
from crm.privacy import requests
from crm.privacy.models import (
    ConsentRecord,
    Erasure,
    RightsRequest,
    RightsRequestSubject,
    SubjectAccessExport,
)
from crm.privacy.services import Actor, record_audit_event
from crm.referrals.models import Presentation, PresentedOption, Referral, ReferralEvent

ERASED = "[erased]"
OPEN_STAGE_VALUES = tuple(s.value for s in OPEN_STAGES)
CHUNK = 500  # ids per IN list: well inside both databases' parameter limits


@dataclass
class ErasureOutcome:
    """What an erasure did (``erasure`` set), or why it did nothing (``message``)."""

    erasure: Erasure | None
    message: str
    changed: dict[str, int] = field(default_factory=dict)


def new_pseudonym() -> str:
    """The reference an erased person is known by from now on: random, so it links to nothing."""
    return "ANON-" + secrets.token_hex(4).upper()


def holds(lead_ids: Sequence[int]) -> list[str]:
    """Why the leads cannot be erased now: an open safeguarding flag keeps the record."""
    reasons = []
    for chunk in _chunks(lead_ids):
        for reference, flagged in db.session.execute(
            select(Lead.reference, Lead.safeguarding_flagged_at).where(
                Lead.id.in_(chunk),
                Lead.safeguarding_flagged_at.is_not(None),
                Lead.stage.in_(OPEN_STAGE_VALUES),
            )
        ):
            reasons.append(
                f"Lead {reference} has an open safeguarding flag (raised {flagged:%d %b %Y}): "
                "the record is kept until a manager has closed the lead."
            )
    return reasons


def erase_request(request_id: int, actor: Actor) -> ErasureOutcome:
    """Carry out a verified erasure request: every lead the person is the client of, and
    every contact record of theirs. A second erasure changes nothing and says so."""
    row = requests.get_request(request_id)
    if row.kind != "erasure":
        raise DomainError(f"Request {row.id} is not an erasure request.")
    requests.require_verified(row)
    done = db.session.scalar(select(Erasure).where(Erasure.rights_request_id == row.id))
    if done is not None:
        return ErasureOutcome(
            None,
            f"This person was already erased on {done.erased_at:%d %b %Y %H:%M} UTC (as "
            f"{done.pseudonym}): nothing was changed.",
        )
    if not row.is_open:
        raise DomainError(f"Request {row.id} is {row.status}: it cannot be acted on.")
    contact_ids = requests.subject_ids(row.id)
    lead_ids = _client_leads(contact_ids)
    blocked = holds(lead_ids)
    if blocked:
        raise DomainError("Nothing was erased. " + " ".join(blocked))
    live = db.session.scalar(
        select(func.count()).where(Contact.id.in_(contact_ids), Contact.anonymised_at.is_(None))
    )
    if not live:
        return ErasureOutcome(
            None, "Everyone this request concerns is already erased: nothing was changed."
        )
    erasure = erase(contact_ids, lead_ids, reason="rights_request", actor=actor)
    erasure.rights_request_id = row.id
    row.pseudonym = erasure.pseudonym
    requests.close_request(
        row.id,
        "completed",
        f"Erased on {erasure.erased_at:%d %b %Y} as {erasure.pseudonym}: "
        f"{len(contact_ids)} contact record(s) and {len(lead_ids)} lead(s). Fee records are "
        "kept six years under the lead reference only.",
        actor,
    )
    return ErasureOutcome(erasure, f"Erased as {erasure.pseudonym}.", dict(erasure.changed))


def _client_leads(contact_ids: Sequence[int]) -> list[int]:
    """Leads the contacts are the client of, or the caller about themselves."""
    if not contact_ids:
        return []
    return list(
        db.session.scalars(
            select(Lead.id)
            .where(
                or_(
                    Lead.client_id.in_(contact_ids),
                    and_(Lead.caller_id.in_(contact_ids), Lead.caller_id == Lead.client_id),
                )
            )
            .order_by(Lead.id)
        )
    )


def erase(
    contact_ids: Sequence[int],
    lead_ids: Sequence[int],
    *,
    reason: str,
    actor: Actor,
    pseudonym: str | None = None,
) -> Erasure:
    """Anonymise the leads' content and the contacts' details, and record what was done."""
    name = pseudonym or new_pseudonym()
    now = clock.now()
    changed: dict[str, int] = {}
    db.session.flush()  # pending changes first: the UPDATEs below must not be overwritten
    for chunk in _chunks(lead_ids):
        _tally(changed, anonymise_lead_content(chunk, now))
    for chunk in _chunks(contact_ids):
        _tally(changed, _anonymise_contacts(chunk, name, now))
    db.session.expire_all()  # objects loaded before hold the erased values: reload them
    erasure = Erasure(
        pseudonym=name,
        reason=reason,
        contact_ids=list(contact_ids),
        lead_ids=list(lead_ids),
        changed=changed,
        erased_at=now,
        erased_by_id=actor.user_id,
        actor_email=actor.email,
    )
    db.session.add(erasure)
    db.session.flush()
    record_audit_event(
        actor,
        "erase",
        object_type="erasures",
        object_id=erasure.id,
        detail=f"{reason}: {len(contact_ids)} contacts, {len(lead_ids)} leads",
    )
    return erasure


def _tally(into: dict[str, int], counts: dict[str, int]) -> None:
    for table, n in counts.items():
        if n:
            into[table] = into.get(table, 0) + n


def _run(statement: Any) -> int:
    result = db.session.execute(statement.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def anonymise_lead_content(lead_ids: Sequence[int], now: Any) -> dict[str, int]:
    """Every free-text and health field on the leads' timelines, referrals and messages."""
    ids = list(lead_ids)
    referral_ids = select(Referral.id).where(Referral.lead_id.in_(ids))
    # Id lists, not subqueries: inside the messages' OR, PostgreSQL can use an index only for
    # a list (bench/privacy.py: a full scan of outbound_messages otherwise).
    page_ids = list(db.session.scalars(select(Page.id).where(Page.lead_id.in_(ids)))) or [-1]
    reminder_ids = list(
        db.session.scalars(select(Reminder.id).where(Reminder.lead_id.in_(ids)))
    ) or [-1]
    summary_keys = [
        f"referral:{referral_id}:summary"
        for referral_id in db.session.scalars(select(Referral.id).where(Referral.lead_id.in_(ids)))
    ]
    counts = {
        "leads": _run(update(Lead).where(Lead.id.in_(ids)).values(utm=None, anonymised_at=now)),
        "callback_requests": _run(
            update(CallbackRequest)
            .where(CallbackRequest.lead_id.in_(ids))
            .values(best_time_to_call=None, substances=None, message=None, page_url=None)
        ),
        "stage_changes": _run(
            update(StageChange)
            .where(
                StageChange.lead_id.in_(ids),
                or_(StageChange.note.is_not(None), StageChange.reason.is_not(None)),
            )
            .values(note=None, reason=None)
        ),
        "call_logs": _run(
            update(CallLog)
            .where(CallLog.lead_id.in_(ids), CallLog.notes.is_not(None))
            .values(notes=None)
        ),
        "lead_notes": _run(update(LeadNote).where(LeadNote.lead_id.in_(ids)).values(body=ERASED)),
        "assignments": _run(
            update(Assignment)
            .where(Assignment.lead_id.in_(ids), Assignment.reason.is_not(None))
            .values(reason=None)
        ),
        "assessments": _run(
            update(Assessment)
            .where(Assessment.lead_id.in_(ids))
            .values(
                answers={},
                primary_substance=None,
                treatment_wanted=None,
                funding=None,
                timeframe=None,
                immediate_danger=False,
            )
        ),
        "presentations": _run(
            update(Presentation)
            .where(Presentation.lead_id.in_(ids), Presentation.note.is_not(None))
            .values(note=None)
        ),
        "presented_options": _run(
            update(PresentedOption).where(PresentedOption.lead_id.in_(ids)).values(explanation={})
        ),
        "referrals": _run(
            update(Referral)
            .where(Referral.lead_id.in_(ids))
            .values(summary=ERASED, decline_reason=None)
        ),
        "referral_events": _run(
            update(ReferralEvent)
            .where(ReferralEvent.referral_id.in_(referral_ids), ReferralEvent.reason.is_not(None))
            .values(reason=None)
        ),
        "reminders": _run(
            update(Reminder)
            .where(Reminder.lead_id.in_(ids), Reminder.note.is_not(None))
            .values(note=None)
        ),
        "page_events": _run(
            update(PageEvent)
            .where(PageEvent.page_id.in_(page_ids), PageEvent.detail.is_not(None))
            .values(detail=None)
        ),
        "outbound_messages": _run(
            update(OutboundMessage)
            .where(
                or_(
                    OutboundMessage.page_id.in_(page_ids),
                    OutboundMessage.reminder_id.in_(reminder_ids),
                    OutboundMessage.idempotency_key.in_(summary_keys),
                )
            )
            .values(subject=ERASED, body=ERASED)
        ),
    }
    return counts


def _anonymise_contacts(contact_ids: Sequence[int], pseudonym: str, now: Any) -> dict[str, int]:
    """The contacts' details, consents' free text, and the rights requests they made (the
    request stays, under the pseudonym, as the record that it was answered)."""
    ids = list(contact_ids)
    request_ids = select(RightsRequestSubject.rights_request_id).where(
        RightsRequestSubject.contact_id.in_(ids)
    )
    return {
        "contacts": _run(
            update(Contact)
            .where(Contact.id.in_(ids))
            .values(
                name=f"Erased {pseudonym}",
                phone=None,
                email=None,
                preferred_contact_times=None,
                anonymised_at=now,
            )
        ),
        "consent_records": _run(
            update(ConsentRecord)
            .where(ConsentRecord.contact_id.in_(ids), ConsentRecord.withdrawal_note.is_not(None))
            .values(withdrawal_note=None)
        ),
        "rights_requests": _run(
            update(RightsRequest)
            .where(RightsRequest.id.in_(request_ids))
            .values(
                requester_name=f"Erased {pseudonym}",
                requester_phone=None,
                requester_email=None,
                description="",
                pseudonym=pseudonym,
            )
        ),
        # A subject access ZIP is a copy of everything: it goes with the person.
        "subject_access_exports": _run(
            update(SubjectAccessExport)
            .where(
                SubjectAccessExport.rights_request_id.in_(request_ids),
                SubjectAccessExport.content.is_not(None),
            )
            .values(content=None, status="expired", expires_at=now)
        ),
    }


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    values = list(ids)
    return [values[i : i + CHUNK] for i in range(0, len(values), CHUNK)]
