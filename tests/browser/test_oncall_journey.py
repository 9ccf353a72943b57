"""On call as people meet it in Chromium (issue 4, "Done when").

A manager builds a rota and an escalation policy; with the office closed (an admin adds a
closure for today) a callback request pages the person on call. A real Celery worker and beat
run the engine against the server's database; the message lands in the Dev outbox; its signed
link opens a confirmation page (a GET acknowledges nothing) and the POST acknowledges; the
page's history shows every step. No page visited reports a Content Security Policy violation.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    Console,
    LiveServer,
    Tabs,
    log_in,
    request_callback,
    screenshot,
    serve,
)
from tests.support.servers import EmbeddedRedis
from tests.workers.conftest import BIN, Processes

pytestmark = pytest.mark.browser

LONDON = ZoneInfo("Europe/London")
NAVBAR = "nav.navbar"


@pytest.fixture(scope="module")
def oncall_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, Processes]]:
    """gunicorn, a Celery worker and beat on one scratch database and a Redis of their own
    (so no other test's worker takes this engine's wake-ups); messages go to the dev outbox."""
    workdir = tmp_path_factory.mktemp("oncall-browser")
    with EmbeddedRedis(workdir) as redis_server:
        settings = {"NOTIFY_DELIVERY": "dev_outbox", "ENGINE_TICK_SECONDS": "1"}
        with serve(workdir, redis_server.url, "oncall", **settings) as (server, processes):
            celery = [str(BIN / "celery"), "-A", "workers.celery_app"]
            processes.start(
                "worker",
                [*celery, "worker", "--loglevel", "INFO", "--concurrency", "1",
                 "--without-gossip", "--without-mingle"],
                server.env,
            )  # fmt: skip
            processes.start(
                "beat",
                [*celery, "beat", "--loglevel", "INFO",
                 "--schedule", str(workdir / "beat-schedule")],
                server.env,
            )  # fmt: skip
            yield server, processes


@pytest.fixture
def oncall_tabs(
    browser: Browser, oncall_server: tuple[LiveServer, Processes], console: Console
) -> Iterator[Tabs]:
    opened = Tabs(browser, oncall_server[0].url, console)
    try:
        yield opened
    finally:
        opened.close()


def via_menu(page: Page, category: str, item: str) -> None:
    """Open a navbar dropdown and follow one of its links, as a person does."""
    page.locator(NAVBAR).get_by_role("link", name=category, exact=True).click()
    menu = page.locator(f"{NAVBAR} .dropdown-menu.show")
    menu.get_by_role("link", name=item, exact=True).click()


def build_rota(page: Page, first_day: str, members: list[str]) -> None:
    via_menu(page, "Operations", "Rotas")
    expect(page.get_by_role("heading", name="Rotas")).to_be_visible()
    page.get_by_label("Name").fill("Admissions on call")
    page.get_by_label("Shift length (days)").fill("7")
    page.get_by_label("Handoff (UK time)").fill("09:00")
    page.get_by_label("First handoff day").fill(first_day)
    for position, member in enumerate(members, start=1):
        page.get_by_label(f"Member {position}", exact=True).select_option(
            label=f"{position}. {member}"
        )
    page.get_by_role("button", name="Save rota").click()
    expect(page.get_by_text("Rota saved.")).to_be_visible()


def build_policy(page: Page, rota_name: str) -> None:
    via_menu(page, "Operations", "Escalation policies")
    expect(page.get_by_role("heading", name="Escalation policies")).to_be_visible()
    page.get_by_label("Name").fill("Out of hours")
    page.get_by_label("Step 1 notifies").select_option(label="On call of a rota")
    page.get_by_label("Step 1 rota").select_option(label=rota_name)
    page.get_by_label("Step 1 delay").fill("5")
    page.get_by_label("Use for new pages").check()
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("Escalation policy saved.")).to_be_visible()
    expect(page.get_by_role("link", name="Out of hours ★")).to_be_visible()


def close_the_office_today(page: Page, today: str) -> None:
    via_menu(page, "Administration", "Closures")
    page.get_by_role("link", name="Create", exact=True).click()
    page.get_by_label("Day").fill(today)
    # A click elsewhere closes the date picker that typing into the field opened.
    page.get_by_label("Name").click()
    expect(page.locator(".daterangepicker")).to_be_hidden()
    page.get_by_label("Name").fill("Staff training day")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Record was successfully created.")).to_be_visible()
    expect(page.locator("table tbody tr", has_text="Staff training day")).to_contain_text(today)


def wait_for_outbox_message(
    page: Page, processes: Processes, address: str, reference: str, seconds: float = 90
) -> str:
    """Reload the Dev outbox until the engine's message to ``address`` is there; its text."""
    deadline = time.monotonic() + seconds
    row = page.locator("table tbody tr", has_text=address).filter(has_text=reference)
    while time.monotonic() < deadline:
        processes.check_alive()
        page.reload()
        if row.count() == 1 and "held" in row.inner_text():
            return row.inner_text()
        time.sleep(1)
    raise AssertionError(
        f"no held message to {address} for {reference} in {seconds}s\n"
        f"--- worker ---\n{processes.log('worker')}\n--- beat ---\n{processes.log('beat')}"
    )


