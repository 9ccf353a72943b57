"""Fees benchmark on PostgreSQL: the engine's accruals, one invoice run, the aged debt report.

    .venv/bin/python -m bench.fees [--scale 1.0] [--samples 30] [--database-url URL]

Runs in the database ``bench_fees`` (created if missing, its schema dropped and migrated afresh
each run; never ``test``). ``--scale 0.01`` is a smoke run of a hundredth of the data.

1. Accrual: 1,000 providers (one clinic each, a flat £2,500 + VAT agreement) and 100 admitted
   referrals each, every one with a fee trigger due in the past (100,000; bulk-inserted with
   SQL, ``bench.fees_seed``). ``crm.fees.accruals.fire_due_fee_triggers`` is called as the
   engine calls it (batches of ``FEE_BATCH``, a commit each) until nothing is due: seconds and
   accruals per second; then exactly 100,000 accrual entries, a second pass claims nothing and
   a replayed batch (triggers set back to pending) posts nothing.
2. Invoice run: the same 100,000 un-invoiced accruals (100 per provider); one
   ``run_invoicing(today, manager, issue=True)`` committed: seconds and invoices per second;
   then 1,000 invoices numbered INV-YYYY-0001..1000 without a gap, each with its PDF.
3. Aged debt: issued invoices, payments and credit notes bulk-inserted until
   ``ledger_entries`` has 1,000,000 rows, VACUUM ANALYZE; ``crm.fees.queries.aged_debt(today)``
   and one hand-written SQL statement computing the same figures, timed alternately the same
   number of times (after warm-ups): p50 and p95 of each, and the ratio of the p95s. Targets:
   app p95 < 300 ms, app/hand p95 <= 1.3. The two must give identical figures (also checked
   as of 45 days ago, where posting and settlement dates matter).

Figures, not tests (docs/performance.md). Raw results: bench/results/fees-<UTC>.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import Flask
from sqlalchemy import text

from bench import fees_seed, seed
from bench.intake import ensure_database
from bench.matching_rank import ROOT
from bench.sqlcapture import RawBaseline, capture_statement
from config import load_settings
from crm import clock
from crm.app import create_app, settle_startup_objects
from crm.database import unit_of_work
from crm.extensions import db
from crm.fees import accruals, queries
from crm.fees.invoicing import london_today, run_invoicing, unbilled_count
from crm.fees.vocabulary import AGE_BUCKETS
from crm.oncall.engine import FEE_BATCH
from crm.privacy.services import Actor

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench_fees"
RESULTS = ROOT / "bench" / "results"
PROVIDERS = 1000
PER_PROVIDER = 100
LEDGER_ROWS = 1_000_000
TARGET_P95_MS = 300.0
TARGET_RATIO = 1.3
MANAGER_EMAIL = "bench.manager1@staff.example"


def _say(message: str) -> None:
    print(message, flush=True)


def _summary(samples: list[float]) -> dict[str, float]:
    """Median and p95 in milliseconds (p95 the nearest rank, as bench.oncall takes it)."""
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000, 2),
        "min_ms": round(ordered[0] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "samples": len(ordered),
    }


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise SystemExit(f"benchmark aborted: {what}")


def _count(sql: str, params: dict[str, Any] | None = None) -> int:
    return int(db.session.scalar(text(sql), params or {}) or 0)


# --- the database ----------------------------------------------------------------------------


def prepare(app: Flask, providers: int, per_provider: int) -> dict[str, Any]:
    """A fresh schema, staff, and the admitted referrals with their due fee triggers."""
    from flask_migrate import upgrade

    with app.app_context():
        seed.reset_schema(db.engine)
        upgrade()
        seed.create_staff()
        started = time.perf_counter()
        with db.engine.begin() as conn:
            counts = fees_seed.seed_admissions(
                conn, providers, per_provider, london_today(), clock.now(), _say
            )
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    return {**counts, "seed_seconds": round(time.perf_counter() - started, 1)}


# --- 1. accruals -------------------------------------------------------------------------------


def accrue(app: Flask, expected: int) -> dict[str, Any]:
    """Fire every due trigger as the engine does: a batch, a commit, until none is due."""
    batches: list[float] = []
    posted_total = 0
    with app.app_context():
        started = time.perf_counter()
        while True:
            began = time.perf_counter()
            with unit_of_work():
                claimed = accruals.fire_due_fee_triggers(limit=FEE_BATCH)
            if claimed == 0:
                break
            batches.append(time.perf_counter() - began)
            posted_total += claimed
        seconds = time.perf_counter() - started
        entries = _count("SELECT count(*) FROM ledger_entries WHERE kind = 'accrual'")
        distinct = _count(
            "SELECT count(DISTINCT referral_id) FROM ledger_entries WHERE kind = 'accrual'"
        )
        amount = Decimal(
            db.session.scalar(
                text("SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE kind = 'accrual'")
            )
        )
        audited = _count("SELECT count(*) FROM audit_events WHERE action = 'ledger_accrual'")
        pending = _count("SELECT count(*) FROM fee_triggers WHERE status <> 'done'")
        db.session.rollback()
        _check(posted_total == expected, f"{posted_total} triggers claimed, expected {expected}")
        _check(entries == expected, f"{entries} accrual entries, expected exactly {expected}")
        _check(distinct == expected, f"accruals for {distinct} referrals, expected {expected}")
        _check(amount == expected * fees_seed.FEE, f"accruals total {amount}")
        _check(audited == expected, f"{audited} accrual audit rows, expected {expected}")
        _check(pending == 0, f"{pending} triggers not done")
        # A second pass (the next tick) finds nothing due and posts nothing.
        with unit_of_work():
            second = accruals.fire_due_fee_triggers(limit=FEE_BATCH)
        after_second = _count("SELECT count(*) FROM ledger_entries")
        db.session.rollback()
        _check(second == 0, f"the second pass claimed {second} triggers")
        _check(after_second == entries, f"the second pass left {after_second} entries")
        # A replay: one batch of done triggers set back to pending and claimed again (a job
        # run twice): the entries' idempotency keys make it post nothing.
        with unit_of_work():
            db.session.execute(
                text(
                    "UPDATE fee_triggers SET status = 'pending', done_at = NULL WHERE id IN "
                    "(SELECT id FROM fee_triggers ORDER BY id LIMIT :n)"
                ),
                {"n": min(FEE_BATCH, expected)},
            )
        with unit_of_work():
            replayed = accruals.fire_due_fee_triggers(limit=FEE_BATCH)
        after_replay = _count("SELECT count(*) FROM ledger_entries")
        db.session.rollback()
        _check(after_replay == entries, f"the replay posted {after_replay - entries} entries")
    return {
        "triggers": expected,
        "batch_size": FEE_BATCH,
        "batches": len(batches),
        "seconds": round(seconds, 2),
        "accruals_per_second": round(expected / seconds, 1),
        "batch": _summary(batches),
        "accrual_entries": entries,
        "second_pass_claimed": second,
        "second_pass_posted": after_second - entries,
        "replay_claimed": replayed,
        "replay_posted": after_replay - entries,
    }


# --- 2. the invoice run --------------------------------------------------------------------


def invoice_run(app: Flask, providers: int, per_provider: int) -> dict[str, Any]:
    with app.app_context():
        manager_id = db.session.scalar(
            text("SELECT id FROM users WHERE email = :e"), {"e": MANAGER_EMAIL}
        )
        actor = Actor(manager_id, MANAGER_EMAIL, "manager")
        up_to = london_today()
        unbilled = unbilled_count(up_to)
        db.session.rollback()
        _check(unbilled == providers * per_provider, f"{unbilled} fees to bill")
        started = time.perf_counter()
        with unit_of_work():
            outcome = run_invoicing(up_to, actor, issue=True)
            run_id = outcome.run.id
        seconds = time.perf_counter() - started
        rows = db.session.execute(
            text(
                "SELECT i.id, i.number, i.pdf, i.pdf_sha256, i.gross, i.status, "
                "(SELECT count(*) FROM invoice_lines l WHERE l.invoice_id = i.id) AS lines "
                "FROM invoices i WHERE i.run_id = :run ORDER BY i.number"
            ),
            {"run": run_id},
        ).all()
        year = rows[0].number.split("-")[1] if rows else str(up_to.year)
        expected = [f"INV-{year}-{n:04d}" for n in range(1, providers + 1)]
        numbers = [r.number for r in rows]
        with_pdf = sum(
            1
            for r in rows
            if r.pdf is not None
            and bytes(r.pdf).startswith(b"%PDF")
            and hashlib.sha256(bytes(r.pdf)).hexdigest() == r.pdf_sha256
        )
        pdf_bytes = [len(r.pdf) for r in rows if r.pdf is not None]
        gross = Decimal(fees_seed.FEE * per_provider) * Decimal("1.2")
        figures = {
            "billed_entries": _count("SELECT count(*) FROM billed_entries"),
            "invoice_entries": _count("SELECT count(*) FROM ledger_entries WHERE kind = 'invoice'"),
            "emails_with_pdf": _count("SELECT count(*) FROM message_attachments"),
            "fee_chases": _count("SELECT count(*) FROM reminders WHERE kind = 'fee_chase'"),
            "managers": _count("SELECT count(*) FROM users WHERE role = 'manager' AND active"),
            "left_unbilled": unbilled_count(up_to),
        }
        db.session.rollback()
    _check(len(rows) == providers, f"{len(rows)} invoices, expected {providers}")
    _check(numbers == expected, f"numbers not INV-{year}-0001..{providers:04d} without a gap")
    _check(with_pdf == providers, f"{providers - with_pdf} invoices without a valid PDF")
    _check(all(r.lines == per_provider for r in rows), "an invoice without one line per fee")
    _check(all(r.gross == gross and r.status == "issued" for r in rows), "an invoice's total")
    _check(figures["billed_entries"] == providers * per_provider, "fees left off the invoices")
    _check(figures["invoice_entries"] == providers, "invoices not posted to the ledger")
    _check(figures["emails_with_pdf"] == providers, "invoices not emailed with their PDF")
    _check(figures["fee_chases"] == providers * figures["managers"], "fee chases missing")
    _check(figures["left_unbilled"] == 0, f"{figures['left_unbilled']} fees left unbilled")
    return {
        "invoices": len(rows),
        "fees_billed": providers * per_provider,
        "seconds": round(seconds, 2),
        "invoices_per_second": round(len(rows) / seconds, 2),
        "first_number": numbers[0],
        "last_number": numbers[-1],
        "gapless": True,
        "with_pdf": with_pdf,
        "pdf_kb_median": round(statistics.median(pdf_bytes) / 1024, 1),
        **figures,
    }


# --- 3. aged debt ------------------------------------------------------------------------------

# The same figures as queries.aged_debt, in one statement: per provider and currency, the
# receivable entries posted by the day on invoices issued by then and not settled by then, by
# days past due (the app's CASE, NULL due dates falling to "90+" as there), and the unallocated
# receivable entries (credit, shown negated; a zero sum shows no row, as in the app).
HAND_SQL = """
WITH owed AS (
    SELECT i.provider_id, i.currency,
        CASE WHEN %(as_of)s::date - i.due_on <= 0 THEN 'current'
             WHEN %(as_of)s::date - i.due_on <= 30 THEN '1-30'
             WHEN %(as_of)s::date - i.due_on <= 60 THEN '31-60'
             WHEN %(as_of)s::date - i.due_on <= 90 THEN '61-90'
             ELSE '90+' END AS bucket,
        sum(e.amount) AS amount
    FROM invoices i JOIN ledger_entries e ON e.invoice_id = i.id
    WHERE i.kind = 'invoice' AND i.issued_on <= %(as_of)s
      AND (i.settled_on IS NULL OR i.settled_on > %(as_of)s)
      AND e.account = 'receivable' AND e.posted_on <= %(as_of)s
    GROUP BY 1, 2, 3
), buckets AS (
    SELECT provider_id, currency,
        sum(amount) FILTER (WHERE bucket = 'current') AS b0,
        sum(amount) FILTER (WHERE bucket = '1-30') AS b1,
        sum(amount) FILTER (WHERE bucket = '31-60') AS b2,
        sum(amount) FILTER (WHERE bucket = '61-90') AS b3,
        sum(amount) FILTER (WHERE bucket = '90+') AS b4
    FROM owed GROUP BY 1, 2
), credit AS (
    SELECT provider_id, currency, sum(amount) AS amount FROM ledger_entries
    WHERE invoice_id IS NULL AND account = 'receivable' AND posted_on <= %(as_of)s
    GROUP BY 1, 2 HAVING sum(amount) <> 0
)
SELECT p.id, p.name, coalesce(b.currency, c.currency) AS currency,
    coalesce(b.b0, 0), coalesce(b.b1, 0), coalesce(b.b2, 0), coalesce(b.b3, 0),
    coalesce(b.b4, 0), coalesce(-c.amount, 0)
