"""Reading leads: the admissions queue, search, a lead's timeline and possible duplicates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, literal_column, or_, select, text, union
from sqlalchemy.orm import aliased, joinedload

from crm.auth.models import User
from crm.extensions import db
from crm.intake.models import (
    Assignment,
    CallbackRequest,
    CallLog,
    Contact,
    Lead,
    LeadNote,
    StageChange,
)
from crm.intake.references import parse_reference
from crm.intake.services import OPEN_STAGE_VALUES
from crm.intake.vocabulary import SOURCES
from crm.privacy.models import ConsentRecord, DisclosureRecord
from crm.reports import definitions
from crm.validation import normalise_phone

QUEUE_FILTERS = ("mine", "unassigned", "all")
LATER_OPEN_STAGES = tuple(s for s in OPEN_STAGE_VALUES if s != "new")
PAGE_SIZE = 50


@dataclass(frozen=True)
class QueueRow:
    id: int
    reference: str
    first_name: str
    source: str
    stage: str
    created_at: datetime
    callback_due_at: datetime
    first_contact_at: datetime | None
    owner_name: str | None
    request_count: int
    safeguarding: bool


def queue(viewer_id: int, which: str = "all", page: int = 1) -> list[QueueRow]:
    """Open leads needing action, most urgent first.

    Leads still waiting for their first call come first, earliest callback deadline first (so
    overdue ones lead); then the rest of the open leads, the longest untouched first.
    """
    owner = aliased(User)
    query = (
        select(
            Lead.id,
            Lead.reference,
            Contact.name,
            Lead.source,
            Lead.stage,
            Lead.created_at,
            Lead.callback_due_at,
            Lead.first_contact_at,
            owner.name,
            Lead.request_count,
            Lead.safeguarding_flagged_at,
        )
        .join(Contact, Contact.id == Lead.caller_id)
        .outerjoin(owner, owner.id == Lead.owner_id)
        .where(Lead.stage.in_(OPEN_STAGE_VALUES))
    )
    if which == "mine":
        query = query.where(Lead.owner_id == viewer_id)
    elif which == "unassigned":
        query = query.where(Lead.owner_id.is_(None))
    # Two index-ordered reads instead of one sort of every open lead: the leads waiting for a
    # first call by deadline (ix_leads_queue), then the others, longest untouched first
    # (ix_leads_open_untouched, a partial index on the open stages after "new").
    offset = (max(page, 1) - 1) * PAGE_SIZE
    waiting = query.where(Lead.stage == "new")
    rows = list(
        db.session.execute(
            waiting.order_by(Lead.callback_due_at, Lead.id).offset(offset).limit(PAGE_SIZE)
        )
    )
    if len(rows) < PAGE_SIZE:
        waiting_count = (
            db.session.scalar(
                select(func.count()).select_from(waiting.with_only_columns(Lead.id).subquery())
            )
            or 0
        )
        rest = query.where(Lead.stage.in_(LATER_OPEN_STAGES))
        rows += list(
            db.session.execute(
                rest.order_by(Lead.updated_at, Lead.id)
                .offset(max(0, offset - waiting_count))
                .limit(PAGE_SIZE - len(rows))
            )
        )
    return [
        QueueRow(
            r[0],
            r[1],
            r[2].split()[0] if r[2] else "?",
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            r[8],
            r[9],
            r[10] is not None,
        )
        for r in rows
    ]


@dataclass(frozen=True)
class QueueSummary:
    waiting: int
    overdue: int
    mine: int
    median_speed_minutes: float | None
    within_target_share: float | None


def queue_summary(viewer_id: int, target_minutes: int, now: datetime) -> QueueSummary:
    """The numbers on the dashboard: waiting, overdue, mine, and speed to lead (7 days)."""
    s = db.session
    waiting = s.scalar(select(func.count()).select_from(Lead).where(Lead.stage == "new")) or 0
    overdue = (
        s.scalar(
            select(func.count())
            .select_from(Lead)
            .where(Lead.stage == "new", Lead.callback_due_at < now)
        )
        or 0
    )
    mine = (
        s.scalar(
            select(func.count())
            .select_from(Lead)
            .where(Lead.owner_id == viewer_id, Lead.stage.in_(OPEN_STAGE_VALUES))
        )
        or 0
    )
    rows = s.execute(
        select(Lead.created_at, Lead.first_contact_at)
        .where(Lead.first_contact_at.is_not(None), Lead.created_at >= now - timedelta(days=7))
        .limit(10_000)
    ).all()
    # The same definitions as the speed-to-lead report (crm/reports/definitions.py).
    speeds = [definitions.speed_minutes(a, b) for a, b in rows if b is not None]
    return QueueSummary(
        int(waiting),
        int(overdue),
        int(mine),
        definitions.median(speeds),
        definitions.share_within(speeds, target_minutes),
    )


def flagged_for_managers(limit: int = 20) -> list[Lead]:
    """Open leads with a safeguarding flag, newest first."""
    return list(
        db.session.scalars(
            select(Lead)
            .where(Lead.safeguarding_flagged_at.is_not(None), Lead.stage.in_(OPEN_STAGE_VALUES))
            .order_by(Lead.safeguarding_flagged_at.desc())
            .limit(limit)
        )
    )


# --- search ----------------------------------------------------------------------------------

_DIGITS = re.compile(r"[\d+]")


def _phone_prefix(term: str) -> str | None:
    """A partial number as an E.164 prefix (07700 9 → +4477009), if it looks like one."""
    digits = "".join(_DIGITS.findall(term))
    if len(digits) < 4 or len(digits) != len(re.sub(r"[\s().-]", "", term)):
        return None
    if digits.startswith("+"):
        return digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if digits.startswith("0"):
        return "+44" + digits[1:]
    return "+44" + digits  # a UK number typed without its leading 0


def _contacts_by_name(term: str) -> Select[Any]:
    """Contact ids whose name contains ``term``: pg_trgm on PostgreSQL, FTS5 trigram on SQLite."""
    pattern = "%" + term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if db.engine.dialect.name == "sqlite" and len(term) >= 3 and not {"%", "_"} & set(term):
        # No ESCAPE clause (so no wildcards in the term): with one, FTS5 does not use the
        # trigram index and scans every name.
        return (
            select(literal_column("rowid").label("id"))
            .select_from(text("contacts_name_fts"))
            .where(text("contacts_name_fts.name LIKE :pattern").bindparams(pattern=f"%{term}%"))
        )
    return select(Contact.id).where(func.lower(Contact.name).like(pattern, escape="\\"))


def search(term: str, limit: int = 50) -> list[Lead]:
    """Leads matching a reference, a phone number in any format, an email or a name."""
    term = (term or "").strip()[:100]
    if not term:
        return []
    reference = parse_reference(term)
    if reference:
        found = list(db.session.scalars(select(Lead).where(Lead.reference == reference)))
        if found:
            return found
        # Not a lead's reference: a name like "Lambert" reads as L-AMBERT, so search on.
    contact_ids: Any
    if "@" in term:
        contact_ids = select(Contact.id).where(Contact.email == term.lower())
    else:
        try:
            phone = normalise_phone(term)
            contact_ids = select(Contact.id).where(Contact.phone == phone)
        except ValueError:
            prefix = _phone_prefix(term)
            if prefix:
                # A range on the indexed column: a prefix match both databases index.
                contact_ids = select(Contact.id).where(
                    and_(Contact.phone >= prefix, Contact.phone < prefix + "\U0010ffff")
                )
            elif len(term) >= 2:
                contact_ids = _contacts_by_name(term)
            else:
                return []
    return list(
        db.session.scalars(
            select(Lead)
            .options(joinedload(Lead.caller), joinedload(Lead.client))
            # A UNION of two indexed look-ups: "caller IN … OR client IN …" scans every lead.
            .where(Lead.id.in_(_leads_of(contact_ids)))
            .order_by(Lead.created_at.desc())
            .limit(limit)
        )
    )


def _leads_of(contact_ids: Select[Any], people: int = 500) -> Any:
    """Ids of the leads whose caller or client is among ``contact_ids`` (the first ``people``).

    The people are looked up once (a CTE); then a UNION of two index look-ups, because
    ``caller_id IN (...) OR client_id IN (...)`` makes PostgreSQL scan every lead.
    """
    matching = contact_ids.limit(people).cte("matching")
    return union(
        select(Lead.id).where(Lead.caller_id.in_(select(matching))),
        select(Lead.id).where(Lead.client_id.in_(select(matching))),
    )


# --- the lead page ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    title: str
    body: str | None
    actor: str | None


def names_of(ids: set[int | None]) -> dict[int, str]:
    """Staff names by id, in one query."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(wanted))).all())


