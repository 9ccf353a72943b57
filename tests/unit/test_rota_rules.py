"""Rota rules: handoffs at a local wall-clock time across the clock changes, overrides, gaps,
and properties over 2026-2027 checked against an oracle built straight from zoneinfo. Pure."""

from __future__ import annotations

import itertools
from bisect import bisect_right
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crm.oncall.rota import (
    Override,
    RotaSpec,
    check_overrides,
    gaps,
    on_call_at,
    shift_index,
    shifts,
)
from crm.oncall.wallclock import LONDON

ALICE, BOB, CAROL = 1, 2, 3


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def daily(starts_on: date = date(2026, 3, 26), handoff: time = time(9)) -> RotaSpec:
    return RotaSpec((ALICE, BOB, CAROL), 1, handoff, starts_on)


# --- handoffs across the clock changes -------------------------------------------------------


def test_handoffs_stay_at_nine_local_across_spring_forward() -> None:
    spec = daily()  # Alice from Thu 26 March 09:00, Bob the 27th, Carol the 28th, Alice the 29th
    timeline = shifts(spec, [], utc(2026, 3, 27, 9), utc(2026, 3, 31, 8))
    assert [(s.user_id, s.starts_at, s.ends_at) for s in timeline] == [
        (BOB, utc(2026, 3, 27, 9), utc(2026, 3, 28, 9)),
        (CAROL, utc(2026, 3, 28, 9), utc(2026, 3, 29, 8)),  # 09:00 GMT → 09:00 BST: 23 h
        (ALICE, utc(2026, 3, 29, 8), utc(2026, 3, 30, 8)),
        (BOB, utc(2026, 3, 30, 8), utc(2026, 3, 31, 8)),
    ]
    assert [s.ends_at - s.starts_at for s in timeline][1] == timedelta(hours=23)
    assert all(s.starts_at.astimezone(LONDON).time() == time(9) for s in timeline)
    # Either side of Sunday's handoff (08:59 BST, 09:00 BST).
    assert on_call_at(spec, [], utc(2026, 3, 29, 7, 59)) == CAROL
    assert on_call_at(spec, [], utc(2026, 3, 29, 8, 0)) == ALICE
    # 08:30 UTC looks like "before nine" in UTC, but it is 09:30 in London.
    assert on_call_at(spec, [], utc(2026, 3, 29, 8, 30)) == ALICE


def test_handoffs_stay_at_nine_local_across_fall_back() -> None:
    spec = daily(starts_on=date(2026, 10, 22))
    timeline = shifts(spec, [], utc(2026, 10, 23, 8), utc(2026, 10, 27, 9))
    assert [(s.user_id, s.starts_at, s.ends_at) for s in timeline] == [
        (BOB, utc(2026, 10, 23, 8), utc(2026, 10, 24, 8)),
        (CAROL, utc(2026, 10, 24, 8), utc(2026, 10, 25, 9)),  # 09:00 BST → 09:00 GMT: 25 h
        (ALICE, utc(2026, 10, 25, 9), utc(2026, 10, 26, 9)),
        (BOB, utc(2026, 10, 26, 9), utc(2026, 10, 27, 9)),
    ]
    assert timeline[1].ends_at - timeline[1].starts_at == timedelta(hours=25)
    assert all(s.starts_at.astimezone(LONDON).time() == time(9) for s in timeline)
    assert on_call_at(spec, [], utc(2026, 10, 25, 8, 30)) == CAROL  # 08:30 GMT
    assert on_call_at(spec, [], utc(2026, 10, 25, 9, 0)) == ALICE


def test_a_weekly_shift_spanning_each_change_is_an_hour_shorter_or_longer() -> None:
    spec = RotaSpec((ALICE, BOB), 7, time(9), date(2026, 3, 23))  # Mondays at 09:00
    spring = shifts(spec, [], utc(2026, 3, 23, 9), utc(2026, 4, 6, 8))
    assert [(s.user_id, s.ends_at - s.starts_at) for s in spring] == [
        (ALICE, timedelta(days=7, hours=-1)),
        (BOB, timedelta(days=7)),
    ]
    autumn = shifts(spec, [], utc(2026, 10, 19, 8), utc(2026, 11, 2, 9))
    assert [s.ends_at - s.starts_at for s in autumn] == [
        timedelta(days=7, hours=1),
        timedelta(days=7),
    ]
    assert all(s.starts_at.astimezone(LONDON).time() == time(9) for s in spring + autumn)


