"""Validating a callback request from the website or the hosted form. Pure.

``parse_callback_request`` never raises anything but ``IntakeInvalid``, whose
``field_errors`` say, per field, what is wrong in words the person can act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crm.intake.vocabulary import RELATIONSHIPS, SUBSTANCES
from crm.validation import clean_text, normalise_email, normalise_phone

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
ALLOWED_FIELDS = frozenset(
    {
        "name",
        "phone",
        "email",
        "best_time_to_call",
        "for_whom",
        "relationship",
        "client_name",
        "substances",
        "message",
        "consent_to_contact",
        "consent_to_health_details",
        "consent_wording_version",
        "disclosure_wording_version",
        "page_url",
        *UTM_FIELDS,
    }
)
MAX_MESSAGE = 2000


class IntakeInvalid(ValueError):
    """The request cannot be accepted; ``field_errors`` maps field → messages."""

    def __init__(self, field_errors: dict[str, list[str]]) -> None:
        super().__init__("The callback request has errors.")
        self.field_errors = field_errors


@dataclass(frozen=True)
class CallbackRequestData:
    """A valid callback request, normalised."""

    name: str
    phone: str
    email: str | None
    best_time_to_call: str | None
    relationship: str
    client_name: str | None
    substances: tuple[str, ...]
    message: str | None
    consent_to_health_details: bool
    consent_wording_version: str
    disclosure_wording_version: str
    page_url: str | None = None
    utm: dict[str, str] = field(default_factory=dict)

    @property
    def for_someone_else(self) -> bool:
        return self.relationship != "self"


class _Collector:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def text(
        self,
        payload: Mapping[str, Any],
        name: str,
        label: str,
        max_length: int,
        required: bool = False,
    ) -> str | None:
        value = payload.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            self.add(name, f"{label} must be text.")
            return None
        try:
            return clean_text(value, label=label, max_length=max_length, required=required) or None
        except ValueError as exc:
            self.add(name, str(exc))
            return None

    def flag(self, payload: Mapping[str, Any], name: str) -> bool:
        value = payload.get(name, False)
        if value in (True, "true", "on", "yes", "1", 1) and not isinstance(value, float):
            return True
        if value in (False, None, "", "false", "off", "no", "0", 0):
            return False
        self.add(name, "Must be true or false.")
        return False


def _substances(payload: Mapping[str, Any], c: _Collector) -> tuple[str, ...]:
    raw = payload.get("substances") or []
    if not isinstance(raw, list | tuple) or not all(isinstance(s, str) for s in raw):
        c.add("substances", "Substances must be a list of names.")
        return ()
    unknown = sorted({s for s in raw if s not in SUBSTANCES})
    if unknown:
        c.add(
            "substances",
            f"Unknown substances: {', '.join(u[:30] for u in unknown[:5])}. "
            f"Known: {', '.join(SUBSTANCES)}.",
        )
        return ()
    return tuple(dict.fromkeys(raw))


def _relationship(payload: Mapping[str, Any], c: _Collector) -> str:
    for_whom = payload.get("for_whom") or "self"
    if for_whom == "self":
        return "self"
    if for_whom != "someone_else":
        c.add("for_whom", "Say whether the help is for you (self) or someone else.")
        return "self"
    relationship = payload.get("relationship")
    # isinstance first: a JSON list or object is unhashable and cannot be looked up.
    if not isinstance(relationship, str) or relationship not in RELATIONSHIPS:
        relationship = None
    if relationship in (None, "self"):
        c.add(
            "relationship",
            "Tell us how you know the person: family, partner, friend or professional.",
        )
        return "self"
    return str(relationship)


def _contact_details(payload: Mapping[str, Any], c: _Collector) -> tuple[str, str | None]:
    phone, email = "", None
    raw_phone = payload.get("phone")
    if not isinstance(raw_phone, str):
        c.add(
            "phone",
            "Phone number is required." if raw_phone is None else "Phone number must be text.",
        )
    else:
        try:
            phone = normalise_phone(raw_phone)
        except ValueError as exc:
            c.add("phone", str(exc))
    raw_email = payload.get("email")
    if raw_email not in (None, ""):
        if not isinstance(raw_email, str):
            c.add("email", "Email must be text.")
        else:
            try:
                email = normalise_email(raw_email)
            except ValueError as exc:
                c.add("email", str(exc))
    return phone, email


def parse_callback_request(payload: Mapping[str, Any]) -> CallbackRequestData:
    """Validate and normalise; raise IntakeInvalid listing every problem at once."""
    c = _Collector()
    for unknown in sorted(set(payload) - ALLOWED_FIELDS)[:10]:
        c.add(str(unknown)[:40], "Unknown field.")
    name = c.text(payload, "name", "Your name", 120, required=True)
    phone, email = _contact_details(payload, c)
    best_time = c.text(payload, "best_time_to_call", "Best time to call", 120)
    relationship = _relationship(payload, c)
    client_name = (
        c.text(payload, "client_name", "Their name", 120) if relationship != "self" else None
    )
    substances = _substances(payload, c)
    message = c.text(payload, "message", "Message", MAX_MESSAGE)
    if not c.flag(payload, "consent_to_contact"):
        c.add("consent_to_contact", "We can only call you back if you agree to be contacted.")
    health = c.flag(payload, "consent_to_health_details")
    if (substances or message) and not health:
        c.add(
            "consent_to_health_details",
            "To send details about substances or your "
            "situation, agree to us using them; or clear those fields.",
        )
    consent_version = c.text(
        payload, "consent_wording_version", "Consent wording version", 40, required=True
    )
    disclosure_version = c.text(
        payload, "disclosure_wording_version", "Disclosure wording version", 40, required=True
    )
    page_url = c.text(payload, "page_url", "Page URL", 500)
    utm = {k: v for k in UTM_FIELDS if (v := c.text(payload, k, k, 100))}
    if c.errors:
        raise IntakeInvalid(c.errors)
    return CallbackRequestData(
        name=str(name),
        phone=phone,
        email=email,
        best_time_to_call=best_time,
        relationship=relationship,
        client_name=client_name,
        substances=substances,
        message=message,
        consent_to_health_details=health,
        consent_wording_version=str(consent_version),
        disclosure_wording_version=str(disclosure_version),
        page_url=page_url,
        utm=utm,
    )
