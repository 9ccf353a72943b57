"""The referral summary a clinic receives: only what it needs, and no health detail the client
did not agree to share with that clinic. Pure: values in, text out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crm.intake.vocabulary import (
    BUDGET_BANDS,
    DEPENDENCE_SIGNS,
    FUNDING,
    GENDERS,
    MENTAL_HEALTH,
    SUBSTANCES,
    TIMEFRAMES,
    TREATMENTS,
)

NOT_SHARED = (
    "Health details: the client has not agreed to share them in writing. Please discuss them "
    "with the client directly."
)


@dataclass(frozen=True)
class SummaryFacts:
    """What the summary may draw on; the service fills it from the lead and the assessment."""

    reference: str
    clinic: str
    client_name: str
    phone: str | None
    email: str | None
    best_time_to_call: str | None
    answers: Mapping[str, Any]
    share_health_details: bool
    advisor: str
    service_phone: str | None = None


def _label(table: Mapping[str, str], key: Any) -> str | None:
    return table.get(key) if isinstance(key, str) else None


def _line(label: str, value: Any) -> str | None:
    return f"{label}: {value}" if value not in (None, "", []) else None


def _about(answers: Mapping[str, Any]) -> list[str | None]:
    funding = _label(FUNDING, answers.get("funding"))
    if answers.get("funding") == "self_funded" and answers.get("budget_band"):
        funding = f"{funding} ({_label(BUDGET_BANDS, answers.get('budget_band'))})"
    if answers.get("funding") == "private_insurance" and answers.get("insurer"):
        funding = f"{funding} ({answers['insurer']})"
    return [
        _line("Age", answers.get("age")),
        _line("Gender", _label(GENDERS, answers.get("gender"))),
        _line("Treatment wanted", _label(TREATMENTS, answers.get("treatment_wanted"))),
        _line("Funding", funding),
        _line("Timeframe", _label(TIMEFRAMES, answers.get("timeframe"))),
    ]


def _health(answers: Mapping[str, Any]) -> list[str | None]:
    substances = [SUBSTANCES[s] for s in answers.get("substances") or [] if s in SUBSTANCES]
    signs = [label for key, label in DEPENDENCE_SIGNS.items() if answers.get(key)]
    conditions = [label for key, label in MENTAL_HEALTH.items() if answers.get(key)]
    if answers.get("mental_health_other"):
        conditions.append(str(answers["mental_health_other"]))
    return [
        _line("Primary substance", _label(SUBSTANCES, answers.get("primary_substance"))),
        _line("Substances", ", ".join(substances)),
        _line("Signs of dependence", ", ".join(signs)),
        _line("Co-occurring mental health", ", ".join(conditions)),
        _line("Previous treatment", "yes" if answers.get("previous_treatment") else None),
        _line("Pregnant", "yes" if answers.get("pregnant") else None),
        _line("Mobility needs", answers.get("mobility_needs")),
    ]


def build_summary(facts: SummaryFacts) -> tuple[str, str]:
    """(subject, body) of the referral summary email to the clinic's admissions team."""
    subject = f"Referral {facts.reference}: {facts.client_name}"
    lines: list[str | None] = [
        f"Dear {facts.clinic} admissions team,",
        "",
        f"We are referring a client to you (our reference {facts.reference}). They have agreed "
        "to us sharing these details with you.",
        "",
        _line("Name", facts.client_name),
        _line("Phone", facts.phone),
        _line("Email", facts.email),
        _line("Best time to call", facts.best_time_to_call),
        *_about(facts.answers),
        "",
    ]
    health = [line for line in _health(facts.answers) if line]
    if facts.share_health_details and health:
        lines += health
    elif not facts.share_health_details:
        lines.append(NOT_SHARED)
    lines += [
        "",
        "Please reply to say whether you can accept this client, and when.",
        f"{facts.advisor}, admissions team"
        + (f", {facts.service_phone}" if facts.service_phone else ""),
    ]
    return subject, "\n".join(line for line in lines if line is not None)
