"""Subject access: everything held about the people a request concerns, gathered step by
step (so a task can show progress), then packed as a ZIP with a readable summary and JSON.
Services: they never commit; the task commits after each step."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import Table, or_, select, tuple_

from crm import clock
from crm.auth.models import User
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.fees.models import InvoiceLine, LedgerEntry
from crm.intake import wording as intake_wording
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
from crm.notify.models import OutboundMessage
from crm.oncall.models import Page, PageEvent, Reminder
from crm.privacy import requests
from crm.privacy.models import (
    AuditEvent,
    ConsentRecord,
    DisclosureRecord,
    ProcessingPurpose,
    RetentionPolicy,
    RightsRequest,
    RightsRequestSubject,
    SubjectAccessExport,
)
from crm.privacy.services import Actor, record_audit_event
from crm.providers.models import Provider, ProviderLocation
from crm.referrals import wording as referral_wording
from crm.referrals.models import Presentation, PresentedOption, Referral, ReferralEvent

SALT = "subject-access-download"
DEFAULT_LINK_DAYS = 7
Records = list[dict[str, Any]]
# The wording each consent and disclosure version showed, so the export says what was agreed.
WORDING: dict[str, str] = {
    intake_wording.CONSENT_VERSION: (
        f"{intake_wording.CONSENT_CONTACT_TEXT} / {intake_wording.CONSENT_HEALTH_TEXT}"
    ),
    intake_wording.DISCLOSURE_VERSION: intake_wording.DISCLOSURE_TEXT,
    referral_wording.DISCLOSURE_VERSION: referral_wording.DISCLOSURE_TEXT,
    referral_wording.AFFILIATION_VERSION: referral_wording.AFFILIATION_TEXT,
    referral_wording.SHARE_VERSION: (
        f"{referral_wording.SHARE_TEXT} / {referral_wording.SHARE_HEALTH_TEXT}"
    ),
}


@dataclass(frozen=True)
class Scope:
    """Whose records: the request, its contacts and their leads (as client or caller)."""

    request_id: int
    contact_ids: list[int]
    lead_ids: list[int]


def scope_of(request_id: int) -> Scope:
    contact_ids = requests.subject_ids(request_id)
    return Scope(request_id, contact_ids, [lead.id for lead in requests.leads_of(contact_ids)])


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return None
    return value


def _rows(model: type, *where: Any, skip: Sequence[str] = ()) -> Records:
    """Every column of the matching rows (so a new column is exported without a change)."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    columns = [c for c in table.columns if c.name not in skip]
    query = select(*columns).where(*where).order_by(table.c.id)
    return [{k: _value(v) for k, v in row._mapping.items()} for row in db.session.execute(query)]


def _none(ids: Sequence[int]) -> bool:
    return not ids


def _referral_ids(scope: Scope) -> list[int]:
    if _none(scope.lead_ids):
        return []
    return list(db.session.scalars(select(Referral.id).where(Referral.lead_id.in_(scope.lead_ids))))


def _page_ids(scope: Scope) -> list[int]:
    if _none(scope.lead_ids):
        return []
    return list(db.session.scalars(select(Page.id).where(Page.lead_id.in_(scope.lead_ids))))


def _request(scope: Scope) -> Records:
    request_ids = select(RightsRequestSubject.rights_request_id).where(
        RightsRequestSubject.contact_id.in_(scope.contact_ids)
    )
    return _rows(
        RightsRequest, or_(RightsRequest.id == scope.request_id, RightsRequest.id.in_(request_ids))
    )


def _purposes(scope: Scope) -> Records:
    return _rows(ProcessingPurpose) + [
        {"retention": r["name"], "kept": f"{r['days']} days", "then": r["action"]}
        for r in _rows(RetentionPolicy)
    ]


def _by_lead(model: type) -> Callable[[Scope], Records]:
    def collect(scope: Scope) -> Records:
        if _none(scope.lead_ids):
            return []
        return _rows(model, model.lead_id.in_(scope.lead_ids))  # type: ignore[attr-defined]

    return collect


def _contacts(scope: Scope) -> Records:
    return _rows(Contact, Contact.id.in_(scope.contact_ids))


def _consents(scope: Scope) -> Records:
    rows = _rows(
        ConsentRecord,
        or_(
            ConsentRecord.contact_id.in_(scope.contact_ids),
            ConsentRecord.lead_id.in_(scope.lead_ids or [-1]),
        ),
    )
    for row in rows:
        row["wording"] = WORDING.get(row["wording_version"], "")
    return rows


def _disclosures(scope: Scope) -> Records:
    rows = _by_lead(DisclosureRecord)(scope)
    for row in rows:
        row["wording"] = WORDING.get(row["wording_version"], "")
    return rows


