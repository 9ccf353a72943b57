"""Reading the data protection screens' forms: typed text in, the services' values out, or a
DomainError naming what cannot be read. Nothing here writes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time

from crm.errors import DomainError
from crm.oncall.wallclock import local_to_utc
from crm.privacy.requests import NewRequest


def read_date(value: str | None, label: str) -> date | None:
    if not value or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise DomainError(f"{label}: enter a calendar date (YYYY-MM-DD).") from None


def read_local_datetime(value: str | None, label: str) -> datetime | None:
    """A ``datetime-local`` input (UK wall-clock time) as a UTC instant."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DomainError(f"{label}: enter a date and time.") from None
    return local_to_utc(moment.date(), time(moment.hour, moment.minute))


def new_request(form: Mapping[str, str]) -> NewRequest:
    received = read_local_datetime(form.get("received_at"), "Received")
    if received is None:
        raise DomainError(
            "Say when the request was received.", field_errors={"received_at": ["Required."]}
        )
    return NewRequest(
        kind=form.get("kind", ""),
        requester_name=form.get("requester_name", ""),
        requester_phone=form.get("requester_phone", "").strip() or None,
        requester_email=form.get("requester_email", "").strip() or None,
        received_via=form.get("received_via", ""),
        received_at=received,
        description=form.get("description", ""),
        find=form.get("find", ""),
    )
