"""Lead references (``L-7K3F9Q``): made from an unambiguous alphabet, read back leniently."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.intake.references import ALPHABET, LENGTH, new_reference, parse_reference

CANONICAL = re.compile(r"^L-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{6}$")


def test_the_alphabet_leaves_out_misheard_characters() -> None:
    assert LENGTH == 6
    assert not set(ALPHABET) & set("ILOU01")
    assert len(set(ALPHABET)) == len(ALPHABET) == 30


def test_new_references_have_the_format_and_vary() -> None:
    made = [new_reference() for _ in range(2000)]
    assert all(CANONICAL.match(r) for r in made)
    assert len(set(made)) > 1990  # 30^6 possibilities: collisions in 2000 are rare
    assert set("".join(r[2:] for r in made)) == set(ALPHABET)  # every character is used


@pytest.mark.parametrize(
    "typed",
    [
        "L-7K3F9Q",
        "l-7k3f9q",
        "L7K3F9Q",
        "l7k3f9q",
        " L-7K3F9Q ",
        "L 7K3 F9Q",
        "L-7K3-F9Q",
        "l - 7k3f9q",
    ],
)
def test_parse_reference_accepts_case_spaces_and_missing_dash(typed: str) -> None:
    assert parse_reference(typed) == "L-7K3F9Q"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "L-",
        "L-7K3F9",
        "L-7K3F9QQ",
        "X-7K3F9Q",
        "7K3F9Q",
        "L-7K3F9O",
        "L-7K3F91",
        "L-7K3F9I",
        "L-7K3F9U",
        "L_7K3F9Q",
        "L-7K3F9Q!",
        "+447700900123",
        "sam smith",
    ],
)
def test_parse_reference_refuses_what_is_not_a_reference(typed: str) -> None:
    assert parse_reference(typed) is None


@given(
    st.text(alphabet=ALPHABET, min_size=6, max_size=6),
    st.sampled_from(["", "-", " - "]),
    st.booleans(),
)
def test_every_reference_reads_back_however_it_is_typed(body: str, dash: str, lower: bool) -> None:
    reference = "L-" + body
    typed = "L" + dash + body
    assert parse_reference(typed.lower() if lower else typed) == reference


@given(st.text(max_size=20))
def test_parse_reference_never_raises_and_only_returns_canonical_references(typed: str) -> None:
    parsed = parse_reference(typed)
    assert parsed is None or CANONICAL.match(parsed)
