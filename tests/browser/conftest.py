"""A real server and Debian's Chromium for the journeys people make.

The server is gunicorn serving ``wsgi:app`` on a free loopback port, on a scratch database
migrated by ``flask db upgrade`` and staffed by ``flask create-staff``, exactly the commands
an operator runs. Chromium is /usr/bin/chromium (never a downloaded browser).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.conftest import PASSWORD
from tests.support.servers import free_port
from tests.workers.conftest import BIN, ROOT, Processes, process_env, run_flask, scratch_database

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


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("browser")
    with scratch_database(workdir, "browser") as database_url:
        env = process_env(database_url, redis_url, SESSION_COOKIE_SECURE="false")
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
        port = free_port()
        processes = Processes(workdir)
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
            url = f"http://127.0.0.1:{port}"
            _wait_until_serving(f"{url}/login", processes, seconds=60)
            yield LiveServer(url, dict(STAFF))
        finally:
            processes.stop_all()


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


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page under test-artifacts/ for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
