"""The breach register's pure rules: the 72-hour ICO deadline, its countdown, and what a valid
incident, assessment, decision, notification and closure look like."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.privacy import breach_rules as rules

FOUND = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)  # Thursday 09:30 GMT
NOW = datetime(2026, 12, 4, 10, 18, tzinfo=UTC)  # 24 h 48 min later


def test_the_ico_deadline_is_72_hours_after_discovery() -> None:
    assert rules.ico_deadline(FOUND) == datetime(2026, 12, 6, 9, 30, tzinfo=UTC)


def test_the_deadline_counts_real_hours_across_the_clock_change() -> None:
    # Discovered 10:00 BST on Saturday 24 October 2026; the clocks go back on the Sunday.
    found = datetime(2026, 10, 24, 9, 0, tzinfo=UTC)
    deadline = rules.ico_deadline(found)
    assert deadline - found == timedelta(hours=72)
    assert deadline.astimezone(rules.LONDON).hour == 9  # 09:00 GMT: 72 real hours, not 10:00


@given(st.datetimes(timezones=st.just(UTC)))
def test_the_deadline_is_always_exactly_72_hours(found: datetime) -> None:
    try:
        deadline = rules.ico_deadline(found)
    except OverflowError:
        return
    assert deadline - found == timedelta(hours=72)


@pytest.mark.parametrize(
    ("now", "text", "urgent", "state"),
    [
        (FOUND, "72 h 0 min left", False, "left"),
        (FOUND + timedelta(hours=30, minutes=48), "41 h 12 min left", False, "left"),
        (FOUND + timedelta(hours=48), "24 h 0 min left", False, "left"),
        (FOUND + timedelta(hours=48, seconds=1), "23 h 59 min left", True, "left"),
        (FOUND + timedelta(hours=71, minutes=48), "12 min left", True, "left"),
        (FOUND + timedelta(hours=72), "overdue by 0 min", True, "overdue"),
        (FOUND + timedelta(hours=75), "overdue by 3 h 0 min", True, "overdue"),
        (FOUND + timedelta(hours=75, minutes=20), "overdue by 3 h 20 min", True, "overdue"),
    ],
)
def test_the_countdown_until_the_ico_is_told(
    now: datetime, text: str, urgent: bool, state: str
) -> None:
    assert rules.countdown(FOUND, now) == rules.Countdown(text, urgent, state)


def test_the_countdown_runs_on_while_the_decision_is_to_notify() -> None:
    shown = rules.countdown(FOUND, FOUND + timedelta(hours=75), notify_ico=True)
    assert (shown.text, shown.urgent) == ("overdue by 3 h 0 min", True)


def test_once_the_ico_is_notified_the_countdown_stops_in_uk_time() -> None:
    notified = datetime(2026, 12, 5, 14, 2, tzinfo=UTC)  # GMT in December
    shown = rules.countdown(
        FOUND, NOW + timedelta(days=9), notify_ico=True, ico_notified_at=notified
    )
    assert shown == rules.Countdown("ICO notified 05 Dec 14:02", False, "notified")
    summer = datetime(2026, 7, 5, 13, 2, tzinfo=UTC)  # 14:02 BST
    assert (
        rules.countdown(summer, summer, ico_notified_at=summer).text == "ICO notified 05 Jul 14:02"
    )


def test_a_decision_not_to_notify_stops_the_countdown() -> None:
    shown = rules.countdown(FOUND, FOUND + timedelta(hours=100), notify_ico=False)
    assert shown == rules.Countdown("decided not to notify", False, "not_notifying")


def _incident(**changes: object) -> rules.FieldErrors:
    values: dict[str, object] = {
        "title": "Laptop left on a train",
        "discovered_at": FOUND,
        "occurred_at": FOUND - timedelta(hours=2),
        "people_affected": 12,
        "now": NOW,
    }
    values.update(changes)
    return rules.check_incident(**values)  # type: ignore[arg-type]


def test_a_valid_incident_has_no_problems() -> None:
    assert _incident() == {}
    assert _incident(occurred_at=None, people_affected=0, discovered_at=NOW) == {}
    assert _incident(occurred_at=FOUND) == {}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"title": "   "}, "title", "title"),
        ({"title": "x" * 201}, "title", "at most 200"),
        ({"discovered_at": None}, "discovered_at", "when the breach was discovered"),
        ({"discovered_at": NOW + timedelta(minutes=1)}, "discovered_at", "future"),
        ({"occurred_at": FOUND + timedelta(minutes=1)}, "occurred_at", "after it was discovered"),
        ({"occurred_at": NOW + timedelta(hours=1)}, "occurred_at", "future"),
        ({"people_affected": -1}, "people_affected", "cannot be negative"),
        ({"people_affected": None}, "people_affected", "how many people"),
    ],
)
def test_a_bad_incident_names_the_field(changes: dict[str, object], field: str, words: str) -> None:
    errors = _incident(**changes)
    assert list(errors) == [field]
    assert words in " ".join(errors[field])


def test_every_problem_is_reported_at_once() -> None:
    errors = _incident(title="", discovered_at=NOW + timedelta(days=1), people_affected=-3)
    assert set(errors) == {"title", "discovered_at", "people_affected"}


def _assessment(**changes: object) -> rules.FieldErrors:
    values: dict[str, object] = {
        "risk_level": "high",
        "risk_assessment": "Unencrypted; names and health details of clients.",
        "data_involved": "Names, phone numbers, substance use",
        "people_affected": 12,
    }
    values.update(changes)
    return rules.check_assessment(**values)  # type: ignore[arg-type]


def test_assessments() -> None:
    assert _assessment() == {}
    assert _assessment(risk_level="unassessed", risk_assessment="") == {}
    assert list(_assessment(risk_level="catastrophic")) == ["risk_level"]
    assert list(_assessment(risk_level="low", risk_assessment=" ")) == ["risk_assessment"]
    assert list(_assessment(people_affected=-1)) == ["people_affected"]
    assert list(_assessment(data_involved="x" * 10_001)) == ["data_involved"]


def test_the_risk_levels_match_the_table() -> None:
    from crm.privacy.models import RISK_LEVELS

    assert rules.RISK_LEVELS == RISK_LEVELS


@pytest.mark.parametrize("notify", [True, False])
def test_a_decision_needs_a_reason(notify: bool) -> None:
    assert rules.check_decision(notify, "High risk to people's health data.", "the ICO") == {}
    errors = rules.check_decision(notify, "  ", "the ICO")
    assert errors == {"reason": ["Give the reason for the decision about notifying the ICO."]}


def test_a_decision_must_be_made() -> None:
    errors = rules.check_decision(None, "a reason", "the people affected")
    assert errors == {"notify": ["Choose whether to notify the people affected."]}


def test_when_someone_was_notified() -> None:
    assert rules.check_notified_at(FOUND, FOUND, NOW) == {}
    assert rules.check_notified_at(NOW, FOUND, NOW) == {}
    early = rules.check_notified_at(FOUND - timedelta(minutes=1), FOUND, NOW)
    assert early == {"notified_at": ["They cannot have been notified before it was discovered."]}
    future = rules.check_notified_at(NOW + timedelta(minutes=1), FOUND, NOW)
    assert future == {"notified_at": ["The notification time cannot be in the future."]}
    assert list(rules.check_notified_at(None, FOUND, NOW)) == ["notified_at"]


def test_references_and_actions() -> None:
    assert rules.check_reference("") == {}
    assert rules.check_reference("IC-123456-A1B2") == {}
    assert list(rules.check_reference("x" * 61)) == ["reference"]
    assert rules.check_action("Asked the finder to delete the email.") == {}
    assert rules.check_action("  \n ") == {"text": ["Describe the action taken."]}
    assert list(rules.check_action("x" * 1001)) == ["text"]


@pytest.mark.parametrize(
    ("notify_ico", "ico_at", "notify_people", "people_at", "problems"),
    [
        (True, NOW, True, NOW, []),
        (False, None, False, None, []),
        (True, NOW, False, None, []),
        (None, None, False, None, ["Decide whether to notify the ICO."]),
        (False, None, None, None, ["Decide whether to notify the people affected."]),
        (True, None, False, None, ["Record when the ICO was notified."]),
        (False, None, True, None, ["Record when the people affected were notified."]),
        (
            None,
            None,
            None,
            None,
            ["Decide whether to notify the ICO.", "Decide whether to notify the people affected."],
        ),
    ],
)
def test_closing_needs_both_decisions_carried_out(
    notify_ico: bool | None,
    ico_at: datetime | None,
    notify_people: bool | None,
    people_at: datetime | None,
    problems: list[str],
) -> None:
    found = rules.check_close(
        notify_ico=notify_ico,
        ico_notified_at=ico_at,
        notify_people=notify_people,
        people_notified_at=people_at,
    )
    assert found == problems


def test_an_action_line_is_dated_in_uk_time_and_kept_to_one_line() -> None:
    at = datetime(2026, 7, 5, 13, 2, tzinfo=UTC)
    line = rules.action_line(at, "Ann Admin", "Called the clinic.\nThey deleted the email.")
    assert line == "05 Jul 2026 14:02 Ann Admin: Called the clinic. They deleted the email."
    log = rules.append_action("", line)
    assert log == line
    assert rules.append_action(log, "second") == f"{line}\nsecond"
