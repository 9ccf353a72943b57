"""In-process server time of the intake pages (Flask test client), and raw-SQL baselines."""

from __future__ import annotations

import random
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import phonenumbers
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from bench import seed
from bench.load import INTAKE_PATH
from bench.sqlcapture import RawBaseline, capture_statement, count_statements
from crm.database import unit_of_work
from crm.extensions import db
from crm.intake import services, wording
from crm.privacy.services import Actor

INPROCESS_PHONE_BASE = 7_800_000_000  # +44 7800 nnnnnn: the in-process intake POSTs


def _say(message: str) -> None:
    print(message, flush=True)


# --- in-process timing -----------------------------------------------------------------------


def summarise(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
        "min_ms": round(ordered[0] * 1000, 2),
        "samples": len(ordered),
    }


def measure(request: Callable[[int], None], samples: int, warmup: int = 20) -> dict[str, float]:
    for i in range(warmup):
        request(-1 - i)
    timings = []
    for i in range(samples):
        started = time.perf_counter()
        request(i)
        timings.append(time.perf_counter() - started)
    return summarise(timings)


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise SystemExit(f"benchmark aborted: {what} (a figure for an error page is worthless)")


def intake_body(phone: str) -> dict[str, Any]:
    return {
        "name": "Sam Bench-Marker",
        "phone": phone,
        "best_time_to_call": "After 6pm",
        "consent_to_contact": True,
        "consent_to_health_details": True,
        "substances": ["alcohol"],
        "message": "Worried about my drinking; would like to talk about rehab.",
        "consent_wording_version": wording.CONSENT_VERSION,
        "disclosure_wording_version": wording.DISCLOSURE_VERSION,
        "page_url": "https://rehab-help.example/callback",
    }


def issue_key(app: Flask) -> str:
    with app.app_context(), unit_of_work():
        _key, secret = services.issue_api_key("Benchmark website", Actor.system("bench"))
    return secret


def login(client: FlaskClient) -> None:
    """Log in through the real login form, as staff do."""
    page = client.get("/login").get_data(as_text=True)
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    _expect(found is not None, "no CSRF token on the login form")
    assert found is not None
    token = found.group(1)
    answer = client.post(
        "/login", data={"email": seed.LOGIN_EMAIL, "password": seed.PASSWORD, "csrf_token": token}
    )
    _expect(answer.status_code == 302, f"login answered {answer.status_code}")


def _targets(app: Flask, leads: int, samples: int) -> dict[str, Any]:
    """Random seeded leads with their caller's phone (national format) and surname pieces."""
    rng = random.Random(7)
    ids = rng.sample(range(1, leads + 1), min(leads, samples + 40))
    with app.app_context(), db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT l.id, l.reference, c.phone FROM leads l "
                "JOIN contacts c ON c.id = l.caller_id WHERE l.id = ANY(:ids)"
            ),
            {"ids": ids},
        ).all()
    surnames = [s.lower() for s in seed.SURNAMES if s.isalpha() and len(s) >= 5]
    pieces = []
    for _ in range(samples + 40):
        surname = rng.choice(surnames)
        start = rng.randrange(len(surname) - 3)
        pieces.append(surname[start : start + 4])
    national = [
        phonenumbers.format_number(
            phonenumbers.parse(r.phone), phonenumbers.PhoneNumberFormat.NATIONAL
        )
        for r in rows
    ]
    return {
        "leads": [(r.id, r.reference) for r in rows],
        "phones": national,
        "references": [r.reference for r in rows],
        "names": pieces,
    }


def time_pages(app: Flask, leads: int, samples: int, api_key: str) -> dict[str, Any]:
    """Median and p95 server time of each page, each measured after a warm-up."""
    client = app.test_client()
    login(client)
    t = _targets(app, leads, samples)
    pick = len(t["leads"])
    results: dict[str, Any] = {}

    def intake(i: int) -> None:
        phone = f"+44{INPROCESS_PHONE_BASE + i + 100}"  # warm-up uses i < 0: still unique
        answer = client.post(
            INTAKE_PATH,
            json=intake_body(phone),
            headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": f"inproc-{i}"},
        )
        _expect(
            answer.status_code == 201 and answer.json["reference"].startswith("L-"),
            f"intake POST answered {answer.status_code}: {answer.get_data(as_text=True)}",
        )

    def queue(_i: int) -> None:
        answer = client.get("/admin/queue/")
        _expect(answer.status_code == 200 and b"data-lead=" in answer.data, "queue page empty")

    def lead_page(i: int) -> None:
        lead_id, reference = t["leads"][i % pick]
        answer = client.get(f"/admin/leads/{lead_id}/")
        _expect(
            answer.status_code == 200 and reference.encode() in answer.data,
            f"lead page {lead_id} did not show {reference}",
        )

    def phone_search(i: int) -> None:
        answer = client.get("/admin/search/", query_string={"q": t["phones"][i % pick]})
        _expect(
            answer.status_code == 200 and t["leads"][i % pick][1].encode() in answer.data,
            f"phone search for {t['phones'][i % pick]} missed its lead",
        )

    def name_search(i: int) -> None:
        answer = client.get("/admin/search/", query_string={"q": t["names"][i % pick]})
        _expect(
            answer.status_code == 200 and b"/admin/leads/" in answer.data,
            f"name search for {t['names'][i % pick]!r} found nothing",
        )

    for name, request in (
        ("intake_post", intake),
        ("queue_page", queue),
        ("lead_page", lead_page),
        ("phone_search", phone_search),
        ("name_search", name_search),
    ):
        results[name] = measure(request, samples)
        results[name]["sql_statements"] = count_statements(app, lambda r=request: r(samples + 10))
        _say(f"  {name}: median {results[name]['median_ms']} ms, p95 {results[name]['p95_ms']} ms")

    baseline = RawBaseline(app)
    try:
        queue_sql = capture_statement(app, lambda: queue(0), "FROM leads JOIN contacts")
        results["queue_raw_sql"] = measure(lambda i: baseline.run(queue_sql), samples)
        names = t["names"]
        name_sqls = [
            capture_statement(
                app,
                lambda n=n: client.get(  # type: ignore[misc]
                    "/admin/search/", query_string={"q": n}
                ),
                "lower(contacts.name) LIKE",
            )
            for n in names[:20]
        ]
        results["name_search_raw_sql"] = measure(
            lambda i: baseline.run(name_sqls[i % len(name_sqls)]), samples
        )
        results["queue_sql"] = queue_sql.statement
        results["name_search_sql"] = name_sqls[0].statement
        results["queue_explain"] = baseline.explain(queue_sql)
        results["name_search_explain"] = baseline.explain(name_sqls[0])
    finally:
        baseline.close()
    for name in ("queue_raw_sql", "name_search_raw_sql"):
        _say(f"  {name}: median {results[name]['median_ms']} ms, p95 {results[name]['p95_ms']} ms")
    return results
