"""The one source of "now", so tests can pin time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
_pinned: datetime | None = None


def now() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return _pinned if _pinned is not None else datetime.now(UTC)


@contextmanager
def pinned(instant: datetime) -> Iterator[None]:
    """Within the block, ``now()`` returns ``instant`` (which must be timezone-aware)."""
    global _pinned
    if instant.tzinfo is None:
        raise ValueError("pinned() needs a timezone-aware instant")
    previous, _pinned = _pinned, instant.astimezone(UTC)
    try:
        yield
    finally:
        _pinned = previous


def as_utc(instant: datetime) -> datetime:
    """Treat a naive instant read back from SQLite as UTC; convert aware ones."""
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)
