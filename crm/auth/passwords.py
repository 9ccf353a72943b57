"""Password policy (NCSC/ASVS spirit) and argon2id hashing. Pure: no Flask, no database."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 128
# Words anyone guessing a password for this service would try first.
_SERVICE_WORDS = ("admissions", "rehab", "recovery", "crm", "password", "letmein")

_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords, as shipped with zxcvbn."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def password_problems(password: str, *, personal: tuple[str, ...] = ()) -> list[str]:
    """Why ``password`` is refused; an empty list means it is acceptable.

    Length and a deny-list only: no composition rules (NCSC, ASVS 2.1).
    """
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Use at least {MIN_LENGTH} characters (a few random words work well).")
    if len(password) > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters.")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in password):
        problems.append("Control characters are not allowed.")
    lowered = password.lower()
    if lowered in _common_passwords() or len(set(lowered)) <= 2:
        problems.append("This password is too common; choose something less predictable.")
    elif lowered.strip("0123456789!. ") in _SERVICE_WORDS:
        problems.append("Do not base the password on the service's name or a common word.")
    for part in personal:
        if len(part) >= 4 and part.lower() in lowered:
            problems.append("Do not include your name or email address in the password.")
            break
    return problems


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` with the current parameters."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches; False for a wrong password or a damaged hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with parameters older than the current ones."""
    return _hasher.check_needs_rehash(password_hash)


def dummy_verify(password: str) -> None:
    """Spend the time of one verification so unknown emails take as long as known ones."""
    verify_password(_dummy_hash(), password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("not-a-real-password-for-timing")
