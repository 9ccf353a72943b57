"""Rotas, overrides, who is on call, the gap check, and escalation policies (service tier).

Every refused input is checked twice: the clear message, and that no row was written.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from sqlalchemy import select

from crm import clock
from crm.auth.models import User
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.oncall import policies, rotas
from crm.oncall.models import EscalationPolicy, EscalationStep, Rota, RotaMember, RotaOverride
from crm.privacy.models import AuditEvent
from tests.services.oncall_factories import (
    SYSTEM,
    count,
    deactivate,
    person,
    policy,
    rota,
    rota_step,
    user_step,
    webhook_step,
)

ROTA_TABLES = (Rota, RotaMember, RotaOverride, AuditEvent)
POLICY_TABLES = (EscalationPolicy, EscalationStep, AuditEvent)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def counts(models: tuple[Any, ...]) -> dict[str, int]:
    db.session.rollback()  # only what was committed
    return {m.__tablename__: count(m) for m in models}


@pytest.fixture
def team(db_session: Any) -> dict[str, User]:
    return {name: person(name=name) for name in ("Alice Oncall", "Bob Backup", "Carol Cover")}


# --- rotas -------------------------------------------------------------------------------------


def test_a_saved_rota_keeps_its_members_in_order(team: dict[str, User]) -> None:
    alice, bob, carol = team.values()
    row = rota([carol, alice, bob], name="Admissions nights", shift_days=1)
    db.session.expire_all()
    stored = db.session.get(Rota, row.id)
    assert stored is not None
    assert (stored.name, stored.shift_days, stored.handoff_time) == (
        "Admissions nights",
        1,
        time(9),
    )
    assert [m.user_id for m in stored.members] == [carol.id, alice.id, bob.id]
    assert [m.position for m in stored.members] == [0, 1, 2]
    assert len(stored.ical_token) >= 32


def test_a_rota_can_be_edited_keeping_some_members(team: dict[str, User]) -> None:
    alice, bob, carol = team.values()
    row = rota([alice, bob])
    rotas.save_rota(
        "Renamed",
        [bob.id, alice.id, carol.id],
        2,
        time(8),
        date(2026, 2, 2),
        "Europe/London",
        SYSTEM,
        rota_id=row.id,
    )
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Rota, row.id)
    assert stored is not None
    assert (stored.name, stored.shift_days, stored.handoff_time) == ("Renamed", 2, time(8))
    assert [m.user_id for m in stored.members] == [bob.id, alice.id, carol.id]
    assert count(RotaMember, RotaMember.rota_id == row.id) == 3


def _save(members: list[int], **changes: Any) -> Rota:
    args: dict[str, Any] = {
        "name": "Weekend cover",
        "member_ids": members,
        "shift_days": 7,
        "handoff": time(9),
        "starts_on": date(2026, 3, 23),
        "timezone": "Europe/London",
        "actor": SYSTEM,
    }
    args.update(changes)
    return rotas.save_rota(**args)


@pytest.mark.parametrize(
    ("case", "field", "message"),
    [
        ("no members", "members", "A rota needs at least one member."),
        ("duplicate members", "members", "A person can appear only once in a rota's order."),
        ("unknown time zone", "timezone", "Unknown time zone 'Mars/Olympus_Mons'"),
        ("zero-day shifts", "shift_days", "Shift length must be between 1 and 28 days."),
        ("no name", "name", "Name the rota (up to 120 characters)."),
        ("inactive member", "members", "Unknown or inactive staff member."),
        ("unknown member", "members", "Unknown or inactive staff member."),
    ],
)
def test_a_rota_that_could_not_work_is_refused_and_nothing_is_written(
    team: dict[str, User], case: str, field: str, message: str
) -> None:
    alice, bob, carol = team.values()
    deactivate(carol)
    members = [alice.id, bob.id]
    changes: dict[str, Any] = {
        "no members": {"member_ids": []},
        "duplicate members": {"member_ids": [alice.id, bob.id, alice.id]},
        "unknown time zone": {"timezone": "Mars/Olympus_Mons"},
        "zero-day shifts": {"shift_days": 0},
        "no name": {"name": "   "},
        "inactive member": {"member_ids": [alice.id, carol.id]},
        "unknown member": {"member_ids": [alice.id, 10**9]},
    }[case]
    before = counts(ROTA_TABLES)
    with pytest.raises(DomainError) as refused:
        _save(members, **changes)
    assert refused.value.kind is ErrorKind.INVALID
    assert any(message in text for text in refused.value.field_errors[field]), refused.value
    assert counts(ROTA_TABLES) == before


def test_a_second_rota_with_the_same_name_is_refused_clearly(team: dict[str, User]) -> None:
    alice, bob, _ = team.values()
    rota([alice], name="Admissions on call")
    before = counts(ROTA_TABLES)
    with pytest.raises(DomainError) as refused:
        _save([bob.id], name="Admissions on call")
    assert "already" in refused.value.field_errors["name"][0]
    assert counts(ROTA_TABLES) == before


def test_a_refused_edit_leaves_the_rota_as_it_was(team: dict[str, User]) -> None:
    alice, bob, _ = team.values()
    row = rota([alice, bob], name="Days")
    with pytest.raises(DomainError):
        _save([], name="Days", rota_id=row.id)
    db.session.rollback()
    db.session.expire_all()
    stored = db.session.get(Rota, row.id)
    assert stored is not None
    assert [m.user_id for m in stored.members] == [alice.id, bob.id]


# --- overrides and who is on call --------------------------------------------------------------


def test_on_call_follows_the_rota_and_its_overrides(team: dict[str, User]) -> None:
    alice, bob, carol = team.values()
    row = rota([alice, bob], shift_days=1, starts_on=date(2026, 3, 28))
    # Saturday 28th (GMT) Alice, Sunday 29th from 09:00 BST (08:00 UTC) Bob.
    assert rotas.on_call(row.id, utc(2026, 3, 29, 7, 59)) == alice
    assert rotas.on_call(row.id, utc(2026, 3, 29, 8, 0)) == bob
    rotas.add_override(
        row.id, carol.id, utc(2026, 3, 29, 12), utc(2026, 3, 29, 18), "Bob at a wedding", SYSTEM
    )
    db.session.commit()
    assert rotas.on_call(row.id, utc(2026, 3, 29, 12)) == carol
    assert rotas.on_call(row.id, utc(2026, 3, 29, 18)) == bob
    with clock.pinned(utc(2026, 3, 29, 13)):
        assert rotas.on_call(row.id) == carol
    # The timeline shows the cover as its own shift; handoffs stay at 09:00 local.
    timeline = rotas.shifts(row.id, utc(2026, 3, 28, 9), utc(2026, 3, 30, 8))
    assert [(s.user_id, s.starts_at, s.ends_at) for s in timeline] == [
        (alice.id, utc(2026, 3, 28, 9), utc(2026, 3, 29, 8)),
        (bob.id, utc(2026, 3, 29, 8), utc(2026, 3, 29, 12)),
        (carol.id, utc(2026, 3, 29, 12), utc(2026, 3, 29, 18)),
        (bob.id, utc(2026, 3, 29, 18), utc(2026, 3, 30, 8)),
    ]
    stored = db.session.scalars(select(RotaOverride)).one()
    assert (stored.reason, stored.user_id) == ("Bob at a wedding", carol.id)


def test_an_inactive_person_on_call_means_nobody(team: dict[str, User]) -> None:
    alice, bob, _ = team.values()
    row = rota([alice, bob], shift_days=1, starts_on=date(2026, 6, 1))
    deactivate(alice)
    assert rotas.on_call(row.id, utc(2026, 6, 1, 10)) is None
    assert rotas.on_call(row.id, utc(2026, 6, 2, 10)) == bob


@pytest.mark.parametrize(
    ("starts", "ends"),
    [
        (utc(2026, 5, 1, 16), utc(2026, 5, 1, 20)),  # overlaps the end
        (utc(2026, 5, 1, 6), utc(2026, 5, 1, 10)),  # overlaps the start
        (utc(2026, 5, 1, 10), utc(2026, 5, 1, 11)),  # inside
        (utc(2026, 4, 30), utc(2026, 5, 2)),  # around
    ],
)
def test_overlapping_overrides_are_refused_and_nothing_is_written(
    team: dict[str, User], starts: datetime, ends: datetime
) -> None:
    alice, bob, carol = team.values()
    row = rota([alice])
    rotas.add_override(row.id, bob.id, utc(2026, 5, 1, 9), utc(2026, 5, 1, 17), None, SYSTEM)
    db.session.commit()
    before = counts(ROTA_TABLES)
    with pytest.raises(DomainError, match=r"Overrides overlap: remove or shorten one") as refused:
        rotas.add_override(row.id, carol.id, starts, ends, "double booked", SYSTEM)
    assert refused.value.field_errors["starts_at"]
    assert counts(ROTA_TABLES) == before
    # Touching is not overlapping.
    rotas.add_override(row.id, carol.id, utc(2026, 5, 1, 17), utc(2026, 5, 1, 20), None, SYSTEM)
    db.session.commit()
    assert count(RotaOverride) == before["rota_overrides"] + 1


def test_bad_overrides_are_refused_and_nothing_is_written(team: dict[str, User]) -> None:
    alice, bob, carol = team.values()
    row = rota([alice])
    deactivate(carol)
    before = counts(ROTA_TABLES)
    with pytest.raises(DomainError, match=r"An override must end after it starts."):
        rotas.add_override(row.id, bob.id, utc(2026, 5, 1, 9), utc(2026, 5, 1, 9), None, SYSTEM)
    with pytest.raises(DomainError, match=r"Every rota member must be an active staff member."):
        rotas.add_override(row.id, carol.id, utc(2026, 5, 1, 9), utc(2026, 5, 2), None, SYSTEM)
    with pytest.raises(DomainError, match=r"No such rota.") as missing:
        rotas.add_override(10**9, bob.id, utc(2026, 5, 1, 9), utc(2026, 5, 2), None, SYSTEM)
    assert missing.value.kind is ErrorKind.NOT_FOUND
    assert counts(ROTA_TABLES) == before


def test_the_gap_check_warns_of_uncovered_hours_in_the_next_fourteen_days(
    team: dict[str, User],
) -> None:
    alice, bob, carol = team.values()
    rota([alice, bob], name="A rota", shift_days=7, starts_on=date(2026, 3, 2))  # Mondays
    now = utc(2026, 3, 20, 12)
    assert rotas.gap_check(now=now) == []
    deactivate(bob)  # Bob's week is 23-30 March
    found = rotas.gap_check(now=now)
    assert [(g.rota, g.starts_at, g.ends_at) for g in found] == [
        ("A rota", utc(2026, 3, 23, 9), utc(2026, 3, 30, 8)),  # 09:00 GMT → 09:00 BST
    ]
    # Carol covers the first half of Bob's week: the gap shrinks to what is left.
    row = db.session.scalars(select(Rota).where(Rota.name == "A rota")).one()
    rotas.add_override(row.id, carol.id, utc(2026, 3, 23, 9), utc(2026, 3, 27), None, SYSTEM)
    db.session.commit()
    found = rotas.gap_check(now=now)
    assert [(g.starts_at, g.ends_at) for g in found] == [(utc(2026, 3, 27), utc(2026, 3, 30, 8))]
    # Beyond fourteen days is not reported.
    assert rotas.gap_check(days=2, now=now) == []
    # A rota nobody has started yet is a gap over the whole window.
    rota([carol], name="B rota", starts_on=date(2026, 4, 1))
    late = rotas.gap_check(now=now, days=14)
    assert ("B rota", now, datetime(2026, 4, 1, 9, tzinfo=clock.LONDON)) in [
        (g.rota, g.starts_at, g.ends_at) for g in late
    ]


# --- escalation policies -----------------------------------------------------------------------


def test_a_policy_keeps_its_steps_in_order(team: dict[str, User]) -> None:
    alice, bob, _ = team.values()
    row = rota([alice])
    saved = policy(
        [rota_step(row, 5), user_step(bob, 10), webhook_step("https://chat.example/hook", 15)],
        repeat_count=2,
        name="Out of hours",
    )
    db.session.expire_all()
    stored = db.session.get(EscalationPolicy, saved.id)
    assert stored is not None
    assert (stored.name, stored.repeat_count, stored.is_default) == ("Out of hours", 2, True)
    assert [(s.position, s.target, s.delay_minutes) for s in stored.steps] == [
        (0, "rota", 5),
        (1, "user", 10),
        (2, "webhook", 15),
    ]
    assert (stored.steps[0].rota_id, stored.steps[1].user_id) == (row.id, bob.id)
    assert stored.steps[2].webhook_url == "https://chat.example/hook"
    # A new default replaces the old one.
    second = policy([user_step(bob, 5)])
    db.session.expire_all()
    defaults = db.session.scalars(select(EscalationPolicy.id).where(EscalationPolicy.is_default))
    assert list(defaults) == [second.id]


@pytest.mark.parametrize(
    ("case", "field", "message"),
    [
        ("no steps", "steps", "A policy needs at least one step."),
        ("zero delay", "steps", "Step 1: Each step needs a delay of at least 1 minute"),
        ("negative delay", "steps", "Step 2: Each step needs a delay of at least 1 minute"),
        ("missing delay", "steps", "Step 1: Each step needs a delay of at least 1 minute"),
        ("day-long delay", "steps", "Step 1: A step's delay must be at most 24 hours."),
        ("http webhook", "steps", "Step 1: Webhook URLs must start with https://"),
        ("javascript webhook", "steps", "Step 1: Webhook URLs must start with https://"),
        ("no rota", "steps", "Step 1: Choose a rota."),
        ("inactive person", "steps", "Step 1: Choose an active staff member."),
        ("unknown target", "steps", "Step 1: Choose who a step notifies"),
        ("too many repeats", "repeat_count", "Repeat between 0 and 5 times."),
        ("no name", "name", "Name the policy (up to 120 characters)."),
    ],
)
def test_a_bad_policy_is_refused_and_nothing_is_written(
    team: dict[str, User], case: str, field: str, message: str
) -> None:
    alice, bob, carol = team.values()
    deactivate(carol)
    ok = user_step(alice, 5)
    steps, repeat, name = {
        "no steps": ([], 1, "P"),
        "zero delay": ([user_step(alice, 0)], 1, "P"),
        "negative delay": ([ok, user_step(bob, -5)], 1, "P"),
        "missing delay": ([policies.StepInput("user", None, alice.id, None, None)], 1, "P"),
        "day-long delay": ([user_step(alice, 24 * 60 + 1)], 1, "P"),
        "http webhook": ([webhook_step("http://chat.example/hook", 5)], 1, "P"),
        "javascript webhook": ([webhook_step("javascript:alert(1)", 5)], 1, "P"),
        "no rota": ([policies.StepInput("rota", 10**9, None, None, 5)], 1, "P"),
        "inactive person": ([user_step(carol, 5)], 1, "P"),
        "unknown target": ([policies.StepInput("pigeon", None, None, None, 5)], 1, "P"),
        "too many repeats": ([ok], 6, "P"),
        "no name": ([ok], 1, ""),
    }[case]
    before = counts(POLICY_TABLES)
    with pytest.raises(DomainError, match=r"The escalation policy could not be saved.") as refused:
        policies.save_policy(name, repeat, False, steps, SYSTEM, allow_http=False)
    assert any(text.startswith(message) for text in refused.value.field_errors[field]), (
        refused.value.field_errors
    )
    assert counts(POLICY_TABLES) == before


def test_plain_http_webhooks_are_allowed_only_where_configured(team: dict[str, User]) -> None:
    saved = policies.save_policy(
        "Dev", 0, False, [webhook_step("http://127.0.0.1:9/hook", 5)], SYSTEM, allow_http=True
    )
    db.session.commit()
    assert saved.steps[0].webhook_url == "http://127.0.0.1:9/hook"


def test_a_second_policy_with_the_same_name_is_refused_clearly(team: dict[str, User]) -> None:
    alice = team["Alice Oncall"]
    policy([user_step(alice, 5)], name="Nights")
    before = counts(POLICY_TABLES)
    with pytest.raises(DomainError) as refused:
        policies.save_policy("Nights", 0, False, [user_step(alice, 5)], SYSTEM, allow_http=False)
    assert "already" in refused.value.field_errors["name"][0]
    assert counts(POLICY_TABLES) == before
