"""Synthetic provider directories for benchmarks: N varied locations across UK postcode areas.

``seed_locations(engine_or_session, n)`` bulk-inserts providers and locations (two INSERT
statements); ``write_import_csv(path, rows)`` writes the same kind of directory as the CSV the
import reads. Deterministic for a given ``rng_seed``. Every record passes the same validation
the back office and the import apply, so benchmarks time realistic data.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, insert
from sqlalchemy.orm import Session

from crm import clock
from crm.intake.vocabulary import MENTAL_HEALTH, SUBSTANCES
from crm.providers import rules
from crm.providers.csv_rules import COLUMNS, LIST_SEPARATOR
from crm.providers.geography import postcode_areas
from crm.providers.models import Provider, ProviderLocation
from crm.providers.vocabulary import FUNDING_ACCEPTED, LEVELS_OF_CARE, RATINGS

LOCATIONS_PER_PROVIDER = (1, 1, 1, 2, 2, 3, 5)
_FIRST = ("Aire", "Beacon", "Cedar", "Dales", "Elm", "Fern", "Glen", "Harbour", "Ivy", "Juniper",
          "Kestrel", "Linden", "Meadow", "Northgate", "Oak", "Pennine", "Quarry", "Riverside",
          "Severn", "Thistle", "Upland", "Vale", "Willow", "Yew")  # fmt: skip
_SECOND = ("House", "Lodge", "Recovery", "Clinic", "Centre", "Court", "Grange", "Hall")
_INWARD = "ABDEFGHJLNPQRSTUWXYZ"
_INSURERS = ("Bupa", "AXA Health", "Aviva", "Vitality", "WPA", "Cigna")
_ABROAD = (
    ("ES", "Marbella", 36.51, -4.88, "EUR"),
    ("PT", "Faro", 37.02, -7.93, "EUR"),
    ("TH", "Chiang Mai", 18.79, 98.98, "USD"),
    ("ZA", "Cape Town", -33.92, 18.42, "ZAR"),
)


def _subset(rng: random.Random, keys: Any, low: int, high: int) -> list[str]:
    keys = list(keys)
    return sorted(rng.sample(keys, rng.randint(low, min(high, len(keys)))), key=keys.index)


def _place(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.03:
        country, town, lat, lon, currency = rng.choice(_ABROAD)
        return {"country": country, "town": town, "postcode": None, "currency": currency,
                "latitude": round(lat + rng.uniform(-0.1, 0.1), 5),
                "longitude": round(lon + rng.uniform(-0.1, 0.1), 5)}  # fmt: skip
    area = rng.choice(sorted(a for a in postcode_areas() if a not in ("GY", "JE", "IM")))
    found = postcode_areas()[area]
    unit = rng.choice(_INWARD) + rng.choice(_INWARD)
    postcode = f"{area}{rng.randint(1, 20)} {rng.randint(0, 9)}{unit}"
    with_point = rng.random() < 0.8  # the rest are placed by their postcode area alone
    return {
        "country": "GB",
        "town": found.town.split(" (")[0],
        "postcode": postcode,
        "region": found.region,
        "currency": "GBP",
        "latitude": round(found.latitude + rng.uniform(-0.15, 0.15), 5) if with_point else None,
        "longitude": round(found.longitude + rng.uniform(-0.2, 0.2), 5) if with_point else None,
    }


def _location(rng: random.Random, number: int) -> dict[str, Any]:
    """One location record (the keys of rules.LOCATION_DEFAULTS), valid by construction."""
    place = _place(rng)
    low = Decimal(rng.randrange(400, 6000, 50))
    dual = rng.random() < 0.6
    funding = _subset(rng, FUNDING_ACCEPTED, 1, 3)
    return {
        **rules.LOCATION_DEFAULTS,
        **place,
        "name": f"{rng.choice(_FIRST)} {rng.choice(_SECOND)} {number}",
        "regulator_location_id": f"1-{700000000 + number}",
        "registration_status": "Registered",
        "rating": rng.choice([*RATINGS, None]),
        "rating_date": date(2026, 1, 1) - timedelta(days=rng.randint(30, 1500)),
        "address": f"{rng.randint(1, 200)} {rng.choice(_FIRST)} Road",
        "levels_of_care": _subset(rng, LEVELS_OF_CARE, 1, 3),
        "substances": _subset(rng, SUBSTANCES, 1, 6),
        "dual_diagnosis": dual,
        "mental_health_accepted": _subset(rng, MENTAL_HEALTH, 1, 4) if dual else [],
        "min_age": rng.choice((16, 18, 18, 18, 21)),
        "max_age": rng.choice((None, None, 65, 70)),
        "single_sex": rng.choices(("mixed", "female_only", "male_only"), (8, 1, 1))[0],
        "accepts_pregnant": rng.random() < 0.2,
        "wheelchair_accessible": rng.random() < 0.4,
        "funding_accepted": funding,
        "insurers": _subset(rng, _INSURERS, 1, 4) if "private_insurance" in funding else [],
        "price_per_week_min": low,
        "price_per_week_max": low + Decimal(rng.randrange(0, 3000, 50)),
        "minimum_stay_days": rng.choice((None, 7, 14, 28, 28, 42)),
        "status": rng.choices(("active", "paused", "closed"), (90, 8, 2))[0],
        "admissions_email": f"admissions{number}@clinic.example",
    }


def directory(n: int, rng_seed: int = 5) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(provider record, location record) for ``n`` locations; providers have 1 to 5 each."""
    rng = random.Random(rng_seed)
    made = 0
    provider_number = 0
    while made < n:
        provider_number += 1
        provider = {
            **rules.PROVIDER_DEFAULTS,
            "name": f"{rng.choice(_FIRST)} {rng.choice(('Health', 'Care', 'Recovery'))} "
            f"Group {provider_number}",
            "regulator_provider_id": f"1-{100000000 + provider_number}",
            "status": rng.choices(("active", "paused"), (95, 5))[0],
            "contract_status": rng.choice(("active", "active", "negotiating", "none")),
            "owned_or_affiliated": rng.random() < 0.03,
        }
        for _ in range(min(rng.choice(LOCATIONS_PER_PROVIDER), n - made)):
            made += 1
            yield provider, _location(rng, made)


