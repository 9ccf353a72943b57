"""Escalation policy use cases: saving a policy with its ordered steps, validated."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from crm.auth.models import User
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.oncall.models import EscalationPolicy, EscalationStep, Rota
from crm.privacy.services import Actor, record_audit_event
from crm.validation import check_webhook_url

MAX_STEPS = 6


@dataclass(frozen=True)
class StepInput:
    target: str
    rota_id: int | None
    user_id: int | None
    webhook_url: str | None
    delay_minutes: int | None


def _check_step(step: StepInput, allow_http: bool) -> str | None:
    """The problem with one step, or None."""
    if step.delay_minutes is None or step.delay_minutes < 1:
        return "Each step needs a delay of at least 1 minute before the next step."
    if step.delay_minutes > 24 * 60:
        return "A step's delay must be at most 24 hours."
    if step.target == "rota":
        return None if step.rota_id and db.session.get(Rota, step.rota_id) else "Choose a rota."
    if step.target == "user":
        user = db.session.get(User, step.user_id) if step.user_id else None
        return None if user and user.active else "Choose an active staff member."
    if step.target == "webhook":
        try:
            check_webhook_url(step.webhook_url, allow_http)
        except ValueError as exc:
            return str(exc)
        return None
    return "Choose who a step notifies: a rota, a person or a chat webhook."


def _policy_errors(
    label: str,
    repeat_count: int | None,
    steps: list[StepInput],
    allow_http: bool,
    policy_id: int | None,
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not label or len(label) > 120:
        errors["name"] = ["Name the policy (up to 120 characters)."]
    elif db.session.scalar(
        select(EscalationPolicy.id).where(
            EscalationPolicy.name == label, EscalationPolicy.id != (policy_id or 0)
        )
    ):
        errors["name"] = ["A policy with this name already exists."]
    if repeat_count is None or not 0 <= repeat_count <= 5:
        errors["repeat_count"] = ["Repeat between 0 and 5 times."]
    if not steps:
        errors["steps"] = ["A policy needs at least one step."]
    if len(steps) > MAX_STEPS:
        errors["steps"] = [f"At most {MAX_STEPS} steps."]
    for i, step in enumerate(steps, start=1):
        problem = _check_step(step, allow_http)
        if problem:
            errors.setdefault("steps", []).append(f"Step {i}: {problem}")
    return errors


def save_policy(
    name: str,
    repeat_count: int | None,
    is_default: bool,
    steps: list[StepInput],
    actor: Actor,
    *,
    allow_http: bool,
    policy_id: int | None = None,
) -> EscalationPolicy:
    """Create or replace a policy; a policy without steps or with a bad step is refused."""
    label = (name or "").strip()
    errors = _policy_errors(label, repeat_count, steps, allow_http, policy_id)
    if errors:
        raise DomainError("The escalation policy could not be saved.", field_errors=errors)
    policy = db.session.get(EscalationPolicy, policy_id) if policy_id else EscalationPolicy()
    if policy is None:
        raise DomainError("No such policy.", ErrorKind.NOT_FOUND)
    if is_default:
        db.session.execute(update(EscalationPolicy).values(is_default=False))
    policy.name, policy.repeat_count, policy.is_default = label, int(repeat_count or 0), is_default
    policy.steps = [
        EscalationStep(
            position=i,
            target=s.target,
            rota_id=s.rota_id if s.target == "rota" else None,
            user_id=s.user_id if s.target == "user" else None,
            webhook_url=(s.webhook_url or "").strip() if s.target == "webhook" else None,
            delay_minutes=int(s.delay_minutes or 1),
        )
        for i, s in enumerate(steps)
    ]
    db.session.add(policy)
    db.session.flush()
    record_audit_event(
        actor,
        "create" if policy_id is None else "update",
        object_type="escalation_policies",
        object_id=policy.id,
    )
    return policy
