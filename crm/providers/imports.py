"""The directory CSV import: accept an upload, then work through it in batches with a report.

``start_import`` refuses a file that cannot be imported at all (nothing is stored) and queues
an ``ImportJob``. The worker calls ``begin_import`` once and ``import_batch`` until it says it
is done, committing after each: progress shows as ``processed_rows`` grows, and a worker that
dies resumes from the last committed batch. Each row is validated whole before anything is
written for it, so a bad row never half-applies; re-importing a file changes nothing and says
"no changes". A batch loads the stored locations and providers it needs in two queries.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, or_, select, update

from crm import clock
from crm.errors import DomainError, ErrorKind
from crm.extensions import db
from crm.privacy.services import Actor, record_audit_event
from crm.providers import csv_rules, rules
from crm.providers.models import ImportJob, Provider, ProviderLocation
from crm.providers.services import london_today

BATCH_SIZE = 200


@dataclass(frozen=True)
class PreparedImport:
    """A job's file read once per worker run: its table and where each id first appears."""

    job_id: int
    table: csv_rules.Table
    first_location_rows: dict[str, int]
    first_provider_rows: dict[tuple[str, str], int]


def start_import(filename: str, data: bytes, actor: Actor) -> ImportJob:
    """Queue an import of an uploaded CSV; DomainError (nothing stored) if it cannot be read."""
    try:
        text, table = csv_rules.check_upload(data)
    except csv_rules.FileRefused as exc:
        raise DomainError(str(exc), field_errors={"file": [str(exc)]}) from None
    job = ImportJob(
        filename=_safe_filename(filename),
        content=text,
        status="queued",
        total_rows=len(table.rows),
        processed_rows=0,
        report=[],
        created_by_id=actor.user_id,
        created_at=clock.now(),
    )
    db.session.add(job)
    db.session.flush()
    record_audit_event(
        actor,
        "create",
        object_type="provider_imports",
        object_id=job.id,
        detail=f"{job.total_rows} rows",
    )
    return job


def _safe_filename(filename: str) -> str:
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    return name[:255] or "upload.csv"


def get_job(job_id: int) -> ImportJob:
    job = db.session.get(ImportJob, job_id)
    if job is None:
        raise DomainError("No such import.", ErrorKind.NOT_FOUND)
    return job


def begin_import(job_id: int) -> PreparedImport | None:
    """Claim a queued (or interrupted) job for this worker; None when there is nothing to do."""
    claimed = db.session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id, ImportJob.status.in_(("queued", "running")))
        .values(status="running", started_at=func.coalesce(ImportJob.started_at, clock.now()))
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    content = db.session.scalar(select(ImportJob.content).where(ImportJob.id == job_id)) or ""
    table = csv_rules.read_table(content)
    return PreparedImport(
        job_id,
        table,
        csv_rules.first_rows(table),
        csv_rules.first_provider_rows(table),
    )


def import_batch(prepared: PreparedImport, batch_size: int = BATCH_SIZE) -> bool:
    """Import the next batch of rows; False once every row is done (the job is then "done")."""
    job = db.session.get(ImportJob, prepared.job_id, with_for_update=True, populate_existing=True)
    if job is None or job.status != "running":
        return False
    start = job.processed_rows
    if start >= job.total_rows:
        _finish(job)
        return False
    rows = prepared.table.rows[start : start + batch_size]
    entries = _Batch(prepared, rows).run()
    job.processed_rows = start + len(rows)
    for outcome in ("created", "updated", "skipped"):
        count = sum(1 for e in entries if e["outcome"] == outcome)
        setattr(job, outcome, getattr(job, outcome) + count)
    job.report = [*job.report, *entries]
    db.session.flush()
    return True


def fail_import(job_id: int, message: str) -> None:
    """Mark a job failed (after an unexpected error); rows already committed stay imported."""
    job = db.session.get(ImportJob, job_id)
    if job is not None and job.status in ("queued", "running"):
        job.status = "failed"
        job.error = message[:500]
        job.finished_at = clock.now()