def _clinics() -> dict[int, str]:
    return {
        location_id: f"{provider} — {location}"
        for location_id, provider, location in db.session.execute(
            select(ProviderLocation.id, Provider.name, ProviderLocation.name).join(
                Provider, Provider.id == ProviderLocation.provider_id
            )
        )
    }


def _options(scope: Scope) -> Records:
    rows = _by_lead(PresentedOption)(scope)
    clinics = _clinics() if rows else {}
    for row in rows:
        row["clinic"] = clinics.get(row["location_id"], "")
    return rows


def _referrals(scope: Scope) -> Records:
    rows = _by_lead(Referral)(scope)
    clinics = _clinics() if rows else {}
    for row in rows:
        row["clinic"] = clinics.get(row["location_id"], "")
    return rows


def _referral_events(scope: Scope) -> Records:
    ids = _referral_ids(scope)
    return _rows(ReferralEvent, ReferralEvent.referral_id.in_(ids)) if ids else []


def _page_events(scope: Scope) -> Records:
    ids = _page_ids(scope)
    return _rows(PageEvent, PageEvent.page_id.in_(ids)) if ids else []


def _messages(scope: Scope) -> Records:
    """Messages sent about them: pages, reminders and the referral summaries to clinics."""
    if _none(scope.lead_ids):
        return []
    keys = [f"referral:{i}:summary" for i in _referral_ids(scope)]
    # Id lists, not subqueries: inside an OR, PostgreSQL can use an index only for a list.
    reminder_ids = list(
        db.session.scalars(select(Reminder.id).where(Reminder.lead_id.in_(scope.lead_ids)))
    )
    rows = _rows(
        OutboundMessage,
        or_(
            OutboundMessage.page_id.in_(_page_ids(scope) or [-1]),
            OutboundMessage.reminder_id.in_(reminder_ids or [-1]),
            OutboundMessage.idempotency_key.in_(keys or ["-"]),
        ),
        skip=("provider_ref",),
    )
    for row in rows:
        if row["user_id"] is not None:  # a staff member's own address is not the person's data
            row["address"] = "staff member"
    return rows


def _references(scope: Scope) -> list[str]:
    if _none(scope.lead_ids):
        return []
    return list(db.session.scalars(select(Lead.reference).where(Lead.id.in_(scope.lead_ids))))


def _fees(scope: Scope) -> Records:
    """Fee records name the client only by lead reference; they are included as held."""
    references = _references(scope)
    if not references:
        return []
    ledger = _rows(LedgerEntry, LedgerEntry.lead_reference.in_(references))
    lines = _rows(InvoiceLine, InvoiceLine.lead_reference.in_(references))
    return [{"record": "ledger entry", **r} for r in ledger] + [
        {"record": "invoice line", **r} for r in lines
    ]


def _audit(scope: Scope) -> Records:
    """Who at the service viewed or changed their records: staff names and times."""
    targets = [("leads", str(i)) for i in scope.lead_ids]
    targets += [("assessments", str(i)) for i in scope.lead_ids]
    targets += [("contacts", str(i)) for i in scope.contact_ids]
    targets += [("referrals", str(i)) for i in _referral_ids(scope)]
    targets += [("rights_requests", str(r["id"])) for r in _request(scope)]
    if not targets:
        return []
    names = dict(db.session.execute(select(User.id, User.name)).all())
    rows: Records = []
    for start in range(0, len(targets), 400):
        chunk = targets[start : start + 400]
        for event in db.session.scalars(
            select(AuditEvent)
            .where(tuple_(AuditEvent.object_type, AuditEvent.object_id).in_(chunk))
            .order_by(AuditEvent.occurred_at, AuditEvent.id)
        ):
            rows.append(
                {
                    "when": _value(event.occurred_at),
                    "who": names.get(event.actor_id or 0, event.actor_email or "the system"),
                    "role": event.actor_role,
                    "did": event.action,
                    "outcome": event.outcome,
                    "record": f"{event.object_type} {event.object_id}",
                }
            )
    return rows


# (key, title, collector): the ZIP's sections, in the order a person would read them.
STEPS: list[tuple[str, str, Callable[[Scope], Records]]] = [
    ("rights_requests", "Your requests to us", _request),
    ("purposes", "Why we hold your data, and for how long", _purposes),
    ("contacts", "Your contact details", _contacts),
    ("leads", "Your enquiries", lambda s: _rows(Lead, Lead.id.in_(s.lead_ids or [-1]))),
    ("callback_requests", "Callback requests", _by_lead(CallbackRequest)),
    ("stage_changes", "How each enquiry progressed", _by_lead(StageChange)),
    ("calls", "Calls", _by_lead(CallLog)),
    ("notes", "Notes", _by_lead(LeadNote)),
    ("assignments", "Who looked after each enquiry", _by_lead(Assignment)),
    ("assessments", "Assessments", _by_lead(Assessment)),
    ("consents", "Consents and their wording", _consents),
    ("disclosures", "What we told you about our fees", _disclosures),
    ("presentations", "Options put to you", _by_lead(Presentation)),
    ("presented_options", "Clinics presented (matches)", _options),
    ("referrals", "Referrals and the summaries sent to clinics", _referrals),
    ("referral_events", "What happened to each referral", _referral_events),
    ("reminders", "Reminders about you", _by_lead(Reminder)),
    ("pages", "On-call alerts about you", _by_lead(Page)),
    ("page_events", "What happened to each alert", _page_events),
    ("messages", "Messages sent about you", _messages),
    ("fee_records", "Fee records (naming you only by reference)", _fees),
    ("audit_trail", "Who at the service viewed or changed your record", _audit),
]


