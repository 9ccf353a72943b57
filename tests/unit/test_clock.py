"""crm.clock: the one source of "now", pinnable in tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from crm import clock


def test_now_is_aware_utc_and_current() -> None:
    before = datetime.now(UTC)
    instant = clock.now()
    assert instant.utcoffset() == timedelta(0)
    assert before <= instant <= datetime.now(UTC)


def test_pinned_fixes_now_and_restores_it() -> None:
    moment = datetime(2024, 3, 31, 0, 30, tzinfo=UTC)
    with clock.pinned(moment):
        assert clock.now() == moment
        assert clock.now() == moment  # it does not move
    assert clock.now() != moment
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)


def test_pinned_converts_other_zones_to_utc() -> None:
    summer_london = datetime(2024, 7, 1, 12, 0, tzinfo=clock.LONDON)
    with clock.pinned(summer_london):
        assert clock.now() == datetime(2024, 7, 1, 11, 0, tzinfo=UTC)
        assert clock.now().tzinfo is UTC


def test_pins_nest() -> None:
    outer = datetime(2024, 1, 1, tzinfo=UTC)
    inner = outer + timedelta(hours=3)
    with clock.pinned(outer):
        with clock.pinned(inner):
            assert clock.now() == inner
        assert clock.now() == outer


def test_pin_is_released_when_the_block_fails() -> None:
    moment = datetime(2020, 1, 1, tzinfo=UTC)
    with pytest.raises(RuntimeError), clock.pinned(moment):
        raise RuntimeError("boom")
    assert clock.now() != moment


def test_pinned_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"), clock.pinned(datetime(2024, 1, 1)):
        pass  # pragma: no cover
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=5)  # nothing was pinned


def test_as_utc_treats_naive_as_utc_and_converts_aware() -> None:
    assert clock.as_utc(datetime(2024, 1, 1, 9)) == datetime(2024, 1, 1, 9, tzinfo=UTC)
    plus_two = datetime(2024, 1, 1, 9, tzinfo=timezone(timedelta(hours=2)))
    converted = clock.as_utc(plus_two)
    assert converted == datetime(2024, 1, 1, 7, tzinfo=UTC)
    assert converted.tzinfo is UTC
