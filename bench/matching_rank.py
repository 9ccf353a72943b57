"""Matching speed in-process: rank 5,000 synthetic provider locations for one assessment.

    .venv/bin/python -m bench.matching_rank [--locations 5000] [--runs 200] [--warmups 20]

Builds a varied, seeded network in memory (no database: this times ``rank`` alone), then
ranks it for two assessments: the DOMAIN.md story (ketamine, Leeds, 60 miles, residential,
self-funded: most clinics are excluded) and a broad one (alcohol with withdrawal, any
treatment and funding, no travel limit, open to abroad: most clinics are scored). Prints the
median and p95 per ranking (target: median under 50 ms) and writes
bench/results/matching_rank-<timestamp>.json. Figures, not tests: see docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from crm.referrals.matching import Candidate, MatchSettings, Needs, rank

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TOWNS = (
    (53.80, -1.55), (53.96, -1.08), (53.38, -1.47), (53.74, -0.33), (53.48, -2.24),
    (53.41, -2.98), (54.97, -1.61), (52.49, -1.89), (52.95, -1.15), (52.63, -1.13),
    (51.51, -0.13), (51.45, -2.59), (50.82, -0.14), (50.72, -3.53), (51.48, -3.18),
    (55.95, -3.19), (55.86, -4.25), (57.15, -2.09), (54.60, -5.93), (52.20, 0.12),
    (51.75, -1.26), (50.91, -1.40), (54.52, -1.55), (53.65, -1.78), (53.99, -1.54),
)  # fmt: skip
ABROAD = (("ES", (36.72, -4.42)), ("PT", (37.02, -7.93)), ("TH", (18.79, 98.98)), ("IE", None))
SUBSTANCE_ODDS = {
    "alcohol": 0.9, "ketamine": 0.5, "cocaine": 0.75, "opioids": 0.55, "benzodiazepines": 0.6,
    "cannabis": 0.7, "amphetamines": 0.5, "prescription_drugs": 0.5, "gambling": 0.3,
    "other": 0.3,
}  # fmt: skip
LEVEL_ODDS = {
    "residential_rehab": 0.6, "medical_detox": 0.45, "outpatient": 0.4, "home_detox": 0.2,
    "aftercare": 0.5,
}  # fmt: skip
CONDITIONS = ("depression", "anxiety", "chronic_emotional_pain", "trauma_symptoms")
INSURERS = ("bupa", "axa health", "aviva", "vitality", "cigna", "wpa")
RATINGS = ("outstanding", "good", "requires_improvement", "inadequate", "not_rated", None)
RATING_WEIGHTS = (10, 60, 15, 3, 6, 6)

STORY = Needs(
    primary_substance="ketamine",
    substances=("ketamine", "cocaine"),
    treatment_wanted="residential_rehab",
    funding="self_funded",
    budget_per_week=Decimal("1500"),
    insurer=None,
    home_point=(53.80, -1.55),
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
BROAD = Needs(
    primary_substance="alcohol",
    substances=("alcohol", "cannabis"),
    treatment_wanted="unsure",
    funding="unsure",
    budget_per_week=None,
    insurer=None,
    home_point=(51.51, -0.13),
    max_travel_miles=None,
    open_to_abroad=True,
    age=None,
    gender=None,
    pregnant=False,
    mobility_needs=False,
    co_occurring=("anxiety", "other"),
    withdrawal=False,
    timeframe="within_a_month",
)


def _subset(rng: random.Random, odds: dict[str, float]) -> frozenset[str]:
    return frozenset(k for k, p in odds.items() if rng.random() < p)


def _place(rng: random.Random) -> tuple[str, tuple[float, float] | None]:
    if rng.random() < 0.08:
        return rng.choice(ABROAD)
    if rng.random() < 0.04:
        return "GB", None
    lat, lon = rng.choice(TOWNS)
    return "GB", (lat + rng.uniform(-0.3, 0.3), lon + rng.uniform(-0.4, 0.4))


def _price(rng: random.Random) -> tuple[Decimal | None, Decimal | None]:
    if rng.random() < 0.1:
        return None, None
    low = Decimal(rng.randrange(600, 3000, 50))
    return low, low + Decimal(rng.randrange(0, 1500, 100))


def _capacity(rng: random.Random) -> tuple[int | None, datetime | None]:
    if rng.random() < 0.15:
        return None, None
    return rng.randint(0, 6), NOW - timedelta(hours=rng.randint(0, 24 * 30))


def _funding(rng: random.Random, private: bool) -> frozenset[str]:
    accepted = {"private_insurance"} if private else set()
    if rng.random() < 0.85:
        accepted.add("self_funded")
    if rng.random() < 0.3:
        accepted.add("nhs_or_local_authority")
    return frozenset(accepted)


def candidate(rng: random.Random, location_id: int) -> Candidate:
    """One plausible location: most clinics in England, some abroad, a few closed."""
    country, point = _place(rng)
    dual = rng.random() < 0.6
    low, high = _price(rng)
    beds, confirmed = _capacity(rng)
    rating = rng.choices(RATINGS, RATING_WEIGHTS)[0]
    private = rng.random() < 0.5
    return Candidate(
        location_id=location_id,
        name=f"Provider {rng.randint(1, 900)} — Site {location_id}",
        status=rng.choices(("active", "paused", "closed"), (90, 6, 4))[0],
        country=country,
        point=point,
        levels_of_care=_subset(rng, LEVEL_ODDS),
        substances=_subset(rng, SUBSTANCE_ODDS),
        dual_diagnosis=dual,
        mental_health_accepted=frozenset(c for c in CONDITIONS if dual and rng.random() < 0.7),
        min_age=rng.choices((18, 16, 21, 25), (80, 5, 10, 5))[0],
        max_age=rng.choices((None, 25, 65, 75), (70, 5, 15, 10))[0],
        single_sex=rng.choices(("mixed", "female_only", "male_only"), (85, 8, 7))[0],
        accepts_pregnant=rng.random() < 0.15,
        wheelchair_accessible=rng.random() < 0.4,
        funding_accepted=_funding(rng, private),
        insurers=frozenset(rng.sample(INSURERS, rng.randint(1, 4))) if private else frozenset(),
        price_per_week_min=low,
        price_per_week_max=high,
        rating=rating,
        rating_date=date(2026, 11, 1) - timedelta(days=rng.randint(0, 6 * 365)) if rating else None,
        beds_available=beds,
        capacity_confirmed_at=confirmed,
        acceptance_rate=None if rng.random() < 0.4 else round(rng.uniform(0.2, 1.0), 2),
        owned_or_affiliated=rng.random() < 0.05,
    )


def network(size: int, seed: int = 5) -> list[Candidate]:
    """In (name, id) order, as ``crm.referrals.candidates.load_candidates`` keeps the directory."""
    rng = random.Random(seed)
    made = [candidate(rng, i) for i in range(1, size + 1)]
    return sorted(made, key=lambda c: (c.name, c.location_id))


def reference_ms(runs: int = 5) -> float:
    """The host's pure-Python speed: median ms for a fixed loop of 1,000,000 additions.

    ``rank`` is CPU-bound Python, so its time scales with this; printed beside it so runs on
    hosts of different speed can be compared (``rank`` median / reference is the portable
    figure).
    """
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 1)


def time_rank(needs: Needs, candidates: list[Candidate], runs: int, warmups: int) -> dict[str, Any]:
    settings = MatchSettings(now=NOW)
    for _ in range(warmups):
        rank(needs, candidates, settings)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        matches = rank(needs, candidates, settings)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "eligible": sum(m.eligible for m in matches),
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 2),
        "min_ms": round(samples[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locations", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmups", type=int, default=20)
    args = parser.parse_args(argv)
    candidates = network(args.locations)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.matching_rank",
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "locations": args.locations,
        "runs": args.runs,
        "warmups": args.warmups,
        "target_median_ms": 50,
    }
    print(f"rank() over {args.locations} locations, {args.runs} runs after {args.warmups} warm-ups")
    report["reference_ms"] = reference_ms()
    print(f"  host reference: 1,000,000 additions in {report['reference_ms']} ms")
    for label, needs in (("story", STORY), ("broad", BROAD)):
        figures = time_rank(needs, candidates, args.runs, args.warmups)
        report[label] = figures
        print(
            f"  {label:<6} eligible {figures['eligible']:>5}"
            f"   median {figures['median_ms']:7.2f} ms"
            f"   p95 {figures['p95_ms']:7.2f} ms   min {figures['min_ms']:7.2f} ms"
        )
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"matching_rank-{stamp}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"written {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
