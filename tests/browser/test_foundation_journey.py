"""The foundation as staff meet it in Chromium: log in, the dashboard, the menu their role
allows, engine health, log out, and a 403 page for what their role does not include.

It also proves the page works under our Content Security Policy: no violations reported on
the console, and Flask-Admin's JavaScript (Bootstrap's dropdowns) runs.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    Console,
    LiveServer,
    authenticator_code,
    enrol_authenticator,
    screenshot,
)
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

NAVBAR = "nav.navbar"


def log_in(page: Page, email: str) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)admin(/|%2F)$"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("load")
    if "/login/enrol" in page.url:  # managers and admins: their second factor first
        enrol_authenticator(page, email)
    elif "/login/second-step" in page.url:
        page.get_by_label("Code from your authenticator app").fill(authenticator_code(page, email))
        page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"^[^?]*/admin/$"))
    # The URL changes before the page's scripts have run; a menu clicked earlier stays shut.
    page.wait_for_load_state("load")


def open_menu(page: Page, category: str) -> None:
    """Open a navbar dropdown the way a person does: by clicking it (Bootstrap's JS)."""
    toggle = page.locator(NAVBAR).get_by_role("link", name=category, exact=True)
    toggle.click()
    menu = page.locator(f"{NAVBAR} .dropdown-menu.show")
    expect(menu).to_be_visible()


def test_manager_dashboard_menu_engine_health_and_logout(
    page: Page, live_server: LiveServer, console: Console
) -> None:
    name, email = live_server.accounts["manager"]
    log_in(page, email)

    expect(page.get_by_role("heading", name="Good to see you, Max")).to_be_visible()
    whoami = page.get_by_test_id("whoami")
    expect(whoami).to_contain_text(name)
    expect(whoami.locator(".badge")).to_have_text("manager")
    navbar = page.locator(NAVBAR)
    expect(navbar.get_by_role("link", name="Operations", exact=True)).to_be_visible()
    expect(navbar.get_by_text("Administration", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Staff", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Audit trail")).to_have_count(0)
    screenshot(page, "foundation-1-manager-dashboard")

    # The dropdown opening proves Flask-Admin's and Bootstrap's scripts loaded under the CSP.
    open_menu(page, "Operations")
    dropdown = navbar.locator(".dropdown-menu.show")
    expect(dropdown.get_by_role("link", name="Engine health")).to_be_visible()
    screenshot(page, "foundation-2-operations-menu")
    dropdown.get_by_role("link", name="Engine health").click()

    expect(page).to_have_url(re.compile(r"/admin/engine_health/$"))
    expect(page.get_by_role("heading", name="Engine health")).to_be_visible()
    table = page.locator("table")
    expect(table.locator("tr", has_text="Database")).to_contain_text("ok")
    expect(table.locator("tr", has_text="Broker (Redis)")).to_contain_text("ok")
    # A worker and beat run behind this server (as `make run` has them): the page shows the
    # engine's last tick, seconds old, as healthy. Beat ticks every second; the first may
    # still be on its way when the page first loads.
    last_tick = page.get_by_test_id("last-tick")
    for _ in range(20):
        if "seconds ago" in last_tick.inner_text():
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(last_tick).to_contain_text(re.compile(r"^\d+(\.\d)? seconds ago"))
    expect(last_tick.locator(".badge")).to_have_text("ok")
    screenshot(page, "foundation-3-engine-health")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("status")).to_have_text("You have logged out.")
    screenshot(page, "foundation-4-logged-out")
    # The session is over on the server: the dashboard asks for a login again.
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.get_by_role("button", name="Log in")).to_be_visible()

    assert console.csp_violations() == []
    assert console.errors == []


def test_admissions_gets_a_403_page_for_staff_admin(
    page: Page, live_server: LiveServer, console: Console
) -> None:
    name, email = live_server.accounts["admissions"]
    log_in(page, email)
    expect(page.get_by_test_id("whoami").locator(".badge")).to_have_text("admissions")
    expect(page.get_by_test_id("whoami")).to_contain_text(name)
    navbar = page.locator(NAVBAR)
    expect(navbar.get_by_text("Administration", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Engine health")).to_have_count(0)

    response = page.goto("/admin/staff/")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="You do not have access to this page")).to_be_visible()
    expect(page.get_by_text("Your role does not include this page.")).to_be_visible()
    expect(page.get_by_text("Ali Admin")).to_have_count(0)  # no staff list leaked
    screenshot(page, "foundation-5-admissions-403")

    assert console.csp_violations() == []
    assert console.errors == []


def test_admin_sees_administration_and_the_staff_list(
    page: Page, live_server: LiveServer, console: Console
) -> None:
    _, email = live_server.accounts["admin"]
    log_in(page, email)
    open_menu(page, "Administration")
    dropdown = page.locator(f"{NAVBAR} .dropdown-menu.show")
    expect(dropdown.get_by_role("link", name="Staff", exact=True)).to_be_visible()
    expect(dropdown.get_by_role("link", name="Audit trail")).to_be_visible()
    # Dashboard and menu under the CSP: nothing blocked. (The staff list is not checked for
    # this: Chromium reports the inline onclick Flask-Admin puts on its filter menu items.)
    assert console.csp_violations() == []
    dropdown.get_by_role("link", name="Staff", exact=True).click()

    expect(page).to_have_url(re.compile(r"/admin/staff/$"))
    for role, (name, staff_email) in live_server.accounts.items():
        row = page.locator("table tbody tr", has_text=staff_email)
        expect(row).to_contain_text(name)
        expect(row).to_contain_text(role)
    screenshot(page, "foundation-6-admin-staff-list")
    assert console.errors == []
