"""Data protection benchmark on PostgreSQL: a subject access export and an erasure for a person
with ten leads, and the retention sweep over N eligible leads with the back office in use.

    .venv/bin/python -m bench.privacy [--leads 1000000] [--eligible 100000] [--samples 10]

Uses the intake benchmark's seed (``bench.intake.prepare``, reused when already seeded with N;
its own database by default, as the sweep rewrites seeded rows) and ``bench.privacy_seed``: the
eligible set reset to the same seeded state every run, and people with ten rich leads each.

1. **Subject access**: one verified access request for a person with ten leads; each sample is
   ``start_export`` (committed), the ``build_export`` task called in-process (a transaction per
   step, as the worker runs it) and the ZIP read back: end to end. ``--samples`` after a
   warm-up; the ZIP is opened and its ten enquiries checked.
2. **Erasure**: ``erase_request`` for ``--samples`` + 1 people (erasure is once a person; the
   first is a warm-up), each committed; then their details are checked gone.
3. **Retention sweep**: the task's loop (``start_run``, then ``sweep_batch`` in committed batches
   of 500 until done) in this process, while another process asks a gunicorn server (``-w 2
   --threads 4``, as bench.intake runs it) for the queue and a lead page, logged in as a manager
   through the real form, every ``--probe-interval`` seconds: the pages' p50/p95 during the
   sweep against the same pages in the ``--baseline-seconds`` before it. Then every eligible lead
   must be anonymised and no other.

The slowest statements of each part (by total time) are written with their EXPLAIN (ANALYZE,
BUFFERS), run in a transaction that is rolled back. Targets (the data protection issue): export
and erasure under 2 s each. Figures, not tests (docs/performance.md). Raw results:
bench/results/privacy-<UTC>.json.
"""

# The SQL here is built only from this module's constants, never from input: the
# string-built-query rule (S608) does not apply.
# ruff: noqa: S608

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import platform
import re
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, build_opener

import psycopg
from flask import Flask
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from bench import load, privacy_seed, seed
from bench.intake import (
    RESULTS,
    _code_state,
    _server_version,
    ensure_database,
    prepare,
    purge_task_queue,
    server_env,
)
from bench.matching_rank import ROOT
from config import load_settings
from crm import clock
from crm.app import create_app, settle_startup_objects
from crm.database import unit_of_work
from crm.extensions import db
from crm.privacy import access, erasure, requests, retention
from crm.privacy.services import Actor
from workers.privacy import build_export

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench_privacy_1m"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
TARGET_SECONDS = 2.0


def _say(message: str) -> None:
    print(message, flush=True)


def _ms(samples: list[float]) -> dict[str, Any]:
    ordered = sorted(samples)
    if not ordered:
        return {"p50": None, "p95": None, "samples": 0}
    return {
        "p50": round(statistics.median(ordered) * 1000, 1),
        "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
        "samples": len(ordered),
    }


# --- statements: what each part ran, and the plans of the slowest ------------------------------


class Statements:
    """Every statement the app's engine runs inside ``watch``, by text: count, total, max."""

    def __init__(self) -> None:
        self.by_text: dict[str, dict[str, Any]] = {}
        self._started: list[float] = []

    def _before(self, *_args: Any) -> None:
        self._started.append(time.perf_counter())

    def _after(
        self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _c: Any, many: bool
    ) -> None:
        seconds = time.perf_counter() - self._started.pop()
        key = re.sub(r"%\(\w+?\)s(, %\(\w+?\)s)*", "…", statement)  # one entry per IN list
        seen = self.by_text.setdefault(
            key, {"count": 0, "total_s": 0.0, "max_s": 0.0, "statement": statement}
        )
        seen["count"] += 1
        seen["total_s"] += seconds
        if seconds >= seen["max_s"]:
            seen["max_s"], seen["statement"] = seconds, statement
            seen["parameters"] = None if many else dict(parameters or {})

    @contextmanager
    def watch(self, app: Flask) -> Iterator[None]:
        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        try:
            yield
        finally:
            event.remove(engine, "before_cursor_execute", self._before)
            event.remove(engine, "after_cursor_execute", self._after)

    def slowest(self, n: int) -> list[dict[str, Any]]:
        rows = sorted(self.by_text.values(), key=lambda r: r["total_s"], reverse=True)[:n]
        return [
            {
                "count": r["count"],
                "total_ms": round(r["total_s"] * 1000, 1),
                "max_ms": round(r["max_s"] * 1000, 1),
                "statement": r["statement"],
                "parameters": r.get("parameters"),
            }
            for r in rows
        ]


