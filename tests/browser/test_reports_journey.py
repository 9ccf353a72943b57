"""Reports in Chromium: a manager opens every report for last week, the charts are drawn with no
console or CSP errors, a figure opens the leads it counts, and an XLSX export downloads and
holds the page's figures; admissions staff get 403.

The server's clock is real, so two callback requests made through the hosted form are moved to
last Monday in the database (the one thing not done through the screens), one of them to
10:00 (office hours) and one to 22:00 (out of hours).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, update

from crm.intake.models import Lead
from tests.browser.conftest import (
    Console,
    LiveServer,
    Tabs,
    log_in,
    request_callback,
    screenshot,
    serve_with_engine,
)

pytestmark = pytest.mark.browser
LONDON = ZoneInfo("Europe/London")


def last_monday() -> date:
    today = datetime.now(LONDON).date()
    return today - timedelta(days=today.weekday() + 7)


@pytest.fixture(scope="module")
def reports_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    """Its own server and database, so the figures are the two leads made here."""
    with serve_with_engine(tmp_path_factory.mktemp("reports"), "reports") as server:
        yield server


@pytest.fixture
def report_tabs(browser, reports_server: LiveServer, console: Console) -> Iterator[Tabs]:  # type: ignore[no-untyped-def]
    tabs = Tabs(browser, reports_server.url, console)
    yield tabs
    tabs.close()


def move_to_last_monday(server: LiveServer, reference: str, at: time) -> None:
    created = datetime.combine(last_monday(), at, tzinfo=LONDON).astimezone(UTC)
    engine = create_engine(server.env["DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(
            update(Lead)
            .where(Lead.reference == reference)
            .values(created_at=created, callback_due_at=created + timedelta(minutes=15))
        )
    engine.dispose()


def figure_value(page: Page, key: str) -> str:
    return page.get_by_test_id(f"figure-{key}").get_by_test_id("figure-value").inner_text()


def test_a_manager_reads_last_weeks_reports(
    report_tabs: Tabs, reports_server: LiveServer, console: Console
) -> None:
    visitor = report_tabs.open()
    day = request_callback(visitor, name="Rosa Daytime", phone="07700 900611")
    night = request_callback(visitor, name="Nico Night", phone="07700 900612")
    move_to_last_monday(reports_server, day, time(10, 0))
    move_to_last_monday(reports_server, night, time(22, 0))

    admissions = report_tabs.open()
    log_in(admissions, reports_server.accounts["admissions"][1])
    response = admissions.goto("/admin/reports/intake/")
    assert response is not None and response.status == 403
    admissions.goto("/admin/")
    expect(admissions.get_by_role("link", name="Reports")).to_have_count(0)

    manager = report_tabs.open(width=1366, height=768)  # a laptop
    log_in(manager, reports_server.accounts["manager"][1])
    menu = manager.locator("#admin-navbar-collapse")
    menu.get_by_role("link", name="Reports").click()
    menu.get_by_role("link", name="Intake").click()
    expect(manager.get_by_test_id("period-label")).to_contain_text(f"{last_monday():%d %b %Y}")
    # No beat runs beside this server: the summaries are as old as the manager sees, and the
    # page refreshes them on request (the engine does it every minute).
    manager.get_by_test_id("refresh-summaries").click()
    expect(manager.get_by_test_id("as-of")).to_contain_text("min ago")
    expect(manager.get_by_test_id("figure-leads").get_by_test_id("figure-value")).to_have_text("2")
    assert figure_value(manager, "in_hours") == "1"
    assert figure_value(manager, "out_of_hours") == "1"

    # Every report in the menu, for last week: its charts drawn, its page whole.
    names = manager.locator("ul[aria-label='Reports'] a.nav-link").evaluate_all(
        "links => links.map(a => [a.textContent.trim(), a.getAttribute('href')])"
    )
    assert len(names) >= 3
    for n, (name, href) in enumerate(names, start=1):
        manager.goto(href)
        expect(manager.get_by_role("heading", level=1)).to_have_text(name)
        charts = manager.locator("canvas[data-chart]")
        for i in range(charts.count()):
            expect(charts.nth(i)).to_have_attribute("data-drawn", re.compile(r"\d+"))
        screenshot(manager, f"reports-{n}-{re.sub(r'[^a-z]+', '-', name.lower()).strip('-')}")

    # A figure opens the leads it counts.
    manager.goto("/admin/reports/intake/?preset=last_week")
    manager.get_by_test_id("drill-out_of_hours").click()
    expect(manager.get_by_test_id("drill-count")).to_contain_text("1 lead")
    rows = manager.get_by_test_id("drill-leads").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(night)
    screenshot(manager, "reports-drill-down")

    # Typed dates make a custom range: only last Monday, with the day before it beside it.
    manager.goto("/admin/reports/intake/?preset=last_week")
    manager.locator("#start").fill(last_monday().isoformat())
    manager.locator("#end").fill(last_monday().isoformat())
    manager.get_by_role("button", name="Show").click()
    expect(manager.get_by_test_id("period-label")).to_contain_text(f"{last_monday():%a %d %b %Y}")
    expect(manager.locator("#preset")).to_have_value("custom")
    assert figure_value(manager, "leads") == "2"

    # The export holds the page's figures, with the period on it.
    manager.goto("/admin/reports/intake/?preset=last_week")
    with manager.expect_download() as download:
        manager.get_by_test_id("export-xlsx").click()
    book = load_workbook(io.BytesIO(download.value.path().read_bytes()))
    rows_ = list(book["Figures"].iter_rows(values_only=True))
    assert f"Period: {last_monday().isoformat()} to " in " ".join(str(r[0]) for r in rows_)
    values = {r[0]: r[1] for r in rows_ if len(r) > 1 and r[0]}
    assert (values["Leads"], values["In hours"], values["Out of hours"]) == (2, 1, 1)

    assert console.csp_violations() == []
    assert console.errors == []
