"""Intake benchmark on PostgreSQL: server time of the intake pages and intake throughput.

    .venv/bin/python -m bench.intake [--leads 100000] [--database-url URL] [--redis-url URL]

Seeds (once per N) a dedicated database, then prints the median and p95 server time of the
intake POST, the queue, a lead page, phone search and name search (in-process, Flask test
client), a raw-SQL baseline for the queue and name search queries, and requests per second
of the intake endpoint under gunicorn next to a bare Flask endpoint. Writes the figures to
bench/results/intake-<timestamp>.json. Figures, not tests: see docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench import bare, intake_lateness, load, seed
from bench.pages import intake_body, issue_key, time_pages
from config import load_settings
from crm.app import create_app, settle_startup_objects
from crm.database import unit_of_work
from crm.extensions import db

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench_intake"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
SECRET_KEY = "bench-intake-secret-key-" + "x" * 40
# The rate limiter must not cap a benchmark; it is measured (its Redis round trips) all the same.
UNLIMITED = "100000000"


def _say(message: str) -> None:
    print(message, flush=True)


# --- the database ----------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    """Create the benchmark database if it is missing; never touch the tests' database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise SystemExit("the intake benchmark runs on PostgreSQL only")
    if parsed.database in (None, "", "test", "postgres", "template0", "template1"):
        raise SystemExit(f"refusing to benchmark in the database {parsed.database!r}")
    admin = create_engine(
        parsed.set(drivername="postgresql+psycopg", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        exists = conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
        )
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
            _say(f"created database {parsed.database}")
    admin.dispose()


def server_env(database_url: str, redis_url: str) -> dict[str, str]:
    return {
        "CRM_ENV": "test",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "INTAKE_PER_IP_PER_MINUTE": UNLIMITED,
        "INTAKE_GLOBAL_PER_MINUTE": UNLIMITED,
        "LOG_LEVEL": "WARNING",
    }


def prepare(app: Flask, leads: int) -> dict[str, Any]:
    """Migrate, seed N leads unless already seeded with N, trim earlier runs' additions."""
    from flask_migrate import upgrade

    with app.app_context():
        found = seed.marker(db.engine)
        if found and found["leads"] == leads and found["version"] == seed.SEED_VERSION:
            upgrade()  # a newer migration (an index, say) applies to the seeded data
            removed = seed.trim_to_seed(db.engine, found["high_water"])
            _say(
                f"database already seeded with {leads:,} leads; removed {removed:,} rows "
                "added by earlier runs"
            )
            seconds, skipped = float(found["seconds"]), True
        else:
            _say(f"seeding {leads:,} leads (the schema is dropped and migrated afresh)")
            seed.reset_schema(db.engine)
            upgrade()
            info = seed.seed(leads, _say)
            seconds, skipped = info.seconds, False
            _say(f"seeded in {seconds:.0f} s")
        seed.ensure_office_hours(db.engine)
        summaries = _summaries_built()
        with db.engine.connect() as conn:
            counts = seed.table_counts(conn)
    return {
        "leads": leads,
        "seed_seconds": round(seconds, 1),
        "reused": skipped,
        "rows": counts,
        "summary_build_seconds": summaries,
    }


def _summaries_built() -> float | None:
    """Build the report summaries once, as a running service has them. The seed writes leads
    without them; left unbuilt, the worker's first minute-tick would do the full build (398 s
    at 1,000,000 leads, one worker process at full CPU) in the middle of the lateness run and
    measure that instead of the steady state. Returns the seconds taken, None if built already.
    """
    from crm.reports import summary

    with unit_of_work():
        if summary.refreshed_at() is not None:
            return None
    _say("building the report summaries once (a running service has them)")
    started = time.perf_counter()
    with unit_of_work():
        summary.refresh(full=True)
    seconds = round(time.perf_counter() - started, 1)
    _say(f"report summaries built in {seconds:.0f} s")
    return seconds


# --- throughput ------------------------------------------------------------------------------


def _leads_now(app: Flask) -> int:
    with app.app_context(), db.engine.connect() as conn:
        return int(conn.scalar(text("SELECT count(*) FROM leads")) or 0)


def _inbox_waiting(app: Flask) -> int:
    with app.app_context(), db.engine.connect() as conn:
        return int(
            conn.scalar(text("SELECT count(*) FROM callback_inbox WHERE status = 'pending'")) or 0
        )


def throughput(
    app: Flask, env: dict[str, str], api_key: str, seconds: int, concurrency: int
) -> dict[str, Any]:
    """Requests/second of the intake endpoint, a bare Flask endpoint and the one-INSERT floor."""
    body = json.dumps(intake_body("+44%d"))
    plan = load.LoadPlan(api_key, body, f"run{int(time.time())}", seconds, concurrency)
    out: dict[str, Any] = {
        "seconds": seconds,
        "concurrency": concurrency,
        "gunicorn": "-w 2 --threads 4",
    }
    block = 0
    with tempfile.TemporaryDirectory() as tmp:
        _floor_table(app, create=True)
        servers = (
            ("bare", "bench.bare:app"),
            ("floor", "bench.bare:floor"),
            ("intake", "wsgi:app"),
        )
        for name, spec in servers:
            before = _leads_now(app)
            with load.gunicorn(spec, env, Path(tmp) / f"gunicorn-{name}.log") as port:
                warm = load.warm_up(port, plan, block + 1)
                load.drive(port, plan, plan.warmup_seconds, block + 2)
                result = load.drive(port, plan, seconds, block + 3)
            block += 3
            out[name] = result.__dict__ | {"warm_up_errors": warm.errors}
            if name == "intake":
                out[name]["leads_created"] = _leads_now(app) - before
                out[name]["inbox_rows_waiting"] = _inbox_waiting(app)
            _say(
                f"  {name}: {result.requests_per_second:.0f} req/s ({result.tool}, "
                f"{result.requests} requests, {result.errors} errors)"
            )
        _floor_table(app, create=False)
    bare = out["bare"]["requests_per_second"]
    out["ratio_intake_to_bare"] = round(out["intake"]["requests_per_second"] / bare, 3)
    out["ratio_floor_to_bare"] = round(out["floor"]["requests_per_second"] / bare, 3)
    out["ratio_intake_to_floor"] = round(
        out["intake"]["requests_per_second"] / out["floor"]["requests_per_second"], 3
    )
    return out


def _floor_table(app: Flask, *, create: bool) -> None:
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text(bare.FLOOR_DDL if create else f"DROP TABLE {bare.FLOOR_TABLE}"))


