"""Retention periods as rules: a period is a whole number of days above zero, and each one
turns into a cut-off instant for a run. Pure: values in, values out."""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_DAYS = 36500  # a hundred years: anything longer is a typing mistake
# What the law keeps for six years (HMRC for fees; the audit trail, which the database itself
# refuses to delete before then): a period cannot be set shorter.
SIX_YEARS = 2192
MINIMUM_DAYS = {"audit_events": SIX_YEARS, "fee_records": SIX_YEARS}
# The steps of a run, in order: each anonymises or deletes what its period has passed.
STEPS = ("spam_leads", "unconverted_leads", "audit_events", "exports")


def check_days(value: object) -> int:
    """A retention period in days; ValueError saying what is wrong otherwise."""
    if isinstance(value, bool) or value is None:
        raise ValueError("Give the period as a whole number of days.")
    try:
        days = int(str(value).strip())
    except ValueError:
        raise ValueError("Give the period as a whole number of days.") from None
    if str(value).strip() != str(days):
        raise ValueError("Give the period as a whole number of days.")
    if days <= 0:
        raise ValueError(
            "A retention period must be at least one day (zero or less would erase at once)."
        )
    if days > MAX_DAYS:
        raise ValueError(f"A retention period cannot be more than {MAX_DAYS} days.")
    return days


def check_period(code: str, value: object) -> int:
    """``check_days`` plus the legal minimum of the kind of record ``code`` names."""
    days = check_days(value)
    minimum = MINIMUM_DAYS.get(code)
    if minimum is not None and days < minimum:
        raise ValueError(f"These records must be kept at least six years ({minimum} days).")
    return days


def cutoff(now: datetime, days: int) -> datetime:
    """Records last touched before this instant have passed their period."""
    return now - timedelta(days=check_days(days))


def describe(counts: dict[str, int]) -> list[str]:
    """What a run did (or would do), in words for the admin."""
    lines = []
    spam, unconverted = counts.get("spam_leads", 0), counts.get("unconverted_leads", 0)
    leads = spam + unconverted
    lines.append(
        f"{leads:,} lead{'s' if leads != 1 else ''} anonymised "
        f"({unconverted:,} never converted, {spam:,} spam)"
    )
    lines.append(f"{counts.get('contacts', 0):,} contact records anonymised")
    lines.append(f"{counts.get('audit_events', 0):,} audit events older than their period deleted")
    lines.append(f"{counts.get('exports', 0):,} expired subject access exports deleted")
    if counts.get("fee_records"):
        lines.append(
            f"{counts['fee_records']:,} fee records are past their period: they are kept "
            "(the ledger is never rewritten) and listed for review"
        )
    return lines
