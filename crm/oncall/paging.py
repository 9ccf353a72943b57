"""Pages: trigger (one open page per subject), escalate step by step, acknowledge, resolve."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from crm import clock
from crm.auth.models import User
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.notify import services as notify
from crm.notify.models import OutboundMessage
from crm.oncall import links, rotas
from crm.oncall.models import EscalationPolicy, EscalationStep, Page, PageEvent
from crm.privacy.services import Actor, record_audit_event
from crm.queue import ENGINE_KICK, enqueue_after_commit


def _event(page: Page, kind: str, detail: str | None = None, actor_id: int | None = None) -> None:
    db.session.add(
        PageEvent(
            page_id=page.id,
            at=clock.now(),
            kind=kind,
            detail=(detail or "")[:500] or None,
            actor_id=actor_id,
        )
    )


def default_policy() -> EscalationPolicy | None:
    return db.session.scalar(
        select(EscalationPolicy)
        .order_by(EscalationPolicy.is_default.desc(), EscalationPolicy.id)
        .limit(1)
    )


def open_page(subject: str) -> Page | None:
    return db.session.scalar(select(Page).where(Page.subject == subject, Page.status != "resolved"))


def trigger_page(
    subject: str, summary: str, *, lead_id: int | None = None, to_managers: bool = False
) -> Page:
    """Open a page about ``subject``, or attach to the one already open.

    ``to_managers`` skips the policy and pages every active manager (engine alerts).
    """
    existing = open_page(subject)
    if existing is not None:
        existing.trigger_count += 1
        if not to_managers:  # the engine auditor re-triggers every tick; count, don't log
            _event(existing, "retriggered", summary)
        return existing
    policy = None if to_managers else default_policy()
    page = Page(
        subject=subject,
        summary=summary[:300],
        lead_id=lead_id,
        status="triggered",
        policy_id=policy.id if policy else None,
        step_index=0,
        cycle=0,
        next_step_at=clock.now(),
        triggered_at=clock.now(),
        trigger_count=1,
    )
    try:
        with db.session.begin_nested():
            db.session.add(page)
    except IntegrityError:
        # A concurrent trigger opened it first: attach to theirs.
        theirs = open_page(subject)
        if theirs is None:
            raise
        theirs.trigger_count += 1
        return theirs
    _event(page, "triggered", summary)
    enqueue_after_commit(db.session(), ENGINE_KICK)
    return page


def _targets(step: EscalationStep, page: Page) -> list[User]:
    if step.target == "user" and step.user_id:
        user = db.session.get(User, step.user_id)
        return [user] if user is not None and user.active else []
    if step.target == "rota" and step.rota_id:
        person = rotas.on_call(step.rota_id)
        return [person] if person is not None else []
    return []


def _message(page: Page, user_id: int | None) -> tuple[str, str]:
    """The text of a page message: no health data, only the reference and links."""
    subject = f"[Admissions CRM] {page.summary}"[:200]
    body = (
        f"{page.summary}\n\nAcknowledge (stops the escalation): "
        f"{links.ack_url(page.id, user_id)}\nOpen in the back office: "
        f"{links.page_url(page.id)}"
    )
    return subject, body


def _notify_step(page: Page, step: EscalationStep) -> bool:
    """Notify one step's targets; False when nobody could be reached at this step."""
    key = f"page:{page.id}:c{page.cycle}:s{step.position}"
    if step.target == "webhook" and step.webhook_url:
        subject, body = _message(page, None)
        notify.queue_message(
            f"{key}:webhook", "webhook", step.webhook_url, subject, body, page_id=page.id
        )
        _event(page, "notified", f"step {step.position + 1}: chat webhook")
        return True
    people = _targets(step, page)
    for person in people:
        subject, body = _message(page, person.id)
        notify.notify_person(person, key, subject, body, page_id=page.id)
        _event(page, "notified", f"step {step.position + 1}: {person.name}")
    if not people:
        _event(page, "nobody_on_call", f"step {step.position + 1}: nobody to notify")
    return bool(people)


def _notify_managers(page: Page) -> None:
    managers = db.session.scalars(
        select(User).where(User.role == "manager", User.active.is_(True))
    ).all()
    for manager in managers:
        subject, body = _message(page, manager.id)
        notify.notify_person(manager, f"page:{page.id}:fallback", subject, body, page_id=page.id)
    _event(
        page,
        "fallback",
        "every active manager: " + (", ".join(m.name for m in managers) or "none active"),
    )


