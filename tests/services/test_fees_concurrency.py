"""Two invoice runs at once, committing for real: every fee billed once, and the numbers of the
series neither skip nor repeat. On PostgreSQL (the CI run) the runs truly overlap: each locks a
provider before billing it and takes the number in its own transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from crm import clock
from crm.database import unit_of_work
from crm.extensions import db
from crm.fees import accruals, invoicing
from crm.fees.models import BilledEntry, Invoice, InvoiceRun, LedgerEntry
from crm.privacy.services import Actor
from tests.services.fee_factories import admitted, agreement_for, uk
from tests.services.intake_factories import team
from tests.services.oncall_factories import run_threads, scratch_app
from tests.services.referral_factories import location

PROVIDERS = 12
MONDAY = date(2026, 11, 2)


@pytest.fixture
def scratch(tmp_path: Path, redis_url: str) -> Iterator[Flask]:
    with scratch_app(tmp_path, redis_url, "invoicing") as application:
        yield application


def _fees_for_many_providers() -> None:
    people = team()
    for n in range(PROVIDERS):
        clinic = location(f"Clinic {n:02d}", provider_name=f"Provider {n:02d}")
        agreement_for(clinic, people["manager"], billing_name=f"Provider {n:02d} Accounts")
        for k in range(2):
            admitted(
                clinic,
                people["admissions"],
                MONDAY + timedelta(days=k),
                f"07700 900{n * 2 + k:03d}",
            )
    with clock.pinned(uk(date(2026, 11, 20), 11)):
        accruals.fire_due_fee_triggers()
    db.session.commit()


def test_two_invoice_runs_at_once_bill_each_fee_once_with_gapless_numbers(scratch: Flask) -> None:
    with scratch.app_context():
        _fees_for_many_providers()
    made: dict[str, list[str]] = {}

    def runner(name: str):  # type: ignore[no-untyped-def]
        def run() -> None:
            with unit_of_work():
                outcome = invoicing.run_invoicing(date(2026, 11, 30), Actor.system(name))
                made[name] = [i.number or "" for i in outcome.invoices]

        return run

    with clock.pinned(uk(date(2026, 11, 30), 15)):
        errors = run_threads(scratch, [runner("a"), runner("b")])
    assert errors == []
    numbers = sorted(made["a"] + made["b"])
    assert numbers == [f"INV-2026-{n:04d}" for n in range(1, PROVIDERS + 1)]
    with scratch.app_context():
        invoices = list(db.session.scalars(select(Invoice)))
        assert len(invoices) == len({i.provider_id for i in invoices}) == PROVIDERS
        accrual_count = db.session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "accrual")
        )
        billed = db.session.scalar(
            select(func.count(func.distinct(BilledEntry.entry_id))).select_from(BilledEntry)
        )
        assert accrual_count == billed == PROVIDERS * 2
        assert db.session.scalar(select(func.count()).select_from(BilledEntry)) == billed
        assert all(i.pdf is not None for i in invoices)
        assert db.session.scalar(select(func.count()).select_from(InvoiceRun)) == 2


def test_concurrent_issues_for_different_providers_share_one_gapless_series(
    scratch: Flask,
) -> None:
    """Two managers issuing invoices for different clinics at the same moment, one provider
    per transaction: they interleave on the series' number, and no number is lost or shared."""
    with scratch.app_context():
        _fees_for_many_providers()
        providers = sorted(db.session.scalars(select(LedgerEntry.provider_id).distinct()))
    made: dict[str, list[str]] = {"a": [], "b": []}

    def runner(name: str, mine: list[int]):  # type: ignore[no-untyped-def]
        def run() -> None:
            for provider_id in mine:
                with unit_of_work():
                    draft = invoicing.draft_invoice(
                        provider_id, "GBP", date(2026, 11, 30), Actor.system(name)
                    )
                    assert draft is not None
                    issued = invoicing.issue_invoice(draft.id, Actor.system(name))
                    made[name].append(issued.number or "")

        return run

    with clock.pinned(uk(date(2026, 11, 30), 15)):
        errors = run_threads(scratch, [runner("a", providers[::2]), runner("b", providers[1::2])])
    assert errors == []
    assert len(made["a"]) == len(made["b"]) == PROVIDERS // 2
    assert sorted(made["a"] + made["b"]) == [f"INV-2026-{n:04d}" for n in range(1, PROVIDERS + 1)]