def explain(app: Flask, found: list[dict[str, Any]]) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement, rolled back (an UPDATE changes nothing)."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
        for row in found:
            if row["parameters"] is None:
                continue
            try:
                with conn.cursor() as cursor:
                    cursor.execute(
                        "EXPLAIN (ANALYZE, BUFFERS) " + row["statement"],  # type: ignore[arg-type]
                        row["parameters"],
                    )
                    row["plan"] = [r[0] for r in cursor.fetchall()]
            except psycopg.Error as exc:
                row["plan"] = [f"EXPLAIN failed: {exc}"]
            conn.rollback()


# --- setup ---------------------------------------------------------------------------------------


def _admin_actor() -> Actor:
    admin = db.session.execute(
        text("SELECT id, email FROM users WHERE role = 'admin' ORDER BY id LIMIT 1")
    ).one()
    return Actor(user_id=admin.id, email=admin.email, role="admin")


def _new_request(kind: str, person: privacy_seed.Person) -> requests.NewRequest:
    return requests.NewRequest(
        kind=kind,
        requester_name=f"Person {person.contact_id}",
        requester_phone=person.phone,
        requester_email=None,
        received_via="email",
        received_at=clock.now() - timedelta(hours=1),
        description="Please send me everything you hold about me." if kind == "access" else "",
        find=person.phone,
    )


def make_people(app: Flask, erasures: int) -> dict[str, Any]:
    """One access request and ``erasures`` erasure requests, each for a new ten-lead person,
    logged and verified through the services."""
    t0 = time.perf_counter()
    with app.app_context():
        high = int(seed.marker(db.engine)["high_water"]["leads"])  # type: ignore[index]
        with db.engine.begin() as conn:
            sources = privacy_seed.templates(conn, high)
            manager = conn.scalar(text("SELECT id FROM users WHERE role = 'manager' LIMIT 1"))
        assert len(sources) == privacy_seed.LEADS_PER_PERSON, sources
        people = []
        for number in range(erasures + 1):
            with db.engine.begin() as conn:
                people.append(privacy_seed.make_person(conn, number, sources, int(manager)))
        actor = _admin_actor()
        request_ids = []
        with unit_of_work():
            for number, person in enumerate(people):
                kind = "access" if number == 0 else "erasure"
                row = requests.log_request(_new_request(kind, person), actor)
                requests.verify_identity(row.id, "Photo ID by email; called back", actor)
                request_ids.append(row.id)
    seconds = time.perf_counter() - t0
    _say(
        f"  {len(people)} people with {privacy_seed.LEADS_PER_PERSON} leads each "
        f"(cloned from leads {sources}) in {seconds:.1f} s; rows each: {people[0].rows}"
    )
    return {
        "people": people,
        "requests": request_ids,
        "templates": sources,
        "rows_per_person": people[0].rows,
        "seconds": round(seconds, 1),
    }


