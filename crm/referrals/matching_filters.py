"""Matching's hard filters: each result is a reason a clinic was kept or excluded. Pure.

The rules are documented in ``crm.referrals.matching``. ``Filters`` is built once per ranking:
results whose wording depends only on the needs (most passes, most failures) are made once
and shared, since they are frozen and identical; every candidate still gets every filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crm.referrals.matching import Candidate, Needs

FILTER_LABELS: dict[str, str] = {
    "status": "Taking referrals",
    "substance": "Treats the primary substance",
    "treatment": "Offers the treatment wanted",
    "funding": "Accepts the funding",
    "age": "Age range",
    "single_sex": "Single-sex unit",
    "pregnancy": "Pregnancy",
    "accessibility": "Wheelchair access",
    "distance": "Within the travel distance",
    "dual_diagnosis": "Dual diagnosis",
    "medical_detox": "Medical detox for withdrawal",
}
FILTER_ORDER: tuple[str, ...] = tuple(FILTER_LABELS)
TREATMENT_LEVELS = frozenset({"residential_rehab", "medical_detox", "outpatient", "home_detox"})
DANGEROUS_WITHDRAWAL = ("alcohol", "benzodiazepines")
_FUNDING_WORDS = {
    "self_funded": "self-funded clients",
    "private_insurance": "private insurance",
    "nhs_or_local_authority": "NHS or local-authority funding",
}
_CONDITION_WORDS = {
    "trauma_symptoms": "trauma-related symptoms",
    "other": "another mental health condition",
}
_SEX_UNITS = {"female_only": ("female", "Female-only"), "male_only": ("male", "Male-only")}


@dataclass(frozen=True, slots=True)
class FilterResult:
    """One hard filter's outcome for one clinic, with the reason in staff's words."""

    name: str
    passed: bool
    detail: str


def words(key: str) -> str:
    """A vocabulary key as staff would say it: ``residential_rehab`` → residential rehab."""
    return key.replace("_", " ")


def substance_words(key: str) -> str:
    return "other substances" if key == "other" else words(key)


def condition_words(key: str) -> str:
    return _CONDITION_WORDS.get(key) or words(key)


def _pair(name: str, failed: str, passed: str) -> tuple[FilterResult, FilterResult]:
    """(failed, passed): indexed by a bool check."""
    return FilterResult(name, False, failed), FilterResult(name, True, passed)


def _either(name: str, passed: str) -> tuple[FilterResult, FilterResult]:
    """A filter that does not apply to these needs: passes whatever the check says."""
    result = FilterResult(name, True, passed)
    return result, result


def _insurer_key(name: str) -> str:
    return " ".join(name.casefold().split())


class Filters:
    """Every hard filter for one set of needs."""

    def __init__(self, needs: Needs) -> None:
        self._needs = needs
        self._primary = needs.primary_substance
        wanted = needs.treatment_wanted
        self._levels = TREATMENT_LEVELS if wanted == "unsure" else frozenset({wanted})
        insured = needs.funding == "private_insurance" and needs.insurer
        self._insurer = _insurer_key(needs.insurer) if insured and needs.insurer else None
        # "unsure" is looked up as a funding no clinic lists, and both its results pass.
        self._funding_key = needs.funding
        self._age_value = needs.age
        self._detox = needs.withdrawal and any(s in DANGEROUS_WITHDRAWAL for s in needs.substances)
        self._statuses = {"active": FilterResult("status", True, "Active")}
        self._ages: dict[tuple[int | None, int | None], FilterResult] = {}
        self._units: dict[str, FilterResult] = {}
        self._countries: dict[str, FilterResult] = {}
        self._too_far: dict[float, FilterResult] = {}
        self._unlimited, self._within, self._distance_unknown = self._distance_results()
        self._substance = _pair(
            "substance",
            f"Does not treat {substance_words(self._primary)}",
            f"Treats {substance_words(self._primary)}",
        )
        self._treatment = self._treatment_pair(wanted)
        self._funding = self._funding_results()
        self._pregnancy = (
            _pair("pregnancy", "Does not accept pregnant clients", "Accepts pregnant clients")
            if needs.pregnant
            else _either("pregnancy", "Pregnancy not reported")
        )
        self._accessibility = (
            _pair(
                "accessibility",
                "Not wheelchair accessible; the client has mobility needs",
                "Wheelchair accessible",
            )
            if needs.mobility_needs
            else _either("accessibility", "No mobility needs reported")
        )
        self._dual = self._dual_pair()
        self._medical_detox = self._detox_pair()
        self._age_unknown = FilterResult(
            "age", True, "Age not recorded: check the clinic's age range"
        )

    def _treatment_pair(self, wanted: str) -> tuple[FilterResult, FilterResult]:
        if wanted == "unsure":
            return _pair(
                "treatment",
                "Offers none of residential rehab, medical detox, outpatient or home detox",
                "Client unsure of the treatment: any level of care",
            )
        return _pair("treatment", f"Does not offer {words(wanted)}", f"Offers {words(wanted)}")

    def _funding_results(self) -> tuple[FilterResult, FilterResult, FilterResult]:
        """(fails the funding, passes, fails the named insurer)."""
        funding, insurer = self._needs.funding, self._needs.insurer
        if funding == "unsure":
            result = FilterResult("funding", True, "Funding not decided yet: not checked")
            return result, result, result
        said = _FUNDING_WORDS.get(funding, words(funding))
        accepts = f"{insurer} insurance" if self._insurer is not None else said
        return (
            FilterResult("funding", False, f"Does not accept {said}"),
            FilterResult("funding", True, f"Accepts {accepts}"),
            FilterResult("funding", False, f"Takes private insurance, but not {insurer}"),
        )

    def _dual_pair(self) -> tuple[FilterResult, FilterResult]:
        if not self._needs.co_occurring:
            return _either("dual_diagnosis", "No co-occurring mental health conditions reported")
        conditions = ", ".join(condition_words(c) for c in self._needs.co_occurring)
        return _pair(
            "dual_diagnosis",
            f"No dual diagnosis; the client reports {conditions}",
            f"Accepts co-occurring conditions ({conditions})",
        )

    def _detox_pair(self) -> tuple[FilterResult, FilterResult]:
        needs = self._needs
        if not self._detox:
            why = (
                "Withdrawal reported, not from alcohol or benzodiazepines"
                if needs.withdrawal
                else "No withdrawal reported"
            )
            return _either("medical_detox", f"{why}: medical detox not required")
        risky = " and ".join(s for s in DANGEROUS_WITHDRAWAL if s in needs.substances)
        return _pair(
            "medical_detox",
            f"No medical detox; {risky} withdrawal is dangerous without medical care",
            f"Offers medical detox for {risky} withdrawal",
        )

    # --- per candidate ------------------------------------------------------------------

    def check(
        self, candidate: Candidate, miles: float | None, abroad: bool
    ) -> tuple[FilterResult, ...]:
        """Every filter's result for one candidate, in FILTER_ORDER."""
        # Hot path (thousands of candidates per ranking): cached results are looked up
        # inline, and only a result not seen before costs a method call.
        return (
            self._statuses.get(candidate.status) or self._status(candidate.status),
            self._substance[self._primary in candidate.substances],
            self._treatment[not self._levels.isdisjoint(candidate.levels_of_care)],
            self._funding[self._funding_key in candidate.funding_accepted]
            if self._insurer is None
            else self._insurance(candidate),
            self._age_unknown
            if self._age_value is None
            else self._age(candidate.min_age, candidate.max_age),
            self._units.get(candidate.single_sex) or self._single_sex(candidate.single_sex),
            self._pregnancy[candidate.accepts_pregnant],
            self._accessibility[candidate.wheelchair_accessible],
            self._unlimited
            if self._unlimited is not None and not abroad
            else self._distance(candidate.country, miles, abroad),
            self._dual[candidate.dual_diagnosis],
            self._medical_detox["medical_detox" in candidate.levels_of_care],
        )

    def _status(self, status: str) -> FilterResult:
        detail = f"{words(status).capitalize()}: not taking referrals"
        found = self._statuses[status] = FilterResult("status", False, detail)
        return found

    def _insurance(self, candidate: Candidate) -> FilterResult:
        if "private_insurance" not in candidate.funding_accepted:
            return self._funding[0]
        return self._funding[1] if self._insurer in candidate.insurers else self._funding[2]

    def _age(self, low: int | None, high: int | None) -> FilterResult:
        age = self._age_value or 0
        found = self._ages.get((low, high))
        if found is None:
            if high is None:
                ages = f"ages {low} and over" if low is not None else "all ages"
            else:
                ages = f"ages {low or 0}–{high}"
            passed = (low is None or age >= low) and (high is None or age <= high)
            detail = f"Takes {ages}; the client is {age}"
            found = self._ages[low, high] = FilterResult("age", passed, detail)
        return found

    def _single_sex(self, unit: str) -> FilterResult:
        found = self._units[unit] = self._single_sex_result(unit)
        return found

    def _single_sex_result(self, unit: str) -> FilterResult:
        if unit == "mixed":
            return FilterResult("single_sex", True, "Mixed unit")
        takes, label = _SEX_UNITS.get(unit, ("", words(unit).capitalize()))
        gender = self._needs.gender
        if gender == takes:
            return FilterResult("single_sex", True, f"{label} unit; the client is {gender}")
        if gender in ("female", "male"):
            return FilterResult("single_sex", False, f"{label} unit; the client is {gender}")
        said = words(gender) if gender and gender != "prefer_not_to_say" else "not recorded"
        detail = f"{label} unit; the client's gender is {said}: check with the clinic"
        return FilterResult("single_sex", False, detail)

    def _distance_results(self) -> tuple[FilterResult | None, FilterResult, FilterResult]:
        """(the result for every UK location if no limit applies, within the limit, unknown)."""
        needs = self._needs
        limit = needs.max_travel_miles
        unlimited = None
        if limit is None:
            unlimited = FilterResult("distance", True, "No travel limit given")
        elif needs.open_to_abroad:
            detail = "The client is open to going abroad, so no travel limit applies"
            unlimited = FilterResult("distance", True, detail)
        where = "client's home" if needs.home_point is None else "clinic"
        unknown = (
            f"Distance unknown (the {where} has no location); "
            f"the client will travel up to {limit} miles"
        )
        return (
            unlimited,
            FilterResult("distance", True, f"Within the client's {limit}-mile limit"),
            FilterResult("distance", False, unknown),
        )

    def _distance(self, country: str, miles: float | None, abroad: bool) -> FilterResult:
        if abroad:
            return self._abroad(country)
        if self._unlimited is not None:
            return self._unlimited
        if miles is None:
            return self._distance_unknown
        limit = self._needs.max_travel_miles or 0
        if miles <= limit:
            return self._within
        # Whole miles once clearly over (62 miles away), tenths just over (60.3 miles away).
        shown = round(miles) if miles >= limit + 1 else miles
        found = self._too_far.get(shown)
        if found is None:
            away = f"{shown:.1f}".removesuffix(".0")
            detail = f"{away} miles away; the client will travel up to {limit}"
            found = self._too_far[shown] = FilterResult("distance", False, detail)
        return found

    def _abroad(self, country: str) -> FilterResult:
        found = self._countries.get(country)
        if found is None:
            open_ = self._needs.open_to_abroad
            verdict = "open" if open_ else "not open"
            detail = f"Abroad ({country}); the client is {verdict} to going abroad"
            found = self._countries[country] = FilterResult("distance", open_, detail)
        return found
