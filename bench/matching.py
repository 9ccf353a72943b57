"""Matching benchmark: ranking in-process, the match page on PostgreSQL, and the CSV import.

    .venv/bin/python -m bench.matching [--locations 5000] [--samples 200] [--import-rows 10000]

1. ``rank`` alone on 5,000 synthetic locations (``bench.matching_rank``), median and p95, for
   the DOMAIN.md story and a broad assessment. Target: median under 50 ms.
2. The match page (``/admin/match/<lead>/``) with the same 5,000 locations stored in
   PostgreSQL (database ``bench_matching``, dropped and migrated afresh each run), logged in
   through the real form, 20 warm-ups then ``--samples`` timed requests, each checked for its
   ranked rows. Beside it, in the same run: the service (``match_lead``: load plus rank) and the
   candidate load alone. Target: page p95 under 200 ms.
3. The directory CSV import of ``--import-rows`` rows through the real import service
   (``bench.providers_import``), rows per second.

Figures, not tests (docs/performance.md). Raw results: bench/results/matching-<UTC>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import insert, text

from bench import matching_rank, seed
from bench.intake import ensure_database
from bench.pages import intake_body
from bench.sqlcapture import count_statements
from config import load_settings
from crm import clock
from crm.app import create_app, settle_startup_objects
from crm.database import unit_of_work
from crm.extensions import db
from crm.intake import pipeline, services
from crm.intake.callback import parse_callback_request
from crm.intake.models import Lead
from crm.privacy.services import Actor
from crm.providers.models import Provider, ProviderLocation
from crm.referrals.candidates import load_candidates
from crm.referrals.services import match_lead

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench_matching"
RESULTS = matching_rank.RESULTS
STORY_ANSWERS = {
    "substances": ["ketamine", "cocaine"],
    "primary_substance": "ketamine",
    "depression": True,
    "treatment_wanted": "residential_rehab",
    "funding": "self_funded",
    "budget_band": "1000_1500",
    "home_postcode": "LS6 2AB",
    "max_travel_miles": "60",
    "timeframe": "within_a_week",
    "age": "34",
    "gender": "female",
}


def _say(message: str) -> None:
    print(message, flush=True)


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
        "samples": len(ordered),
    }


def _time(action: Callable[[], Any], samples: int, warmup: int = 20) -> dict[str, float]:
    for _ in range(warmup):
        action()
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return _summary(timings)


# --- the database --------------------------------------------------------------------------


def _location_row(c: Any, provider_id: int) -> dict[str, Any]:
    lat, lon = c.point if c.point else (None, None)
    return {
        "provider_id": provider_id,
        "name": c.name.split(" — ")[1],
        "address": "1 Bench Road",
        "town": "Benchton",
        "postcode": None,
        "country": c.country,
        "latitude": lat,
        "longitude": lon,
        "levels_of_care": sorted(c.levels_of_care),
        "substances": sorted(c.substances),
        "dual_diagnosis": c.dual_diagnosis,
        "mental_health_accepted": sorted(c.mental_health_accepted),
        "min_age": c.min_age,
        "max_age": c.max_age,
        "single_sex": c.single_sex,
        "accepts_pregnant": c.accepts_pregnant,
        "wheelchair_accessible": c.wheelchair_accessible,
        "funding_accepted": sorted(c.funding_accepted),
        "insurers": sorted(c.insurers),
        "price_per_week_min": c.price_per_week_min,
        "price_per_week_max": c.price_per_week_max,
        "rating": c.rating,
        "rating_date": c.rating_date,
        "beds_available": c.beds_available,
        "capacity_confirmed_at": c.capacity_confirmed_at,
        "status": c.status,
        "admissions_email": f"admissions{c.location_id}@clinic.example",
        "currency": "GBP",
    }


def seed_network(app: Flask, locations: int) -> None:
    """Migrate afresh, then the same synthetic network ``rank`` is timed on, one provider per
    ``Provider n`` name; capacity is re-dated to now so freshness matches the in-process run."""
    from flask_migrate import upgrade

    network = matching_rank.network(locations)
    with app.app_context():
        seed.reset_schema(db.engine)
        upgrade()
        seed.create_staff()
        names = sorted({c.name.split(" — ")[0] for c in network})
        with db.engine.begin() as conn:
            ids = {}
            for name in names:
                ids[name] = conn.execute(
                    insert(Provider)
                    .values(
                        name=name,
                        regulator="cqc",
                        status="active",
                        contract_status="active",
                        owned_or_affiliated=name.endswith("7"),
                        created_at=clock.now(),
                        updated_at=clock.now(),
                    )
                    .returning(Provider.id)
                ).scalar_one()
            shift = clock.now() - matching_rank.NOW
            rows = []
            for c in network:
                row = _location_row(c, ids[c.name.split(" — ")[0]])
                if row["capacity_confirmed_at"] is not None:
                    row["capacity_confirmed_at"] += shift
                row["created_at"] = row["updated_at"] = clock.now()
                rows.append(row)
            conn.execute(insert(ProviderLocation), rows)
            conn.execute(text("ANALYZE"))


def story_lead(app: Flask) -> int:
    """The DOMAIN.md client: called back, assessed, ready to match."""
    with app.app_context():
        advisor = Actor(1, seed.LOGIN_EMAIL, "admissions")
        with unit_of_work():
            data = parse_callback_request({**intake_body("07700 900123"), "name": "Jess Walker"})
            lead = services.capture_callback_request(
                data, source="web_form", channel="web_form", target_minutes=15, actor=advisor
            ).lead
            pipeline.log_call(lead.id, advisor, direction="outbound", outcome="connected")
            pipeline.save_assessment(lead.id, dict(STORY_ANSWERS), advisor, complete=True)
            return int(lead.id)


def time_match_page(app: Flask, lead_id: int, samples: int) -> dict[str, Any]:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    if token is None:
        raise SystemExit("benchmark aborted: no CSRF token on the login form")
    answer = client.post(
        "/login",
        data={"email": seed.LOGIN_EMAIL, "password": seed.PASSWORD, "csrf_token": token.group(1)},
    )
    if answer.status_code != 302:
        raise SystemExit(f"benchmark aborted: login answered {answer.status_code}")
    url = f"/admin/match/{lead_id}/"

    def request() -> None:
        response = client.get(url)
        if response.status_code != 200 or b'data-testid="match-row"' not in response.data:
            raise SystemExit(f"benchmark aborted: the match page answered {response.status_code}")

    figures: dict[str, Any] = {"page": _time(request, samples)}
    figures["page"]["sql_statements"] = count_statements(app, request)
    with app.test_request_context():
        db.session.get(Lead, lead_id)
        figures["service"] = _time(lambda: match_lead(lead_id), samples)
        figures["candidate_load"] = _time(load_candidates, samples)
        outcome = match_lead(lead_id)
        figures["eligible"], figures["excluded"] = len(outcome.eligible), len(outcome.excluded)
    return figures


# --- the run -------------------------------------------------------------------------------


def _import_figures(rows: int, database_url: str) -> dict[str, Any] | None:
    try:
        from bench import providers_import
    except ImportError:
        _say("  (bench.providers_import is missing: no import figure)")
        return None
    result: dict[str, Any] = providers_import.run(rows, database_url)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locations", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--import-rows", type=int, default=10_000)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "locations": args.locations,
    }
    _say(f"ranking {args.locations:,} locations in-process")
    network = matching_rank.network(args.locations)
    report["reference_ms"] = matching_rank.reference_ms()
    report["rank"] = {
        "story": matching_rank.time_rank(matching_rank.STORY, network, args.samples, 20),
        "broad": matching_rank.time_rank(matching_rank.BROAD, network, args.samples, 20),
    }
    ensure_database(args.database_url)
    env = {
        "CRM_ENV": "test",
        "SECRET_KEY": "bench-matching-secret-key-0123456789",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "LOG_LEVEL": "WARNING",
    }
    app = create_app(load_settings(env))
    settle_startup_objects()  # as wsgi.py does in the serving process
    _say(f"seeding {args.locations:,} locations in {args.database_url.rsplit('/', 1)[-1]}")
    seed_network(app, args.locations)
    lead_id = story_lead(app)
    _say("timing the match page")
    report["match_page"] = time_match_page(app, lead_id, args.samples)
    if args.import_rows:
        _say(f"importing {args.import_rows:,} CSV rows")
        report["csv_import"] = _import_figures(args.import_rows, args.database_url)
    print_report(report)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"matching-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    _say(f"written {path.relative_to(matching_rank.ROOT)}")
    return 0


def print_report(report: dict[str, Any]) -> None:
    r, m = report["rank"], report["match_page"]
    _say(f"\nMatching benchmark: {report['locations']:,} locations, {report['date']}")
    _say(f"host reference (1,000,000 additions in pure Python): {report['reference_ms']} ms")
    _say(f"{'':<34}{'median ms':>10}{'p95 ms':>10}  target")
    for name in ("story", "broad"):
        f = r[name]
        label = f"rank() in-process, {name} ({f['eligible']} eligible)"
        _say(f"{label:<34}{f['median_ms']:>10.1f}{f['p95_ms']:>10.1f}  median < 50 ms")
    page = m["page"]
    label = f"match page ({page['sql_statements']} SQL)"
    _say(f"{label:<34}{page['median_ms']:>10.1f}{page['p95_ms']:>10.1f}  p95 < 200 ms")
    for name in ("service", "candidate_load"):
        label, f = "  " + name.replace("_", " "), m[name]
        _say(f"{label:<34}{f['median_ms']:>10.1f}{f['p95_ms']:>10.1f}")
    _say(f"  eligible {m['eligible']}, excluded {m['excluded']}")
    imported = report.get("csv_import")
    if imported:
        _say(
            f"CSV import: {imported['rows']:,} rows in {imported['seconds']:.1f} s "
            f"({imported['rows_per_second']:.0f} rows/s)"
        )


if __name__ == "__main__":
    raise SystemExit(main())