def timeline(lead_id: int) -> list[TimelineEntry]:
    """Requests, calls, stage changes, notes, assignments and consents, newest first."""
    s = db.session
    requests = s.scalars(select(CallbackRequest).where(CallbackRequest.lead_id == lead_id)).all()
    calls = s.scalars(select(CallLog).where(CallLog.lead_id == lead_id)).all()
    changes = s.scalars(select(StageChange).where(StageChange.lead_id == lead_id)).all()
    notes = s.scalars(select(LeadNote).where(LeadNote.lead_id == lead_id)).all()
    moves = s.scalars(select(Assignment).where(Assignment.lead_id == lead_id)).all()
    actor_ids = (
        {c.actor_id for c in calls}
        | {c.actor_id for c in changes}
        | {n.author_id for n in notes}
        | {m.actor_id for m in moves}
        | {m.to_user_id for m in moves}
    )
    names = names_of(actor_ids)
    entries: list[TimelineEntry] = []
    for r in requests:
        parts = [f"via {SOURCES.get(r.source, r.source).lower()}"]
        if r.best_time_to_call:
            parts.append(f"best time: {r.best_time_to_call}")
        if r.substances:
            parts.append("substances: " + ", ".join(r.substances))
        body = ", ".join(parts) + (f"\n{r.message}" if r.message else "")
        title = "Requested again" if r.repeat else "Callback requested"
        entries.append(TimelineEntry(r.received_at, "request", title, body, None))
    for c in calls:
        title = f"{c.direction.capitalize()} call: {c.outcome.replace('_', ' ')}"
        title += f" ({c.duration_seconds // 60} min)"
        entries.append(
            TimelineEntry(c.started_at, "call", title, c.notes, names.get(c.actor_id or 0))
        )
    for ch in changes:
        title = f"Stage: {ch.from_stage or '—'} → {ch.to_stage}"
        if ch.close_reason:
            title += f" ({ch.close_reason.replace('_', ' ')})"
        why = "\n".join(filter(None, [ch.reason, ch.note])) or None
        entries.append(
            TimelineEntry(ch.changed_at, "stage", title, why, names.get(ch.actor_id or 0))
        )
    for n in notes:
        entries.append(
            TimelineEntry(n.written_at, "note", "Note", n.body, names.get(n.author_id or 0))
        )
    for m in moves:
        to = names.get(m.to_user_id or 0, "nobody")
        entries.append(
            TimelineEntry(
                m.assigned_at,
                "assignment",
                f"Assigned to {to}",
                m.reason,
                names.get(m.actor_id or 0) or "automatic",
            )
        )
    return sorted(entries, key=lambda e: e.at, reverse=True)


