"""Secret iCal feeds of on-call shifts, per rota and per person, for calendar apps."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from flask import current_app
from icalendar import Calendar, Event
from sqlalchemy import select

from crm import clock
from crm.auth.models import User
from crm.extensions import db
from crm.oncall import rotas
from crm.oncall.models import Rota

FEED_DAYS = 56  # eight weeks ahead, as the shifts are generated


def person_token(user_id: int) -> str:
    """A secret, unguessable feed token for one person (rotates with SECRET_KEY)."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(key, f"person-feed:{user_id}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{user_id}-{digest}"


def user_for_token(token: str) -> User | None:
    head, _, _ = token.partition("-")
    if not head.isdigit() or not hmac.compare_digest(token, person_token(int(head))):
        return None
    user = db.session.get(User, int(head))
    return user if user is not None and user.active else None


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//Admissions CRM//on-call//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    return cal


def _event(uid: str, summary: str, start: datetime, end: datetime) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("summary", summary)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("dtstamp", clock.now())
    return event


def rota_feed(token: str) -> bytes | None:
    rota = db.session.scalar(select(Rota).where(Rota.ical_token == token))
    if rota is None:
        return None
    start = clock.now() - timedelta(days=7)
    cal = _calendar(f"On call: {rota.name}")
    names = dict(db.session.execute(select(User.id, User.name)).all())
    for shift in rotas.shifts(rota.id, start, start + timedelta(days=FEED_DAYS + 7)):
        if shift.user_id is None:
            continue
        who = names.get(shift.user_id, "?")
        cal.add_component(
            _event(
                f"rota-{rota.id}-{shift.starts_at:%Y%m%dT%H%M}@crm",
                f"{who} on call ({rota.name})",
                shift.starts_at,
                shift.ends_at,
            )
        )
    return bytes(cal.to_ical())


def person_feed(token: str) -> bytes | None:
    user = user_for_token(token)
    if user is None:
        return None
    start = clock.now() - timedelta(days=7)
    cal = _calendar(f"On call: {user.name}")
    for rota in db.session.scalars(select(Rota)):
        for shift in rotas.shifts(rota.id, start, start + timedelta(days=FEED_DAYS + 7)):
            if shift.user_id == user.id:
                cal.add_component(
                    _event(
                        f"person-{user.id}-rota-{rota.id}-{shift.starts_at:%Y%m%dT%H%M}@crm",
                        f"On call: {rota.name}",
                        shift.starts_at,
                        shift.ends_at,
                    )
                )
    return bytes(cal.to_ical())
