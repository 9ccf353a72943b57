"""Retention periods: whole days above zero, cut-offs, and the words a run is reported in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm.privacy import retention_rules as rules


@pytest.mark.parametrize("value", [0, -1, "0", "-30"])
def test_zero_or_negative_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="at least one day"):
        rules.check_days(value)


@pytest.mark.parametrize("value", ["", "abc", "1.5", None, True, "12 months"])
def test_not_a_whole_number_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="whole number of days"):
        rules.check_days(value)


def test_too_long_is_refused_and_good_values_pass() -> None:
    with pytest.raises(ValueError, match="more than 36500"):
        rules.check_days(36501)
    assert rules.check_days(" 365 ") == 365
    assert rules.check_days(30) == 30


def test_cutoff_and_description() -> None:
    now = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    assert rules.cutoff(now, 30) == datetime(2026, 11, 7, 2, 0, tzinfo=UTC)
    lines = rules.describe({"spam_leads": 12, "unconverted_leads": 400, "contacts": 390})
    assert lines[0] == "412 leads anonymised (400 never converted, 12 spam)"
    assert lines[1] == "390 contact records anonymised"
    assert not any("fee records" in line for line in lines)
    assert "kept" in rules.describe({"fee_records": 3})[-1]


def test_records_the_law_keeps_six_years_cannot_be_kept_shorter() -> None:
    with pytest.raises(ValueError, match="at least six years"):
        rules.check_period("audit_events", 365)
    with pytest.raises(ValueError, match="at least six years"):
        rules.check_period("fee_records", 2191)
    assert rules.check_period("fee_records", 2192) == 2192
    assert rules.check_period("spam_leads", 1) == 1
