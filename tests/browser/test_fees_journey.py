"""Issue 10's story in Chromium: Harbour House's agreement, two admissions, the invoice run,
the PDF, a part payment, a clawback credited on a credit note, and the aged debt.

The server's clock is real, so the story is laid out around today: both clients were referred
a fortnight ago (the referrals' sent time is set back in the database, the one thing not done
through the screens), the first admitted five days ago (three nights stayed: the fee is earned
when the admission is recorded), the second ten days ago and discharged today, day 10 of her
stay: 50 % back. The same story with a pinned clock, day by day, is in the service tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, insert, update

from crm.providers.models import Provider, ProviderLocation
from crm.referrals.models import Referral
from tests.browser.conftest import (
    Console,
    LiveServer,
    Tabs,
    log_in,
    request_callback,
    screenshot,
    serve_with_engine,
)
from tests.browser.test_intake_journey import make_available_for_new_leads, open_lead_from_queue
from tests.browser.test_referral_journey import assess_the_story, record

pytestmark = pytest.mark.browser
TODAY = datetime.now(ZoneInfo("Europe/London")).date()
YEAR = TODAY.year


@pytest.fixture(scope="module")
def fees_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Its own server and database: the invoice numbers start at 0001, and the clinic added
    here changes no other journey's match."""
    with serve_with_engine(tmp_path_factory.mktemp("fees"), "fees") as server:
        yield server


@pytest.fixture
def fee_tabs(browser, fees_server: LiveServer, console: Console) -> Iterator[Tabs]:
    tabs = Tabs(browser, fees_server.url, console)
    yield tabs
    tabs.close()


def seed_harbour_house(server: LiveServer) -> None:
    engine = create_engine(server.env["DATABASE_URL"])
    now = datetime.now(UTC)
    with engine.begin() as conn:
        provider_id = conn.execute(
            insert(Provider)
            .values(
                name="Harbour House Ltd",
                regulator="cqc",
                status="active",
                contract_status="active",
                owned_or_affiliated=False,
                created_at=now,
                updated_at=now,
            )
            .returning(Provider.id)
        ).scalar_one()
        conn.execute(
            insert(ProviderLocation).values(
                provider_id=provider_id,
                name="Harbour House",
                address="2 Quay Street",
                town="Harrogate",
                postcode="HG1 1AA",
                country="GB",
                latitude=53.99,
                longitude=-1.54,
                levels_of_care=["residential_rehab", "medical_detox"],
                substances=["ketamine", "alcohol"],
                dual_diagnosis=True,
                mental_health_accepted=["depression", "anxiety"],
                min_age=18,
                single_sex="mixed",
                accepts_pregnant=False,
                wheelchair_accessible=True,
                funding_accepted=["self_funded"],
                insurers=[],
                price_per_week_min=Decimal("1100"),
                price_per_week_max=Decimal("1450"),
                currency="GBP",
                rating="good",
                beds_available=2,
                capacity_confirmed_at=now,
                status="active",
                admissions_email="admissions@harbour-house.example",
                created_at=now,
                updated_at=now,
            )
        )
    engine.dispose()