def test_a_handoff_in_the_missing_hour_happens_at_the_documented_instant() -> None:
    spec = daily(starts_on=date(2026, 3, 27), handoff=time(1, 30))
    # 01:30 does not exist on 29 March: the handoff moves forward by the gap, to 02:30 BST.
    assert on_call_at(spec, [], utc(2026, 3, 29, 1, 29)) == BOB
    assert on_call_at(spec, [], utc(2026, 3, 29, 1, 30)) == CAROL
    # In autumn 01:30 happens twice; the handoff is the first (00:30 UTC).
    autumn = daily(starts_on=date(2026, 10, 23), handoff=time(1, 30))
    assert on_call_at(autumn, [], utc(2026, 10, 25, 0, 29)) == BOB
    assert on_call_at(autumn, [], utc(2026, 10, 25, 0, 30)) == CAROL


def test_nobody_is_on_call_before_the_rota_starts() -> None:
    spec = daily()
    assert shift_index(spec, utc(2026, 3, 26, 8, 59)) is None
    assert on_call_at(spec, [], utc(2026, 3, 26, 8, 59)) is None
    assert on_call_at(spec, [], utc(2026, 3, 26, 9)) == ALICE
    assert on_call_at(None, [], utc(2026, 3, 26, 9)) is None


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "shift_days", "message"),
    [
        ((), 7, "A rota needs at least one member."),
        ((ALICE, BOB, ALICE), 7, "A person can appear only once in a rota's order."),
        ((ALICE,), 0, "Shift length must be between 1 and 28 days."),
        ((ALICE,), 29, "Shift length must be between 1 and 28 days."),
    ],
)
def test_a_rota_that_could_not_work_is_refused(
    members: tuple[int, ...], shift_days: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RotaSpec(members, shift_days, time(9), date(2026, 1, 5))


def test_an_override_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match=r"An override must end after it starts."):
        Override(ALICE, utc(2026, 5, 1, 12), utc(2026, 5, 1, 12))


def test_overlapping_overrides_are_refused_and_touching_ones_allowed() -> None:
    first = Override(BOB, utc(2026, 5, 1, 9), utc(2026, 5, 1, 17))
    overlapping = Override(CAROL, utc(2026, 5, 1, 16), utc(2026, 5, 1, 20))
    with pytest.raises(ValueError, match=r"Overrides overlap: remove or shorten one"):
        check_overrides([overlapping, first])
    touching = Override(CAROL, utc(2026, 5, 1, 17), utc(2026, 5, 1, 20))
    assert check_overrides([touching, first]) == [first, touching]


def test_an_override_covers_part_of_a_shift_and_stays_one_shift_across_a_handoff() -> None:
    spec = daily()
    # Bob covers from Saturday 18:00 GMT to Sunday 12:00 BST, across the handoff at 09:00 BST.
    cover = Override(BOB, utc(2026, 3, 28, 18), utc(2026, 3, 29, 11))
    timeline = shifts(spec, [cover], utc(2026, 3, 28, 9), utc(2026, 3, 30, 8))
    assert [(s.user_id, s.starts_at, s.ends_at, s.override) for s in timeline] == [
        (CAROL, utc(2026, 3, 28, 9), utc(2026, 3, 28, 18), False),
        (BOB, utc(2026, 3, 28, 18), utc(2026, 3, 29, 11), True),
        (ALICE, utc(2026, 3, 29, 11), utc(2026, 3, 30, 8), False),
    ]
    assert on_call_at(spec, [cover], utc(2026, 3, 29, 10)) == BOB


def test_gaps_are_the_uncovered_hours_merged() -> None:
    spec = daily()
    start, end = utc(2026, 3, 27, 9), utc(2026, 3, 31, 8)
    # Carol (28th) and Alice (29th) have left: one gap from Saturday 09:00 to Monday 09:00.
    assert gaps(spec, [], start, end, active={BOB}) == [(utc(2026, 3, 28, 9), utc(2026, 3, 30, 8))]
    # Bob covering Sunday afternoon splits it in two.
    cover = Override(BOB, utc(2026, 3, 29, 12), utc(2026, 3, 29, 18))
    assert gaps(spec, [cover], start, end, active={BOB}) == [
        (utc(2026, 3, 28, 9), utc(2026, 3, 29, 12)),
        (utc(2026, 3, 29, 18), utc(2026, 3, 30, 8)),
    ]
    assert gaps(spec, [], start, end, active={ALICE, BOB, CAROL}) == []
    assert gaps(None, [], start, end, active={ALICE}) == [(start, end)]


# --- properties against an oracle --------------------------------------------------------------


