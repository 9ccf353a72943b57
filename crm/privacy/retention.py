"""The retention sweep: anonymise leads past their period through the erasure service, delete
old audit events and expired exports, in batches a run can resume from; and the preview of
what the next run would do. Services: they never commit (the task commits each batch)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select

from crm import clock
from crm.database import skip_locked
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.fees.models import LedgerEntry
from crm.intake.models import Contact, Lead
from crm.privacy import access, erasure
from crm.privacy import retention_rules as rules
from crm.privacy.models import AuditEvent, RetentionPolicy, RetentionRun, SubjectAccessExport
from crm.privacy.services import Actor, record_audit_event

BATCH = 500


@dataclass(frozen=True)
class Preview:
    """What a run started now would do, step by step."""

    counts: dict[str, int]
    cutoffs: dict[str, datetime]

    @property
    def lines(self) -> list[str]:
        return rules.describe(self.counts)


def policies() -> dict[str, RetentionPolicy]:
    return {
        p.code: p for p in db.session.scalars(select(RetentionPolicy).order_by(RetentionPolicy.id))
    }


def set_period(code: str, days: object, actor: Actor) -> RetentionPolicy:
    """Change one period (whole days above zero), audited."""
    policy = policies().get(code)
    if policy is None:
        raise DomainError("No such retention period.", ErrorKind.NOT_FOUND)
    try:
        policy.days = rules.check_period(code, days)
    except ValueError as exc:
        raise DomainError(str(exc), field_errors={"days": [str(exc)]}) from None
    policy.updated_at, policy.updated_by_id = clock.now(), actor.user_id
    record_audit_event(
        actor,
        "update",
        object_type="retention_policies",
        object_id=policy.id,
        detail=f"{code}: {policy.days} days",
    )
    return policy


def cutoffs(now: datetime) -> dict[str, datetime]:
    return {code: rules.cutoff(now, p.days) for code, p in policies().items()}


def _lead_filter(step: str, before: datetime) -> Any:
    spam = Lead.close_reason == "spam"
    return and_(
        Lead.stage == "closed",
        Lead.anonymised_at.is_(None),
        Lead.updated_at < before,
        spam if step == "spam_leads" else or_(Lead.close_reason.is_(None), ~spam),
    )


def _count(query: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def preview(now: datetime | None = None) -> Preview:
    """Counts of what the next run would do (from the same filters the run uses)."""
    moment = now or clock.now()
    limits = cutoffs(moment)
    counts = {
        step: _count(select(Lead.id).where(_lead_filter(step, limits[step])))
        for step in ("spam_leads", "unconverted_leads")
    }
    counts["audit_events"] = _count(
        select(AuditEvent.id).where(AuditEvent.occurred_at < limits["audit_events"])
    )
    counts["exports"] = _count(
        select(SubjectAccessExport.id).where(
            SubjectAccessExport.status == "ready", SubjectAccessExport.expires_at <= moment
        )
    )
    counts["fee_records"] = _old_fee_records(limits["fee_records"])
    return Preview(counts, limits)


def _old_fee_records(before: datetime) -> int:
    return _count(select(LedgerEntry.id).where(LedgerEntry.posted_on < before.date()))


def start_run(triggered_by: str) -> RetentionRun:
    """Resume the run in progress, or start one with the periods as they are now."""
    running = db.session.scalar(
        select(RetentionRun)
        .where(RetentionRun.status == "running")
        .order_by(RetentionRun.id)
        .limit(1)
    )
    if running is not None:
        return running
    now = clock.now()
    run = RetentionRun(
        status="running",
        started_at=now,
        cutoffs={code: at.isoformat() for code, at in cutoffs(now).items()},
        cursor={},
        counts={},
        triggered_by=triggered_by[:254],
    )
    db.session.add(run)
    db.session.flush()
    return run


def get_run(run_id: int) -> RetentionRun:
    run = db.session.get(RetentionRun, run_id)
    if run is None:
        raise DomainError("No such retention run.", ErrorKind.NOT_FOUND)
    return run


def _add(run: RetentionRun, key: str, n: int) -> None:
    counts = dict(run.counts or {})
    counts[key] = counts.get(key, 0) + n
    run.counts = counts


def sweep_batch(run_id: int, actor: Actor, batch: int = BATCH) -> bool:
    """One batch of the first step with work left; False once the run is finished."""
    run = get_run(run_id)
    if run.status != "running":
        return False
    limits = {code: datetime.fromisoformat(at) for code, at in run.cutoffs.items()}
    for step in ("spam_leads", "unconverted_leads"):
        if _leads_batch(run, step, limits[step], actor, batch):
            return True
    deleted = _run_delete(
        select(AuditEvent.id)
        .where(AuditEvent.occurred_at < limits["audit_events"])
        .order_by(AuditEvent.id)
        .limit(batch)
    )
    if deleted:
        _add(run, "audit_events", deleted)
        return True
    _add(run, "exports", access.expire_exports())
    # Fee records past their period are kept (the ledger is never rewritten): counted for review.
    _add(run, "fee_records", _old_fee_records(limits["fee_records"]))
    finish_run(run, actor)
    return False


def _leads_batch(run: RetentionRun, step: str, before: datetime, actor: Actor, batch: int) -> bool:
    ids = list(
        db.session.scalars(
            skip_locked(
                select(Lead.id)
                .where(_lead_filter(step, before))
                .order_by(Lead.updated_at, Lead.id)
                .limit(batch),
                db.session(),
            )
        )
    )
    if not ids:
        return False
    contacts = _contacts_left(ids)
    done = erasure.erase(contacts, ids, reason="retention", actor=actor)
    done.retention_run_id = run.id
    _add(run, step, len(ids))
    _add(run, "contacts", len(contacts))
    run.cursor = {**(run.cursor or {}), step: max(ids)}
    return True


def _contacts_left(lead_ids: list[int]) -> list[int]:
    """The batch's clients and callers who have no other lead still holding their details."""
    people = (
        select(Lead.client_id)
        .where(Lead.id.in_(lead_ids))
        .union(select(Lead.caller_id).where(Lead.id.in_(lead_ids)))
    )
    still_held = (
        select(Lead.id)
        .where(
            or_(Lead.client_id == Contact.id, Lead.caller_id == Contact.id),
            Lead.anonymised_at.is_(None),
            Lead.id.not_in(lead_ids),
        )
        .exists()
    )
    return list(
        db.session.scalars(
            select(Contact.id).where(
                Contact.id.in_(people), Contact.anonymised_at.is_(None), ~still_held
            )
        )
    )


def _run_delete(ids_query: Any) -> int:
    ids = list(db.session.scalars(ids_query))
    if not ids:
        return 0
    # The trail is append-only to the app; only its retention period removes rows (Core).
    db.session.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids)))
    return len(ids)


def finish_run(run: RetentionRun, actor: Actor) -> None:
    run.status, run.finished_at = "done", clock.now()
    record_audit_event(
        actor,
        "retention_run",
        object_type="retention_runs",
        object_id=run.id,
        detail="; ".join(rules.describe(run.counts or {}))[:500],
    )


def fail_run(run_id: int, message: str) -> None:
    run = get_run(run_id)
    run.status, run.error, run.finished_at = "failed", message[:500], clock.now()


def recent_runs(limit: int = 20) -> list[RetentionRun]:
    return list(
        db.session.scalars(select(RetentionRun).order_by(RetentionRun.id.desc()).limit(limit))
    )
