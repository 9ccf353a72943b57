"""The directory CSV import: refused files, per-row reports, idempotency, batches, resuming."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from crm.database import unit_of_work
from crm.errors import DomainError
from crm.extensions import db
from crm.privacy.models import AuditEvent
from crm.providers import imports, services
from crm.providers.csv_rules import MAX_BYTES, MAX_ROWS, REQUIRED_COLUMNS
from crm.providers.models import ImportJob, Provider, ProviderLocation
from tests.services.provider_factories import (
    MANAGER,
    counts,
    csv_bytes,
    location_by_key,
    location_form,
    outcomes,
    provider_form,
    run_import,
    run_job,
    sample_bytes,
    sample_rows,
)

pytestmark = pytest.mark.usefixtures("db_session")


def _table(model: type) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in db.session.execute(select(model.__table__)).all())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"  \r\n", "The file is empty."),
        ("provider_name,regulator\nCaf\xe9,cqc\n".encode("latin-1"), "not in UTF-8"),
        (b"PK\x03\x04\x14\x00\x06\x00", "Excel workbook"),
        (b"provider_name;regulator;town\nA;cqc;Leeds\n", "separated by semicolons"),
        (b"provider_name,regulator,town\nA,cqc,Leeds\n", "Missing required columns: "),
        (csv_bytes([]), "has a header but no rows"),
        (csv_bytes([{"provider_name": "A"}], ["substance", *REQUIRED_COLUMNS]), "Unknown columns"),
        (b"a" * (MAX_BYTES + 1), "larger than 5 MB"),
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_and_nothing_is_stored(
    data: bytes, message: str
) -> None:
    before = counts()
    with pytest.raises(DomainError) as caught, unit_of_work():
        imports.start_import("upload.csv", data, MANAGER)
    assert message in caught.value.message
    assert caught.value.field_errors == {"file": [caught.value.message]}
    assert counts() == before


def test_missing_columns_are_listed_by_name() -> None:
    data = csv_bytes([{"provider_name": "A"}], ["provider_name", "regulator", "town", "address"])
    with pytest.raises(DomainError) as caught:
        imports.start_import("upload.csv", data, MANAGER)
    assert caught.value.message == (
        "Missing required columns: regulator_location_id, location_name, postcode, "
        "levels_of_care, substances, funding_accepted."
    )


def test_too_many_rows_are_refused() -> None:
    row = {"provider_name": "A", "location_name": "B", "postcode": "LS1 4AP"}
    rows = [{**row, "regulator_location_id": f"X-{i}"} for i in range(MAX_ROWS + 1)]
    data = csv_bytes(rows, list(REQUIRED_COLUMNS))
    assert len(data) < MAX_BYTES
    with pytest.raises(DomainError, match="20,001 rows; at most 20,000"):
        imports.start_import("big.csv", data, MANAGER)


def test_the_sample_file_imports_every_row() -> None:
    job = run_import(sample_bytes())
    assert (job.status, job.total_rows, job.processed_rows) == ("done", 16, 16)
    assert (job.created, job.updated, job.skipped) == (16, 0, 0)
    assert job.started_at is not None and job.finished_at is not None
    assert db.session.scalar(select(Provider.id).where(Provider.name == "Costa Serena Recovery"))
    assert len(db.session.scalars(select(Provider)).all()) == 14
    ketamine = location_by_key("1-201000001")
    assert ketamine.provider.name == "Aire Valley Recovery"
    assert (ketamine.postcode, ketamine.region, ketamine.town) == ("LS21 3AT", "yorkshire", "Otley")
    assert "ketamine" in ketamine.substances and ketamine.dual_diagnosis
    assert (ketamine.price_per_week_min, ketamine.price_per_week_max) == (
        Decimal("1200.00"),
        Decimal("1500.00"),
    )
    assert location_by_key("1-201000015").provider_id == ketamine.provider_id
    assert location_by_key("1-201000010").provider.owned_or_affiliated
    assert location_by_key("1-201000011").status == "paused"
    spain = location_by_key("ES-AND-0001-01")
    assert (spain.country, spain.postcode, spain.currency) == ("ES", None, "EUR")
    assert location_by_key("CS2010000456").provider.regulator == "care_inspectorate"
    report = outcomes(job)
    assert report["1-201000001"] == ("created", ["new provider: Aire Valley Recovery"])
    assert report["1-201000015"] == ("created", [])


def test_re_importing_the_same_file_changes_nothing() -> None:
    run_import(sample_bytes())
    before = (_table(Provider), _table(ProviderLocation))
    again = run_import(sample_bytes())
    assert (again.created, again.updated, again.skipped) == (0, 0, 16)
    assert {outcome for outcome, _ in outcomes(again).values()} == {"skipped"}
    assert {tuple(reasons) for _, reasons in outcomes(again).values()} == {("no changes",)}
    assert (_table(Provider), _table(ProviderLocation)) == before


def test_a_changed_row_updates_only_its_columns() -> None:
    run_import(sample_bytes())
    location = location_by_key("1-201000001")
    location.exclusions = "Typed in the back office"
    db.session.commit()
    rows = [
        {**sample_rows()[0], "price_per_week_max": "1,550", "status": "paused"},
        sample_rows()[1],
    ]
    columns = [c for c in sample_rows()[0] if c != "exclusions"]  # a file without the column
    job = run_import(csv_bytes(rows, columns))
    assert (job.created, job.updated, job.skipped) == (0, 1, 1)
    assert outcomes(job)["1-201000001"] == (
        "updated",
        ["changed: price_per_week_max, status"],
    )
    location = location_by_key("1-201000001")
    assert location.price_per_week_max == Decimal("1550.00") and location.status == "paused"
    assert location.exclusions == "Typed in the back office"


def test_bad_rows_are_reported_and_never_half_applied() -> None:
    good = sample_rows()[0]
    rows = [
        good,
        {**good, "regulator_location_id": "NEG-1", "provider_name": "Brand New Clinic Group",
         "regulator_provider_id": "1-555", "price_per_week_min": "-100"},
        {**good, "regulator_location_id": "SUB-1", "substances": "ketamine;spice;meth"},
        {**good, "regulator_location_id": "PC-1", "postcode": "LS99"},
        {**good, "regulator_location_id": "PR-1", "price_per_week_min": "2000"},
        {**good, "location_name": "Otley House again"},
        {**good, "regulator_location_id": "", "location_name": "No id"},
        {**good, "regulator_location_id": "CC-1", "country": "Atlantis", "postcode": ""},
        {**good, "regulator_location_id": "YN-1", "dual_diagnosis": "maybe",
         "rating_date": "31/02/2025"},
    ]  # fmt: skip
    job = run_import(csv_bytes(rows))
    report = outcomes(job)
    assert (job.created, job.updated, job.skipped) == (1, 0, 8)
    assert report["NEG-1"] == ("skipped", ["price_per_week_min: cannot be negative (-100)"])
    assert report["SUB-1"] == (
        "skipped",
        [
            "substances: Unknown substances: spice, meth (known: alcohol, ketamine, cocaine, "
            "opioids, benzodiazepines, cannabis, amphetamines, prescription_drugs, gambling, "
            "other)."
        ],
    )
    assert report["PC-1"] == ("skipped", ["postcode: Enter a UK postcode, like LS1 4AP."])
    assert report["PR-1"] == (
        "skipped",
        ["price_per_week_max: The highest price cannot be below the lowest."],
    )
    assert [e for e in job.report if e["row"] in (2, 7)] == [
        {
            "row": 2,
            "regulator_location_id": "1-201000001",
            "outcome": "created",
            "reasons": ["new provider: Aire Valley Recovery"],
        },
        {
            "row": 7,
            "regulator_location_id": "1-201000001",
            "outcome": "skipped",
            "reasons": ["duplicate of row 2"],
        },
    ]
    assert report["8"][1] == [
        "regulator_location_id: required (it is how a later import finds this location)"
    ]
    assert report["CC-1"][1] == [
        "country: 'Atlantis' is not an ISO 3166-1 country code (GB, IE, ES ...)."
    ]
    assert report["YN-1"][1] == [
        "rating_date: '31/02/2025' is not a date (write 2025-03-14 or 14/03/2025)",
        "dual_diagnosis: 'maybe' is not yes or no",
    ]
    # Nothing of the bad rows exists: no location, and no provider made for a refused row.
    assert (
        db.session.scalar(select(Provider).where(Provider.name == "Brand New Clinic Group")) is None
    )
    keys = set(db.session.scalars(select(ProviderLocation.regulator_location_id)))
    assert keys == {"1-201000001"}


def test_batches_commit_progress_and_a_stopped_import_resumes() -> None:
    with unit_of_work():
        job_id = imports.start_import("directory.csv", sample_bytes(), MANAGER).id
    assert imports.progress(job_id) | {"error": None} == {
        "status": "queued",
        "total_rows": 16,
        "processed_rows": 0,
        "percent": 0,
        "created": 0,
        "updated": 0,
        "skipped": 0,
        "error": None,
        "finished": False,
    }
    with unit_of_work():
        prepared = imports.begin_import(job_id)
    assert prepared is not None
    with unit_of_work():
        assert imports.import_batch(prepared, batch_size=5)
    shown = imports.progress(job_id)
    assert (shown["status"], shown["processed_rows"], shown["percent"]) == ("running", 5, 31)
    assert shown["created"] == 5 and not shown["finished"]
    # The worker dies here; the task is delivered again and starts from the committed batch.
    run_job(job_id, batch_size=4)
    job = db.session.get(ImportJob, job_id)
    assert job is not None
    assert (job.status, job.processed_rows, job.created, job.skipped) == ("done", 16, 16, 0)
    assert [e["row"] for e in job.report] == list(range(2, 18))
    assert imports.progress(job_id)["finished"] is True
    with unit_of_work():
        assert imports.begin_import(job_id) is None  # a late duplicate delivery does nothing
    finished = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.object_type == "provider_imports", AuditEvent.object_id == str(job_id)
        )
    ).all()
    assert [(e.action, e.detail) for e in finished] == [
        ("create", "16 rows"),
        ("update", "created 16, updated 0, skipped 0"),
    ]


def test_a_provider_is_found_by_regulator_id_or_by_name() -> None:
    with unit_of_work():
        by_hand = services.create_provider(
            provider_form(name="Northern Lights Clinics", regulator_provider_id=None), MANAGER
        )
    job = run_import(sample_bytes())
    assert location_by_key("1-201000002").provider_id == by_hand.id
    assert by_hand.regulator_provider_id == "1-101000002"  # learnt from the file
    assert "provider changed: regulator_provider_id, website" in outcomes(job)["1-201000002"][1]


def test_a_file_that_disagrees_about_a_provider_stays_idempotent() -> None:
    first, second = sample_rows()[1], sample_rows()[2]  # two locations of Northern Lights
    rows = [first, {**second, "website": "https://elsewhere.example"}]
    job = run_import(csv_bytes(rows))
    assert outcomes(job)["1-201000003"] == (
        "created",
        ["provider details differ from row 2, which set them"],
    )
    provider = location_by_key("1-201000003").provider
    assert provider.website == "https://northernlights.example"
    again = run_import(csv_bytes(rows))
    assert (again.created, again.updated, again.skipped) == (0, 0, 2)


def test_a_location_can_move_to_another_provider() -> None:
    run_import(sample_bytes())
    moved = {**sample_rows()[0], "provider_name": "Wharfe Health", "regulator_provider_id": "1-7"}
    job = run_import(csv_bytes([moved]))
    outcome, reasons = outcomes(job)["1-201000001"]
    assert outcome == "updated"
    assert reasons == ["changed: provider (now Wharfe Health)", "new provider: Wharfe Health"]
    assert location_by_key("1-201000001").provider.name == "Wharfe Health"


def test_locations_made_in_the_back_office_are_updated_by_the_import() -> None:
    with unit_of_work():
        provider = services.create_provider(provider_form(), MANAGER)
        services.create_location(
            provider.id, location_form(regulator_location_id="1-201000001"), MANAGER
        )
    job = run_import(csv_bytes([sample_rows()[0]]))
    outcome, reasons = outcomes(job)["1-201000001"]
    assert outcome == "updated" and reasons[0].startswith("changed: ")
    assert location_by_key("1-201000001").levels_of_care == [
        "residential_rehab",
        "medical_detox",
        "aftercare",
    ]