def _oracle_instant(day: date, at: time) -> datetime:
    """The documented rule computed without the module: the first UTC instant whose London
    wall clock reads ``day at``; a time that does not exist moves forward an hour."""
    naive = datetime.combine(day, at)
    for wall in (naive, naive + timedelta(hours=1)):
        for offset in (timedelta(hours=1), timedelta(0)):
            candidate = (wall - offset).replace(tzinfo=UTC)
            if candidate.astimezone(LONDON).replace(tzinfo=None) == wall:
                return candidate
    raise AssertionError(f"no instant for {naive}")


def _oracle_boundaries(spec: RotaSpec, until: datetime) -> list[datetime]:
    result: list[datetime] = []
    for k in itertools.count():
        instant = _oracle_instant(
            spec.starts_on + timedelta(days=k * spec.shift_days), spec.handoff
        )
        result.append(instant)
        if instant > until:
            return result
    raise AssertionError("unreachable")


WINDOW_START, WINDOW_END = utc(2026, 1, 1), utc(2028, 1, 1)

specs = st.builds(
    RotaSpec,
    members=st.lists(st.integers(1, 50), min_size=1, max_size=6, unique=True).map(tuple),
    shift_days=st.integers(1, 28),
    handoff=st.sampled_from([time(0), time(1, 30), time(2), time(9), time(17, 45), time(23, 59)]),
    starts_on=st.dates(date(2025, 11, 1), date(2026, 6, 1)),
)
instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31, 23, 59), timezones=st.just(UTC)
)


@settings(max_examples=300, database=None, deadline=None)
@given(specs, instants)
@example(RotaSpec((1, 2, 3), 1, time(9), date(2026, 1, 1)), utc(2026, 3, 29, 8))
@example(RotaSpec((1, 2, 3), 1, time(9), date(2026, 1, 1)), utc(2026, 10, 25, 8, 59))
@example(RotaSpec((1, 2), 7, time(1, 30), date(2026, 3, 22)), utc(2026, 3, 29, 1, 30))
def test_on_call_is_the_member_whose_shift_contains_the_instant(
    spec: RotaSpec, instant: datetime
) -> None:
    bounds = _oracle_boundaries(spec, instant)
    k = bisect_right(bounds, instant) - 1  # bounds[k] <= instant < bounds[k + 1]
    expected = None if k < 0 else spec.members[k % len(spec.members)]
    assert on_call_at(spec, [], instant) == expected
    assert shift_index(spec, instant) == (None if k < 0 else k)


@st.composite
def overrides_in(draw: st.DrawFn, start: datetime, end: datetime) -> list[Override]:
    """Non-overlapping overrides (possibly touching) within [start - 1 day, end + 1 day)."""
    cursor = start - timedelta(days=1)
    result: list[Override] = []
    for _ in range(draw(st.integers(0, 4))):
        cursor += timedelta(minutes=draw(st.integers(0, 5 * 24 * 60)))
        length = timedelta(minutes=draw(st.integers(1, 4 * 24 * 60)))
        if cursor + length > end + timedelta(days=1):
            break
        result.append(Override(draw(st.integers(1, 60)), cursor, cursor + length))
        cursor += length
    return result


@st.composite
def timelines(draw: st.DrawFn) -> tuple[RotaSpec | None, list[Override], datetime, datetime]:
    spec = draw(st.one_of(st.none(), specs))
    start = draw(instants)
    end = start + timedelta(minutes=draw(st.integers(1, 45 * 24 * 60)))
    return spec, draw(overrides_in(start, end)), start, end


@settings(max_examples=200, database=None, deadline=None)
@given(timelines())
def test_shifts_cover_the_interval_contiguously_without_overlaps(
    case: tuple[RotaSpec | None, list[Override], datetime, datetime],
) -> None:
    spec, overrides, start, end = case
    timeline = shifts(spec, overrides, start, end)
    assert timeline[0].starts_at == start
    assert timeline[-1].ends_at == end
    for before, after in itertools.pairwise(timeline):
        assert before.ends_at == after.starts_at  # no hole, no overlap
    bounds = _oracle_boundaries(spec, end) if spec is not None else []
    for shift in timeline:
        assert shift.starts_at < shift.ends_at
        # One person for the whole shift, the one on_call_at names at either end.
        last = shift.ends_at - timedelta(microseconds=1)
        assert on_call_at(spec, overrides, shift.starts_at) == shift.user_id
        assert on_call_at(spec, overrides, last) == shift.user_id
        covered = any(o.starts_at <= shift.starts_at < o.ends_at for o in overrides)
        assert shift.override is covered
        if not shift.override:
            # A rota handoff always starts a new shift: none falls strictly inside one.
            assert not any(shift.starts_at < b < shift.ends_at for b in bounds)