def _claim_step(page: Page) -> bool:
    """Compare-and-set: only one worker runs a page's due step."""
    result = db.session.execute(
        update(Page)
        .where(
            Page.id == page.id,
            Page.status == "triggered",
            Page.step_index == page.step_index,
            Page.cycle == page.cycle,
            Page.next_step_at <= clock.now(),
        )
        .values(next_step_at=None)
        # The caller refreshes the page; "evaluate" would scan every loaded Page per claim.
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def run_due_step(page: Page) -> None:
    """Run the page's due step; nobody reachable → the next step at once; at the end the
    policy repeats, then every active manager is paged and escalation stops."""
    policy = db.session.get(EscalationPolicy, page.policy_id) if page.policy_id else None
    steps = list(policy.steps) if policy else []
    repeats = policy.repeat_count if policy else 0
    index, cycle = page.step_index, page.cycle
    for _ in range(len(steps) * (repeats + 1) + 1):
        if index >= len(steps):
            if cycle < repeats and steps:
                index, cycle = 0, cycle + 1
                _event(page, "repeating", f"cycle {cycle + 1} of {repeats + 1}")
            else:
                page.step_index, page.cycle, page.next_step_at = index, cycle, None
                _notify_managers(page)
                return
        step = steps[index]
        page.cycle = cycle
        reached = _notify_step(page, step)
        index += 1
        if reached:
            page.step_index, page.cycle = index, cycle
            page.next_step_at = clock.now() + timedelta(minutes=step.delay_minutes)
            return


def advance_due_pages(limit: int = 100) -> int:
    """Run every due escalation step (claimed one by one); returns how many ran."""
    query = (
        select(Page)
        .where(Page.status == "triggered", Page.next_step_at <= clock.now())
        .order_by(Page.next_step_at)
        .limit(limit)
    )
    ran = 0
    for page in db.session.scalars(query).all():
        if _claim_step(page):
            db.session.refresh(page)
            run_due_step(page)
            ran += 1
    return ran


def _cancel_pending_messages(page_id: int, why: str) -> None:
    db.session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.page_id == page_id, OutboundMessage.status == "pending")
        .values(status="failed", error=f"cancelled: {why}")
    )


def acknowledge(page_id: int, user_id: int, actor: Actor, via: str = "back office") -> Page:
    """Stop the escalation. The UPDATE waits for any send in progress (see notify.deliver)."""
    page = db.session.get(Page, page_id)
    if page is None:
        raise DomainError("No such page.", ErrorKind.NOT_FOUND)
    result = db.session.execute(
        update(Page)
        .where(Page.id == page_id, Page.status == "triggered")
        .values(
            status="acknowledged",
            acknowledged_at=clock.now(),
            acknowledged_by_id=user_id,
            next_step_at=None,
        )
    )
    db.session.refresh(page)
    if getattr(result, "rowcount", 0) != 1:
        raise DomainError(f"This page is already {page.status}.", ErrorKind.CONFLICT)
    # Stamped again now the UPDATE has waited for any send in progress, so no message shows
    # as sent after the acknowledgement.
    page.acknowledged_at = clock.now()
    user = db.session.get(User, user_id)
    _event(page, "acknowledged", f"by {user.name if user else '?'} via {via}", user_id)
    _cancel_pending_messages(page_id, "acknowledged")
    record_audit_event(
        actor, "update", object_type="pages", object_id=page_id, detail="acknowledged"
    )
    return page


def resolve(page_id: int, actor: Actor, why: str) -> Page:
    page = db.session.get(Page, page_id)
    if page is None:
        raise DomainError("No such page.", ErrorKind.NOT_FOUND)
    result = db.session.execute(
        update(Page)
        .where(Page.id == page_id, Page.status != "resolved")
        .values(
            status="resolved",
            resolved_at=clock.now(),
            resolved_by_id=actor.user_id,
            next_step_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(page)
    if getattr(result, "rowcount", 0) != 1:
        raise DomainError("This page is already resolved.", ErrorKind.CONFLICT)
    _event(page, "resolved", why, actor.user_id)
    _cancel_pending_messages(page_id, "resolved")
    return page


def resolve_pages_for_lead(lead_id: int, actor: Actor, why: str) -> int:
    """A connected call on the lead resolves its open pages."""
    pages = db.session.scalars(
        select(Page).where(Page.lead_id == lead_id, Page.status != "resolved")
    ).all()
    for page in pages:
        resolve(page.id, actor, why)
    return len(pages)