def staff_names() -> dict[str, str]:
    return {str(k): v for k, v in db.session.execute(select(User.id, User.name)).all()}


# --- the export's life: start, steps, finish, download ---------------------------------------


def start_export(request_id: int, actor: Actor) -> SubjectAccessExport:
    """Queue a new export for a verified access request (the task builds it)."""
    row = requests.get_request(request_id)
    if row.kind != "access":
        raise DomainError(f"Request {row.id} is not a subject access request.")
    requests.require_verified(row)
    if not row.is_open:
        raise DomainError(f"Request {row.id} is {row.status}: start a new request to export again.")
    export = SubjectAccessExport(
        rights_request_id=row.id,
        status="queued",
        progress=0,
        stage="Waiting for a worker",
        created_at=clock.now(),
        created_by_id=actor.user_id,
    )
    db.session.add(export)
    db.session.flush()
    record_audit_event(actor, "create", object_type="subject_access_exports", object_id=export.id)
    return export


def get_export(export_id: int) -> SubjectAccessExport:
    export = db.session.get(SubjectAccessExport, export_id)
    if export is None:
        raise DomainError("No such export.", ErrorKind.NOT_FOUND)
    return export


def record_progress(export_id: int, done: int, stage: str) -> None:
    export = get_export(export_id)
    export.status = "running"
    export.progress = min(99, round(100 * done / (len(STEPS) + 1)))
    export.stage = stage


def finish_export(export_id: int, content: bytes, records: int) -> SubjectAccessExport:
    export = get_export(export_id)
    now = clock.now()
    export.status, export.progress, export.stage = "ready", 100, "Ready to download"
    export.content, export.size_bytes, export.record_count = content, len(content), records
    export.sha256 = hashlib.sha256(content).hexdigest()
    export.finished_at = now
    export.expires_at = now + timedelta(days=link_days())
    return export


def fail_export(export_id: int, message: str) -> None:
    export = get_export(export_id)
    export.status, export.error, export.stage = "failed", message[:500], "Failed"


def link_days() -> int:
    days = db.session.scalar(select(RetentionPolicy.days).where(RetentionPolicy.code == "exports"))
    return int(days or DEFAULT_LINK_DAYS)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def download_token(export: SubjectAccessExport) -> str:
    return _serializer().dumps({"e": export.id, "h": (export.sha256 or "")[:16]})


def read_download(token: str, actor: Actor) -> SubjectAccessExport:
    """The export a download link names, while it lasts; each answer is audited."""
    try:
        data: Any = _serializer().loads(token, max_age=link_days() * 86400)
        export_id = int(data["e"])
    except SignatureExpired:
        raise _refused(actor, None, "This download link has expired: start a new export.") from None
    except (BadSignature, KeyError, TypeError, ValueError):
        raise _refused(actor, None, "This download link is not valid.") from None
    export = db.session.get(SubjectAccessExport, export_id)
    if export is None or (export.sha256 or "")[:16] != data.get("h"):
        raise _refused(actor, None, "This download link is not valid.")
    expired = export.expires_at is not None and export.expires_at <= clock.now()
    if export.content is None or export.status != "ready" or expired:
        raise _refused(
            actor, export.id, "This export has expired and was deleted: start a new one."
        )
    export.downloads += 1
    record_audit_event(actor, "download", object_type="subject_access_exports", object_id=export.id)
    return export


def _refused(actor: Actor, export_id: int | None, message: str) -> DomainError:
    record_audit_event(
        actor,
        "download",
        outcome="failure",
        object_type="subject_access_exports",
        object_id=export_id,
        detail=message,
    )
    return DomainError(message, ErrorKind.NOT_FOUND)


def expire_exports(now: datetime | None = None) -> int:
    """Delete the content of exports whose link has expired (the nightly sweep)."""
    moment = now or clock.now()
    rows = db.session.scalars(
        select(SubjectAccessExport).where(
            SubjectAccessExport.status == "ready", SubjectAccessExport.expires_at <= moment
        )
    ).all()
    for export in rows:
        export.content, export.status = None, "expired"
    return len(rows)