FROM buckets b
FULL JOIN credit c ON c.provider_id = b.provider_id AND c.currency = b.currency
JOIN providers p ON p.id = coalesce(b.provider_id, c.provider_id)
ORDER BY lower(p.name) COLLATE "C", 3
"""

Figure = tuple[int, str, str, tuple[Decimal, ...], Decimal]


def _app_figures(rows: list[queries.AgedRow]) -> list[Figure]:
    return [
        (r.provider_id, r.provider, r.currency, tuple(r.buckets[b] for b in AGE_BUCKETS), r.credit)
        for r in rows
    ]


def _hand(raw: RawBaseline, as_of: date) -> list[Figure]:
    with raw.conn.cursor() as cursor:
        cursor.execute(HAND_SQL, {"as_of": as_of})
        return [(r[0], r[1], r[2], tuple(r[3:8]), r[8]) for r in cursor.fetchall()]


def _same(app_rows: list[Figure], hand_rows: list[Figure], as_of: date) -> None:
    if app_rows == hand_rows:
        return
    app_keys = {(r[0], r[2]): r for r in app_rows}
    hand_keys = {(r[0], r[2]): r for r in hand_rows}
    differing = [
        k for k in app_keys.keys() | hand_keys.keys() if app_keys.get(k) != hand_keys.get(k)
    ]
    sample = [(app_keys.get(k), hand_keys.get(k)) for k in sorted(differing)[:3]]
    raise SystemExit(
        f"benchmark aborted: aged debt as of {as_of} differs between the app and the hand SQL "
        f"({len(app_rows)} vs {len(hand_rows)} rows, {len(differing)} differ"
        f"{'' if differing else ' only in order'}): {sample}"
    )


def _time_alternately(
    actions: dict[str, Callable[[], Any]], samples: int, warmups: int
) -> dict[str, list[float]]:
    for _ in range(warmups):
        for action in actions.values():
            action()
    timings: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(samples):
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            timings[name].append(time.perf_counter() - started)
    return timings


def aged_debt(
    app: Flask, target_rows: int, samples: int, warmups: int, explain: bool
) -> dict[str, Any]:
    with app.app_context():
        today = london_today()
        started = time.perf_counter()
        with db.engine.begin() as conn:
            added = fees_seed.seed_receivables(conn, target_rows, today, _say)
        seed_seconds = time.perf_counter() - started
        started = time.perf_counter()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        analyze_seconds = time.perf_counter() - started
        counts = {
            "ledger_entries": _count("SELECT count(*) FROM ledger_entries"),
            "receivable_entries": _count(
                "SELECT count(*) FROM ledger_entries WHERE account = 'receivable'"
            ),
            "invoices": _count("SELECT count(*) FROM invoices WHERE kind = 'invoice'"),
            "open_invoices": _count(
                "SELECT count(*) FROM invoices WHERE kind = 'invoice' AND settled_on IS NULL"
            ),
            "credit_notes": _count("SELECT count(*) FROM invoices WHERE kind = 'credit_note'"),
            "payments": _count("SELECT count(*) FROM payments"),
        }
        db.session.rollback()
    _check(counts["ledger_entries"] >= target_rows, f"only {counts['ledger_entries']} entries")
    _say(
        f"  ledger_entries {counts['ledger_entries']:,} ({counts['receivable_entries']:,} "
        f"receivable); invoices {counts['invoices']:,} ({counts['open_invoices']:,} open), "
        f"credit notes {counts['credit_notes']:,}, payments {counts['payments']:,}"
    )
    raw = RawBaseline(app)
    ctx = app.app_context()
    ctx.push()
    try:

        def app_query(as_of: date = today) -> list[queries.AgedRow]:
            try:
                return queries.aged_debt(as_of)
            finally:
                db.session.rollback()  # the request's end (timed: a page pays for it too)

        for as_of in (today, today - timedelta(days=45)):
            _same(_app_figures(app_query(as_of)), _hand(raw, as_of), as_of)
        figures = _app_figures(app_query())
        _check(len(figures) > 0, "the aged debt is empty")
        timings = _time_alternately(
            {"app": app_query, "hand": lambda: _hand(raw, today)}, samples, warmups
        )
        _same(_app_figures(app_query()), _hand(raw, today), today)
        result: dict[str, Any] = {
            "as_of": today.isoformat(),
            "rows_added": added,
            "seed_seconds": round(seed_seconds, 1),
            "vacuum_analyze_seconds": round(analyze_seconds, 1),
            "counts": counts,
            "report_rows": len(figures),
            "warmups": warmups,
            "app": _summary(timings["app"]),
            "hand_sql": _summary(timings["hand"]),
        }
        result["ratio_p95"] = round(result["app"]["p95_ms"] / result["hand_sql"]["p95_ms"], 3)
        result["ratio_median"] = round(
            result["app"]["median_ms"] / result["hand_sql"]["median_ms"], 3
        )
        result["met"] = (
            result["app"]["p95_ms"] < TARGET_P95_MS and result["ratio_p95"] <= TARGET_RATIO
        )
        if explain or not result["met"]:
            owed = capture_statement(app, app_query, "JOIN ledger_entries")
            credit = capture_statement(app, app_query, "invoice_id IS NULL")
            result["explain"] = {
                "app_owed_statement": owed.statement,
                "app_owed_plan": raw.explain(owed),
                "app_credit_plan": raw.explain(credit),
            }
            with raw.conn.cursor() as cursor:
                cursor.execute(
                    "EXPLAIN (ANALYZE, BUFFERS) " + HAND_SQL,
                    {"as_of": today},
                )
                result["explain"]["hand_plan"] = [row[0] for row in cursor.fetchall()]
    finally:
        ctx.pop()
        raw.close()
    return result


# --- the run -------------------------------------------------------------------------------


def print_report(report: dict[str, Any]) -> None:
    a, i, d = report["accrual"], report["invoice_run"], report["aged_debt"]
    _say("")
    _say(
        f"Fees benchmark (scale {report['scale']}): PostgreSQL {report['machine']['postgres']}, "
        f"{report['machine']['cpus']} CPUs, {report['date']}"
    )
    _say(
        f"1. accrual: {a['triggers']:,} due triggers fired in {a['batches']} batches of "
        f"{a['batch_size']} (a commit each)"
    )
    _say(
        f"   {a['seconds']:.1f} s, {a['accruals_per_second']:,.0f} accruals/s; per batch "
        f"median {a['batch']['median_ms']:.0f} ms, p95 {a['batch']['p95_ms']:.0f} ms"
    )
    _say(
        f"   accrual entries: {a['accrual_entries']:,} (exactly one per trigger); second pass "
        f"claimed {a['second_pass_claimed']}, posted {a['second_pass_posted']}; replay of "
        f"{a['replay_claimed']} re-claimed triggers posted {a['replay_posted']}"
    )
    _say(
        f"2. invoice run: {i['fees_billed']:,} fees of {i['invoices']:,} providers, one "
        "run_invoicing(issue=True) and its commit"
    )
    _say(f"   {i['seconds']:.1f} s, {i['invoices_per_second']:.1f} invoices/s")
    _say(
        f"   {i['invoices']:,} invoices {i['first_number']}..{i['last_number']}, no gap; "
        f"{i['with_pdf']:,} with their PDF (median {i['pdf_kb_median']} KB), "
        f"{i['emails_with_pdf']:,} emailed, {i['fee_chases']:,} fee chases, "
        f"{i['left_unbilled']} fees left unbilled"
    )
    c = d["counts"]
    _say(
        f"3. aged debt as of {d['as_of']}: {c['ledger_entries']:,} ledger entries, "
        f"{c['invoices']:,} invoices ({c['open_invoices']:,} open), {d['report_rows']:,} rows "
        f"in the report; {d['warmups']} warm-ups, {d['app']['samples']} samples each, alternating"
    )
    _say(f"   {'':<28}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}  target")
    _say(
        f"   {'queries.aged_debt (app)':<28}{d['app']['median_ms']:>9.1f}"
        f"{d['app']['p95_ms']:>9.1f}{d['app']['max_ms']:>9.1f}  p95 < {TARGET_P95_MS:.0f} ms"
    )
    _say(
        f"   {'one hand-written statement':<28}{d['hand_sql']['median_ms']:>9.1f}"
        f"{d['hand_sql']['p95_ms']:>9.1f}{d['hand_sql']['max_ms']:>9.1f}"
    )
    _say(
        f"   ratio app / hand: p95 {d['ratio_p95']:.2f} (target <= {TARGET_RATIO}), median "
        f"{d['ratio_median']:.2f}; identical figures: yes; "
        f"targets {'met' if d['met'] else 'MISSED'}"
    )
    if "explain" in d:
        for name in ("app_owed_plan", "app_credit_plan", "hand_plan"):
            _say(f"   EXPLAIN (ANALYZE, BUFFERS), {name.replace('_', ' ')}:")
            for line in d["explain"][name]:
                _say(f"     {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full data")
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--warmups", type=int, default=3)
    parser.add_argument("--explain", action="store_true", help="print the plans even if met")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1 or args.samples < 30 or args.warmups < 3:
        parser.error("use a scale in (0, 1], at least 30 samples and 3 warm-ups")
    providers = max(1, round(PROVIDERS * args.scale))
    ledger_rows = max(round(LEDGER_ROWS * args.scale), providers * (PER_PROVIDER + 1) + 1)
    ensure_database(args.database_url)
    env = {
        "CRM_ENV": "test",
        "SECRET_KEY": "bench-fees-secret-key-0123456789abcdef",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "LOG_LEVEL": "WARNING",
    }
    app = create_app(load_settings(env))
    settle_startup_objects()  # as wsgi.py does in the serving process
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.fees " + " ".join(argv if argv is not None else sys.argv[1:]),
        "scale": args.scale,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    with app.app_context(), db.engine.connect() as conn:
        report["machine"]["postgres"] = str(conn.scalar(text("SHOW server_version")))
    total = time.perf_counter()
    _say(
        f"seeding {providers:,} providers x {PER_PROVIDER} admitted referrals with due fee "
        f"triggers in {args.database_url.rsplit('/', 1)[-1]} (schema dropped and migrated)"
    )
    report["seed"] = prepare(app, providers, PER_PROVIDER)
    _say(f"1. firing {providers * PER_PROVIDER:,} due fee triggers")
    report["accrual"] = accrue(app, providers * PER_PROVIDER)
    _say(f"2. invoicing {providers * PER_PROVIDER:,} fees of {providers:,} providers")
    report["invoice_run"] = invoice_run(app, providers, PER_PROVIDER)
    _say(f"3. aged debt: seeding receivables up to {ledger_rows:,} ledger entries")
    report["aged_debt"] = aged_debt(app, ledger_rows, args.samples, args.warmups, args.explain)
    report["total_seconds"] = round(time.perf_counter() - total, 1)
    print_report(report)
    _say(f"total {report['total_seconds']:.0f} s")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"fees-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    _say(f"written {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
