"""Matching's scores: how an eligible clinic earns each of its 100 points. Pure, fee-blind.

The weights and the decisions behind each score are documented in ``crm.referrals.matching``.
A ``Scorer`` is built once per ranking; it keeps what depends only on the needs, and reuses the
(frozen, identical) ``ScoreComponent`` for inputs it has already scored, so ranking thousands
of clinics allocates little beyond the results.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from crm.referrals.matching_filters import condition_words, substance_words

if TYPE_CHECKING:
    from crm.referrals.matching import Candidate, MatchSettings, Needs

WEIGHTS: dict[str, float] = {
    "distance": 20.0,
    "rating": 15.0,
    "price": 20.0,
    "availability": 20.0,
    "specialism": 15.0,
    "acceptance": 10.0,
}
SCORE_ORDER: tuple[str, ...] = tuple(WEIGHTS)
NEUTRAL = 0.5
UNKNOWN_PRICE = 0.3  # neutral-low: an unpriced clinic should not beat one known to fit
NO_LIMIT_SCALE_MILES = 150.0
RATING_CURRENT_FOR = timedelta(days=3 * 365)
RATING_VALUES: dict[str, float] = {
    "outstanding": 1.0,
    "good": 0.75,
    "requires_improvement": 0.3,
    "inadequate": 0.0,
}
URGENT_TIMEFRAMES = frozenset({"immediately", "within_a_week"})
# Availability fraction by capacity, for urgent and unhurried clients.
AVAILABILITY_VALUES: dict[bool, dict[str, float]] = {
    True: {"available": 1.0, "unknown": 0.25, "full": 0.0},
    False: {"available": 1.0, "unknown": 0.5, "full": 0.3},
}
FRESHNESS_DISCOUNT = 0.2  # a bed confirmed just before going stale keeps 80 % of its points
OVER_BUDGET_START = 0.6  # a price just over budget; falls to 0 at 50 % over
STRADDLING_BUDGET = 0.8  # the price range starts within budget but ends above it
_HOME_CURRENCY = "GBP"


@dataclass(frozen=True, slots=True)
class ScoreComponent:
    """One score: ``points`` earned out of ``weight``, and how, in staff's words."""

    name: str
    points: float
    weight: float
    detail: str


def money(value: Decimal, currency: str = _HOME_CURRENCY) -> str:
    """£1,500 or £1,499.50; other currencies by code (EUR 1,200)."""
    text = f"{value:,.2f}".removesuffix(".00")
    return f"£{text}" if currency == _HOME_CURRENCY else f"{currency} {text}"


def miles_text(miles: float) -> str:
    """62 miles, 7.5 miles, 1 mile."""
    shown = f"{miles:.1f}".removesuffix(".0")
    return f"{shown} mile" if shown == "1" else f"{shown} miles"


def _period(span: timedelta) -> str:
    if span.seconds or span.microseconds:
        return f"{span.total_seconds() / 3600:g} hours"
    return "1 day" if span.days == 1 else f"{span.days} days"


def _ago(days: int) -> str:
    if days < 1:
        return "today"
    return "yesterday" if days == 1 else f"{days} days ago"


def _beds(count: int) -> str:
    return "1 bed" if count == 1 else f"{count} beds"


