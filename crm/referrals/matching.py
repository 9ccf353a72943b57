"""Matching: rank provider locations for an assessment's needs, with reasons. Pure, fee-blind.

``rank(needs, candidates, settings)`` runs every hard filter on every candidate (a failed one
is the recorded reason it was excluded), scores those that pass, and orders them: eligible by
total (highest first), then name, then location id; the excluded after them by name, then id.
The same inputs always give the same output, whatever order the candidates come in.

Fee-blind by construction: nothing here can see a fee. ``Needs`` and ``Candidate`` carry no fee
field, ``rank`` takes nothing else, and an import-linter contract forbids this module (and
``matching_filters``, ``matching_scores``) to import ``crm.fees``, models, SQLAlchemy or Flask,
even indirectly: they use the standard library only.
``owned_or_affiliated`` is carried only so staff and the client see the label: it changes
neither eligibility nor score.

Hard filters, in the order recorded (``FILTER_ORDER``):
status (active provider and location), substance (treats the primary one), treatment (offers
the level of care wanted; "unsure" = any of the four treatments, not aftercare alone), funding
("unsure" = any; private insurance also needs the named insurer on the clinic's list,
compared case- and space-insensitively), age, single_sex (a single-sex unit passes only a
client whose recorded gender matches: unknown or non-binary fails with "check with the
clinic"), pregnancy, accessibility (any mobility need requires wheelchair access),
distance (a location abroad passes only if the client is open to abroad; a client open to
abroad has no distance limit; otherwise with a limit, more miles or an unknown distance
fails), dual_diagnosis (required when any co-occurring condition is reported), medical_detox
(required when withdrawal is reported and alcohol or benzodiazepines are among the
substances). An unrecorded age passes, saying it was not checked.

Scores, for eligible candidates only; each earns 0..weight points, rounded to 0.1, and the
total (their sum, rounded to 0.1) is out of 100:

==============  ======  ==========================================================================
component       weight  how
==============  ======  ==========================================================================
distance        20      linear: full at 0 miles, 0 at the client's limit (or at 150 miles with no
                        limit), by whole miles from 10 up; abroad or unknown distance: neutral
rating          15      outstanding 1, good 0.75, requires improvement 0.3, inadequate 0; not rated
                        neutral; a rating over 3 years old (or undated) moves halfway to neutral
price           20      self-funded with a budget: whole range within budget 1; range straddling
                        it 0.8; over it 0.6 falling to 0 at 50 % over; price unknown (or in another
                        currency) 0.3; no budget cap ("over £5,000"), insurance, NHS or unsure:
                        neutral
availability    20      available (beds > 0, confirmed within ``capacity_stale_after``) 1, less up
                        to 20 % as the confirmation ages; unknown (stale or never confirmed,
                        never counted as available) 0.5, full 0.3; when the client wants to start
                        immediately or within a week, unknown 0.25 and full 0
specialism      15      the share of the client's substances and co-occurring conditions treated
                        ("other" conditions count as covered by dual diagnosis)
acceptance      10      the clinic's past acceptance rate; None (too few answered referrals) neutral
==============  ======  ==========================================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any, NamedTuple

from crm.referrals.matching_filters import FILTER_LABELS, FILTER_ORDER, FilterResult, Filters
from crm.referrals.matching_scores import SCORE_ORDER, WEIGHTS, ScoreComponent, Scorer

__all__ = [
    "FILTER_LABELS",
    "FILTER_ORDER",
    "SCORE_ORDER",
    "WEIGHTS",
    "Candidate",
    "FilterResult",
    "Match",
    "MatchSettings",
    "Needs",
    "NeedsIncomplete",
    "ScoreComponent",
    "needs_from_assessment",
    "rank",
]

HOME_COUNTRIES = frozenset({"GB", "UK", "gb", "uk"})
BUDGET_CEILINGS: dict[str, Decimal | None] = {
    "under_1000": Decimal("1000"),
    "1000_1500": Decimal("1500"),
    "1500_2500": Decimal("2500"),
    "2500_5000": Decimal("5000"),
    "over_5000": None,  # no upper limit: price is not scored
}
MENTAL_HEALTH_KEYS = ("depression", "anxiety", "chronic_emotional_pain", "trauma_symptoms")
_TRUE = (True, "y", "yes", "true", "on", "1", 1)
_EARTH_DIAMETER_MILES = 2 * 3958.8
_RADIANS = math.pi / 180
_sin, _cos, _asin, _sqrt = math.sin, math.cos, math.asin, math.sqrt
_passed = attrgetter("passed")
_points = attrgetter("points")


@dataclass(frozen=True)
class Needs:
    """What matching needs from a completed assessment (see ``needs_from_assessment``)."""

    primary_substance: str
    substances: tuple[str, ...]
    treatment_wanted: str  # "unsure" = any level of care
    funding: str  # "unsure" = any
    budget_per_week: Decimal | None  # upper end of the band; None = no cap / not self-funded
    insurer: str | None
    home_point: tuple[float, float] | None  # (lat, lon), approximate is fine
    max_travel_miles: int | None  # None = no limit stated
    open_to_abroad: bool
    age: int | None
    gender: str | None
    pregnant: bool
    mobility_needs: bool  # any mobility need: wheelchair access required
    co_occurring: tuple[str, ...]  # MENTAL_HEALTH keys reported, + "other"
    withdrawal: bool
    timeframe: str | None


@dataclass(frozen=True)
class Candidate:
    """One provider location as matching sees it. No fee data, ever."""

    location_id: int
    name: str  # "Provider — Location"
    status: str  # "active" only if both provider and location are active
    country: str  # ISO 3166-1 alpha-2
    point: tuple[float, float] | None
    levels_of_care: frozenset[str]
    substances: frozenset[str]
    dual_diagnosis: bool
    mental_health_accepted: frozenset[str]
    min_age: int | None
    max_age: int | None
    single_sex: str  # mixed | female_only | male_only
    accepts_pregnant: bool
    wheelchair_accessible: bool
    funding_accepted: frozenset[str]
    insurers: frozenset[str]  # lower-cased
    price_per_week_min: Decimal | None
    price_per_week_max: Decimal | None
    rating: str | None
    rating_date: date | None
    beds_available: int | None
    capacity_confirmed_at: datetime | None  # UTC
    acceptance_rate: float | None  # None below 3 answered referrals
    owned_or_affiliated: bool  # labelling only: never affects eligibility or score
    currency: str = "GBP"  # of the prices: a price in another currency is not compared


@dataclass(frozen=True)
class MatchSettings:
    """The instant matching runs at, and how old a capacity figure may be before it is unknown."""

    now: datetime
    capacity_stale_after: timedelta = field(default=timedelta(days=7))

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("MatchSettings.now must be a timezone-aware instant")
        if self.capacity_stale_after <= timedelta(0):
            raise ValueError("capacity_stale_after must be positive")
        object.__setattr__(self, "now", self.now.astimezone(UTC))


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _decimal(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


class Match(NamedTuple):
    """One candidate's result: every filter, and when eligible every score component.

    A NamedTuple, not a frozen dataclass: a ranking makes one per location, and a frozen
    dataclass's ``__init__`` (a guarded ``__setattr__`` per field) cost 12 of 61 ms at 5,000.
    """

    candidate: Candidate
    eligible: bool
    filters: tuple[FilterResult, ...]  # all of them, in FILTER_ORDER
    scores: tuple[ScoreComponent, ...]  # in SCORE_ORDER; empty when not eligible
    total: float  # 0..100, rounded to 0.1
    miles: float | None  # rounded to 0.1
    capacity: str  # available | full | unknown (stale counts as unknown)

    @property
    def excluded_because(self) -> tuple[str, ...]:
        """The details of the filters it failed, in order."""
        return tuple(f.detail for f in self.filters if not f.passed)

    def explanation(self) -> dict[str, Any]:
        """A JSON-ready snapshot of how this result was made (Decimals as text, ISO dates)."""
        c = self.candidate
        return {
            "version": 1,
            "location_id": c.location_id,
            "name": c.name,
            "owned_or_affiliated": c.owned_or_affiliated,
            "eligible": self.eligible,
            "total": self.total,
            "miles": self.miles,
            "capacity": self.capacity,
            "filters": [
                {"name": f.name, "passed": f.passed, "detail": f.detail} for f in self.filters
            ],
            "scores": [
                {"name": s.name, "points": s.points, "weight": s.weight, "detail": s.detail}
                for s in self.scores
            ],
            "facts": {
                "status": c.status,
                "country": c.country,
                "rating": c.rating,
                "rating_date": _iso(c.rating_date),
                "price_per_week_min": _decimal(c.price_per_week_min),
                "price_per_week_max": _decimal(c.price_per_week_max),
                "currency": c.currency,
                "beds_available": c.beds_available,
                "capacity_confirmed_at": _iso(c.capacity_confirmed_at),
                "acceptance_rate": c.acceptance_rate,
            },
        }


# --- from the assessment -----------------------------------------------------------------


class NeedsIncomplete(ValueError):
    """The assessment lacks an answer a filter needs; ``missing`` names the fields."""

    def __init__(self, reasons: Mapping[str, str]) -> None:
        self.missing: tuple[str, ...] = tuple(reasons)
        self.reasons: dict[str, str] = dict(reasons)
        super().__init__(
            "Matching needs these answers from the assessment: " + "; ".join(reasons.values()) + "."
        )


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _flag(value: Any) -> bool:
    return value in _TRUE


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = _text(value)
    return int(text) if text is not None and text.isdecimal() else None


def _substances(answers: Mapping[str, Any], primary: str | None) -> tuple[str, ...]:
    listed = answers.get("substances")
    values = [v for v in listed if isinstance(v, str)] if isinstance(listed, list | tuple) else []
    return tuple(dict.fromkeys([primary, *values] if primary else values))


def _co_occurring(answers: Mapping[str, Any]) -> tuple[str, ...]:
    reported = tuple(k for k in MENTAL_HEALTH_KEYS if _flag(answers.get(k)))
    return (*reported, "other") if _text(answers.get("mental_health_other")) else reported


def _funding_gaps(answers: Mapping[str, Any], funding: str | None) -> dict[str, str]:
    gaps: dict[str, str] = {}
    band = _text(answers.get("budget_band"))
    if funding == "self_funded" and band not in BUDGET_CEILINGS:
        gaps["budget_band"] = (
            f"weekly budget (band {band!r} is not one we know)" if band else "weekly budget"
        )
    if funding == "private_insurance" and not _text(answers.get("insurer")):
        gaps["insurer"] = "insurer"
    return gaps


def _location_gap(answers: Mapping[str, Any], home_point: tuple[float, float] | None) -> str | None:
    limit = _whole(answers.get("max_travel_miles"))
    if limit is None or _flag(answers.get("open_to_abroad")) or home_point is not None:
        return None
    postcode = _text(answers.get("home_postcode"))
    if postcode:
        return (
            f"home postcode ({postcode} could not be placed on the map, so the {limit}-mile "
            "travel limit cannot be checked)"
        )
    return f"home postcode (to check the {limit}-mile travel limit)"


def _gaps(answers: Mapping[str, Any], home_point: tuple[float, float] | None) -> dict[str, str]:
    gaps = {
        name: words
        for name, words in (
            ("primary_substance", "primary substance"),
            ("treatment_wanted", "treatment wanted"),
            ("funding", "funding"),
        )
        if not _text(answers.get(name))
    }
    gaps.update(_funding_gaps(answers, _text(answers.get("funding"))))
    location = _location_gap(answers, home_point)
    if location is not None:
        gaps["home_postcode"] = location
    return gaps


def needs_from_assessment(
    answers: Mapping[str, Any], home_point: tuple[float, float] | None
) -> Needs:
    """The needs in a completed assessment's answers, or NeedsIncomplete naming what is missing.

    Missing means a filter cannot work without it: the primary substance, the treatment
    wanted, the funding; the budget band when self-funded and the insurer when privately
    insured; and the home's location when a travel limit is set and the client is not open to
    abroad (a postcode that cannot be placed on the map is reported as such). Everything else
    is optional: an unrecorded age passes the age filter saying so, no travel limit means no
    distance filter. The "over £5,000" band has no upper limit (budget None: price not
    scored). Any text in ``mobility_needs`` means wheelchair access is needed; free text in
    ``mental_health_other`` adds the condition "other".
    """
    gaps = _gaps(answers, home_point)
    if gaps:
        raise NeedsIncomplete(gaps)
    primary = _text(answers.get("primary_substance")) or ""
    funding = _text(answers.get("funding")) or ""
    band = _text(answers.get("budget_band"))
    return Needs(
        primary_substance=primary,
        substances=_substances(answers, primary),
        treatment_wanted=_text(answers.get("treatment_wanted")) or "",
        funding=funding,
        budget_per_week=BUDGET_CEILINGS.get(band) if funding == "self_funded" and band else None,
        insurer=_text(answers.get("insurer")) if funding == "private_insurance" else None,
        home_point=home_point,
        max_travel_miles=_whole(answers.get("max_travel_miles")),
        open_to_abroad=_flag(answers.get("open_to_abroad")),
        age=_whole(answers.get("age")),
        gender=_text(answers.get("gender")),
        pregnant=_flag(answers.get("pregnant")),
        mobility_needs=bool(_text(answers.get("mobility_needs")))
        or answers.get("mobility_needs") is True,
        co_occurring=_co_occurring(answers),
        withdrawal=_flag(answers.get("withdrawal")),
        timeframe=_text(answers.get("timeframe")),
    )


# --- ranking -----------------------------------------------------------------------------


_BY_NAME_AND_ID = attrgetter("name", "location_id")
_BY_TOTAL = attrgetter("total")


class _Ranker:
    """Everything that depends only on the needs, worked out once per ranking."""

    def __init__(self, needs: Needs, settings: MatchSettings) -> None:
        self.filters = Filters(needs)
        self.scorer = Scorer(needs, settings)
        self._home = needs.home_point
        self._home_lat = self._home_lon = self._home_cos = 0.0
        if needs.home_point is not None:
            self._home_lat = needs.home_point[0] * _RADIANS
            self._home_lon = needs.home_point[1] * _RADIANS
            self._home_cos = math.cos(self._home_lat)

    def run(self, candidates: Iterable[Candidate]) -> tuple[list[Match], list[Match]]:
        """(eligible, excluded), each in the order the candidates came.

        The hot loop of matching (5,000 locations a ranking): the haversine distance is worked
        out inline and every method it calls is bound once, as a call costs as much as a filter.
        """
        eligible: list[Match] = []
        excluded: list[Match] = []
        check, capacity_of = self.filters.check, self.scorer.capacity
        components = self.scorer.components
        home = self._home is not None
        home_lat, home_lon, home_cos = self._home_lat, self._home_lon, self._home_cos
        for candidate in candidates:
            point = candidate.point
            if point is None or not home:
                miles = None
            else:  # great-circle miles from home (haversine), rounded to 0.1
                lat = point[0] * _RADIANS
                half = (
                    _sin((lat - home_lat) * 0.5) ** 2
                    + home_cos * _cos(lat) * _sin((point[1] * _RADIANS - home_lon) * 0.5) ** 2
                )
                miles = round(_EARTH_DIAMETER_MILES * _asin(_sqrt(min(half, 1.0))), 1)
            abroad = candidate.country not in HOME_COUNTRIES
            results = check(candidate, miles, abroad)
            capacity = capacity_of(candidate)
            if all(map(_passed, results)):
                scores = components(candidate, miles, abroad, capacity)
                total = round(sum(map(_points, scores)), 1)
                eligible.append(Match(candidate, True, results, scores, total, miles, capacity[0]))
            else:
                excluded.append(Match(candidate, False, results, (), 0.0, miles, capacity[0]))
        return eligible, excluded


def rank(needs: Needs, candidates: Iterable[Candidate], settings: MatchSettings) -> list[Match]:
    """Every candidate's result: eligible by total, name, id; then the excluded by name, id."""
    # Candidates in (name, id) order make both lists come out in that order; the eligible are
    # then sorted by total alone (a stable sort: reverse keeps equal totals in name order).
    eligible, excluded = _Ranker(needs, settings).run(sorted(candidates, key=_BY_NAME_AND_ID))
    eligible.sort(key=_BY_TOTAL, reverse=True)
    return eligible + excluded
