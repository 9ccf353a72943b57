"""Directory CSV import benchmark: N rows through the real import service on PostgreSQL.

    .venv/bin/python -m bench.providers_import [--rows 10000] [--database-url URL]

Runs in the database ``bench_providers`` on the given server (created if missing, emptied and
migrated each run; never ``test``). Times three passes over the same generated file, each
exactly as the worker runs it (``begin_import``, then ``import_batch`` with a commit per batch
of 200): the first import (every row created), the same file again (every row "no changes"),
and a file with every price changed (every row updated). Prints rows per second; figures go
in docs/performance.md. Raw results: bench/results/providers-import-<UTC>.json.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import make_url, text

from bench.intake import ensure_database
from bench.providers_seed import write_import_csv
from config import load_settings
from crm.app import create_app
from crm.database import unit_of_work
from crm.extensions import db
from crm.privacy.services import Actor
from crm.providers import imports
from crm.providers.models import ImportJob

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/bench_providers"
RESULTS = Path(__file__).resolve().parent / "results"
ACTOR = Actor.system("bench")


def _say(message: str) -> None:
    print(message, flush=True)


def _bench_url(database_url: str) -> str:
    """The same server, always the database ``bench_providers``."""
    url = make_url(database_url).set(database="bench_providers")
    return url.render_as_string(hide_password=False)


def _import(data: bytes) -> dict[str, Any]:
    started = time.perf_counter()
    with unit_of_work():
        job_id = imports.start_import("bench.csv", data, ACTOR).id
    uploaded = time.perf_counter()
    with unit_of_work():
        prepared = imports.begin_import(job_id)
    assert prepared is not None
    more = True
    while more:
        with unit_of_work():
            more = imports.import_batch(prepared)
    seconds = time.perf_counter() - started
    job = db.session.get(ImportJob, job_id)
    assert job is not None and job.status == "done", job
    rows = job.total_rows
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "upload_seconds": round(uploaded - started, 2),
        "rows_per_second": round(rows / seconds, 1),
        "created": job.created,
        "updated": job.updated,
        "skipped": job.skipped,
    }


def _repriced(content: str) -> bytes:
    """The same file with every price up by 1 (so every row is an update)."""
    import csv

    rows = list(csv.reader(io.StringIO(content, newline="")))
    columns = [rows[0].index(name) for name in ("price_per_week_min", "price_per_week_max")]
    for row in rows[1:]:
        for column in columns:
            row[column] = str(int(float(row[column])) + 1)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def run(rows: int = 10_000, database_url: str = DEFAULT_DATABASE_URL) -> dict[str, Any]:
    """Time the passes; returns the first import's figures with the others beside them."""
    from flask_migrate import upgrade

    url = _bench_url(database_url)
    ensure_database(url)
    settings = load_settings(
        {
            "CRM_ENV": "test",
            "SECRET_KEY": "bench-providers-secret-key-0123456789",
            "DATABASE_URL": url,
            "REDIS_URL": "redis://127.0.0.1:6379/7",
            "LOG_LEVEL": "WARNING",
        }
    )
    app = create_app(settings)
    buffer = io.StringIO()
    write_import_csv(buffer, rows)
    content = buffer.getvalue()
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade()
        _say(f"importing {rows:,} rows into bench_providers ({len(content) / 1e6:.1f} MB)")
        first = _import(content.encode("utf-8"))
        _say("importing the same file again")
        again = _import(content.encode("utf-8"))
        _say("importing it with every price changed")
        changed = _import(_repriced(content))
        db.engine.dispose()
    return {**first, "same_file_again": again, "every_row_changed": changed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args(argv)
    result = run(args.rows, args.database_url)
    _say(f"\nDirectory CSV import, {args.rows:,} rows, PostgreSQL, batches of {imports.BATCH_SIZE}")
    for label, figures in (
        ("first import (created)", result),
        ("same file again (no changes)", result["same_file_again"]),
        ("every price changed (updated)", result["every_row_changed"]),
    ):
        _say(
            f"  {label:<32}{figures['seconds']:>7.1f} s  {figures['rows_per_second']:>8.0f} rows/s"
            f"  (created {figures['created']}, updated {figures['updated']}, "
            f"skipped {figures['skipped']})"
        )
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"providers-import-{stamp}.json"
    path.write_text(json.dumps({"date": stamp, **result}, indent=2))
    _say(f"written {path.relative_to(RESULTS.parent.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
