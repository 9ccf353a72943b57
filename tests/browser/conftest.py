"""A real server and Debian's Chromium for the journeys people make.

The server is gunicorn serving ``wsgi:app`` on a free loopback port, on a scratch database
migrated by ``flask db upgrade`` and staffed by ``flask create-staff``, exactly the commands
an operator runs. Chromium is /usr/bin/chromium (never a downloaded browser).
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    expect,
    sync_playwright,
)

from tests.conftest import PASSWORD
from tests.support.databases import scratch_database
from tests.support.servers import free_port
from tests.workers.conftest import BIN, ROOT, Processes, process_env, run_flask

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
STAFF = {
    "manager": ("Max Manager", "max.manager@browser.example"),
    "admissions": ("Ada Admissions", "ada.admissions@browser.example"),
    "admin": ("Ali Admin", "ali.admin@browser.example"),
}


@dataclass(frozen=True)
class LiveServer:
    url: str
    accounts: dict[str, tuple[str, str]]  # role -> (name, email); every password is PASSWORD
    env: dict[str, str] = field(default_factory=dict)  # what gunicorn was started with


def _wait_until_serving(url: str, processes: Processes, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        processes.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise AssertionError(f"gunicorn did not answer {url} in {seconds}s:\n{processes.log('web')}")


@contextmanager
def serve(
    workdir: Path, redis_url: str, label: str, host: str = "127.0.0.1", **settings: str
) -> Iterator[tuple[LiveServer, Processes]]:
    """gunicorn on a scratch database with one account per role; stopped (and the database
    dropped) at the end. More processes (a worker, beat) may join ``Processes``; they are
    stopped with it. PUBLIC_BASE_URL is this server's URL, so links in messages reach it."""
    with scratch_database(workdir, label) as database_url:
        port = free_port()
        # Passkeys need a host name for their relying party: "localhost" (an IP cannot be one).
        url = f"http://{host}:{port}"
        env = process_env(
            database_url,
            redis_url,
            SESSION_COOKIE_SECURE="false",
            PUBLIC_BASE_URL=url,
            **settings,
        )
        run_flask(env, "db", "upgrade")
        for role, (name, email) in STAFF.items():
            out = run_flask(
                env,
                "create-staff",
                "--name",
                name,
                "--email",
                email,
                "--role",
                role,
                "--password",
                PASSWORD,
            )
            assert f"Created {role} account for {email}." in out
        processes = Processes(workdir)
        _DATABASES[url] = database_url
        try:
            processes.start(
                "web",
                [
                    str(BIN / "gunicorn"),
                    "wsgi:app",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--access-logfile",
                    "-",
                ],
                env,
            )
            _wait_until_serving(f"{url}/login", processes, seconds=60)
            yield LiveServer(url, dict(STAFF), env), processes
        finally:
            processes.stop_all()
            _DATABASES.pop(url, None)


# The database behind each server (by its URL), so a journey can wait for the engine.
_DATABASES: dict[str, str] = {}


def start_engine(server: LiveServer, processes: Processes, workdir: Path) -> None:
    """A Celery worker and beat beside the server, as ``make run`` starts them: the engine
    builds the leads of callback requests from the inbox, and ticks every ENGINE_TICK_SECONDS."""
    celery = [str(BIN / "celery"), "-A", "workers.celery_app"]
    processes.start(
        "worker",
        [*celery, "worker", "--loglevel", "INFO", "--concurrency", "1",
         "--without-gossip", "--without-mingle"],
        server.env,
    )  # fmt: skip
    processes.start(
        "beat",
        [*celery, "beat", "--loglevel", "INFO", "--schedule", str(workdir / "beat-schedule")],
        server.env,
    )  # fmt: skip


@contextmanager
def serve_with_engine(workdir: Path, label: str, **settings: str) -> Iterator[LiveServer]:
    """``serve`` with a worker and beat, on a Redis of their own (no other test's worker may
    take this engine's wake-ups, nor this worker theirs)."""
    from tests.support.servers import EmbeddedRedis

    with EmbeddedRedis(workdir) as redis_server:
        settings.setdefault("ENGINE_TICK_SECONDS", "1")
        with serve(workdir, redis_server.url, label, **settings) as (server, processes):
            start_engine(server, processes, workdir)
            yield server


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_with_engine(tmp_path_factory.mktemp("browser"), "browser") as server:
        yield server


