"""Pure normalisers for what people type: phone numbers, emails, short text.

Each returns the canonical value or raises ValueError with a message fit to show.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email

MAX_PHONE_INPUT = 40
# Ofcom reserves 07700 900000-900999 for drama and examples: phonenumbers calls them invalid,
# but they are what demo data, training and our own on-screen examples use, and reach nobody.
_OFCOM_DRAMA_MOBILE = re.compile(r"\+447700900\d{3}")


def clean_text(value: str | None, *, label: str, max_length: int, required: bool = True) -> str:
    """Trimmed text without control characters, within ``max_length`` characters."""
    text = (value or "").strip()
    if not text:
        if required:
            raise ValueError(f"{label} is required.")
        return ""
    if len(text) > max_length:
        raise ValueError(f"{label} must be at most {max_length} characters.")
    # isprintable() is false for every character of those categories (and for some
    # separators this allows): in C, so the check per character runs only when it is false.
    if not text.isprintable() and any(
        unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co"} for ch in text
    ):
        raise ValueError(f"{label} contains control characters.")
    return text


def normalise_email(value: str | None) -> str:
    """A syntactically valid email, lower-cased (no DNS look-up)."""
    text = (value or "").strip()
    if not text:
        raise ValueError("Email is required.")
    if len(text) > 254:
        raise ValueError("Email must be at most 254 characters.")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"Enter a valid email address ({exc}).") from None
    return result.normalized.lower()


def normalise_phone(value: str | None, region: str = "GB") -> str:
    """The number in E.164 (``+447700900123``); UK numbers may omit the country code."""
    text = (value or "").strip()
    if not text:
        raise ValueError("Phone number is required.")
    if len(text) > MAX_PHONE_INPUT:
        raise ValueError("Phone number is too long.")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValueError("Enter a valid phone number, like 07700 900123.") from None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not (phonenumbers.is_valid_number(number) or _OFCOM_DRAMA_MOBILE.fullmatch(e164)):
        raise ValueError("Enter a valid phone number, like 07700 900123.")
    return e164


def check_webhook_url(url: str | None, allow_http: bool) -> str:
    """A chat webhook URL: https only, unless plain http is allowed (development)."""
    text = (url or "").strip()
    if not text or len(text) > 500:
        raise ValueError("Give the webhook URL (up to 500 characters).")
    if any(ch.isspace() or ord(ch) < 32 for ch in text):
        raise ValueError("The webhook URL contains spaces or control characters.")
    if text.startswith("https://") or (allow_http and text.startswith("http://")):
        return text
    raise ValueError("Webhook URLs must start with https:// (they carry page links).")
