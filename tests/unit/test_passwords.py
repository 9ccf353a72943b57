"""Password policy (length and deny-lists, no composition rules) and argon2id hashing."""

from __future__ import annotations

import argon2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.auth.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)

PASSPHRASE = "otters juggle quietly"


def test_long_lowercase_passphrase_is_accepted() -> None:
    assert password_problems("mangoes and kites") == []
    assert password_problems("otterslovekites") == []  # no digits, capitals or symbols needed


def test_too_short_is_refused() -> None:
    short = "k1te-m4ngo!"  # 11 characters
    assert len(short) == MIN_LENGTH - 1
    problems = password_problems(short)
    assert problems == ["Use at least 12 characters (a few random words work well)."]
    assert password_problems(short + "x") == []


def test_too_long_is_refused() -> None:
    words = "otters juggle " * 20
    assert password_problems(words[:MAX_LENGTH]) == []
    assert "Use at most 128 characters." in password_problems(words[: MAX_LENGTH + 1])


@pytest.mark.parametrize("common", ["leavemealone", "LeaveMeAlone", "QWERTY123456", "1qaz2wsx3edc"])
def test_common_passwords_are_refused_whatever_their_case(common: str) -> None:
    assert password_problems(common) == [
        "This password is too common; choose something less predictable."
    ]


def test_repeated_characters_are_refused() -> None:
    assert any("too common" in p for p in password_problems("abababababababab"))


@pytest.mark.parametrize(
    "guess", ["admissions2024!", "Recovery123456", "REHAB2023!!!!", "password1234"]
)
def test_service_words_are_refused(guess: str) -> None:
    problems = password_problems(guess)
    assert problems, guess
    assert any("service's name" in p or "too common" in p for p in problems)


def test_service_word_inside_a_passphrase_is_fine() -> None:
    assert password_problems("my recovery garden grows") == []


def test_personal_information_is_refused() -> None:
    problems = password_problems("Margaret-likes-tea", personal=("margaret", "m.jones"))
    assert problems == ["Do not include your name or email address in the password."]
    # Very short parts (initials) do not count: they would refuse half the dictionary.
    assert password_problems("ajax plays the lute", personal=("al",)) == []


@pytest.mark.parametrize("char", ["\t", "\n", "\x00", "\x1b", "\x7f"])
def test_control_characters_are_refused(char: str) -> None:
    assert "Control characters are not allowed." in password_problems(f"otters{char}juggle quietly")


def test_unicode_passphrase_is_accepted() -> None:
    assert password_problems("café crème brûlée ☕") == []


@given(st.text(max_size=300), st.lists(st.text(max_size=20), max_size=3))
def test_password_problems_never_raises(password: str, personal: list[str]) -> None:
    problems = password_problems(password, personal=tuple(personal))
    assert isinstance(problems, list)
    assert all(isinstance(p, str) and p for p in problems)
    if len(password) < MIN_LENGTH:
        assert problems


def test_hash_is_argon2id_and_verifies() -> None:
    hashed = hash_password(PASSPHRASE)
    assert hashed.startswith("$argon2id$")
    assert PASSPHRASE not in hashed
    assert verify_password(hashed, PASSPHRASE) is True
    assert verify_password(hashed, PASSPHRASE + " ") is False
    assert hash_password(PASSPHRASE) != hashed  # salted


@pytest.mark.parametrize("damaged", ["", "plaintext", "$argon2id$v=19$m=1,t=1,p=1$garbage"])
def test_damaged_hash_does_not_verify(damaged: str) -> None:
    assert verify_password(damaged, PASSPHRASE) is False


def test_current_hash_does_not_need_rehash() -> None:
    assert needs_rehash(hash_password(PASSPHRASE)) is False


def test_weaker_parameters_need_rehash() -> None:
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSPHRASE)
    assert verify_password(weak, PASSPHRASE) is True  # old hashes still let people in
    assert needs_rehash(weak) is True
