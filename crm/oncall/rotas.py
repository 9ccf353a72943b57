"""Rota use cases: building rotas, overrides, who is on call, and the gap check."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from crm import clock
from crm.auth.models import User
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.oncall import rota as rules
from crm.oncall.models import Rota, RotaMember, RotaOverride
from crm.oncall.wallclock import zone
from crm.privacy.services import Actor, record_audit_event

GAP_CHECK_DAYS = 14


def spec_for(rota: Rota) -> rules.RotaSpec | None:
    """The pure rule object for a stored rota (None when it has no members yet)."""
    members = tuple(m.user_id for m in rota.members)
    if not members:
        return None
    return rules.RotaSpec(
        members, rota.shift_days, rota.handoff_time, rota.starts_on, zone(rota.timezone)
    )


def overrides_for(
    rota_id: int, start: datetime | None = None, end: datetime | None = None
) -> list[rules.Override]:
    query = select(RotaOverride).where(RotaOverride.rota_id == rota_id)
    if start is not None:
        query = query.where(RotaOverride.ends_at > start)
    if end is not None:
        query = query.where(RotaOverride.starts_at < end)
    return [
        rules.Override(o.user_id, o.starts_at, o.ends_at)
        for o in db.session.scalars(query.order_by(RotaOverride.starts_at))
    ]


def get_rota(rota_id: int) -> Rota:
    rota = db.session.get(Rota, rota_id)
    if rota is None:
        raise DomainError("No such rota.", ErrorKind.NOT_FOUND)
    return rota


def _active_staff(ids: list[int]) -> list[User]:
    users = db.session.scalars(select(User).where(User.id.in_(ids))).all()
    by_id = {u.id: u for u in users}
    missing = [i for i in ids if i not in by_id or not by_id[i].active]
    if missing:
        raise DomainError(
            "Every rota member must be an active staff member.",
            field_errors={"members": ["Unknown or inactive staff member."]},
        )
    return [by_id[i] for i in ids]


def save_rota(
    name: str,
    member_ids: list[int],
    shift_days: int,
    handoff: time,
    starts_on: date,
    timezone: str,
    actor: Actor,
    rota_id: int | None = None,
) -> Rota:
    """Create or change a rota; refused with a clear message if it could not work."""
    errors: dict[str, list[str]] = {}
    label = (name or "").strip()
    if not label or len(label) > 120:
        errors["name"] = ["Name the rota (up to 120 characters)."]
    try:
        rules.RotaSpec(tuple(member_ids), shift_days, handoff, starts_on, zone(timezone))
    except ValueError as exc:
        errors.setdefault(
            "members"
            if "member" in str(exc) or "person" in str(exc)
            else "timezone"
            if "zone" in str(exc)
            else "shift_days",
            [],
        ).append(str(exc))
    if label and db.session.scalar(
        select(Rota.id).where(Rota.name == label, Rota.id != (rota_id or 0))
    ):
        errors["name"] = ["A rota with this name already exists."]
    if errors:
        raise DomainError("The rota could not be saved.", field_errors=errors)
    _active_staff(member_ids)
    rota = get_rota(rota_id) if rota_id else Rota(ical_token=secrets.token_urlsafe(24))
    rota.name, rota.shift_days, rota.handoff_time = label, shift_days, handoff
    rota.starts_on, rota.timezone = starts_on, timezone
    if rota.members:
        # Delete the old order first: the flush would insert a kept member's new row before
        # deleting the old one and break the (rota, person) unique constraint.
        rota.members.clear()
        db.session.flush()
    rota.members = [RotaMember(user_id=uid, position=i) for i, uid in enumerate(member_ids)]
    db.session.add(rota)
    db.session.flush()
    record_audit_event(
        actor, "create" if rota_id is None else "update", object_type="rotas", object_id=rota.id
    )
    return rota


def add_override(
    rota_id: int,
    user_id: int,
    starts_at: datetime,
    ends_at: datetime,
    reason: str | None,
    actor: Actor,
) -> RotaOverride:
    """Someone covers part of the rota. Overlapping overrides are refused."""
    rota = get_rota(rota_id)
    _active_staff([user_id])
    try:
        new = rules.Override(user_id, starts_at, ends_at)
        rules.check_overrides([*overrides_for(rota.id, starts_at, ends_at), new])
    except ValueError as exc:
        raise DomainError(str(exc), field_errors={"starts_at": [str(exc)]}) from None
    row = RotaOverride(
        rota_id=rota.id,
        user_id=user_id,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=(reason or "").strip()[:200] or None,
        created_by_id=actor.user_id,
        created_at=clock.now(),
    )
    db.session.add(row)
    db.session.flush()
    record_audit_event(actor, "create", object_type="rota_overrides", object_id=row.id)
    return row


def on_call(rota_id: int, at: datetime | None = None) -> User | None:
    """The person on call for a rota at ``at`` (default now), if any and active."""
    rota = get_rota(rota_id)
    instant = at or clock.now()
    # The window [instant, instant + 1 µs): an override starting exactly at ``instant`` counts.
    window_end = instant + timedelta(microseconds=1)
    who = rules.on_call_at(spec_for(rota), overrides_for(rota.id, instant, window_end), instant)
    user = db.session.get(User, who) if who is not None else None
    return user if user is not None and user.active else None


@dataclass(frozen=True)
class Gap:
    rota: str
    starts_at: datetime
    ends_at: datetime


def gap_check(days: int = GAP_CHECK_DAYS, now: datetime | None = None) -> list[Gap]:
    """Every interval in the next ``days`` in which a rota has nobody active on call."""
    start = now or clock.now()
    end = start + timedelta(days=days)
    active = set(db.session.scalars(select(User.id).where(User.active.is_(True))))
    found: list[Gap] = []
    for rota in db.session.scalars(select(Rota).order_by(Rota.name)):
        for a, b in rules.gaps(
            spec_for(rota), overrides_for(rota.id, start, end), start, end, active
        ):
            found.append(Gap(rota.name, a, b))
    return found


def shifts(rota_id: int, start: datetime, end: datetime) -> list[rules.Shift]:
    rota = get_rota(rota_id)
    return rules.shifts(spec_for(rota), overrides_for(rota.id, start, end), start, end)


def on_call_now_everywhere(now: datetime | None = None) -> list[tuple[str, str | None]]:
    """(rota name, person's name or None) for every rota, right now."""
    instant = now or clock.now()
    result = []
    for rota in db.session.scalars(select(Rota).order_by(Rota.name)):
        person = on_call(rota.id, instant)
        result.append((rota.name, person.name if person else None))
    return result
