"""Authenticator-app codes (RFC 6238, 30-second steps, six digits): the window and the replay
rule. Pure: a secret, a code, an instant and the last step used in; the step matched out."""

from __future__ import annotations

import hmac
import re
from datetime import datetime

import pyotp

STEP_SECONDS = 30
WINDOW = 1  # one step either side: a phone clock a little off, or a code typed as it turns
DIGITS = 6
ISSUER = "Admissions CRM"
_CODE = re.compile(r"^\d{6}$")


class CodeRefused(ValueError):
    """Why a code was not accepted, in words for the person typing it."""


def new_secret() -> str:
    """A random base32 secret (160 bits), as authenticator apps expect."""
    return pyotp.random_base32(32)


def step_at(instant: datetime) -> int:
    return int(instant.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(step * STEP_SECONDS)


def clean_code(typed: str | None) -> str:
    """Six digits, spaces and dashes allowed between them; CodeRefused otherwise."""
    code = re.sub(r"[\s-]", "", typed or "")
    if not _CODE.match(code):
        raise CodeRefused("Enter the 6-digit code from your authenticator app.")
    return code


def verify(secret: str, typed: str | None, at: datetime, last_step: int | None) -> int:
    """The step ``typed`` belongs to (now, or one step either side), once only: a code of a
    step at or before ``last_step`` was already used (or overtaken) and is refused."""
    code = clean_code(typed)
    now = step_at(at)
    for step in range(now - WINDOW, now + WINDOW + 1):
        if hmac.compare_digest(code_at(secret, step), code):
            if last_step is not None and step <= last_step:
                raise CodeRefused("That code has already been used: wait for the next one.")
            return step
    raise CodeRefused("That code is wrong or has expired: check the time on your phone.")


def provisioning_uri(secret: str, account: str) -> str:
    """The otpauth:// address the QR code carries."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=ISSUER
    )
