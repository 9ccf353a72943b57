"""The intake stage rules (crm/intake/stages.py) against DOMAIN.md, move by move."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from crm.intake.stages import (
    OPEN_STAGES,
    PIPELINE,
    CloseReason,
    Stage,
    Transition,
    TransitionError,
    check_transition,
    is_open,
    parse_close_reason,
    parse_stage,
)

# Written out from DOMAIN.md rather than derived from the module under test.
ORDER = ["new", "contacted", "assessed", "matched", "referred", "admitted"]
REASONS = [
    "admitted_elsewhere",
    "chose_nhs",
    "not_ready",
    "unreachable",
    "unaffordable",
    "not_suitable",
    "duplicate",
    "spam",
    "other",
]
ALL_PAIRS = [(a, b) for a, b in itertools.product(Stage, Stage) if a != b]
FORWARD_ONE = [(Stage(a), Stage(b)) for a, b in itertools.pairwise(ORDER)]
SKIPS = [
    (Stage(ORDER[i]), Stage(ORDER[j])) for i in range(len(ORDER)) for j in range(i + 2, len(ORDER))
]
BACKWARDS = [(Stage(ORDER[i]), Stage(ORDER[j])) for i in range(len(ORDER)) for j in range(i)]


def test_the_vocabulary_is_exactly_domain_md() -> None:
    assert [s.value for s in PIPELINE] == ORDER
    assert {s.value for s in Stage} == {*ORDER, "closed"}
    assert [r.value for r in CloseReason] == REASONS
    assert {s.value for s in OPEN_STAGES} == set(ORDER) - {"admitted"}


def test_every_pair_is_classified_exactly_once() -> None:
    closing = [(a, b) for a, b in ALL_PAIRS if b == Stage.CLOSED]
    reopening = [(a, b) for a, b in ALL_PAIRS if a == Stage.CLOSED]
    assert len(FORWARD_ONE) + len(SKIPS) + len(BACKWARDS) + len(closing) + len(reopening) == len(
        ALL_PAIRS
    )


@pytest.mark.parametrize(("current", "target"), FORWARD_ONE)
def test_forward_one_step_needs_no_reason(current: Stage, target: Stage) -> None:
    move = check_transition(current, target)
    assert move == Transition(current, target, None, None, None)


@pytest.mark.parametrize(("current", "target"), SKIPS)
def test_skipping_a_stage_is_refused_naming_the_next_stage(current: Stage, target: Stage) -> None:
    following = ORDER[ORDER.index(current.value) + 1]
    with pytest.raises(TransitionError) as refused:
        check_transition(current, target, reason="the client is in a hurry")
    assert str(refused.value) == (
        f"A lead moves forward one stage at a time: from {current.value} "
        f"the next stage is {following}."
    )


@pytest.mark.parametrize(("current", "target"), BACKWARDS)
def test_moving_backwards_needs_a_reason(current: Stage, target: Stage) -> None:
    for missing in (None, "", "   \n\t"):
        with pytest.raises(TransitionError, match="needs a reason") as refused:
            check_transition(current, target, reason=missing)
        assert f"from {current.value} to {target.value}" in str(refused.value)
    move = check_transition(current, target, reason="  provider withdrew the offer  ")
    assert (move.from_stage, move.to_stage) == (current, target)
    assert move.reason == "provider withdrew the offer"
    assert move.close_reason is None


@pytest.mark.parametrize("current", [s for s in Stage if s != Stage.CLOSED])
@pytest.mark.parametrize("why", [r for r in REASONS if r != "other"])
def test_closing_from_any_stage_with_a_listed_reason(current: Stage, why: str) -> None:
    move = check_transition(current, Stage.CLOSED, close_reason=why)
    assert move.to_stage == Stage.CLOSED
    assert move.close_reason == CloseReason(why)
    assert move.note is None


@pytest.mark.parametrize("current", [s for s in Stage if s != Stage.CLOSED])
@pytest.mark.parametrize("bad", [None, "", "bored", "NOT_READY", " not_ready", "closed"])
def test_closing_without_a_valid_reason_lists_the_reasons(current: Stage, bad: str | None) -> None:
    with pytest.raises(TransitionError) as refused:
        check_transition(current, Stage.CLOSED, close_reason=bad, reason="x", note="y")
    assert str(refused.value) == "Closing needs a reason: one of " + ", ".join(REASONS) + "."


def test_closing_as_other_needs_a_note() -> None:
    for missing in (None, "", "  "):
        with pytest.raises(TransitionError, match=r"^Closing with reason 'other' needs a note"):
            check_transition(Stage.NEW, Stage.CLOSED, close_reason="other", note=missing)
    move = check_transition(Stage.NEW, Stage.CLOSED, close_reason="other", note=" moved abroad ")
    assert (move.close_reason, move.note) == (CloseReason.OTHER, "moved abroad")


@pytest.mark.parametrize("target", [s for s in Stage if s != Stage.CLOSED])
def test_reopening_a_closed_lead_needs_a_reason(target: Stage) -> None:
    for missing in (None, "", " "):
        with pytest.raises(TransitionError, match=r"^Reopening a closed lead needs a reason\.$"):
            check_transition(Stage.CLOSED, target, reason=missing)
    move = check_transition(Stage.CLOSED, target, reason="called back, ready now")
    assert (move.from_stage, move.to_stage, move.reason) == (
        Stage.CLOSED,
        target,
        "called back, ready now",
    )
    assert move.close_reason is None


@pytest.mark.parametrize("stage", list(Stage))
def test_the_same_stage_is_refused(stage: Stage) -> None:
    with pytest.raises(TransitionError, match=f"^The lead is already {stage.value}\\.$"):
        check_transition(stage, stage, reason="r", close_reason="spam", note="n")


def test_parse_stage_and_close_reason() -> None:
    assert parse_stage("assessed") is Stage.ASSESSED
    for bad in ("", "Assessed", "done", "new "):
        with pytest.raises(TransitionError, match=r"^Unknown stage"):
            parse_stage(bad)
    assert parse_close_reason("spam") is CloseReason.SPAM
    with pytest.raises(TransitionError):
        parse_close_reason(None)


def test_only_pipeline_stages_before_admitted_are_open() -> None:
    assert [s.value for s in Stage if is_open(s)] == ORDER[:-1]


def _expected_refusal(
    current: Stage, target: Stage, reason: str | None, close_reason: str | None, note: str | None
) -> bool:
    """An independent statement of the rules: True when the move must be refused."""
    has_reason = bool((reason or "").strip())
    if current == target:
        return True
    if target == Stage.CLOSED:
        if close_reason not in REASONS:
            return True
        return close_reason == "other" and not (note or "").strip()
    if current == Stage.CLOSED:
        return not has_reason
    step = ORDER.index(target.value) - ORDER.index(current.value)
    return step > 1 or (step < 0 and not has_reason)


optional_text = st.none() | st.text(max_size=20) | st.sampled_from(["", " ", "\t\n", "why"])


@given(
    current=st.sampled_from(Stage),
    target=st.sampled_from(Stage),
    reason=optional_text,
    close_reason=st.none() | st.sampled_from(REASONS) | st.text(max_size=20),
    note=optional_text,
)
@example(Stage.NEW, Stage.CLOSED, None, "other", " ")
@example(Stage.CLOSED, Stage.NEW, "\u3000", None, None)
def test_check_transition_is_total_and_keeps_its_invariants(
    current: Stage, target: Stage, reason: str | None, close_reason: str | None, note: str | None
) -> None:
    try:
        move = check_transition(
            current, target, reason=reason, close_reason=close_reason, note=note
        )
    except TransitionError as exc:
        assert str(exc), "a refusal always says why"
        assert _expected_refusal(current, target, reason, close_reason, note)
        return
    assert not _expected_refusal(current, target, reason, close_reason, note)
    assert (move.from_stage, move.to_stage) == (current, target)
    for text in (move.reason, move.note):
        assert text is None or (text == text.strip() and text)
    if target == Stage.CLOSED:
        assert move.close_reason == CloseReason(close_reason)
    else:
        assert move.close_reason is None
    if current == Stage.CLOSED or (
        target != Stage.CLOSED and ORDER.index(target.value) < ORDER.index(current.value)
    ):
        assert move.reason, "backwards and reopening moves carry their reason"
