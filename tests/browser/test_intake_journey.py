"""Intake as people meet it in Chromium (issue 3, "Done when").

A person asks for a callback on the hosted form; the lead is at the top of the admissions
queue with a live countdown; an advisor logs a connected call and completes the assessment,
and the lead's timeline shows every step. A manager closes another lead with a reason.
A stored ``<script>`` / ``<img onerror>`` stays text on every screen that shows it, and the
hosted form fits a phone. No page visited reports a Content Security Policy violation.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import (
    Console,
    LiveServer,
    Tabs,
    log_in,
    request_callback,
    screenshot,
)

pytestmark = pytest.mark.browser

XSS_NAME = '<img src=x onerror="window.__xss=1">'
XSS_MESSAGE = "<script>window.__xss=2</script>"


def queue_row(page: Page, reference: str) -> Locator:
    return page.locator(f'#queue-rows tr[data-lead="{reference}"]')


def open_lead_from_queue(page: Page, reference: str) -> None:
    page.goto("/admin/queue/")
    queue_row(page, reference).get_by_role("link", name=reference).click()
    expect(page.get_by_test_id("lead-reference")).to_have_text(reference)


def timeline_titles(page: Page) -> list[str]:
    titles = page.get_by_test_id("timeline").locator(".timeline-entry .font-weight-bold")
    return [t.strip() for t in titles.all_inner_texts()]


def make_available_for_new_leads(page: Page, email: str) -> None:
    """The admin ticks "Takes new leads" on the advisor, so round-robin gives them leads."""
    page.goto("/admin/staff/")
    page.locator("table tbody tr", has_text=email).get_by_title("Edit Record").click()
    expect(page.get_by_label("Email")).to_have_value(email)
    page.get_by_label("Takes new leads").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Record was successfully saved.")).to_be_visible()
    row = page.locator("table tbody tr", has_text=email)
    expect(row.locator("td.col-available .fa-check-circle")).to_have_count(1)


def test_advisor_works_a_web_callback_through_call_and_assessment(
    tabs: Tabs, live_server: LiveServer, console: Console
) -> None:
    advisor_name, advisor_email = live_server.accounts["admissions"]
    admin = tabs.open()
    log_in(admin, live_server.accounts["admin"][1])
    make_available_for_new_leads(admin, advisor_email)

    public = tabs.open()
    reference = request_callback(
        public,
        name="Jordan Ellis",
        phone="07700 900101",
        substances=("Alcohol", "Cocaine"),
        message="My drinking is getting worse, I want to stop.",
        best_time="Weekday evenings",
    )
    screenshot(public, "intake-1-thanks")

    advisor = tabs.open()
    log_in(advisor, advisor_email)
    advisor.goto("/admin/queue/")
    expect(advisor.get_by_role("heading", name="Queue")).to_be_visible()
    top = advisor.locator("#queue-rows tr").first
    expect(top).to_have_attribute("data-lead", reference)
    expect(top).to_contain_text("Jordan")
    expect(top).to_contain_text("web form")
    expect(top).to_contain_text(advisor_name)  # round-robin gave it to the available advisor
    countdown = top.locator(".countdown")
    expect(countdown).to_have_text(re.compile(r"^1?\d:\d\d$"))
    first_reading = countdown.inner_text()
    expect(countdown).not_to_have_text(first_reading, timeout=5_000)  # it counts down live
    minutes, seconds = countdown.inner_text().split(":")
    assert 0 < int(minutes) * 60 + int(seconds) <= 15 * 60
    screenshot(advisor, "intake-2-queue")

    top.get_by_role("link", name=reference).click()
    expect(advisor.get_by_test_id("lead-reference")).to_have_text(reference)
    expect(advisor.get_by_test_id("lead-stage")).to_have_text("new")
    expect(advisor.get_by_test_id("caller-name")).to_have_text("Jordan Ellis")
    expect(advisor.get_by_text("+447700900101")).to_be_visible()
    expect(advisor.get_by_text("✔ health details · web form")).to_be_visible()
    expect(advisor.get_by_text("✔ commission disclosed · web form")).to_be_visible()

    call_form = advisor.get_by_test_id("call-form")
    call_form.get_by_label("Outcome").select_option(label="Connected")
    call_form.get_by_label("Minutes").fill("6")
    call_form.get_by_label("Notes").fill("Spoke to Jordan; wants help this week.")
    call_form.get_by_role("button", name="Log call").click()
    expect(advisor.get_by_text("Call logged.")).to_be_visible()
    expect(advisor.get_by_test_id("lead-stage")).to_have_text("contacted")
    expect(advisor.get_by_text("First contact after")).to_be_visible()

    advisor.get_by_role("link", name="Start assessment").click()
    expect(advisor.get_by_role("heading", name=f"Assessment · {reference}")).to_be_visible()
    advisor.get_by_label("Alcohol", exact=True).check()
    advisor.get_by_label("Cocaine", exact=True).check()
    advisor.get_by_label("Primary substance").select_option(label="Alcohol")
    advisor.get_by_label("Withdrawal symptoms").check()
    advisor.get_by_label("Anxiety").check()
    advisor.get_by_label("Treatment wanted").select_option(label="Residential rehab")
    advisor.get_by_label("Timeframe").select_option(label="Within a week")
    advisor.get_by_label("Funding", exact=True).select_option(label="Self-funded")
    advisor.get_by_label("Budget (if self-funded)").select_option(label="£1,000–£1,500 a week")
    advisor.get_by_label("Home postcode").fill("ls1 4ap")
    screenshot(advisor, "intake-3-assessment")
    advisor.get_by_role("button", name="Complete assessment").click()

    expect(advisor.get_by_text("Assessment completed.")).to_be_visible()
    expect(advisor.get_by_test_id("lead-reference")).to_have_text(reference)
    expect(advisor.get_by_test_id("lead-stage")).to_have_text("assessed")
    expect(advisor.get_by_text("Primary substance: Alcohol")).to_be_visible()
    expect(advisor.get_by_text("Treatment wanted: Residential rehab")).to_be_visible()
    expect(advisor.get_by_text("Funding: Self-funded")).to_be_visible()
    expect(advisor.get_by_text("Timeframe: Within a week")).to_be_visible()

    titles = timeline_titles(advisor)
    # Newest first; each request happened after the one before, so the groups are ordered
    # (inside a group the entries share a moment and their order is not a promise).
    assert titles[0] == "Stage: contacted → assessed", titles
    assert set(titles[1:3]) == {"Stage: new → contacted", "Outbound call: connected (6 min)"}
    assert set(titles[3:]) == {
        "Callback requested",
        "Stage: — → new",
        f"Assigned to {advisor_name}",
    }, titles
    timeline = advisor.get_by_test_id("timeline")
    call = timeline.locator(".timeline-entry.call")
    expect(call).to_contain_text(advisor_name)
    expect(call).to_contain_text("Spoke to Jordan; wants help this week.")
    request = timeline.locator(".timeline-entry.request")
    expect(request).to_contain_text("substances: alcohol, cocaine")
    expect(request).to_contain_text("My drinking is getting worse, I want to stop.")
    expect(timeline.locator(".timeline-entry.assignment")).to_contain_text("automatic")
    screenshot(advisor, "intake-4-lead-assessed")

    # Contacted leads still need work, but no longer wait for a first call: no countdown.
    advisor.goto("/admin/queue/")
    row = queue_row(advisor, reference)
    expect(row).to_contain_text("assessed")
    expect(row.locator(".countdown")).to_have_count(0)

    assert console.csp_violations() == []
    assert console.errors == []


def test_manager_closes_a_lead_with_a_reason(
    tabs: Tabs, live_server: LiveServer, console: Console
) -> None:
    reference = request_callback(tabs.open(), name="Casey Morgan", phone="07700 900102")

    manager = tabs.open()
    log_in(manager, live_server.accounts["manager"][1])
    open_lead_from_queue(manager, reference)
    expect(manager.get_by_test_id("lead-stage")).to_have_text("new")

    close_form = manager.get_by_test_id("close-form")
    close_form.get_by_label("Close because").select_option(label="Chose NHS treatment")
    close_form.get_by_label("Note").fill("Going with the local NHS community alcohol team.")
    close_form.get_by_role("button", name="Close lead").click()

    expect(manager.get_by_text("Stage changed.")).to_be_visible()
    expect(manager.get_by_test_id("lead-stage")).to_have_text("closed")
    expect(manager.get_by_text("chose nhs", exact=True)).to_be_visible()
    expect(manager.get_by_test_id("close-form")).to_have_count(0)
    closing = manager.get_by_test_id("timeline").locator(".timeline-entry.stage").first
    expect(closing).to_contain_text("Stage: new → closed (chose nhs)")
    expect(closing).to_contain_text("Going with the local NHS community alcohol team.")
    expect(closing).to_contain_text(live_server.accounts["manager"][0])
    screenshot(manager, "intake-5-lead-closed")

    manager.goto("/admin/queue/")
    expect(manager.get_by_role("heading", name="Queue")).to_be_visible()
    expect(queue_row(manager, reference)).to_have_count(0)  # closed leads leave the queue

    assert console.csp_violations() == []
    assert console.errors == []


def _assert_inert(page: Page) -> None:
    assert page.evaluate("typeof window.__xss") == "undefined"
    expect(page.locator("img[src='x']")).to_have_count(0)


def test_stored_script_and_img_onerror_render_as_text(
    tabs: Tabs, live_server: LiveServer, console: Console
) -> None:
    reference = request_callback(
        tabs.open(),
        name=XSS_NAME,
        phone="07700 900103",
        substances=("Ketamine",),
        message=XSS_MESSAGE,
    )
    advisor = tabs.open()
    log_in(advisor, live_server.accounts["admissions"][1])

    advisor.goto("/admin/queue/")
    row = queue_row(advisor, reference)
    expect(row).to_contain_text("<img")  # the first word of the name, as text
    _assert_inert(advisor)
    # queue.js replaces the rows with fresh HTML every 15 s: still text afterwards.
    with advisor.expect_response(re.compile(r"/admin/queue/rows"), timeout=30_000):
        pass
    expect(queue_row(advisor, reference)).to_contain_text("<img")
    _assert_inert(advisor)
    screenshot(advisor, "intake-6-xss-queue")

    row.get_by_role("link", name=reference).click()
    expect(advisor.get_by_test_id("caller-name")).to_have_text(XSS_NAME)
    expect(advisor.get_by_test_id("timeline").locator(".timeline-entry.request")).to_contain_text(
        XSS_MESSAGE
    )
    _assert_inert(advisor)
    screenshot(advisor, "intake-7-xss-lead")

    advisor.goto("/admin/search/")
    advisor.get_by_label("Reference, phone, email or name").fill("onerror")
    advisor.get_by_role("button", name="Search", exact=True).click()
    result = advisor.locator("table tbody tr", has_text=reference)
    expect(result).to_contain_text(XSS_NAME)
    _assert_inert(advisor)
    screenshot(advisor, "intake-8-xss-search")

    # Spam: closed, so it leaves the queue for the other journeys.
    result.get_by_role("link", name=reference).click()
    advisor.get_by_test_id("close-form").get_by_label("Close because").select_option("spam")
    advisor.get_by_role("button", name="Close lead").click()
    expect(advisor.get_by_test_id("lead-stage")).to_have_text("closed")
    _assert_inert(advisor)

    assert console.csp_violations() == []
    assert console.errors == []


def test_hosted_form_fits_a_phone_and_keeps_what_was_typed(
    tabs: Tabs, live_server: LiveServer, console: Console
) -> None:
    phone = tabs.open(width=390, height=844)
    phone.goto("/callback")
    expect(phone.get_by_role("button", name="Request a callback")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    # The relationship question appears only when the help is for someone else.
    expect(phone.get_by_label("How do you know them?")).to_be_hidden()
    phone.get_by_label("Someone else").check()
    expect(phone.get_by_label("How do you know them?")).to_be_visible()
    phone.get_by_label("Me", exact=True).check()
    screenshot(phone, "intake-9-form-phone")

    # Sent without agreeing to be contacted: a clear error, and nothing typed is lost.
    phone.get_by_label("Your name").fill("Robin")
    phone.get_by_label("Phone number").fill("07700 900104")
    phone.get_by_role("button", name="Request a callback").click()
    expect(phone.get_by_role("alert")).to_contain_text("Please check the highlighted answers")
    expect(
        phone.get_by_text("We can only call you back if you agree to be contacted.")
    ).to_be_visible()
    expect(phone.get_by_label("Your name")).to_have_value("Robin")
    expect(phone.get_by_label("Phone number")).to_have_value("07700 900104")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "intake-10-form-phone-error")
    # ... and nothing was stored: staff find no lead for that number.
    advisor = tabs.open()
    log_in(advisor, live_server.accounts["admissions"][1])
    advisor.goto("/admin/search/?q=07700+900104")
    expect(advisor.get_by_test_id("no-results")).to_have_text("No leads found.")

    assert console.csp_violations() == []
    assert console.errors == []
