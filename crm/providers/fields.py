"""Cleaners for one field each: text, choices, numbers, money, contacts. Pure.

Each takes a typed value (or None) and returns it cleaned, or raises ValueError with a message
fit to show; ``FieldErrors`` collects them per field and raises ``RecordInvalid``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers

from crm.validation import clean_text, normalise_email, normalise_phone

MAX_PRICE = Decimal("99999999.99")  # NUMERIC(10,2)
MAX_INSURERS = 50
_WEBSITE = re.compile(r"https?://[^\s/$.?#][^\s]*", re.IGNORECASE)


class RecordInvalid(ValueError):
    """A provider or location record has problems, listed per field in staff's words."""

    def __init__(self, field_errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in field_errors.items()))
        self.field_errors = field_errors


class FieldErrors:
    """Collects problems per field; ``check`` runs one cleaner and keeps its message."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.by_field.setdefault(field, []).append(message)

    def check(self, out: dict[str, Any], field: str, clean: Callable[[Any], Any]) -> None:
        try:
            out[field] = clean(out.get(field))
        except ValueError as exc:
            self.add(field, str(exc))

    def raise_if_any(self) -> None:
        if self.by_field:
            raise RecordInvalid(self.by_field)


def optional_text(label: str, max_length: int) -> Callable[[Any], str | None]:
    def clean(value: Any) -> str | None:
        return (
            clean_text(as_text(value), label=label, max_length=max_length, required=False) or None
        )

    return clean


def required_text(label: str, max_length: int) -> Callable[[Any], str]:
    def clean(value: Any) -> str:
        return clean_text(as_text(value), label=label, max_length=max_length)

    return clean


def one_of(label: str, allowed: Mapping[str, str], *, optional: bool = False) -> Callable[..., Any]:
    def clean(value: Any) -> str | None:
        if optional and value in (None, ""):
            return None
        if value not in allowed:
            raise ValueError(f"Unknown {label} {value!r}: use one of {', '.join(allowed)}.")
        return str(value)

    return clean


def some_of(label: str, allowed: Mapping[str, str], *, at_least_one: bool) -> Callable[..., Any]:
    def clean(value: Any) -> list[str]:
        values = _unique(value or [])
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise ValueError(
                f"Unknown {label}: {', '.join(unknown)} (known: {', '.join(allowed)})."
            )
        if at_least_one and not values:
            raise ValueError(f"Give at least one of {', '.join(allowed)}.")
        # Stored in the vocabulary's order, so the same set always reads (and compares) alike.
        return [key for key in allowed if key in values]

    return clean


def as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError("Expected text.")


def _unique(values: Iterable[Any]) -> list[str]:
    if isinstance(values, str):
        raise ValueError("Expected a list.")
    seen: list[str] = []
    for value in values:
        if str(value) not in seen:
            seen.append(str(value))
    return seen


def yes_no(label: str) -> Callable[[Any], bool]:
    def clean(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"{label} must be yes or no.")
        return value

    return clean


def whole(label: str, low: int, high: int, *, optional: bool) -> Callable[[Any], int | None]:
    def clean(value: Any) -> int | None:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{label} must be a whole number from {low} to {high}.")
        return value

    return clean


def money(label: str) -> Callable[[Any], Decimal | None]:
    def clean(value: Any) -> Decimal | None:
        if value is None:
            return None
        try:
            amount = Decimal(value)
        except (InvalidOperation, TypeError, ValueError):
            raise ValueError(f"{label} must be an amount like 1250.00.") from None
        if not amount.is_finite() or amount < 0:
            raise ValueError(f"{label} cannot be negative.")
        if amount > MAX_PRICE or amount != amount.quantize(Decimal("0.01")):
            raise ValueError(f"{label} must be at most {MAX_PRICE} with at most 2 decimals.")
        return amount.quantize(Decimal("0.01"))

    return clean


def coordinate(label: str, limit: float) -> Callable[[Any], float | None]:
    def clean(value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{label} must be a number.")
        if not -limit <= float(value) <= limit:
            raise ValueError(f"{label} must be between -{limit:g} and {limit:g}.")
        return float(value)

    return clean


def country_code(value: Any) -> str:
    code = (as_text(value) or "").strip().upper()
    if code == "UK":
        code = "GB"  # what people write; ISO 3166-1 says GB
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{value!r} is not an ISO 3166-1 country code (GB, IE, ES ...).")
    return code


def website(value: Any) -> str | None:
    text = optional_text("Website", 300)(value)
    if text is not None and not _WEBSITE.fullmatch(text):
        raise ValueError("Give the website as a full address, like https://clinic.example.")
    return text


def free_text(value: Any) -> str | None:
    """Exclusions: several lines allowed, other control characters not."""
    text = (as_text(value) or "").replace("\r\n", "\n").strip()
    if len(text) > 2000:
        raise ValueError("Exclusions must be at most 2000 characters.")
    if any(unicodedata.category(ch) in {"Cc", "Cf"} and ch not in "\n\t" for ch in text):
        raise ValueError("Exclusions contain control characters.")
    return text or None


def rating_date(today: date) -> Callable[[Any], date | None]:
    def clean(value: Any) -> date | None:
        if value is None:
            return None
        if not isinstance(value, date):
            raise ValueError("Give the rating date as a date.")
        if value > today:
            raise ValueError("The rating date cannot be in the future.")
        return value

    return clean


def insurers(value: Any) -> list[str]:
    names = [n.strip() for n in _unique(value or []) if n.strip()]
    if len(names) > MAX_INSURERS or any(len(n) > 100 for n in names):
        raise ValueError(f"List at most {MAX_INSURERS} insurers of up to 100 characters each.")
    return names


def currency(value: Any) -> str:
    code = (as_text(value) or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValueError("Currency must be a 3-letter code such as GBP or EUR.")
    return code


def optional_email(value: Any) -> str | None:
    text = (as_text(value) or "").strip()
    return normalise_email(text) if text else None


def phone_for(country: str) -> Callable[[Any], str | None]:
    def clean(value: Any) -> str | None:
        text = (as_text(value) or "").strip()
        return normalise_phone(text, region=country) if text else None

    return clean