def referred_a_fortnight_ago(server: LiveServer) -> None:
    engine = create_engine(server.env["DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(update(Referral).values(sent_at=datetime.now(UTC) - timedelta(days=14)))
    engine.dispose()


def refer_to_harbour_house(page: Page, reference: str) -> str:
    """From the queue to an accepted referral; returns the referral page's URL."""
    open_lead_from_queue(page, reference)
    call_form = page.get_by_test_id("call-form")
    call_form.get_by_label("Outcome").select_option(label="Connected")
    call_form.get_by_role("button", name="Log call").click()
    expect(page.get_by_test_id("lead-stage")).to_have_text("contacted")
    assess_the_story(page)
    page.get_by_test_id("match-button").click()
    row = page.get_by_test_id("match-row").first
    expect(row).to_contain_text("Harbour House")
    row.get_by_role("checkbox").first.check()
    row.get_by_label("Agrees to share details").check()
    page.get_by_label("I told the client we are paid by the clinics we refer to").check()
    page.get_by_role("button", name="Present options").click()
    page.get_by_test_id("presented-options").locator("li").first.get_by_test_id(
        "refer-button"
    ).click()
    expect(page.get_by_test_id("referral-status")).to_have_text("sent")
    record(page, "accepted")
    record(page, "admission_planned", on=TODAY.isoformat())
    return page.url


def fill_the_agreement(page: Page) -> None:
    page.goto("/admin/fees/agreements/")
    page.get_by_test_id("new-agreement").click()
    form = page.get_by_test_id("agreement-form")
    form.get_by_label("Provider", exact=True).select_option(label="Harbour House Ltd")
    form.get_by_label("Effective from", exact=True).fill(date(YEAR - 1, 1, 1).isoformat())
    form.get_by_label("Basis", exact=True).select_option(value="flat_per_admission")
    form.get_by_label("Fee (flat, or per week)", exact=True).fill("2,500")
    form.get_by_label("Currency", exact=True).select_option("GBP")
    form.get_by_label("VAT", exact=True).select_option(value="standard")
    form.get_by_label("Earned after this many nights (0: on admission)", exact=True).fill("3")
    form.get_by_label("Clawback tiers", exact=True).fill("7: 100, 14: 50")
    form.get_by_label("Payment due (days after the invoice)", exact=True).fill("30")
    form.get_by_label("Billing name", exact=True).fill("Harbour House Ltd (Accounts)")
    form.get_by_label("Accounts email", exact=True).fill("accounts@harbour-house.example")
    form.get_by_label("PO reference", exact=True).fill("PO-7781")
    form.get_by_label("Billing address", exact=True).fill("2 Quay Street\nWhitby\nYO21 1AA")
    form.get_by_role("button", name="Save agreement").click()
    expect(page.get_by_text("Agreement saved.")).to_be_visible()


def pay(page: Page, amount: str, reference: str) -> None:
    page.get_by_test_id("record-payment").click()
    form = page.get_by_test_id("payment-form")
    form.get_by_label("Amount").fill(amount)
    form.get_by_label("Their reference").fill(reference)
    form.get_by_role("button", name="Record payment").click()
    expect(page.get_by_text("Payment recorded.")).to_be_visible()


def test_from_agreement_to_aged_debt(
    fee_tabs: Tabs, fees_server: LiveServer, console: Console
) -> None:
    server = fees_server
    seed_harbour_house(server)
    advisor_email = server.accounts["admissions"][1]
    admin = fee_tabs.open()
    log_in(admin, server.accounts["admin"][1])
    make_available_for_new_leads(admin, advisor_email)

    manager = fee_tabs.open()
    log_in(manager, server.accounts["manager"][1])
    fill_the_agreement(manager)
    screenshot(manager, "fees-1-agreement")

    # Two clients referred to Harbour House.
    advisor = fee_tabs.open()
    log_in(advisor, advisor_email)
    first_ref = request_callback(fee_tabs.open(), name="Jess Walker", phone="07700 900456")
    first = refer_to_harbour_house(advisor, first_ref)
    second_ref = request_callback(fee_tabs.open(), name="Sam Price", phone="07700 900789")
    second = refer_to_harbour_house(advisor, second_ref)
    referred_a_fortnight_ago(server)

    advisor.goto(first)
    record(advisor, "admitted", on=(TODAY - timedelta(days=5)).isoformat())
    advisor.goto(second)
    record(advisor, "admitted", on=(TODAY - timedelta(days=10)).isoformat())
    # Admissions staff see no fee anywhere.
    expect(advisor.get_by_test_id("referral-fees")).to_have_count(0)
    expect(advisor.locator("body")).not_to_contain_text("£2,500")
    assert advisor.request.get(f"{server.url}/admin/fees/aged-debt/").status == 403

    # Both fees were earned (three nights stayed): the manager sees them on the referral.
    manager.goto(first)
    expect(manager.get_by_test_id("referral-fees")).to_contain_text("£2,500.00")

    # The manager runs invoicing: one invoice for both admissions, emailed with its PDF.
    manager.goto("/admin/fees/invoices/")
    expect(manager.get_by_test_id("unbilled")).to_contain_text(
        "2 admissions with fees not yet invoiced"
    )
    manager.get_by_test_id("run-invoicing").click()
    manager.get_by_role("button", name="Run invoicing").click()
    expect(manager.get_by_text(f"1 invoice(s): INV-{YEAR}-0001.")).to_be_visible()
    manager.get_by_role("link", name=f"INV-{YEAR}-0001").click()
    expect(manager.get_by_test_id("document-number")).to_have_text(f"Invoice INV-{YEAR}-0001")
    lines = manager.get_by_test_id("document-lines")
    expect(lines).to_contain_text(first_ref)
    expect(lines).to_contain_text(second_ref)
    expect(manager.get_by_test_id("outstanding")).to_have_text("£6,000.00")
    expect(manager.locator("body")).not_to_contain_text("Jess Walker")
    screenshot(manager, "fees-2-invoice")

    with manager.context.expect_page() as opened:
        manager.get_by_test_id("open-pdf").click()
    pdf = opened.value
    pdf_response = manager.request.get(pdf.url)
    assert pdf_response.headers["content-type"] == "application/pdf"
    assert pdf_response.body().startswith(b"%PDF")
    pdf.close()

    # The clinic pays £1,000.
    pay(manager, "1,000.00", "HH-1")
    expect(manager.get_by_test_id("document-status")).to_have_text("Part paid")
    expect(manager.get_by_test_id("outstanding")).to_have_text("£5,000.00")

    # The second client leaves today, day 10: 50 % back, on a credit note.
    advisor.goto(second)
    record(advisor, "discharged", on=TODAY.isoformat(), outcome="early")
    manager.goto("/admin/fees/invoices/?kind=credit_note")
    expect(manager.get_by_role("link", name=f"CN-{YEAR}-0001")).to_be_visible()
    expect(manager.get_by_test_id("documents")).to_contain_text("£1,500.00")

    manager.goto("/admin/fees/aged-debt/")
    row = manager.get_by_test_id("aged-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Harbour House Ltd")
    expect(row.get_by_test_id("aged-total")).to_have_text("£3,500.00")
    screenshot(manager, "fees-3-aged-debt")
    with manager.expect_download() as download:
        manager.get_by_test_id("export-xlsx").click()
    assert re.fullmatch(r"aged-debt-\d{4}-\d{2}-\d{2}\.xlsx", download.value.suggested_filename)

    # Then the rest, and nothing is owed.
    manager.goto("/admin/fees/invoices/")
    manager.get_by_role("link", name=f"INV-{YEAR}-0001").click()
    pay(manager, "3,500.00", "HH-2")
    manager.goto("/admin/fees/aged-debt/")
    expect(manager.get_by_test_id("aged-debt")).to_contain_text("Nothing owed.")
    assert console.csp_violations() == []
    assert console.errors == []