def reset_eligible(app: Flask, eligible: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    with app.app_context():
        found = seed.marker(db.engine)
        assert found is not None
        with db.engine.begin() as conn:
            state = privacy_seed.reset_eligible(conn, eligible, found, _say)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            privacy_seed.vacuum_touched(conn)
        with unit_of_work():
            preview = retention.preview()
    seconds = time.perf_counter() - t0
    _say(
        f"  eligible set: {state.leads:,} leads ({state.spam:,} spam), {state.contacts:,} "
        f"contacts; lead periods set to {state.period_days} days; preview {preview.counts}; "
        f"reset in {seconds:.1f} s"
    )
    leads_due = preview.counts["spam_leads"] + preview.counts["unconverted_leads"]
    assert leads_due == state.leads == eligible, (preview.counts, state)
    return asdict(state) | {"preview": preview.counts, "seconds": round(seconds, 1)}


# --- 1. subject access export --------------------------------------------------------------------


def _read_export(export_id: int) -> tuple[str, bytes, int]:
    with unit_of_work():
        export = access.get_export(export_id)
        return export.status, bytes(export.content or b""), int(export.record_count or 0)


def _check_zip(content: bytes, leads: int) -> dict[str, int]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = archive.namelist()
        document = json.loads(archive.read("data.json"))
    assert names == ["summary.html", "data.json"], names
    sections = {k: len(v["records"]) for k, v in document["sections"].items()}
    assert sections["leads"] == leads, sections
    return sections


def time_exports(app: Flask, request_id: int, samples: int, found: Statements) -> dict[str, Any]:
    times, content, records = [], b"", 0
    with app.app_context():
        actor = _admin_actor()
        for i in range(samples + 1):
            with found.watch(app):
                t0 = time.perf_counter()
                with unit_of_work():
                    export_id = access.start_export(request_id, actor).id
                build_export(export_id)
                status, content, records = _read_export(export_id)
                elapsed = time.perf_counter() - t0
            assert status == "ready", status
            if i:  # the first is a warm-up
                times.append(elapsed)
        sections = _check_zip(content, privacy_seed.LEADS_PER_PERSON)
    out = _ms(times) | {"zip_bytes": len(content), "records": records, "sections": sections}
    _say(
        f"  export: p50 {out['p50']} ms, p95 {out['p95']} ms; ZIP {len(content):,} bytes, "
        f"{records:,} records"
    )
    return out


# --- 2. erasure ----------------------------------------------------------------------------------


def _check_erased(people: list[privacy_seed.Person]) -> dict[str, int]:
    contacts = [p.contact_id for p in people]
    leads = [i for p in people for i in p.lead_ids]
    row = db.session.execute(
        text(
            "SELECT count(*) FILTER (WHERE anonymised_at IS NOT NULL AND phone IS NULL "
            "AND name LIKE 'Erased ANON-%') FROM contacts WHERE id = ANY(:c)"
        ),
        {"c": contacts},
    ).scalar_one()
    erased_leads = db.session.execute(
        text("SELECT count(*) FROM leads WHERE anonymised_at IS NOT NULL AND id = ANY(:l)"),
        {"l": leads},
    ).scalar_one()
    db.session.rollback()
    assert row == len(contacts) and erased_leads == len(leads), (row, erased_leads)
    return {"contacts": int(row), "leads": int(erased_leads)}


def time_erasures(
    app: Flask, request_ids: list[int], people: list[privacy_seed.Person], found: Statements
) -> dict[str, Any]:
    times, changed = [], {}
    with app.app_context():
        actor = _admin_actor()
        for i, request_id in enumerate(request_ids):
            with found.watch(app):
                t0 = time.perf_counter()
                with unit_of_work():
                    outcome = erasure.erase_request(request_id, actor)
                elapsed = time.perf_counter() - t0
            assert outcome.erasure is not None, outcome.message
            changed = outcome.changed
            if i:  # the first is a warm-up
                times.append(elapsed)
        checked = _check_erased(people)
    out = _ms(times) | {"rows_changed_per_person": changed, "checked": checked}
    _say(f"  erasure: p50 {out['p50']} ms, p95 {out['p95']} ms; rows changed each: {changed}")
    return out


# --- 3. the retention sweep, with the back office in use ----------------------------------------


def _probe(
    port: int,
    email: str,
    pages: list[tuple[str, str, str]],
    interval: float,
    stop: Any,
    ready: Any,
    out: Any,
) -> None:
    """In its own process: log in through the form, then ask for each page in turn."""
    opener = build_opener(HTTPCookieProcessor(CookieJar()))
    base = f"http://127.0.0.1:{port}"
    form = opener.open(base + "/login", timeout=30).read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
    assert token is not None, "no CSRF token on the login form"
    body = urlencode({"email": email, "password": seed.PASSWORD, "csrf_token": token.group(1)})
    landed = opener.open(base + "/login", body.encode(), timeout=30)
    assert "/login" not in landed.geturl(), "the probe's login failed"
    ready.set()
    samples, i = [], 0
    while not stop.is_set():
        name, path, marker = pages[i % len(pages)]
        at, t0 = time.time(), time.perf_counter()
        try:
            with opener.open(base + path, timeout=60) as answer:
                ok = answer.status == 200 and marker.encode() in answer.read()
        except HTTPError:
            ok = False
        samples.append((at, name, time.perf_counter() - t0, ok))
        i += 1
        stop.wait(interval)
    out.put(samples)


def _probe_pages(app: Flask) -> tuple[str, list[tuple[str, str, str]]]:
    with app.app_context():
        manager = db.session.execute(
            text("SELECT email FROM users WHERE role = 'manager' ORDER BY id LIMIT 1")
        ).scalar_one()
        lead = db.session.execute(
            text("SELECT id, reference FROM leads WHERE stage = 'contacted' ORDER BY id LIMIT 1")
        ).one()
        db.session.rollback()
    pages = [
        ("queue", "/admin/queue/", "data-lead="),
        ("lead page", f"/admin/leads/{lead.id}/", lead.reference),
    ]
    return manager, pages


def _sweep(app: Flask, found: Statements) -> dict[str, Any]:
    """What workers.privacy.retention_sweep does, timing each committed batch."""
    batches = []
    with app.app_context(), found.watch(app):
        actor = Actor.system("retention")
        t0 = time.perf_counter()
        with unit_of_work():
            run_id = retention.start_run(actor.email or "system:retention").id
        more = True
        while more:
            b0 = time.perf_counter()
            with unit_of_work():
                more = retention.sweep_batch(run_id, actor)
            batches.append(time.perf_counter() - b0)
        seconds = time.perf_counter() - t0
        with unit_of_work():
            run = retention.get_run(run_id)
            counts, status = dict(run.counts or {}), run.status
    return {"run_id": run_id, "status": status, "counts": counts, "seconds": seconds} | {
        "batch_ms": _ms(batches),
        "batches": len(batches),
    }


def _phase(samples: list[Any], start: float, end: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in sorted({s[1] for s in samples}):
        mine = [s for s in samples if s[1] == name and start <= s[0] < end]
        out[name] = _ms([s[2] for s in mine]) | {"failed": sum(1 for s in mine if not s[3])}
    return out


def sweep_with_probe(
    app: Flask, env: dict[str, str], args: argparse.Namespace, found: Statements
) -> dict[str, Any]:
    manager, pages = _probe_pages(app)
    context = multiprocessing.get_context("spawn")
    stop, ready, out = context.Event(), context.Event(), context.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "gunicorn-privacy.log"
        with load.gunicorn("wsgi:app", env, log) as port:
            probe = context.Process(
                target=_probe, args=(port, manager, pages, args.probe_interval, stop, ready, out)
            )
            probe.start()
            assert ready.wait(60), "the probe did not log in"
            t_base = time.time()
            time.sleep(args.baseline_seconds)
            _say(f"  sweeping {args.eligible:,} leads while {len(pages)} pages are probed")
            t_sweep = time.time()
            swept = _sweep(app, found)
            t_end = time.time()
            stop.set()
            samples = out.get(timeout=60)
            probe.join(30)
    swept["rows_per_second"] = round(args.eligible / swept["seconds"], 1)
    baseline = _phase(samples, t_base, t_sweep)
    during = _phase(samples, t_sweep, t_end)
    ratios = {
        name: {
            q: round(during[name][q] / baseline[name][q], 2)
            for q in ("p50", "p95")
            if baseline[name][q] and during[name][q]
        }
        for name in baseline
    }
    return swept | {"probe": {"baseline": baseline, "during": during, "ratio": ratios}}


def check_swept(app: Flask, eligible: int) -> dict[str, int]:
    with app.app_context():
        high = int(seed.marker(db.engine)["high_water"]["leads"])  # type: ignore[index]
        row = db.session.execute(
            text(
                f"SELECT count(*) FILTER (WHERE e.lead_id IS NOT NULL), "
                f"count(*) FILTER (WHERE e.lead_id IS NULL AND l.id <= :high) "
                f"FROM leads l LEFT JOIN {privacy_seed.SCHEMA}.eligible e ON e.lead_id = l.id "
                f"WHERE l.anonymised_at IS NOT NULL"
            ),
            {"high": high},
        ).one()
        left = db.session.execute(
            text(
                "SELECT count(*) FROM leads WHERE stage = 'closed' AND anonymised_at IS NULL "
                f"AND id IN (SELECT lead_id FROM {privacy_seed.SCHEMA}.eligible)"
            )
        ).scalar_one()
        db.session.rollback()
    out = {"eligible_anonymised": int(row[0]), "others_anonymised": int(row[1]), "left": left}
    assert out["eligible_anonymised"] == eligible and not out["others_anonymised"], out
    return out


# --- report ----------------------------------------------------------------------------------


def _met(p95: float | None) -> str:
    return "yes" if p95 is not None and p95 < TARGET_SECONDS * 1000 else "NO"


def print_table(report: dict[str, Any]) -> None:
    e, x, s = report["export"], report["erasure"], report["sweep"]
    _say("")
    _say(
        f"Privacy benchmark: {report['seed']['leads']:,} leads, PostgreSQL "
        f"{report['machine']['postgres']}, {report['machine']['cpus']} CPUs, {report['date']}"
    )
    _say(f"{'measure':<58}{'p50':>10}{'p95':>10}  target / met")
    _say(
        f"{'subject access export, 10 leads, end to end (ms)':<58}{e['p50']:>10}{e['p95']:>10}"
        f"  < 2 s: {_met(e['p95'])}"
    )
    _say(f"  ZIP {e['zip_bytes']:,} bytes, {e['records']:,} records, {e['samples']} samples")
    _say(
        f"{'erasure, 10 leads, erase_request committed (ms)':<58}{x['p50']:>10}{x['p95']:>10}"
        f"  < 2 s: {_met(x['p95'])}"
    )
    swept = s["counts"].get("spam_leads", 0) + s["counts"].get("unconverted_leads", 0)
    _say(
        f"retention sweep: {swept:,} leads, {s['counts'].get('contacts', 0):,} contacts in "
        f"{s['seconds']:.1f} s: "
        f"{s['rows_per_second']:,.0f} leads/s; {s['batches']} batches, p50 "
        f"{s['batch_ms']['p50']} / p95 {s['batch_ms']['p95']} ms"
    )
    for name, before in s["probe"]["baseline"].items():
        during = s["probe"]["during"][name]
        ratio = s["probe"]["ratio"].get(name, {})
        _say(
            f"  {name:<10} before p50 {before['p50']} / p95 {before['p95']} ms "
            f"({before['samples']})"
            f" | during p50 {during['p50']} / p95 {during['p95']} ms ({during['samples']},"
            f" {during['failed']} failed) | ratio p50 {ratio.get('p50')} p95 {ratio.get('p95')}"
        )
    c = report["swept_check"]
    _say(
        f"  after: {c['eligible_anonymised']:,} eligible leads anonymised, "
        f"{c['others_anonymised']} others, {c['left']} left"
    )
    for part, rows in report["slowest"].items():
        top = rows[0] if rows else None
        if top:
            _say(
                f"  slowest in {part}: {top['count']} × {top['max_ms']} ms max, "
                f"{top['total_ms']} ms total: {' '.join(top['statement'].split())[:110]}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--eligible", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--baseline-seconds", type=float, default=20.0)
    parser.add_argument("--probe-interval", type=float, default=0.1)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    args = parser.parse_args(argv)
    if args.eligible >= args.leads // 2 or args.samples < 3:
        parser.error("use fewer eligible leads than half the leads, and at least 3 samples")
    ensure_database(args.database_url)
    env = server_env(args.database_url, args.redis_url)
    app = create_app(load_settings(env))
    settle_startup_objects()
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.privacy " + " ".join(sys.argv[1:] if argv is None else argv),
        "code": _code_state(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "postgres": _server_version(app),
            "load_before": os.getloadavg(),
        },
    }
    report["seed"] = prepare(app, args.leads)
    _say("resetting the eligible set and making the people")
    report["eligible"] = reset_eligible(app, args.eligible)
    made = make_people(app, args.samples + 1)
    report["people"] = {k: v for k, v in made.items() if k != "people"}
    statements = {part: Statements() for part in ("export", "erasure", "sweep")}
    try:
        _say(f"timing subject access exports ({args.samples} samples after a warm-up)")
        report["export"] = time_exports(
            app, made["requests"][0], args.samples, statements["export"]
        )
        _say(f"timing erasures ({args.samples} people after a warm-up)")
        report["erasure"] = time_erasures(
            app, made["requests"][1:], made["people"][1:], statements["erasure"]
        )
        _say("retention sweep with the back office probed")
        report["sweep"] = sweep_with_probe(app, env, args, statements["sweep"])
        report["swept_check"] = check_swept(app, args.eligible)
    finally:
        purge_task_queue(args.redis_url)
    report["slowest"] = {part: found.slowest(4) for part, found in statements.items()}
    for rows in report["slowest"].values():
        explain(app, rows)
    print_table(report)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"privacy-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    _say(f"\nwritten {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