def seed_locations(target: Engine | Connection | Session, n: int = 5000, rng_seed: int = 5) -> int:
    """Bulk-insert ``n`` locations (and their providers); returns how many were inserted.

    Capacity is confirmed for most locations at various ages (some stale), so matching sees
    available, full and unknown capacity.
    """
    rng = random.Random(rng_seed + 1)
    now = clock.now()
    pairs = list(directory(n, rng_seed))
    if isinstance(target, Engine):
        with target.begin() as connection:
            return seed_locations(connection, n, rng_seed)
    providers: dict[str, dict[str, Any]] = {}
    for provider, _ in pairs:
        providers.setdefault(provider["regulator_provider_id"], provider)
    ids: dict[str, int] = {}
    for key, provider in providers.items():
        ids[key] = target.execute(
            insert(Provider)
            .values(**provider, created_at=now, updated_at=now)
            .returning(Provider.id)
        ).scalar_one()
    rows = []
    for provider, location in pairs:
        confirmed = rng.random() < 0.7
        rows.append(
            {
                **location,
                "provider_id": ids[provider["regulator_provider_id"]],
                "beds_available": rng.randint(0, 6) if confirmed else None,
                "capacity_confirmed_at": now - timedelta(hours=rng.randint(1, 24 * 20))
                if confirmed
                else None,
                "created_at": now,
                "updated_at": now,
            }
        )
    target.execute(insert(ProviderLocation), rows)
    return len(rows)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return LIST_SEPARATOR.join(value)
    if isinstance(value, float):
        return f"{value:.5f}"  # never 6e-05, which the import rightly refuses
    return str(value)


def write_import_csv(out: Path | IO[str], rows: int = 10_000, rng_seed: int = 5) -> None:
    """A directory CSV of ``rows`` locations, every documented column, as the import reads."""
    if isinstance(out, Path):
        with out.open("w", encoding="utf-8", newline="") as handle:
            write_import_csv(handle, rows, rng_seed)
        return
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.name for c in COLUMNS])
    for provider, location in directory(rows, rng_seed):
        record = {"provider": provider, "location": location}
        writer.writerow([_cell(record[c.target][c.field]) for c in COLUMNS])
