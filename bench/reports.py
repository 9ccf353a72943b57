"""Reports benchmark on PostgreSQL: each report page for a month and a quarter at N leads,
against hand-written SQL for the same headline figures, in one run.

    .venv/bin/python -m bench.reports [--leads 1000000] [--samples 20] [--database-url URL]

Uses the intake benchmark's seeded database (``bench.intake.prepare``: leads over three years,
their stage changes, calls, assessments, and the clinics, referrals, pages and fee entries of
``bench.reports_seed``; reused when already seeded with N). For each report (intake, funnel,
speed to lead, referrals, on call, fees, staff) and each period (the last full month, this
quarter so far): the page through the Flask test client, logged in as a manager through the
real form, timed ``--samples`` times after a warm-up, each answer checked for its figures; then
the hand-written SQL computing the report's figures (``HAND_SQL``) for the period and for the
previous period, as the page shows both, timed as often, alternating. Prints p50/p95 of each
and the ratio of the p95s. Targets (issue 11): page p95 < 300 ms, page / hand SQL p95 <= 1.3.

Figures, not tests (docs/performance.md). Raw results: bench/results/reports-<UTC>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from bench import seed
from bench.intake import RESULTS, ensure_database, prepare, server_env
from bench.matching_rank import ROOT
from config import load_settings
from crm import clock
from crm.app import create_app, settle_startup_objects
from crm.database import unit_of_work
from crm.extensions import db
from crm.oncall.wallclock import local_date
from crm.reports import summary
from crm.reports.periods import Period, preset_period

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench_intake_1m"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"

# What a hand-written report would run for the same figures: per report, its statements, each
# run for the period and for the previous period (the page shows both). Counts by in/out of
# hours are left to the app (office hours are Python rules).
HAND_SQL: dict[str, list[str]] = {
    "intake": [
        """
        SELECT count(*) FILTER (WHERE merged_into_id IS NULL),
               count(*) FILTER (WHERE merged_into_id IS NOT NULL),
               count(DISTINCT source)
        FROM leads WHERE created_at >= :start AND created_at < :end
        """
    ],
    "funnel": [
        """
        WITH cohort AS (
            SELECT id, stage FROM leads
            WHERE created_at >= :start AND created_at < :end AND merged_into_id IS NULL
        )
        SELECT sc.to_stage, count(DISTINCT sc.lead_id), min(sc.changed_at)
        FROM cohort JOIN stage_changes sc ON sc.lead_id = cohort.id
        GROUP BY sc.to_stage
        """
    ],
    "speed": [
        """
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY m),
               percentile_cont(0.9) WITHIN GROUP (ORDER BY m),
               avg((m <= 15)::int), count(*)
        FROM (
            SELECT greatest(0, extract(epoch FROM first_contact_at - created_at) / 60) AS m
            FROM leads
            WHERE created_at >= :start AND created_at < :end AND merged_into_id IS NULL
              AND first_contact_at IS NOT NULL
        ) s
        """
    ],
    "referrals": [
        """
        WITH c AS (
            SELECT id, location_id, status, sent_at FROM referrals
            WHERE sent_at >= :start AND sent_at < :end
        ), e AS (
            SELECT e.referral_id,
                min(e.changed_at) FILTER (WHERE e.to_status IN ('accepted', 'declined',
                                                                'waitlisted')) AS first_reply,
                bool_or(e.to_status = 'waitlisted') AS waitlisted,
                bool_or(e.to_status IN ('accepted', 'admission_planned')) AS accepted
            FROM referral_events e JOIN c ON c.id = e.referral_id GROUP BY e.referral_id
        )
        SELECT c.location_id, count(*),
            count(*) FILTER (WHERE c.status <> 'declined' AND (e.accepted
                OR c.status IN ('admitted', 'discharged', 'did_not_arrive'))),
            count(*) FILTER (WHERE c.status = 'declined'),
            count(*) FILTER (WHERE e.waitlisted),
            count(*) FILTER (WHERE c.status IN ('admitted', 'discharged')),
            count(*) FILTER (WHERE c.status = 'did_not_arrive'),
            count(*) FILTER (WHERE c.status = 'withdrawn'),
            count(*) FILTER (WHERE c.status = 'sent'),
            percentile_cont(0.5) WITHIN GROUP (
                ORDER BY ceil(extract(epoch FROM e.first_reply - c.sent_at) / 3600))
        FROM c LEFT JOIN e ON e.referral_id = c.id GROUP BY c.location_id
        """,
        """
        SELECT decline_code, count(*) FROM referrals
        WHERE sent_at >= :start AND sent_at < :end AND status = 'declined'
        GROUP BY decline_code
        """,
        """
        SELECT location_id, discharge_outcome, count(*) FROM referrals
        WHERE discharged_on >= :first AND discharged_on <= :last
          AND discharge_outcome IS NOT NULL
        GROUP BY location_id, discharge_outcome
        """,
    ],
    "oncall": [
        """
        SELECT CASE WHEN subject LIKE 'engine:%' THEN 'engine'
                    WHEN summary LIKE 'Out-of-hours callback request%' THEN 'callback_request'
                    ELSE summary END AS kind,
            count(*), count(lead_id), count(acknowledged_at),
            percentile_cont(0.5) WITHIN GROUP (
                ORDER BY extract(epoch FROM acknowledged_at - triggered_at) / 60),
            percentile_cont(0.9) WITHIN GROUP (
                ORDER BY extract(epoch FROM acknowledged_at - triggered_at) / 60),
            count(*) FILTER (WHERE policy_id IS NOT NULL AND (step_index >= 2 OR cycle >= 1)),
            count(*) FILTER (WHERE EXISTS (SELECT 1 FROM page_events pe
                                           WHERE pe.page_id = p.id AND pe.kind = 'fallback'))
        FROM pages p WHERE triggered_at >= :start AND triggered_at < :end GROUP BY 1
        """,
        """
        SELECT extract(hour FROM triggered_at AT TIME ZONE 'Europe/London'), count(*)
        FROM pages WHERE triggered_at >= :start AND triggered_at < :end GROUP BY 1
        """,
        """
        SELECT kind, count(*),
            count(*) FILTER (WHERE page_id IS NOT NULL OR status = 'escalated'
                OR (status IN ('done', 'cancelled') AND done_at > escalate_at)
                OR (status IN ('pending', 'notified') AND escalate_at <= now()))
        FROM reminders WHERE due_at >= :start AND due_at < :end GROUP BY kind
        """,
        """
        SELECT channel, CASE WHEN status = 'failed' AND error LIKE 'cancelled:%' THEN 'cancelled'
                             WHEN status IN ('pending', 'sending') THEN 'waiting'
                             ELSE status END, count(*)
        FROM outbound_messages WHERE created_at >= :start AND created_at < :end GROUP BY 1, 2
        """,
    ],
    "fees": [
        """
        SELECT extract(year FROM le.posted_on), extract(month FROM le.posted_on), le.provider_id,
            le.currency, coalesce(o.kind, le.kind), sum(le.amount)
        FROM ledger_entries le LEFT JOIN ledger_entries o ON o.id = le.reverses_id
        WHERE le.posted_on >= :first AND le.posted_on <= :last
        GROUP BY 1, 2, 3, 4, 5
        """,
        """
        SELECT i.provider_id, i.currency, sum(le.amount)
        FROM invoices i JOIN ledger_entries le ON le.invoice_id = i.id
        WHERE i.kind = 'invoice' AND le.account = 'receivable' AND le.posted_on <= :last
          AND (i.settled_on IS NULL OR i.settled_on > :last)
        GROUP BY 1, 2
        """,
    ],
    "staff": [
        """
        SELECT actor_id, count(*), count(*) FILTER (WHERE outcome = 'connected')
        FROM call_logs WHERE started_at >= :start AND started_at < :end GROUP BY actor_id
        """,
        """
        SELECT completed_by_id, count(*) FROM assessments
        WHERE completed_at >= :start AND completed_at < :end GROUP BY 1
        """,
        """
        SELECT sent_by_id, count(*) FROM referrals
        WHERE sent_at >= :start AND sent_at < :end GROUP BY 1
        """,
    ],
}


def _say(message: str) -> None:
    print(message, flush=True)


def _periods(today: Any) -> dict[str, Period]:
    return {
        "month": preset_period("last_month", today),
        "quarter": preset_period("this_quarter", today),
    }


def _login(client: Any, email: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert found is not None, "no CSRF token on the login form"
    response = client.post(
        "/login", data={"email": email, "password": seed.PASSWORD, "csrf_token": found.group(1)}
    )
    assert response.status_code == 302, response.status_code


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered) * 1000, 1),
        "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 1),
    }


def time_reports(app: Any, samples: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with app.app_context():
        manager = db.session.execute(
            text("SELECT email FROM users WHERE role = 'manager' ORDER BY id LIMIT 1")
        ).scalar_one()
        today = local_date(clock.now())
    client = app.test_client()
    _login(client, manager)
    for name in HAND_SQL:
        for label, period in _periods(today).items():
            path = (
                f"/admin/reports/{name}/?preset=custom&start={period.start.isoformat()}"
                f"&end={period.end.isoformat()}"
            )
            page_times, sql_times = [], []
            for i in range(samples + 2):
                t0 = time.perf_counter()
                response = client.get(path)
                elapsed = time.perf_counter() - t0
                assert response.status_code == 200, (path, response.status_code)
                assert b'data-testid="figure-' in response.data
                with app.app_context():
                    t1 = time.perf_counter()
                    for each in (period, period.previous()):
                        first, last = each.bounds()
                        binds = {"start": first, "end": last, "first": each.start, "last": each.end}
                        for sql in HAND_SQL[name]:
                            db.session.execute(text(sql), binds).all()
                    sql_elapsed = time.perf_counter() - t1
                    db.session.rollback()
                if i >= 2:  # two warm-ups
                    page_times.append(elapsed)
                    sql_times.append(sql_elapsed)
            page, sql = _ms(page_times), _ms(sql_times)
            out[f"{name}/{label}"] = {
                "period": [period.start.isoformat(), period.end.isoformat()],
                "page": page,
                "hand_sql": sql,
                "ratio_p95": round(page["p95"] / sql["p95"], 2) if sql["p95"] else None,
            }
            _say(
                f"  {name:9s} {label:8s} page p50 {page['p50']:8.1f} p95 {page['p95']:8.1f} ms"
                f" | hand SQL p50 {sql['p50']:7.1f} p95 {sql['p95']:7.1f} ms"
                f" | ratio p95 {out[f'{name}/{label}']['ratio_p95']}"
            )
    return out


def build_summaries(app: Any) -> dict[str, Any]:
    """The report summaries: built in full once (timed), then refreshed as the engine would."""
    with app.app_context():
        built = summary.refreshed_at() is not None
        t0 = time.perf_counter()
        with unit_of_work():
            outcome = summary.refresh(full=not built)
        seconds = time.perf_counter() - t0
        with unit_of_work():
            db.session.execute(
                text("ANALYZE report_counts, report_values, report_slowest, report_facts")
            )
        rows = {
            t: db.session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()  # noqa: S608
            for t in ("report_counts", "report_values", "report_slowest", "report_facts")
        }
    kind = "full build" if outcome.full else "refresh"
    _say(
        f"report summaries: {kind} of {outcome.days:,} day(s) of leads and {outcome.fact_days:,}"
        f" of report facts in {seconds:.1f} s; rows {rows}"
    )
    return {
        "kind": kind,
        "days": outcome.days,
        "fact_days": outcome.fact_days,
        "seconds": round(seconds, 1),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    args = parser.parse_args(argv)
    ensure_database(args.database_url)
    env = server_env(args.database_url, args.redis_url)
    app = create_app(load_settings(env))
    settle_startup_objects()
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.reports " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    report["seed"] = prepare(app, args.leads)
    report["summaries"] = build_summaries(app)
    _say(f"timing report pages at {args.leads:,} leads ({args.samples} samples each)")
    report["reports"] = time_reports(app, args.samples)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"reports-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    _say(f"written {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
