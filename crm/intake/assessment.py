"""The screening assessment: its fields and their validation. Pure.

``parse_assessment`` takes the submitted answers (a form or JSON mapping) and returns a
normalised dict fit to store, or raises ``AssessmentInvalid`` naming each bad field.
A draft may leave fields empty; ``missing_for_completion`` says what completing still needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crm.intake.vocabulary import (
    BUDGET_BANDS,
    DEPENDENCE_SIGNS,
    FUNDING,
    GENDERS,
    MENTAL_HEALTH,
    REGIONS,
    SUBSTANCES,
    TIMEFRAMES,
    TREATMENTS,
    USAGE_DURATIONS,
    USAGE_FREQUENCIES,
)
from crm.providers.geography import normalise_postcode
from crm.validation import clean_text

CHOICES: dict[str, Mapping[str, str]] = {
    "primary_substance": SUBSTANCES,
    "usage_duration": USAGE_DURATIONS,
    "usage_frequency": USAGE_FREQUENCIES,
    "treatment_wanted": TREATMENTS,
    "funding": FUNDING,
    "budget_band": BUDGET_BANDS,
    "timeframe": TIMEFRAMES,
    "gender": GENDERS,
}
MULTI: dict[str, Mapping[str, str]] = {"substances": SUBSTANCES, "regions_wanted": REGIONS}
FLAGS = (
    *DEPENDENCE_SIGNS,
    *MENTAL_HEALTH,
    "previous_treatment",
    "open_to_abroad",
    "pregnant",
    "immediate_danger",
)
TEXTS = {
    "mental_health_other": 300,
    "previous_treatment_notes": 1000,
    "insurer": 120,
    "mobility_needs": 300,
    "risk_notes": 1000,
}
REQUIRED_TO_COMPLETE = (
    "substances",
    "primary_substance",
    "treatment_wanted",
    "funding",
    "timeframe",
)


class AssessmentInvalid(ValueError):
    def __init__(self, field_errors: dict[str, list[str]]) -> None:
        super().__init__("The assessment has errors.")
        self.field_errors = field_errors


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return [v for v in value if isinstance(v, str)]
    return []


def _flag(value: Any) -> bool:
    return value in (True, "y", "yes", "true", "on", "1", 1)


def _int_in(value: Any, low: int, high: int, label: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{label} must be a whole number.") from None
    if not low <= number <= high:
        raise ValueError(f"{label} must be between {low} and {high}.")
    return number


def _choices(answers: Mapping[str, Any], out: dict[str, Any], errors: dict[str, list[str]]) -> None:
    for name, allowed in CHOICES.items():
        value = answers.get(name) or None
        # isinstance first: a JSON list or object is unhashable and cannot be looked up.
        known = isinstance(value, str) and value in allowed
        if value is not None and not known:
            errors.setdefault(name, []).append("Choose one of the listed options.")
        out[name] = value if known else None
    for name, allowed in MULTI.items():
        values = _as_list(answers.get(name))
        if any(v not in allowed for v in values):
            errors.setdefault(name, []).append("Choose from the listed options.")
        out[name] = [v for v in dict.fromkeys(values) if v in allowed]


def _texts_and_numbers(
    answers: Mapping[str, Any], out: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    for name, limit in TEXTS.items():
        try:
            raw = answers.get(name)
            out[name] = (
                clean_text(
                    raw if isinstance(raw, str) else None,
                    label=name.replace("_", " ").capitalize(),
                    max_length=limit,
                    required=False,
                )
                or None
            )
        except ValueError as exc:
            errors.setdefault(name, []).append(str(exc))
    for name, low, high, label in (
        ("age", 12, 110, "Age"),
        ("max_travel_miles", 0, 1000, "Maximum travel distance"),
    ):
        try:
            out[name] = _int_in(answers.get(name), low, high, label)
        except ValueError as exc:
            errors.setdefault(name, []).append(str(exc))
    postcode = answers.get("home_postcode")
    out["home_postcode"] = None
    if isinstance(postcode, str) and postcode.strip():
        try:
            out["home_postcode"] = normalise_postcode(postcode)
        except ValueError as exc:
            errors.setdefault("home_postcode", []).append(str(exc))


def _consistency(out: dict[str, Any], errors: dict[str, list[str]]) -> None:
    primary = out.get("primary_substance")
    if primary and primary not in out["substances"]:
        out["substances"] = [primary, *out["substances"]]
    if out.get("funding") != "self_funded":
        out["budget_band"] = None
    if out.get("funding") != "private_insurance":
        out["insurer"] = None
    elif not out.get("insurer"):
        errors.setdefault("insurer", []).append("Name the insurer.")
    if out.get("gender") not in ("female", "non_binary", None) and out.get("pregnant"):
        out["pregnant"] = False


def parse_assessment(answers: Mapping[str, Any]) -> dict[str, Any]:
    """Normalised answers, or AssessmentInvalid listing every field that is wrong."""
    out: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    _choices(answers, out, errors)
    for name in FLAGS:
        out[name] = _flag(answers.get(name))
    _texts_and_numbers(answers, out, errors)
    _consistency(out, errors)
    if errors:
        raise AssessmentInvalid(errors)
    return out


def missing_for_completion(answers: Mapping[str, Any]) -> list[str]:
    """The fields still empty that completing the assessment needs."""
    return [name for name in REQUIRED_TO_COMPLETE if not answers.get(name)]


def co_occurring(answers: Mapping[str, Any]) -> bool:
    """Whether any co-occurring mental health condition was reported (dual diagnosis)."""
    return any(answers.get(k) for k in MENTAL_HEALTH) or bool(answers.get("mental_health_other"))