def wait_for_lead(page: Page, reference: str, seconds: float = 15) -> None:
    """Until the engine has built the lead of a request the inbox accepted (within a second
    with the worker running; beat's tick is the fallback)."""
    from sqlalchemy import create_engine, text

    base = re.match(r"^https?://[^/]+", page.url)
    database_url = _DATABASES.get(base.group(0)) if base else None
    assert database_url, f"no server known for {page.url}"
    engine = create_engine(database_url)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.scalar(text("SELECT 1 FROM leads WHERE reference = :r"), {"r": reference}):
                    return
            time.sleep(0.1)
    finally:
        engine.dispose()
    raise AssertionError(f"the engine did not build lead {reference} within {seconds:.0f} s")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Console:
    """What the page said on its console, and the scripts that threw."""

    messages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return [m for m in self.messages if "Content Security Policy" in m]


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer, console: Console) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test, with its console recorded."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(15_000)

    def on_console(message: ConsoleMessage) -> None:
        console.messages.append(f"{message.type}: {message.text}")

    tab.on("console", on_console)
    tab.on("pageerror", lambda error: console.errors.append(str(error)))
    try:
        yield tab
    finally:
        context.close()


class Tabs:
    """More browser contexts in one test (one person each: separate cookies), all recording
    into the test's console and all closed at the end."""

    def __init__(self, browser: Browser, base_url: str, console: Console) -> None:
        self.browser, self.base_url, self.console = browser, base_url, console
        self.contexts: list[BrowserContext] = []

    def open(self, width: int = 1280, height: int = 800) -> Page:
        context = self.browser.new_context(
            base_url=self.base_url,
            viewport={"width": width, "height": height},
            locale="en-GB",
            timezone_id="Europe/London",
        )
        self.contexts.append(context)
        tab = context.new_page()
        tab.set_default_timeout(15_000)
        tab.on("console", lambda m: self.console.messages.append(f"{m.type}: {m.text}"))
        tab.on("pageerror", lambda error: self.console.errors.append(str(error)))
        return tab

    def close(self) -> None:
        for context in reversed(self.contexts):
            context.close()
        self.contexts.clear()


@pytest.fixture
def tabs(browser: Browser, live_server: LiveServer, console: Console) -> Iterator[Tabs]:
    opened = Tabs(browser, live_server.url, console)
    try:
        yield opened
    finally:
        opened.close()


# The authenticator secrets the browser tests enrolled (read from the enrolment page, as a
# person scanning it would), and the last time step each used: a code is accepted once.
AUTHENTICATORS: dict[str, str] = {}
LAST_STEP: dict[str, int] = {}


def _account(page: Page, email: str) -> str:
    """Each test server has its own database: an account is its server's origin and email."""
    origin = "/".join(page.url.split("/")[:3])
    return f"{origin} {email}"


def authenticator_code(page: Page, email: str) -> str:
    """The code of the next unused 30-second step for ``email`` (waiting for it if needed)."""
    from crm.auth import totp

    account = _account(page, email)
    step = int(time.time()) // totp.STEP_SECONDS
    while step <= LAST_STEP.get(account, -1):
        time.sleep(0.5)
        step = int(time.time()) // totp.STEP_SECONDS
    LAST_STEP[account] = step
    return totp.code_at(AUTHENTICATORS[account], step)


def enrol_authenticator(page: Page, email: str) -> list[str]:
    """On the enrolment page: read the key, confirm with a code; the recovery codes shown."""
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    AUTHENTICATORS[_account(page, email)] = secret
    page.get_by_label("Code from the app").fill(authenticator_code(page, email))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_text("Your authenticator app is set up.")).to_be_visible()
    codes = page.get_by_test_id("recovery-codes").locator("li").all_inner_texts()
    page.get_by_role("link", name="I have saved them").click()
    return codes


def log_in(page: Page, email: str) -> None:
    """Log in from the login page and wait for the dashboard (and its scripts); managers and
    admins enrol an authenticator app the first time and give its code after that."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("load")
    if "/login/enrol" in page.url:
        enrol_authenticator(page, email)
    elif "/login/second-step" in page.url:
        page.get_by_label("Code from your authenticator app").fill(authenticator_code(page, email))
        page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"^[^?]*/admin/$"))
    page.wait_for_load_state("load")


REFERENCE = re.compile(r"L-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{6}")


def request_callback(
    page: Page,
    *,
    name: str,
    phone: str,
    substances: tuple[str, ...] = (),
    message: str = "",
    best_time: str = "",
) -> str:
    """Fill in the hosted form as a person does; returns the reference the thanks page shows."""
    page.goto("/callback")
    expect(page.get_by_role("heading", name="Receive a callback")).to_be_visible()
    expect(page.get_by_test_id("disclosure")).to_contain_text("The clinics we refer people to pay")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Phone number").fill(phone)
    if best_time:
        page.get_by_label("Best time to call").fill(best_time)
    for substance in substances:
        page.get_by_label(substance, exact=True).check()
    if message:
        page.get_by_label("Anything you want us to know").fill(message)
    page.get_by_label("I agree to be contacted").check()
    page.get_by_label("I agree to you using the health details").check()
    page.get_by_role("button", name="Request a callback").click()
    expect(page.get_by_role("heading", name="Thank you. We will call you soon.")).to_be_visible()
    reference = page.get_by_test_id("reference").inner_text()
    assert REFERENCE.fullmatch(reference), reference
    wait_for_lead(page, reference)
    return reference


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page under test-artifacts/ for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