def purge_task_queue(redis_url: str) -> None:
    """Drop Celery messages the run queued in the benchmark's Redis (no worker consumes them)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        dropped = client.llen("celery")
        client.delete("celery")
    finally:
        client.close()
    if dropped:
        _say(f"dropped {dropped} queued task messages from {redis_url}")


# --- report ----------------------------------------------------------------------------------


def _row(label: str, figures: dict[str, Any], target: str = "") -> str:
    statements = figures.get("sql_statements", "")
    return (
        f"{label:<28}{figures['median_ms']:>10.1f}{figures['p95_ms']:>10.1f}"
        f"{figures['samples']:>9}{statements:>6}  {target}"
    )


def print_table(report: dict[str, Any]) -> None:
    p = report["pages"]
    _say("")
    _say(
        f"Intake benchmark: {report['seed']['leads']:,} leads, PostgreSQL, "
        f"{report['machine']['cpus']} CPUs, {report['date']}"
    )
    _say(
        f"{'server time (in-process)':<28}{'median':>10}{'p95':>10}{'samples':>9}{'SQL':>6}"
        "  target (p95)"
    )
    _say(_row("intake POST", p["intake_post"], "< 50 ms"))
    _say(_row("queue page", p["queue_page"], "< 100 ms"))
    _say(_row("  queue query, raw SQL", p["queue_raw_sql"]))
    _say(_row("lead page", p["lead_page"], "< 100 ms"))
    _say(_row("phone search", p["phone_search"], "< 100 ms"))
    _say(_row("name search", p["name_search"], "< 100 ms"))
    _say(_row("  name query, raw SQL", p["name_search_raw_sql"]))
    for page, raw in (("queue_page", "queue_raw_sql"), ("name_search", "name_search_raw_sql")):
        ratio = p[page]["median_ms"] / max(p[raw]["median_ms"], 0.001)
        _say(f"ratio {page} / raw SQL (medians): {ratio:.1f}")
    t = report.get("throughput")
    if t:
        _say(
            f"throughput ({t['intake']['tool']}, {t['seconds']} s, concurrency "
            f"{t['concurrency']}, gunicorn {t['gunicorn']}):"
        )
        _say(f"  bare Flask endpoint {t['bare']['requests_per_second']:>9.1f} req/s")
        _say(
            f"  one-INSERT floor    {t['floor']['requests_per_second']:>9.1f} req/s "
            f"(ratio to bare {t['ratio_floor_to_bare']:.3f}: the most any durable intake gets)"
        )
        i = t["intake"]
        _say(
            f"  intake POST         {i['requests_per_second']:>9.1f} req/s "
            f"({i['errors']} errors; {i['inbox_rows_waiting']} inbox rows committed, "
            f"{i['leads_created']} leads built meanwhile: no worker runs during this part)"
        )
        _say(
            f"  intake under load   p50 {i['latency_p50_ms'] or 0:.1f} / "
            f"p95 {i.get('latency_p95_ms') or 0:.1f} / p99 {i['latency_p99_ms'] or 0:.1f} ms "
            "(client side, the load generator on the same 2 CPUs)"
        )
        _say(f"  ratio intake / bare  {t['ratio_intake_to_bare']:>8.3f}")
        _say(f"  ratio intake / floor {t['ratio_intake_to_floor']:>8.3f}   target >= 0.5")
    late = report.get("lateness")
    if late:
        v, o, d = late["visible"], late["out_of_hours"], late["drain"]
        _say(
            f"lateness (gunicorn, a Celery worker {late['worker']}, beat; "
            f"{late['paced']['achieved_rate']} req/s achieved, {late['paced']['errors']} errors):"
        )
        _say(
            f"  inbox drain          {d['rows']:,} rows in {d['seconds']} s "
            f"({d['leads_per_s']} leads/s)"
        )
        _say(
            f"  committed → in queue median {v.get('median_ms', 0):.0f} / p95 "
            f"{v.get('p95_ms', 0):.0f} / p99 {v.get('p99_ms', 0):.0f} ms "
            f"(n={v['n']})   target p95 < 1000 ms"
        )
        _say(
            f"  out of hours → SMS   median {o.get('median_s', 0):.2f} / p95 "
            f"{o.get('p95_s', 0):.2f} s (n={o['n']} of {o.get('of', o['n'])} answered "
            "with a message within 30 s)   target p95 < 3 s"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument(
        "--redis-url",
        default=DEFAULT_REDIS_URL,
        help="a Redis database for the benchmark alone: its Celery queue is emptied at the end",
    )
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=10, help="throughput run length")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--rate", type=float, default=50.0, help="paced requests/s (lateness)")
    parser.add_argument("--lateness-seconds", type=float, default=30.0)
    parser.add_argument("--out-of-hours", type=int, default=30, help="out-of-hours requests")
    parser.add_argument("--no-lateness", action="store_true")
    parser.add_argument("--seed-only", action="store_true", help="migrate and seed, then stop")
    args = parser.parse_args(argv)
    if args.samples < 200 or args.leads < 1000:
        parser.error("use at least 200 samples and 1000 leads")
    ensure_database(args.database_url)
    env = server_env(args.database_url, args.redis_url)
    app = create_app(load_settings(env))
    settle_startup_objects()  # as wsgi.py does in the serving process
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.intake " + " ".join(sys.argv[1:] if argv is None else argv),
        "code": _code_state(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "postgres": _server_version(app),
        },
    }
    report["seed"] = prepare(app, args.leads)
    if args.seed_only:
        return 0
    api_key = issue_key(app)
    try:
        _say("timing pages in-process")
        report["pages"] = time_pages(app, args.leads, args.samples, api_key)
        if not args.no_throughput:
            _say("throughput under gunicorn")
            report["throughput"] = throughput(app, env, api_key, args.seconds, args.concurrency)
        if not args.no_lateness:
            _say("lateness with a worker and beat")
            with tempfile.TemporaryDirectory() as tmp:
                report["lateness"] = intake_lateness.run(
                    app,
                    env,
                    api_key,
                    Path(tmp),
                    rate=args.rate,
                    seconds=args.lateness_seconds,
                    out_of_hours_requests=args.out_of_hours,
                )
    finally:
        purge_task_queue(args.redis_url)
    print_table(report)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"intake-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    _say(f"\nwritten {path.relative_to(ROOT)}")
    return 0


def _code_state() -> dict[str, Any]:
    """The commit measured, and how many files under crm/ differed from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "crm", "migrations", "templates"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    except OSError:
        return {"commit": None}
    if head.returncode != 0:
        return {"commit": None}
    return {"commit": head.stdout.strip(), "uncommitted_files": len(changed.stdout.splitlines())}


def _server_version(app: Flask) -> str:
    with app.app_context(), db.engine.connect() as conn:
        return str(conn.scalar(text("SHOW server_version")))


if __name__ == "__main__":
    raise SystemExit(main())