def _finish(job: ImportJob) -> None:
    job.status = "done"
    job.finished_at = clock.now()
    record_audit_event(
        Actor.system("provider-import"),
        "update",
        object_type="provider_imports",
        object_id=job.id,
        detail=f"created {job.created}, updated {job.updated}, skipped {job.skipped}",
    )


def progress(job_id: int) -> dict[str, Any]:
    """What the progress bar shows, read without loading the file or the report."""
    row = db.session.execute(
        select(
            ImportJob.status,
            ImportJob.total_rows,
            ImportJob.processed_rows,
            ImportJob.created,
            ImportJob.updated,
            ImportJob.skipped,
            ImportJob.error,
        ).where(ImportJob.id == job_id)
    ).one_or_none()
    if row is None:
        raise DomainError("No such import.", ErrorKind.NOT_FOUND)
    status, total, processed, created, updated, skipped, error = row
    return {
        "status": status,
        "total_rows": total,
        "processed_rows": processed,
        "percent": int(100 * processed / total) if total else 100,
        "created": created,
        "updated": updated,
        "skipped": skipped,
        "error": error,
        "finished": status in ("done", "failed"),
    }


class _Batch:
    """One batch of rows: stored records loaded up front, then each row judged and applied."""

    def __init__(self, prepared: PreparedImport, rows: Iterable[tuple[int, tuple[str, ...]]]):
        self.prepared = prepared
        header = prepared.table.header
        self.parsed = [csv_rules.parse_row(header, number, cells) for number, cells in rows]
        self.today = london_today()
        self.locations = self._stored_locations()
        self.by_provider_id, self.by_provider_name = self._stored_providers()
        self.inserts: list[tuple[dict[str, Any], Provider]] = []
        self.updates: list[tuple[int, dict[str, Any], Provider]] = []

    def _stored_locations(self) -> dict[str, ProviderLocation]:
        keys = {p.regulator_location_id for p in self.parsed if p.regulator_location_id}
        if not keys:
            return {}
        found = db.session.scalars(
            select(ProviderLocation).where(ProviderLocation.regulator_location_id.in_(keys))
        )
        return {loc.regulator_location_id: loc for loc in found if loc.regulator_location_id}

    def _stored_providers(self) -> tuple[dict[str, Provider], dict[str, Provider]]:
        ids = {p.provider.get("regulator_provider_id") for p in self.parsed} - {None, ""}
        names = {str(p.provider.get("name") or "").lower() for p in self.parsed} - {""}
        found = db.session.scalars(
            select(Provider)
            .where(
                or_(Provider.regulator_provider_id.in_(ids), func.lower(Provider.name).in_(names))
            )
            .order_by(Provider.id)
        ).all()
        by_id = {p.regulator_provider_id: p for p in found if p.regulator_provider_id}
        by_name: dict[str, Provider] = {}
        for provider in found:
            by_name.setdefault(provider.name.lower(), provider)
        return by_id, by_name

    def run(self) -> list[dict[str, Any]]:
        entries = [self._row(parsed) for parsed in self.parsed]
        self._write()
        return entries

    def _row(self, parsed: csv_rules.ParsedRow) -> dict[str, Any]:
        key = parsed.regulator_location_id
        entry: dict[str, Any] = {"row": parsed.number, "regulator_location_id": key}
        first = self.prepared.first_location_rows.get(key or "")
        if not parsed.reasons and first is not None and first != parsed.number:
            return entry | {"outcome": "skipped", "reasons": [f"duplicate of row {first}"]}
        provider = self._provider_for(parsed)
        location = self.locations.get(key or "")
        judged = csv_rules.validate_row(
            parsed,
            rules.provider_values(provider) if provider is not None else None,
            rules.location_values(location) if location is not None else None,
            self.today,
        )
        if isinstance(judged, list):
            return entry | {"outcome": "skipped", "reasons": judged}
        outcome, reasons = self._apply(parsed, judged, provider, location)
        return entry | {"outcome": outcome, "reasons": reasons}

    def _provider_for(self, parsed: csv_rules.ParsedRow) -> Provider | None:
        regulator_id = parsed.provider.get("regulator_provider_id")
        name = str(parsed.provider.get("name") or "").lower()
        if regulator_id:
            found = self.by_provider_id.get(regulator_id)
            if found is not None:
                return found
            by_name = self.by_provider_name.get(name)
            # A provider entered by hand (no regulator id yet) is the same organisation.
            if by_name is not None and by_name.regulator_provider_id in (None, regulator_id):
                return by_name
            return None
        return self.by_provider_name.get(name)

    def _apply(
        self,
        parsed: csv_rules.ParsedRow,
        judged: csv_rules.ValidRow,
        provider: Provider | None,
        location: ProviderLocation | None,
    ) -> tuple[str, list[str]]:
        """Decide the row's outcome; location writes are gathered for one statement each."""
        reasons: list[str] = []
        provider, provider_changed = self._apply_provider(
            parsed, judged.provider, provider, reasons
        )
        if location is None:
            self.inserts.append((judged.location, provider))
            return "created", reasons
        changed = rules.changed_fields(rules.location_values(location), judged.location)
        if provider.id is None or location.provider_id != provider.id:
            changed.append(f"provider (now {provider.name})")
        if not changed and not provider_changed:
            return "skipped", ["no changes", *reasons]
        if changed:
            self.updates.append((location.id, judged.location, provider))
            reasons.insert(0, "changed: " + ", ".join(changed))
        return "updated", reasons

    def _write(self) -> None:
        """New providers first (for their ids), then one INSERT and one UPDATE of locations.

        The UPDATE writes every editable column of each changed row, so all rows share one
        statement (an executemany) instead of one differently shaped UPDATE per row.
        """
        db.session.flush()
        now = clock.now()
        table: Table = ProviderLocation.__table__  # type: ignore[assignment]
        if self.inserts:
            # Core, with every column in every row, and RETURNING: SQLAlchemy then sends
            # multi-row INSERTs (the ORM splits rows whose None columns differ into tiny ones).
            db.session.execute(
                insert(table).returning(table.c.id),
                [
                    {**values, "provider_id": provider.id, "created_at": now, "updated_at": now}
                    for values, provider in self.inserts
                ],
            )
        if self.updates:
            db.session.execute(
                update(table)
                .where(table.c.id == bindparam("location_id"))
                .values({name: bindparam(name) for name in (*rules.LOCATION_FIELDS, "provider_id")})
                .values(updated_at=now),
                [
                    {**values, "location_id": location_id, "provider_id": provider.id}
                    for location_id, values, provider in self.updates
                ],
            )

    def _apply_provider(
        self,
        parsed: csv_rules.ParsedRow,
        values: dict[str, Any],
        provider: Provider | None,
        reasons: list[str],
    ) -> tuple[Provider, bool]:
        now = clock.now()
        if provider is None:
            provider = Provider(**values, created_at=now, updated_at=now)
            db.session.add(provider)
            if provider.regulator_provider_id:
                self.by_provider_id[provider.regulator_provider_id] = provider
            self.by_provider_name.setdefault(provider.name.lower(), provider)
            reasons.append(f"new provider: {provider.name}")
            return provider, True
        changed = rules.changed_fields(rules.provider_values(provider), values)
        if not changed:
            return provider, False
        first = self.prepared.first_provider_rows.get(csv_rules.provider_key(parsed.provider))
        if first is not None and first != parsed.number:
            # Only a provider's first row sets its details, so a file that disagrees with
            # itself does not flip them back and forth on every import.
            reasons.append(f"provider details differ from row {first}, which set them")
            return provider, False
        for name in changed:
            setattr(provider, name, values[name])
        provider.updated_at = now
        reasons.append("provider changed: " + ", ".join(changed))
        return provider, True
