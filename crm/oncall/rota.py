"""Rotas: who is on call at an instant, their shifts, overrides and gaps. Pure.

Shifts hand off at a local wall-clock time (Europe/London by default), so a 09:00 handoff
stays at 09:00 across the clock changes: the shift spanning a change is an hour shorter or
longer, never the handoff time.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from crm.oncall.wallclock import LONDON, local_to_utc


@dataclass(frozen=True)
class RotaSpec:
    """Members take turns in order, each for ``shift_days`` days from the handoff time."""

    members: tuple[int, ...]
    shift_days: int
    handoff: time
    starts_on: date
    tz: ZoneInfo = LONDON

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("A rota needs at least one member.")
        if len(set(self.members)) != len(self.members):
            raise ValueError("A person can appear only once in a rota's order.")
        if not 1 <= self.shift_days <= 28:
            raise ValueError("Shift length must be between 1 and 28 days.")


@dataclass(frozen=True)
class Override:
    """``user_id`` covers the rota from ``starts_at`` to ``ends_at`` (cover or swap)."""

    user_id: int
    starts_at: datetime
    ends_at: datetime

    def __post_init__(self) -> None:
        if self.ends_at <= self.starts_at:
            raise ValueError("An override must end after it starts.")


@dataclass(frozen=True)
class Shift:
    user_id: int | None
    starts_at: datetime
    ends_at: datetime
    override: bool = False


def boundary(spec: RotaSpec, index: int) -> datetime:
    """The UTC instant shift ``index`` starts (index 0 starts on ``starts_on``)."""
    day = spec.starts_on + timedelta(days=index * spec.shift_days)
    return local_to_utc(day, spec.handoff, spec.tz)


def shift_index(spec: RotaSpec, instant: datetime) -> int | None:
    """Which shift covers ``instant``; None before the rota starts."""
    local = instant.astimezone(spec.tz)
    days = (local.date() - spec.starts_on).days
    index = days // spec.shift_days
    # The local-date estimate can be one off around the handoff; settle it exactly.
    while index >= 0 and boundary(spec, index) > instant:
        index -= 1
    while boundary(spec, index + 1) <= instant:
        index += 1
    return index if index >= 0 else None


def scheduled_at(spec: RotaSpec, instant: datetime) -> int | None:
    index = shift_index(spec, instant)
    return None if index is None else spec.members[index % len(spec.members)]


def check_overrides(overrides: Iterable[Override]) -> list[Override]:
    """Overrides in time order; overlapping ones are refused (which one would win?)."""
    ordered = sorted(overrides, key=lambda o: o.starts_at)
    for before, after in itertools.pairwise(ordered):
        if after.starts_at < before.ends_at:
            raise ValueError(
                "Overrides overlap: remove or shorten one "
                f"({before.starts_at:%d %b %H:%M}–{before.ends_at:%d %b %H:%M} UTC)."
            )
    return ordered


def on_call_at(
    spec: RotaSpec | None, overrides: Sequence[Override], instant: datetime
) -> int | None:
    """Who is on call at ``instant``: an override covering it, else the scheduled member."""
    for override in overrides:
        if override.starts_at <= instant < override.ends_at:
            return override.user_id
    return scheduled_at(spec, instant) if spec is not None else None


def shifts(
    spec: RotaSpec | None, overrides: Sequence[Override], start: datetime, end: datetime
) -> list[Shift]:
    """The on-call timeline between ``start`` and ``end``, overrides applied."""
    cuts = {start, end}
    if spec is not None:
        first = shift_index(spec, start)
        index = 0 if first is None else first + 1
        while (b := boundary(spec, index)) < end:
            if b > start:
                cuts.add(b)
            index += 1
    for o in overrides:
        cuts.update(t for t in (o.starts_at, o.ends_at) if start < t < end)
    ordered = sorted(cuts)
    result: list[Shift] = []
    for a, b in itertools.pairwise(ordered):
        covering = any(o.starts_at <= a < o.ends_at for o in overrides)
        who = on_call_at(spec, overrides, a)
        # Joined pieces of one override stay one shift; rota handoffs always start a new one.
        if result and covering and result[-1].override and result[-1].user_id == who:
            result[-1] = Shift(who, result[-1].starts_at, b, covering)
        else:
            result.append(Shift(who, a, b, covering))
    return result


def gaps(
    spec: RotaSpec | None,
    overrides: Sequence[Override],
    start: datetime,
    end: datetime,
    active: set[int],
) -> list[tuple[datetime, datetime]]:
    """Intervals in which nobody active is on call (merged)."""
    found: list[tuple[datetime, datetime]] = []
    for shift in shifts(spec, overrides, start, end):
        if shift.user_id is None or shift.user_id not in active:
            if found and found[-1][1] == shift.starts_at:
                found[-1] = (found[-1][0], shift.ends_at)
            else:
                found.append((shift.starts_at, shift.ends_at))
    return found
