"""Issue 12's story in Chromium: a former caller asks what the service holds about her, then
asks for it to be deleted. The admin logs the request, verifies her identity, presses Export
(a real Celery worker builds the ZIP while the page shows its progress), opens the ZIP; then
logs her erasure request and erases her; the clinic's invoice still adds up."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    Console,
    LiveServer,
    Tabs,
    log_in,
    request_callback,
    screenshot,
    serve,
)
from tests.browser.test_fees_journey import (
    fill_the_agreement,
    refer_to_harbour_house,
    referred_a_fortnight_ago,
    seed_harbour_house,
)
from tests.browser.test_intake_journey import make_available_for_new_leads
from tests.browser.test_referral_journey import record
from tests.support.servers import EmbeddedRedis
from tests.workers.conftest import BIN, Processes

pytestmark = pytest.mark.browser
LONDON = ZoneInfo("Europe/London")
TODAY = datetime.now(LONDON).date()
YEAR = TODAY.year
NAME, PHONE = "Ottilie Quarrendon", "07700 900777"


@pytest.fixture(scope="module")
def privacy_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, Processes]]:
    """gunicorn and a Celery worker (which builds the export) on a scratch database, with a
    Redis of their own so no other test's worker takes the task."""
    workdir = tmp_path_factory.mktemp("privacy-browser")
    with (
        EmbeddedRedis(workdir) as redis_server,
        serve(workdir, redis_server.url, "privacy", NOTIFY_DELIVERY="dev_outbox") as (
            server,
            processes,
        ),
    ):
        processes.start(
            "worker",
            [str(BIN / "celery"), "-A", "workers.celery_app", "worker", "--loglevel", "INFO",
             "--concurrency", "1", "--without-gossip", "--without-mingle"],
            server.env,
        )  # fmt: skip
        yield server, processes


@pytest.fixture
def privacy_tabs(browser, privacy_server, console: Console) -> Iterator[Tabs]:  # type: ignore[no-untyped-def]
    tabs = Tabs(browser, privacy_server[0].url, console)
    yield tabs
    tabs.close()


def log_request(page: Page, kind: str) -> None:
    page.goto("/admin/rights-requests/")
    page.get_by_test_id("new-request").click()
    form = page.get_by_test_id("request-form")
    form.get_by_label("Kind").select_option(value=kind)
    form.get_by_label("Received by").select_option(value="email")
    received = datetime.now(LONDON) - timedelta(minutes=30)
    form.get_by_label("Received (UK time)").fill(received.strftime("%Y-%m-%dT%H:%M"))
    form.get_by_label("Requester's name").fill(NAME)
    form.get_by_label("Their phone").fill(PHONE)
    form.get_by_label("Who it concerns").fill(PHONE)
    form.get_by_role("button", name="Log request").click()
    expect(page.get_by_text("logged: due")).to_be_visible()
    expect(page.get_by_test_id("subjects")).to_contain_text(NAME)


def verify(page: Page) -> None:
    form = page.get_by_test_id("verify-form")
    form.get_by_label("How was it checked?").fill(
        "Photo ID by email; rang back on the number we hold"
    )
    form.get_by_role("button", name="Record verification").click()
    expect(page.get_by_test_id("identity")).to_contain_text("verified")


def test_subject_access_then_erasure(privacy_tabs: Tabs, privacy_server, console: Console) -> None:  # type: ignore[no-untyped-def]
    server = privacy_server[0]
    seed_harbour_house(server)
    advisor_email = server.accounts["admissions"][1]
    admin = privacy_tabs.open()
    log_in(admin, server.accounts["admin"][1])
    make_available_for_new_leads(admin, advisor_email)
    manager = privacy_tabs.open()
    log_in(manager, server.accounts["manager"][1])
    fill_the_agreement(manager)

    # She asked for a callback, was referred to Harbour House and admitted: a fee, invoiced.
    advisor = privacy_tabs.open()
    log_in(advisor, advisor_email)
    reference = request_callback(privacy_tabs.open(), name=NAME, phone=PHONE, message="Please help")
    referral_url = refer_to_harbour_house(advisor, reference)
    referred_a_fortnight_ago(server)
    advisor.goto(referral_url)
    record(advisor, "admitted", on=(TODAY - timedelta(days=5)).isoformat())
    manager.goto("/admin/fees/invoices/")
    manager.get_by_test_id("run-invoicing").click()
    manager.get_by_role("button", name="Run invoicing").click()
    manager.get_by_role("link", name=f"INV-{YEAR}-0001").click()
    invoice_url = manager.url
    expect(manager.get_by_test_id("outstanding")).to_have_text("£3,000.00")

    # Her subject access request: logged, verified, exported by the worker, downloaded.
    log_request(admin, "access")
    verify(admin)
    admin.get_by_test_id("export-button").click()
    expect(admin.get_by_text("The export is being built")).to_be_visible()
    link = admin.get_by_test_id("download-link")
    expect(link).to_be_visible(timeout=30_000)  # the page reloads itself when it is ready
    screenshot(admin, "privacy-1-export-ready")
    with admin.expect_download() as download:
        link.click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    data = json.loads(archive.read("data.json"))["sections"]
    assert data["contacts"]["records"][0]["name"] == NAME
    assert data["referrals"]["records"][0]["clinic"].startswith("Harbour House")
    assert NAME in data["referrals"]["records"][0]["summary"]
    who_viewed = {row["who"] for row in data["audit_trail"]["records"] if row["did"] == "view"}
    assert who_viewed, "who at the service opened her record"
    summary = archive.read("summary.html").decode()
    assert NAME in summary and "Referrals and the summaries sent to clinics" in summary
    admin.goto("/admin/rights-requests/")
    admin.get_by_test_id("request-row").first.get_by_role("link").click()
    admin.get_by_test_id("close-form").get_by_role("textbox").fill("ZIP sent by secure email")
    admin.get_by_test_id("close-form").get_by_role("button", name="Close request").click()
    expect(admin.get_by_test_id("request-status")).to_have_text("completed")

    # A week later: her erasure request.
    log_request(admin, "erasure")
    verify(admin)
    admin.get_by_label("I have checked the request and erase").check()
    admin.get_by_test_id("erase-button").click()
    expect(admin.get_by_text("Erased as ANON-")).to_be_visible()
    expect(admin.get_by_test_id("erasure-done")).to_contain_text("contacts 1")
    expect(admin.locator("body")).not_to_contain_text(PHONE)
    screenshot(admin, "privacy-2-erased")

    # She is gone from search; the invoice still adds up, naming only the lead reference.
    admin.goto(f"/admin/search/?q={NAME.split()[1]}")
    expect(admin.locator("body")).not_to_contain_text(NAME)
    manager.goto(invoice_url)
    expect(manager.get_by_test_id("outstanding")).to_have_text("£3,000.00")
    expect(manager.get_by_test_id("document-lines")).to_contain_text(reference)
    manager.goto(referral_url)
    expect(manager.locator("body")).not_to_contain_text(NAME)
    screenshot(manager, "privacy-3-invoice-after")
    assert console.errors == [], console.errors
