"""Needs and candidates for the matching tests: the DOMAIN.md story and a clinic that fits it."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from crm.referrals.matching import Candidate, Match, MatchSettings, Needs, rank

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SETTINGS = MatchSettings(now=NOW)
LEEDS = (53.80, -1.55)
YORK = (53.96, -1.08)  # about 22 miles from Leeds
MILES_PER_DEGREE_LATITUDE = 69.0934  # on the 3,958.8-mile sphere matching uses


def north_of_leeds(miles: float) -> tuple[float, float]:
    """A point due north of LEEDS, ``miles`` away."""
    return (LEEDS[0] + miles / MILES_PER_DEGREE_LATITUDE, LEEDS[1])


STORY_ANSWERS: dict[str, Any] = {
    "substances": ["ketamine"],
    "primary_substance": "ketamine",
    "usage_frequency": "daily",
    "withdrawal": False,
    "depression": True,
    "anxiety": False,
    "treatment_wanted": "residential_rehab",
    "funding": "self_funded",
    "budget_band": "1000_1500",
    "insurer": None,
    "home_postcode": "LS1 4AP",
    "max_travel_miles": 60,
    "open_to_abroad": False,
    "timeframe": "within_a_week",
    "age": 34,
    "gender": "female",
    "pregnant": False,
    "mobility_needs": None,
    "mental_health_other": None,
}


def story_needs(**changes: Any) -> Needs:
    """The 34-year-old woman from Leeds: ketamine, depression, £1,500 a week, 60 miles."""
    needs = Needs(
        primary_substance="ketamine",
        substances=("ketamine",),
        treatment_wanted="residential_rehab",
        funding="self_funded",
        budget_per_week=Decimal("1500"),
        insurer=None,
        home_point=LEEDS,
        max_travel_miles=60,
        open_to_abroad=False,
        age=34,
        gender="female",
        pregnant=False,
        mobility_needs=False,
        co_occurring=("depression",),
        withdrawal=False,
        timeframe="within_a_week",
    )
    return dataclasses.replace(needs, **changes)


def clinic(location_id: int = 1, name: str = "Dales Recovery — York", **changes: Any) -> Candidate:
    """A Yorkshire ketamine dual-diagnosis residential clinic with a fresh free bed."""
    candidate = Candidate(
        location_id=location_id,
        name=name,
        status="active",
        country="GB",
        point=YORK,
        levels_of_care=frozenset({"residential_rehab", "medical_detox", "aftercare"}),
        substances=frozenset({"ketamine", "alcohol", "cocaine", "benzodiazepines"}),
        dual_diagnosis=True,
        mental_health_accepted=frozenset({"depression", "anxiety"}),
        min_age=18,
        max_age=None,
        single_sex="mixed",
        accepts_pregnant=False,
        wheelchair_accessible=False,
        funding_accepted=frozenset({"self_funded"}),
        insurers=frozenset(),
        price_per_week_min=Decimal("1200"),
        price_per_week_max=Decimal("1450"),
        rating="good",
        rating_date=date(2025, 6, 1),
        beds_available=2,
        capacity_confirmed_at=NOW - timedelta(hours=5),
        acceptance_rate=None,
        owned_or_affiliated=False,
    )
    return dataclasses.replace(candidate, **changes)


def match_for(needs: Needs, candidate: Candidate, settings: MatchSettings = SETTINGS) -> Match:
    (match,) = rank(needs, [candidate], settings)
    return match


def filter_result(match: Match, name: str) -> tuple[bool, str]:
    (found,) = [f for f in match.filters if f.name == name]
    return found.passed, found.detail


def score(match: Match, name: str) -> tuple[float, str]:
    (found,) = [s for s in match.scores if s.name == name]
    return found.points, found.detail