class Scorer:
    """Capacity and score components for one set of needs at one instant."""

    def __init__(self, needs: Needs, settings: MatchSettings) -> None:
        self._now = settings.now
        self._stale_after = settings.capacity_stale_after
        self._stale_seconds = settings.capacity_stale_after.total_seconds()
        self._rating_current_from = settings.now.date() - RATING_CURRENT_FOR
        self._limit = needs.max_travel_miles
        self._scale = float(self._limit) if self._limit else NO_LIMIT_SCALE_MILES
        self._funding = needs.funding
        self._budget = needs.budget_per_week
        self._urgent = needs.timeframe in URGENT_TIMEFRAMES
        self._availability = AVAILABILITY_VALUES[self._urgent]
        self._timeframe_words = (needs.timeframe or "").replace("_", " ")
        self._substances = tuple(dict.fromkeys((needs.primary_substance, *needs.substances)))
        self._conditions = tuple(dict.fromkeys(needs.co_occurring))
        self._substance_set = frozenset(self._substances)
        self._condition_set = frozenset(self._conditions)
        self._other_condition = "other" in self._condition_set
        # One cache per component: the same inputs always give the same (frozen) component.
        self._distances: dict[tuple[float | None, str | None], ScoreComponent] = {}
        self._ratings: dict[tuple[str | None, bool | None], ScoreComponent] = {}
        self._prices: dict[tuple[Decimal | None, Decimal | None, str], ScoreComponent] = {}
        self._availabilities: dict[tuple[str, int | None, int | None], ScoreComponent] = {}
        self._specialisms: dict[tuple[frozenset[str], frozenset[str], bool], ScoreComponent] = {}
        self._acceptances: dict[float | None, ScoreComponent] = {}
        unscored = self._price_not_scored()
        self._price_unscored = (
            self._component("price", NEUTRAL, unscored) if unscored is not None else None
        )

    def _component(self, name: str, fraction: float, detail: str) -> ScoreComponent:
        weight = WEIGHTS[name]
        return ScoreComponent(name, round(weight * fraction, 1), weight, detail)

    # --- capacity -----------------------------------------------------------------------

    def capacity(self, candidate: Candidate) -> tuple[str, int | None]:
        """(available | full | unknown, whole days since confirmed): stale counts as unknown."""
        beds, confirmed = candidate.beds_available, candidate.capacity_confirmed_at
        if beds is None or confirmed is None:
            return "unknown", None
        if confirmed.tzinfo is None:  # read back naive from SQLite: it is UTC
            confirmed = confirmed.replace(tzinfo=UTC)
        age = self._now - confirmed
        days = max(age.days, 0)
        if age > self._stale_after:
            return "unknown", days
        return ("available" if beds > 0 else "full"), days

    # --- the components, in SCORE_ORDER ---------------------------------------------------

    def components(
        self,
        candidate: Candidate,
        miles: float | None,
        abroad: bool,
        capacity: tuple[str, int | None],
    ) -> tuple[ScoreComponent, ...]:
        return (
            self.distance(miles, candidate.country if abroad else None),
            self.rating(candidate.rating, candidate.rating_date),
            self.price(
                candidate.price_per_week_min, candidate.price_per_week_max, candidate.currency
            ),
            self.availability(capacity[0], candidate.beds_available, capacity[1]),
            self.specialism(candidate),
            self.acceptance(candidate.acceptance_rate),
        )

    def distance(self, miles: float | None, abroad_country: str | None) -> ScoreComponent:
        # Scored by whole miles (tenths under 10 miles): the same few hundred components serve
        # every location, and a tenth of a mile further away is no real difference.
        if miles is not None and miles >= 10:
            miles = float(round(miles))
        key = (miles, abroad_country)
        found = self._distances.get(key)
        if found is None:
            found = self._distances[key] = self._distance(miles, abroad_country)
        return found

    def _distance(self, miles: float | None, abroad_country: str | None) -> ScoreComponent:
        if abroad_country is not None:
            return self._component(
                "distance", NEUTRAL, f"Abroad ({abroad_country}): distance not scored, neutral"
            )
        if miles is None:
            return self._component("distance", NEUTRAL, "Distance unknown: neutral")
        fraction = max(0.0, 1.0 - miles / self._scale)
        if self._limit:
            where = f"the client's {self._limit}-mile limit"
            if miles > self._limit:
                where = f"beyond {where}"
            detail = f"{miles_text(miles)} away; closer is better up to {where}"
        else:
            detail = (
                f"{miles_text(miles)} away; no travel limit given, so scored against "
                f"{NO_LIMIT_SCALE_MILES:.0f} miles"
            )
        return self._component("distance", fraction, detail)

    def rating(self, rating: str | None, rated_on: date | None) -> ScoreComponent:
        key = (rating, None if rated_on is None else rated_on >= self._rating_current_from)
        found = self._ratings.get(key)
        if found is None:
            found = self._ratings[key] = self._rating(*key)
        return found

    def _rating(self, rating: str | None, current: bool | None) -> ScoreComponent:
        value = RATING_VALUES.get(rating or "")
        if value is None:
            return self._component("rating", NEUTRAL, "Not rated yet: neutral")
        words = f"Rated {(rating or '').replace('_', ' ')}"
        if current:
            return self._component("rating", value, f"{words} within the last 3 years")
        # An old (or undated) rating says less: halfway back towards neutral.
        when = "over 3 years ago" if current is False else "with no date"
        fraction = NEUTRAL + (value - NEUTRAL) / 2
        return self._component("rating", fraction, f"{words} {when}: counts less")

    def price(self, low: Decimal | None, high: Decimal | None, currency: str) -> ScoreComponent:
        if self._price_unscored is not None:
            return self._price_unscored
        key = (low, high, currency)
        found = self._prices.get(key)
        if found is None:
            found = self._prices[key] = self._price(low, high, currency)
        return found

    def _price(self, low: Decimal | None, high: Decimal | None, currency: str) -> ScoreComponent:
        budget = self._budget
        if budget is None:  # price() answered already: _price_unscored
            return self._component("price", NEUTRAL, "No budget: price not scored")
        low, high = low if low is not None else high, high if high is not None else low
        if low is None or high is None:
            return self._component("price", UNKNOWN_PRICE, "Price not known: scored low")
        if currency != _HOME_CURRENCY:
            return self._component(
                "price",
                UNKNOWN_PRICE,
                f"Priced in {currency}: compare with the {money(budget)} budget by hand",
            )
        return self._price_fit(low, high, budget)

    def _price_not_scored(self) -> str | None:
        if self._funding == "private_insurance":
            return "Insurance-funded: price not scored"
        if self._funding == "nhs_or_local_authority":
            return "NHS or local-authority funded: price not scored"
        if self._funding != "self_funded":
            return "Funding not decided: price not scored"
        if self._budget is None:
            return "No upper limit to the weekly budget: price not scored"
        return None

    def _price_fit(self, low: Decimal, high: Decimal, budget: Decimal) -> ScoreComponent:
        span = money(low) if low == high else f"{money(low)}–{money(high)}"
        if high <= budget:
            return self._component(
                "price", 1.0, f"{span} a week, within the {money(budget)} budget"
            )
        if low <= budget:
            return self._component(
                "price",
                STRADDLING_BUDGET,
                f"{span} a week: the lower end is within the {money(budget)} budget",
            )
        over = float((low - budget) / budget) if budget > 0 else 1.0
        fraction = OVER_BUDGET_START * max(0.0, 1.0 - 2.0 * over)
        return self._component(
            "price", fraction, f"{span} a week: {over:.0%} over the {money(budget)} budget"
        )

    def availability(self, capacity: str, beds: int | None, days: int | None) -> ScoreComponent:
        key = (capacity, beds, days)
        found = self._availabilities.get(key)
        if found is None:
            found = self._availabilities[key] = self._available(*key)
        return found

    def _available(self, capacity: str, beds: int | None, days: int | None) -> ScoreComponent:
        fraction = self._availability[capacity]
        if days is None or beds is None:
            detail = "Beds never confirmed: unknown"
        elif capacity == "unknown":
            detail = (
                f"{_beds(beds)} last confirmed {_ago(days)}, "
                f"longer ago than {_period(self._stale_after)}: unknown"
            )
        elif capacity == "full":
            detail = f"Full, confirmed {_ago(days)}"
        else:
            freshness = min(days * 86400 / self._stale_seconds, 1.0)
            fraction *= 1.0 - FRESHNESS_DISCOUNT * freshness
            detail = f"{_beds(beds)} free, confirmed {_ago(days)}"
        if self._urgent and capacity != "available":
            detail += f"; the client wants to start {self._timeframe_words}"
        return self._component("availability", fraction, detail)

    def specialism(self, candidate: Candidate) -> ScoreComponent:
        key = (
            candidate.substances & self._substance_set,
            candidate.mental_health_accepted & self._condition_set,
            self._other_condition and candidate.dual_diagnosis,
        )
        found = self._specialisms.get(key)
        if found is None:
            found = self._specialisms[key] = self._specialism(*key)
        return found

    def _specialism(
        self, substances: frozenset[str], conditions: frozenset[str], other_covered: bool
    ) -> ScoreComponent:
        said = [(substance_words(s), s in substances) for s in self._substances]
        said += [
            (condition_words(c), c in conditions or (c == "other" and other_covered))
            for c in self._conditions
        ]
        yes = [words for words, covered in said if covered]
        no = [words for words, covered in said if not covered]
        detail = f"Treats {len(yes)} of {len(said)}"
        if yes:
            detail += f": {', '.join(yes)}"
        if no:
            detail += f"; not {', '.join(no)}"
        return self._component("specialism", len(yes) / len(said), detail)

    def acceptance(self, rate: float | None) -> ScoreComponent:
        found = self._acceptances.get(rate)
        if found is None:
            if rate is None:
                found = self._component(
                    "acceptance", NEUTRAL, "Too few answered referrals to judge: neutral"
                )
            else:
                rate = min(max(rate, 0.0), 1.0)
                found = self._component(
                    "acceptance", rate, f"Accepted {rate:.0%} of the referrals it answered"
                )
            self._acceptances[rate] = found
        return found
