"""How a location's capacity reads to staff: beds, how long ago confirmed, by whom, stale. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class CapacityNote:
    """``beds`` as told, ``age`` in words, and whether the figure is too old to rely on."""

    beds: int | None
    age: str
    by: str | None
    stale: bool

    @property
    def known(self) -> bool:
        return self.beds is not None and not self.stale

    @property
    def summary(self) -> str:
        if self.beds is None:
            return "Beds not confirmed"
        beds = "1 bed" if self.beds == 1 else f"{self.beds} beds"
        who = f" by {self.by}" if self.by else ""
        return f"{beds} · confirmed {self.age}{who}"


def ago(then: datetime, now: datetime) -> str:
    """ "today", "yesterday", "N days ago" (future instants from clock skew count as today)."""
    days = (now - then) // timedelta(days=1)
    if days <= 0:
        return "today"
    return "yesterday" if days == 1 else f"{days} days ago"


def capacity_note(
    beds: int | None,
    confirmed_at: datetime | None,
    confirmed_by: str | None,
    now: datetime,
    stale_after_days: int,
) -> CapacityNote:
    """A stale "3 beds" is worse than none: older than ``stale_after_days`` is flagged."""
    if beds is None or confirmed_at is None:
        return CapacityNote(None, "never", None, stale=False)
    stale = now - confirmed_at > timedelta(days=stale_after_days)
    return CapacityNote(beds, ago(confirmed_at, now), confirmed_by, stale)
