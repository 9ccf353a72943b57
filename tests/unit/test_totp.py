"""Authenticator codes: RFC 6238's test vector, the ±1 step window, and a code used once."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.auth import totp

# RFC 6238 appendix B, SHA-1: the secret "12345678901234567890"; at 59 s the 8-digit code is
# 94287082, so the 6-digit code is its last six digits.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
T0 = datetime(2026, 12, 7, 10, 0, 0, tzinfo=UTC)


def test_rfc_6238_vector() -> None:
    assert totp.code_at(RFC_SECRET, 59 // 30) == "287082"
    assert totp.code_at(RFC_SECRET, 1111111109 // 30) == "081804"


def test_the_window_is_one_step_either_side() -> None:
    secret = totp.new_secret()
    now = totp.step_at(T0)
    for offset in (-1, 0, 1):
        assert totp.verify(secret, totp.code_at(secret, now + offset), T0, None) == now + offset
    for offset in (-2, 2):
        with pytest.raises(totp.CodeRefused, match="wrong or has expired"):
            totp.verify(secret, totp.code_at(secret, now + offset), T0, None)


def test_a_code_is_accepted_once() -> None:
    secret = totp.new_secret()
    code = totp.code_at(secret, totp.step_at(T0))
    step = totp.verify(secret, code, T0, None)
    with pytest.raises(totp.CodeRefused, match="already been used"):
        totp.verify(secret, code, T0 + timedelta(seconds=10), step)
    # An older step inside the window is refused too once a later one was used.
    earlier = totp.code_at(secret, step - 1)
    with pytest.raises(totp.CodeRefused, match="already been used"):
        totp.verify(secret, earlier, T0, step)
    nxt = totp.code_at(secret, step + 1)
    assert totp.verify(secret, nxt, T0 + timedelta(seconds=30), step) == step + 1


@pytest.mark.parametrize("typed", ["", None, "12345", "1234567", "abcdef", "12 34 5x"])
def test_malformed_codes_are_refused(typed: str | None) -> None:
    with pytest.raises(totp.CodeRefused, match="6-digit code"):
        totp.verify(totp.new_secret(), typed, T0, None)


def test_spaces_and_dashes_are_allowed() -> None:
    secret = totp.new_secret()
    code = totp.code_at(secret, totp.step_at(T0))
    assert totp.verify(secret, f"{code[:3]} {code[3:]}", T0, None)
    assert totp.verify(secret, f"{code[:3]}-{code[3:]}", T0 + timedelta(seconds=30), None)


@given(st.integers(min_value=60, max_value=10**9))
def test_a_wrong_code_is_never_accepted(seconds: int) -> None:
    at = datetime.fromtimestamp(seconds, UTC)
    secret = RFC_SECRET
    right = {totp.code_at(secret, totp.step_at(at) + d) for d in (-1, 0, 1)}
    wrong = next(f"{n:06d}" for n in range(1000000) if f"{n:06d}" not in right)
    with pytest.raises(totp.CodeRefused):
        totp.verify(secret, wrong, at, None)


def test_provisioning_uri_names_the_service_and_account() -> None:
    uri = totp.provisioning_uri(RFC_SECRET, "max.manager@demo.example")
    assert uri.startswith("otpauth://totp/Admissions%20CRM:max.manager%40demo.example?")
    assert f"secret={RFC_SECRET}" in uri and "issuer=Admissions%20CRM" in uri