def consents(lead_id: int) -> list[ConsentRecord]:
    return list(
        db.session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.lead_id == lead_id)
            .order_by(ConsentRecord.recorded_at.desc())
        )
    )


def disclosures(lead_id: int) -> list[DisclosureRecord]:
    return list(
        db.session.scalars(
            select(DisclosureRecord)
            .where(DisclosureRecord.lead_id == lead_id)
            .order_by(DisclosureRecord.disclosed_at.desc())
        )
    )


def possible_duplicates(lead: Lead) -> list[Lead]:
    """Other open leads sharing the caller's or client's phone, email or exact name."""
    people = db.session.scalars(
        select(Contact).where(Contact.id.in_([lead.caller_id, lead.client_id]))
    ).all()
    phones = [p.phone for p in people if p.phone]
    emails = [p.email for p in people if p.email]
    names = [str(p.name) for p in people if p.name and not p.name.startswith("(")]
    conditions = []
    if phones:
        conditions.append(Contact.phone.in_(phones))
    if emails:
        conditions.append(Contact.email.in_(emails))
    if names:
        conditions.append(func.lower(Contact.name).in_([n.lower() for n in names]))
    if not conditions:
        return []
    matching = _leads_of(select(Contact.id).where(or_(*conditions)), people=200)
    return list(
        db.session.scalars(
            select(Lead)
            .where(
                Lead.id != lead.id,
                Lead.merged_into_id.is_(None),
                Lead.stage.in_(OPEN_STAGE_VALUES),
                Lead.id.in_(matching),
            )
            .order_by(Lead.created_at.desc())
            .limit(10)
        )
    )
