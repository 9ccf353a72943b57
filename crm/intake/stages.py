"""The intake pipeline's stages and the rules for moving between them. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    ASSESSED = "assessed"
    MATCHED = "matched"
    REFERRED = "referred"
    ADMITTED = "admitted"
    CLOSED = "closed"


class CloseReason(StrEnum):
    ADMITTED_ELSEWHERE = "admitted_elsewhere"
    CHOSE_NHS = "chose_nhs"
    NOT_READY = "not_ready"
    UNREACHABLE = "unreachable"
    UNAFFORDABLE = "unaffordable"
    NOT_SUITABLE = "not_suitable"
    DUPLICATE = "duplicate"
    SPAM = "spam"
    OTHER = "other"


PIPELINE: tuple[Stage, ...] = (
    Stage.NEW,
    Stage.CONTACTED,
    Stage.ASSESSED,
    Stage.MATCHED,
    Stage.REFERRED,
    Stage.ADMITTED,
)
OPEN_STAGES: frozenset[Stage] = frozenset(PIPELINE) - {Stage.ADMITTED}
STAGE_LABELS = {s: s.value.replace("_", " ").capitalize() for s in Stage}
CLOSE_REASON_LABELS = {
    CloseReason.ADMITTED_ELSEWHERE: "Admitted elsewhere",
    CloseReason.CHOSE_NHS: "Chose NHS treatment",
    CloseReason.NOT_READY: "Not ready",
    CloseReason.UNREACHABLE: "Unreachable",
    CloseReason.UNAFFORDABLE: "Unaffordable",
    CloseReason.NOT_SUITABLE: "Not suitable",
    CloseReason.DUPLICATE: "Duplicate",
    CloseReason.SPAM: "Spam",
    CloseReason.OTHER: "Other (explain in the note)",
}


class TransitionError(ValueError):
    """A stage change the rules refuse; the message says why, in staff's words."""


@dataclass(frozen=True)
class Transition:
    """A checked move: what to record on the stage change row."""

    from_stage: Stage
    to_stage: Stage
    reason: str | None
    close_reason: CloseReason | None
    note: str | None


def parse_stage(value: str) -> Stage:
    try:
        return Stage(value)
    except ValueError:
        raise TransitionError(f"Unknown stage {value!r}.") from None


def parse_close_reason(value: str | None) -> CloseReason:
    try:
        return CloseReason(value or "")
    except ValueError:
        allowed = ", ".join(r.value for r in CloseReason)
        raise TransitionError(f"Closing needs a reason: one of {allowed}.") from None


def _clean(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


def check_transition(
    current: Stage,
    target: Stage,
    *,
    reason: str | None = None,
    close_reason: str | None = None,
    note: str | None = None,
) -> Transition:
    """Validate a move from ``current`` to ``target``.

    Forward moves go one stage at a time; closing needs a reason (and a note for "other");
    moving backwards or reopening a closed lead needs a written reason.
    """
    reason, note = _clean(reason), _clean(note)
    if current == target:
        raise TransitionError(f"The lead is already {current.value}.")
    if target == Stage.CLOSED:
        why = parse_close_reason(close_reason)
        if why == CloseReason.OTHER and not note:
            raise TransitionError("Closing with reason 'other' needs a note saying why.")
        return Transition(current, target, reason, why, note)
    if current == Stage.CLOSED:
        if not reason:
            raise TransitionError("Reopening a closed lead needs a reason.")
        return Transition(current, target, reason, None, note)
    step = PIPELINE.index(target) - PIPELINE.index(current)
    if step < 0 and not reason:
        raise TransitionError(f"Moving back from {current.value} to {target.value} needs a reason.")
    if step > 1:
        raise TransitionError(
            f"A lead moves forward one stage at a time: from {current.value} "
            f"the next stage is {PIPELINE[PIPELINE.index(current) + 1].value}."
        )
    return Transition(current, target, reason, None, note)


def is_open(stage: Stage) -> bool:
    """Whether a lead in ``stage`` is still being worked (not admitted or closed)."""
    return stage in OPEN_STAGES
