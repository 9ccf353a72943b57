"""Matching's scores (crm/referrals/matching_scores.py): each component's order and boundaries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from crm.referrals.matching import SCORE_ORDER, WEIGHTS, MatchSettings, rank
from tests.unit.matching_factories import (
    NOW,
    SETTINGS,
    clinic,
    match_for,
    north_of_leeds,
    score,
    story_needs,
)


def test_the_weights_sum_to_100_and_every_eligible_match_has_each_component() -> None:
    assert sum(WEIGHTS.values()) == 100
    assert SCORE_ORDER == (
        "distance",
        "rating",
        "price",
        "availability",
        "specialism",
        "acceptance",
    )
    match = match_for(story_needs(), clinic())
    assert [(s.name, s.weight) for s in match.scores] == [(n, WEIGHTS[n]) for n in SCORE_ORDER]
    assert all(0 <= s.points <= s.weight for s in match.scores)
    assert match.total == round(sum(s.points for s in match.scores), 1)


# --- distance ---------------------------------------------------------------------------------


def distance(miles: float, **needs_changes: object) -> tuple[float, str]:
    needs = story_needs(**needs_changes)
    return score(match_for(needs, clinic(point=north_of_leeds(miles))), "distance")


def test_closer_is_better_down_to_nothing_at_the_limit() -> None:
    assert distance(0) == (20.0, "0 miles away; closer is better up to the client's 60-mile limit")
    assert distance(15)[0] == 15.0
    assert distance(30)[0] == 10.0
    assert distance(60) == (0.0, "60 miles away; closer is better up to the client's 60-mile limit")
    assert distance(7.5)[1].startswith("7.5 miles away")


def test_without_a_limit_distance_is_scored_against_150_miles() -> None:
    assert distance(75, max_travel_miles=None) == (
        10.0,
        "75 miles away; no travel limit given, so scored against 150 miles",
    )
    assert distance(400, max_travel_miles=None)[0] == 0.0


def test_beyond_the_limit_when_open_to_abroad_scores_nothing_for_distance() -> None:
    assert distance(90, open_to_abroad=True) == (
        0.0,
        "90 miles away; closer is better up to beyond the client's 60-mile limit",
    )


def test_abroad_or_unknown_distance_is_neutral() -> None:
    open_ = story_needs(open_to_abroad=True)
    spain = clinic(country="ES", point=(36.72, -4.42))
    assert score(match_for(open_, spain), "distance") == (
        10.0,
        "Abroad (ES): distance not scored, neutral",
    )
    nowhere = clinic(point=None)
    assert score(match_for(open_, nowhere), "distance") == (10.0, "Distance unknown: neutral")


# --- rating -----------------------------------------------------------------------------------


def rating(value: str | None, rated_on: date | None = date(2025, 6, 1)) -> tuple[float, str]:
    return score(match_for(story_needs(), clinic(rating=value, rating_date=rated_on)), "rating")


def test_better_ratings_score_more() -> None:
    points = [rating(r)[0] for r in ("outstanding", "good", "requires_improvement", "inadequate")]
    assert points == sorted(points, reverse=True)
    assert points[0] == 15.0 and points[-1] == 0.0
    assert rating("requires_improvement")[1] == "Rated requires improvement within the last 3 years"


@pytest.mark.parametrize("value", [None, "not_rated"])
def test_not_rated_is_neutral(value: str | None) -> None:
    assert rating(value) == (7.5, "Not rated yet: neutral")


def test_a_rating_over_three_years_old_counts_less() -> None:
    three_years_ago = NOW.date() - timedelta(days=3 * 365)
    assert rating("outstanding", three_years_ago)[0] == 15.0
    old = rating("outstanding", three_years_ago - timedelta(days=1))
    assert old == (11.2, "Rated outstanding over 3 years ago: counts less")
    assert rating("inadequate", date(2019, 1, 1))[0] == 3.8  # moves up towards neutral too
    assert rating("good", None) == (9.4, "Rated good with no date: counts less")


# --- price ------------------------------------------------------------------------------------


def price(low: str | None, high: str | None, **needs_changes: object) -> tuple[float, str]:
    prices = {
        "price_per_week_min": Decimal(low) if low else None,
        "price_per_week_max": Decimal(high) if high else None,
    }
    return score(match_for(story_needs(**needs_changes), clinic(**prices)), "price")


def test_a_price_within_budget_scores_full_points() -> None:
    assert price("900", "1500") == (20.0, "£900–£1,500 a week, within the £1,500 budget")
    assert price("1499.50", None) == (20.0, "£1,499.50 a week, within the £1,500 budget")


def test_a_price_range_straddling_the_budget_scores_less() -> None:
    assert price("1200", "1800") == (
        16.0,
        "£1,200–£1,800 a week: the lower end is within the £1,500 budget",
    )


def test_over_budget_falls_to_nothing_at_half_as_much_again() -> None:
    assert price("1515", "1515")[0] == 11.8
    assert price("1875", "2000") == (6.0, "£1,875–£2,000 a week: 25% over the £1,500 budget")
    assert price("2250", None)[0] == 0.0
    assert price("4000", None)[0] == 0.0


def test_an_unknown_or_foreign_price_scores_low_but_not_nothing() -> None:
    assert price(None, None) == (6.0, "Price not known: scored low")
    euros = clinic(currency="EUR")
    assert score(match_for(story_needs(), euros), "price") == (
        6.0,
        "Priced in EUR: compare with the £1,500 budget by hand",
    )


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"budget_per_week": None}, "No upper limit to the weekly budget: price not scored"),
        (
            {"funding": "private_insurance", "budget_per_week": None},
            "Insurance-funded: price not scored",
        ),
        (
            {"funding": "nhs_or_local_authority", "budget_per_week": None},
            "NHS or local-authority funded: price not scored",
        ),
        ({"funding": "unsure", "budget_per_week": None}, "Funding not decided: price not scored"),
    ],
)
def test_no_budget_to_compare_is_neutral(changes: dict[str, object], detail: str) -> None:
    funding = frozenset({"self_funded", "private_insurance", "nhs_or_local_authority"})
    match = match_for(story_needs(**changes), clinic(funding_accepted=funding))
    assert score(match, "price") == (10.0, detail)


# --- availability and its freshness -----------------------------------------------------------


def confirmed(ago: timedelta | None, beds: int | None = 2, **needs_changes: object) -> object:
    at = NOW - ago if ago is not None else None
    return match_for(
        story_needs(**needs_changes), clinic(beds_available=beds, capacity_confirmed_at=at)
    )


def test_a_freshly_confirmed_free_bed_scores_full_and_fades_as_it_ages() -> None:
    today = confirmed(timedelta(hours=3))
    assert (today.capacity, score(today, "availability")) == (
        "available",
        (20.0, "2 beds free, confirmed today"),
    )
    six_days = confirmed(timedelta(days=6, hours=1), beds=1)
    assert score(six_days, "availability") == (16.6, "1 bed free, confirmed 6 days ago")


def test_stale_capacity_counts_as_unknown_not_available() -> None:
    stale = confirmed(timedelta(days=7, seconds=1), beds=3)
    assert stale.capacity == "unknown"
    assert score(stale, "availability") == (
        5.0,
        "3 beds last confirmed 7 days ago, longer ago than 7 days: unknown; "
        "the client wants to start within a week",
    )
    assert confirmed(timedelta(days=7), beds=3).capacity == "available"
    never = confirmed(None, beds=3)
    assert never.capacity == "unknown"
    assert score(never, "availability")[1].startswith("Beds never confirmed: unknown")
    no_figure = confirmed(timedelta(hours=1), beds=None)
    assert no_figure.capacity == "unknown"


def test_how_old_capacity_may_be_is_a_setting() -> None:
    stale = {"beds_available": 3, "capacity_confirmed_at": NOW - timedelta(days=8)}
    lenient = MatchSettings(now=NOW, capacity_stale_after=timedelta(days=10))
    assert match_for(story_needs(), clinic(**stale), lenient).capacity == "available"
    assert match_for(story_needs(), clinic(**stale)).capacity == "unknown"


def test_a_full_clinic_scores_nothing_for_an_urgent_client_and_a_little_otherwise() -> None:
    full = confirmed(timedelta(days=1), beds=0)
    assert full.capacity == "full"
    assert score(full, "availability") == (
        0.0,
        "Full, confirmed yesterday; the client wants to start within a week",
    )
    assert score(confirmed(timedelta(days=1), beds=0, timeframe="exploring"), "availability") == (
        6.0,
        "Full, confirmed yesterday",
    )
    unhurried = confirmed(None, timeframe="within_a_month")
    assert score(unhurried, "availability")[0] == 10.0


def test_fresh_beds_beat_unknown_which_beat_full() -> None:
    matches = rank(
        story_needs(),
        [
            clinic(1, "A full", beds_available=0),
            clinic(2, "B stale", capacity_confirmed_at=NOW - timedelta(days=30)),
            clinic(3, "C free"),
        ],
        SETTINGS,
    )
    assert [m.candidate.name for m in matches] == ["C free", "B stale", "A full"]


def test_a_naive_confirmation_time_is_read_as_utc() -> None:
    naive = datetime(2026, 11, 25, 9, 0)  # as SQLite hands it back
    match = match_for(story_needs(), clinic(capacity_confirmed_at=naive))
    assert match.capacity == "available"
    assert match.explanation()["facts"]["capacity_confirmed_at"] == "2026-11-25T09:00:00"


def test_settings_need_an_aware_instant_and_a_positive_stale_age() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        MatchSettings(now=datetime(2026, 11, 25))
    with pytest.raises(ValueError, match="positive"):
        MatchSettings(now=NOW, capacity_stale_after=timedelta(0))
    london = datetime(2026, 7, 1, 13, 0, tzinfo=UTC).astimezone()
    assert MatchSettings(now=london).now.tzinfo == UTC


# --- specialism and acceptance ----------------------------------------------------------------


def test_specialism_is_the_share_of_substances_and_conditions_treated() -> None:
    needs = story_needs(substances=("ketamine", "cocaine"), co_occurring=("depression", "other"))
    partial = clinic(substances=frozenset({"ketamine"}), mental_health_accepted=frozenset())
    assert score(match_for(needs, partial), "specialism") == (
        7.5,
        "Treats 2 of 4: ketamine, another mental health condition; not cocaine, depression",
    )
    assert score(match_for(needs, clinic()), "specialism") == (
        15.0,
        "Treats 4 of 4: ketamine, cocaine, depression, another mental health condition",
    )


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (None, (5.0, "Too few answered referrals to judge: neutral")),
        (0.8, (8.0, "Accepted 80% of the referrals it answered")),
        (0.0, (0.0, "Accepted 0% of the referrals it answered")),
        (1.0, (10.0, "Accepted 100% of the referrals it answered")),
    ],
)
def test_past_acceptance_rate(rate: float | None, expected: tuple[float, str]) -> None:
    assert score(match_for(story_needs(), clinic(acceptance_rate=rate)), "acceptance") == expected
