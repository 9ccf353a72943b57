"""The DOMAIN.md story in Chromium (issue 5, "Done when"): from "Match" to "discharged".

A 34-year-old woman from Leeds, dependent on ketamine with depression, self-funding up to
£1,500 a week, willing to travel 60 miles, wanting residential rehab within a week. The
advisor presses Match, sees why each clinic fits and why others were ruled out, presents
three with the commission disclosure and her consent for each, refers her to one; the clinic
accepts, her admission is planned, she is admitted and discharged. The dates are today's (the
server's clock is real); the 28-day stay is walked with a pinned clock in the service tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, insert

from crm.providers.models import Provider, ProviderLocation
from tests.browser.conftest import Console, LiveServer, Tabs, log_in, request_callback, screenshot
from tests.browser.test_intake_journey import make_available_for_new_leads, open_lead_from_queue

pytestmark = pytest.mark.browser

CLINICS = {
    # name: (latitude, longitude, postcode, owned, substances, beds)
    "Dales Recovery": (53.99, -1.54, "HG1 1AA", False, ["ketamine", "alcohol"], 2),
    "Pennine House": (53.65, -1.78, "HD1 1AA", False, ["ketamine", "cocaine"], None),
    "Riverside York": (53.96, -1.08, "YO1 7AA", True, ["ketamine"], 1),
    "Seaside Retreat": (50.82, -0.14, "BN1 1AA", False, ["ketamine"], 3),
    "Spirits Only": (53.80, -1.55, "LS1 4AP", False, ["alcohol"], 3),
}


def seed_network(server: LiveServer) -> None:
    """The manager's directory (its CSV import has its own tests): five clinics in Yorkshire
    and one on the south coast."""
    engine = create_engine(server.env["DATABASE_URL"])
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for name, (lat, lon, postcode, owned, substances, beds) in CLINICS.items():
            provider_id = conn.execute(
                insert(Provider)
                .values(
                    name=f"{name} Ltd",
                    regulator="cqc",
                    status="active",
                    contract_status="active",
                    owned_or_affiliated=owned,
                    created_at=now,
                    updated_at=now,
                )
                .returning(Provider.id)
            ).scalar_one()
            conn.execute(
                insert(ProviderLocation).values(
                    provider_id=provider_id,
                    name=name,
                    address="1 Clinic Lane",
                    town=name.split()[0],
                    postcode=postcode,
                    country="GB",
                    latitude=lat,
                    longitude=lon,
                    levels_of_care=["residential_rehab", "medical_detox"],
                    substances=substances,
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
                    beds_available=beds,
                    capacity_confirmed_at=now if beds is not None else None,
                    status="active",
                    admissions_email=f"admissions@{name.lower().replace(' ', '-')}.example",
                    created_at=now,
                    updated_at=now,
                )
            )
    engine.dispose()


def assess_the_story(page: Page) -> None:
    page.get_by_role("link", name="Start assessment").click()
    page.get_by_label("Ketamine", exact=True).check()
    page.get_by_label("Primary substance").select_option(label="Ketamine")
    page.get_by_label("Cravings").check()
    page.get_by_label("Depression").check()
    page.get_by_label("Treatment wanted").select_option(label="Residential rehab")
    page.get_by_label("Timeframe").select_option(label="Within a week")
    page.get_by_label("Funding", exact=True).select_option(label="Self-funded")
    page.get_by_label("Budget (if self-funded)").select_option(label="£1,000–£1,500 a week")
    page.get_by_label("Home postcode").fill("LS6 2AB")
    page.get_by_label("Maximum travel (miles)").fill("60")
    page.get_by_label("Age").fill("34")
    page.get_by_label("Sex / gender (for single-sex units)").select_option(label="Female")
    page.get_by_role("button", name="Complete assessment").click()
    expect(page.get_by_text("Assessment completed.")).to_be_visible()
    expect(page.get_by_test_id("lead-stage")).to_have_text("assessed")


def record(page: Page, status: str, *, on: str = "", outcome: str = "", reason: str = "") -> None:
    form = page.get_by_test_id("move-form")
    form.get_by_label("New status").select_option(value=status)
    if on:
        form.get_by_label("Date (planned admission, admission or discharge)").fill(on)
    if outcome:
        form.get_by_label("Discharge outcome").select_option(value=outcome)
    if reason:
        form.get_by_label(
            "Reason in words (needed to withdraw, or to decline for another reason)"
        ).fill(reason)
    form.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Referral updated.")).to_be_visible()
    expect(page.get_by_test_id("referral-status")).to_have_text(status.replace("_", " "))


def test_from_match_to_discharged(tabs: Tabs, live_server: LiveServer, console: Console) -> None:
    seed_network(live_server)
    advisor_email = live_server.accounts["admissions"][1]
    admin = tabs.open()
    log_in(admin, live_server.accounts["admin"][1])
    make_available_for_new_leads(admin, advisor_email)
    reference = request_callback(tabs.open(), name="Jess Walker", phone="07700 900456")

    page = tabs.open()
    log_in(page, advisor_email)
    open_lead_from_queue(page, reference)
    call_form = page.get_by_test_id("call-form")
    call_form.get_by_label("Outcome").select_option(label="Connected")
    call_form.get_by_role("button", name="Log call").click()
    expect(page.get_by_test_id("lead-stage")).to_have_text("contacted")
    assess_the_story(page)

    page.get_by_test_id("match-button").click()
    expect(page.get_by_test_id("match-lead")).to_have_text(reference)
    names = page.get_by_test_id("match-name")
    expect(names).to_have_count(3)
    expect(names.first).to_contain_text("Dales Recovery")  # fresh free bed, nearest good fit
    expect(page.get_by_test_id("owned-label")).to_have_count(1)
    rows = page.get_by_test_id("match-row")
    rows.first.get_by_text("Why this fits").click()
    expect(rows.first.get_by_test_id("explanation")).to_contain_text("Treats ketamine")
    excluded = page.get_by_test_id("excluded-row")
    expect(excluded).to_have_count(2)
    page.get_by_test_id("excluded-group").filter(has_text="travel").locator("summary").click()
    expect(page.get_by_text("Seaside Retreat")).to_be_visible()
    screenshot(page, "referral-1-match")

    for row in rows.all():
        row.get_by_role("checkbox").first.check()
        row.get_by_label("Agrees to share details").check()
    rows.first.get_by_label("and health details").check()
    page.get_by_label("I told the client we are paid by the clinics we refer to").check()
    page.get_by_role("button", name="Present options").click()
    expect(page.get_by_text("3 option(s) presented and recorded.")).to_be_visible()
    expect(page.get_by_test_id("lead-stage")).to_have_text("matched")
    expect(page.get_by_text("✔ affiliation disclosed · phone")).to_be_visible()
    options = page.get_by_test_id("presented-options")
    expect(options.locator("li")).to_have_count(3)
    screenshot(page, "referral-2-presented")

    options.locator("li").first.get_by_test_id("refer-button").click()
    expect(page.get_by_text("Referral sent")).to_be_visible()
    expect(page.get_by_test_id("referral-status")).to_have_text("sent")
    summary = page.get_by_test_id("referral-summary")
    expect(summary).to_contain_text("Jess Walker")
    expect(summary).to_contain_text("Primary substance: Ketamine")

    today = datetime.now(ZoneInfo("Europe/London")).date().isoformat()
    record(page, "accepted")
    record(page, "admission_planned", on=today)
    record(page, "admitted", on=today)
    record(page, "discharged", on=today, outcome="completed")
    history = page.get_by_test_id("referral-history").locator("li")
    expect(history).to_have_count(5)
    screenshot(page, "referral-3-discharged")

    page.get_by_test_id("clinic-link").click()
    page.get_by_role("link", name="Dales Recovery Ltd").first.click()
    expect(page.get_by_test_id("provider-referral-record")).to_contain_text(
        "1 sent · 1 accepted · 0 declined · 1 admitted"
    )
    expect(page.get_by_test_id("provider-referral")).to_contain_text(reference)
    screenshot(page, "referral-4-provider-history")
    page.go_back()
    page.go_back()

    page.get_by_role("link", name=f"Lead {reference}").click()
    expect(page.get_by_test_id("lead-stage")).to_have_text("admitted")
    expect(page.get_by_test_id("lead-referrals")).to_contain_text("discharged")
    expect(
        page.get_by_text("Referral to Dales Recovery Ltd — Dales Recovery: discharged")
    ).to_be_visible()
    assert console.csp_violations() == []
    assert console.errors == []