def history(page: Page) -> list[tuple[str, str]]:
    rows = page.get_by_test_id("page-history").locator("tr")
    return [
        (r.locator("td").nth(1).inner_text().strip(), r.locator("td").nth(2).inner_text().strip())
        for r in rows.all()
    ]


def test_out_of_hours_request_pages_on_call_and_the_signed_link_acknowledges(
    oncall_server: tuple[LiveServer, Processes], oncall_tabs: Tabs, console: Console
) -> None:
    server, processes = oncall_server
    manager_name, manager_email = server.accounts["manager"]
    on_call_name, on_call_email = server.accounts["admissions"]
    today = datetime.now(LONDON).date()

    manager = oncall_tabs.open()
    log_in(manager, manager_email)
    # Started yesterday at 09:00 with 7-day shifts: the first member is on call now.
    build_rota(
        manager,
        (today - timedelta(days=1)).isoformat(),
        [f"{on_call_name} (admissions)", f"{manager_name} (manager)"],
    )
    calendar = manager.get_by_test_id("rota-calendar").locator("tr")
    expect(calendar.first).to_contain_text(on_call_name)
    expect(calendar.nth(1)).to_contain_text(manager_name)
    screenshot(manager, "oncall-1-rota")
    build_policy(manager, "Admissions on call")
    screenshot(manager, "oncall-2-policy")

    admin = oncall_tabs.open()
    log_in(admin, server.accounts["admin"][1])
    close_the_office_today(admin, today.isoformat())
    screenshot(admin, "oncall-3-closure")

    reference = request_callback(oncall_tabs.open(), name="Sam Taylor", phone="07700 900201")

    via_menu(manager, "Operations", "Dev outbox")
    text = wait_for_outbox_message(manager, processes, on_call_email, reference)
    assert f"[Admissions CRM] Out-of-hours callback request {reference}" in text
    links = re.findall(r"https?://\S+/ack/[\w.\-]+", text)
    assert len(links) == 1, text
    ack_link = links[0]
    assert ack_link.startswith(f"{server.url}/ack/")  # PUBLIC_BASE_URL: the link reaches us
    assert f"{server.url}/admin/pages/" in text
    screenshot(manager, "oncall-4-dev-outbox")

    via_menu(manager, "Operations", "Pages")
    manager.get_by_role("link", name=f"Out-of-hours callback request {reference}").click()
    expect(manager.get_by_test_id("page-status")).to_have_text("triggered")
    page_url = manager.url

    # The person on call follows the link on their phone: not logged in anywhere.
    phone = oncall_tabs.open(width=390, height=844)
    phone.goto(ack_link)
    expect(phone.get_by_role("heading", name="Acknowledge this page?")).to_be_visible()
    expect(phone.get_by_text(f"Out-of-hours callback request {reference}")).to_be_visible()
    expect(phone.get_by_text("(triggered)")).to_be_visible()
    screenshot(phone, "oncall-5-ack-confirm")
    # A link scanner's GET acknowledged nothing.
    manager.goto(page_url)
    expect(manager.get_by_test_id("page-status")).to_have_text("triggered")
    assert [kind for kind, _ in history(manager)] == ["triggered", "notified"]

    phone.get_by_role("button", name="Acknowledge").click()
    expect(phone.get_by_role("heading", name="Acknowledged")).to_be_visible()
    expect(phone.get_by_test_id("ack-done")).to_contain_text(
        f"Out-of-hours callback request {reference}"
    )
    screenshot(phone, "oncall-6-acknowledged")

    manager.goto(page_url)
    expect(manager.get_by_test_id("page-status")).to_have_text("acknowledged")
    expect(manager.locator("p.text-muted", has_text="Triggered")).to_contain_text(
        re.compile(rf"acknowledged \d\d \w{{3}} \d{{4}} \d\d:\d\d by {on_call_name}")
    )
    assert history(manager) == [
        ("triggered", f"Out-of-hours callback request {reference}"),
        ("notified", f"step 1: {on_call_name}"),
        ("acknowledged", f"by {on_call_name} via message link"),
    ]
    message = manager.locator("table").nth(1).locator("tbody tr", has_text=on_call_email)
    expect(message).to_contain_text("email")
    expect(message).to_contain_text("held")
    expect(manager.get_by_role("button", name="Acknowledge")).to_have_count(0)
    screenshot(manager, "oncall-7-page-history")

    assert console.csp_violations() == []
    assert console.errors == []
