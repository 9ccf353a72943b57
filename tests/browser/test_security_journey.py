"""Issue 13's journeys in Chromium: a new manager is sent to enrolment after the password,
scans (reads) the key, confirms, keeps the recovery codes; signs out and back in with a code,
then with a recovery code; adds a passkey (Chromium's virtual authenticator, through CDP) and
signs in with it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    Console,
    LiveServer,
    Tabs,
    authenticator_code,
    enrol_authenticator,
    screenshot,
    serve,
)
from tests.conftest import PASSWORD
from tests.workers.conftest import run_flask

pytestmark = pytest.mark.browser
NEW_MANAGER = "nina.newmanager@staff.example"


@pytest.fixture(scope="module")
def security_server(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[LiveServer]:
    """Served as http://localhost:…: a passkey's relying party must be a host name."""
    with serve(tmp_path_factory.mktemp("security"), redis_url, "security", host="localhost") as (
        server,
        _,
    ):
        run_flask(
            server.env, "create-staff", "--name", "Nina Newmanager", "--email", NEW_MANAGER,
            "--role", "manager", "--password", PASSWORD,
        )  # fmt: skip
        yield server


@pytest.fixture
def security_tabs(browser, security_server: LiveServer, console: Console) -> Iterator[Tabs]:  # type: ignore[no-untyped-def]
    tabs = Tabs(browser, security_server.url, console)
    yield tabs
    tabs.close()


def password_step(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(NEW_MANAGER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def log_out(page: Page) -> None:
    page.goto("/admin/")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have logged out.")).to_be_visible()


def test_a_new_manager_enrols_then_signs_in_with_a_code_a_recovery_code_and_a_passkey(
    security_tabs: Tabs, console: Console
) -> None:
    page = security_tabs.open()
    password_step(page)
    expect(page).to_have_url(re.compile(r"/login/enrol"))
    expect(page.get_by_test_id("totp-qr")).to_be_visible()
    screenshot(page, "security-1-enrol")
    page.goto("/admin/queue/")  # nothing else opens before the second factor
    expect(page).to_have_url(re.compile(r"/login/enrol"))
    codes = enrol_authenticator(page, NEW_MANAGER)
    assert len(codes) == 10
    expect(page.get_by_role("link", name="Queue")).to_be_visible()
    log_out(page)

    # Back in with a code from the app.
    password_step(page)
    expect(page.get_by_role("heading", name="Second step")).to_be_visible()
    page.get_by_label("Code from your authenticator app").fill(
        authenticator_code(page, NEW_MANAGER)
    )
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("link", name="Queue")).to_be_visible()
    log_out(page)

    # A lost phone: a recovery code, once; it says how many are left.
    password_step(page)
    page.get_by_text("Lost your phone? Use a recovery code").click()
    page.get_by_label("Recovery code").fill(codes[0])
    page.get_by_role("button", name="Use recovery code").click()
    expect(page.get_by_text("You have 9 left: make new ones now")).to_be_visible()
    expect(page.get_by_test_id("recovery-left")).to_have_text("9 of 10 unused.")
    screenshot(page, "security-2-recovery-used")

    # A passkey, from Chromium's virtual authenticator.
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {"options": {"protocol": "ctap2", "transport": "internal", "hasResidentKey": False,
                     "hasUserVerification": True, "isUserVerified": True}},
    )  # fmt: skip
    page.get_by_label("Name").fill("Work laptop")
    page.get_by_test_id("add-passkey").click()
    expect(page.get_by_text("Passkey added.")).to_be_visible()
    expect(page.get_by_test_id("passkeys")).to_contain_text("Work laptop")
    log_out(page)
    password_step(page)
    page.get_by_test_id("use-passkey").click()
    expect(page.get_by_role("link", name="Queue")).to_be_visible()
    screenshot(page, "security-3-passkey-signed-in")
    assert console.errors == [], console.errors
