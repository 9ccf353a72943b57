"""Helpers for provider tests: valid records, the sample CSV, running an import to the end."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from crm.database import unit_of_work
from crm.extensions import db
from crm.privacy.models import AuditEvent
from crm.privacy.services import Actor
from crm.providers import imports
from crm.providers.csv_rules import COLUMNS
from crm.providers.models import ImportJob, Provider, ProviderLocation

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CSV = ROOT / "docs" / "sample-providers.csv"
MANAGER = Actor(None, "manager@staff.example", "manager", "127.0.0.1", "req-providers")
PROVIDER_TABLES = (Provider, ProviderLocation, ImportJob, AuditEvent)


def provider_form(**changes: Any) -> dict[str, Any]:
    return {
        "name": "Aire Valley Recovery",
        "regulator": "cqc",
        "regulator_provider_id": "1-999000001",
        "status": "active",
        "contract_status": "active",
        "owned_or_affiliated": False,
        "affiliation_note": None,
        "website": "https://airevalley.example",
        **changes,
    }


def location_form(**changes: Any) -> dict[str, Any]:
    """A ketamine specialist near Leeds, as a manager would type it in."""
    from decimal import Decimal

    return {
        "name": "Otley House",
        "regulator_location_id": "1-999000101",
        "address": "12 Westgate",
        "town": "Otley",
        "postcode": "ls21 3at",
        "country": "GB",
        "levels_of_care": ["residential_rehab", "medical_detox"],
        "substances": ["ketamine", "alcohol"],
        "dual_diagnosis": True,
        "mental_health_accepted": ["depression"],
        "funding_accepted": ["self_funded"],
        "price_per_week_min": Decimal("1200"),
        "price_per_week_max": Decimal("1500"),
        "admissions_phone": "0113 496 0123",
        "admissions_email": "Admissions@AireValley.example",
        **changes,
    }


def counts() -> dict[str, int]:
    return {
        model.__tablename__: int(db.session.scalar(select(func.count()).select_from(model)) or 0)
        for model in PROVIDER_TABLES
    }


def sample_bytes() -> bytes:
    return SAMPLE_CSV.read_bytes()


def csv_bytes(rows: list[dict[str, str]], columns: list[str] | None = None) -> bytes:
    """A CSV with the given columns (default: every documented column), as Excel saves it."""
    names = columns or [c.name for c in COLUMNS]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=names, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({name: row.get(name, "") for name in names})
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def sample_rows() -> list[dict[str, str]]:
    with SAMPLE_CSV.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def run_import(data: bytes, *, batch_size: int = imports.BATCH_SIZE) -> ImportJob:
    """Upload and work through the whole file as the worker does (one commit per batch)."""
    with unit_of_work():
        job_id = imports.start_import("directory.csv", data, MANAGER).id
    run_job(job_id, batch_size=batch_size)
    job = db.session.get(ImportJob, job_id)
    assert job is not None
    return job


def run_job(job_id: int, *, batch_size: int = imports.BATCH_SIZE) -> None:
    with unit_of_work():
        prepared = imports.begin_import(job_id)
    assert prepared is not None
    more = True
    while more:
        with unit_of_work():
            more = imports.import_batch(prepared, batch_size)


def outcomes(job: ImportJob) -> dict[str, tuple[str, list[str]]]:
    """regulator_location_id (or row number) → (outcome, reasons), from the job's report."""
    return {
        str(e["regulator_location_id"] or e["row"]): (e["outcome"], e["reasons"])
        for e in job.report
    }


def location_by_key(key: str) -> ProviderLocation:
    found = db.session.scalar(
        select(ProviderLocation).where(ProviderLocation.regulator_location_id == key)
    )
    assert found is not None, key
    return found
