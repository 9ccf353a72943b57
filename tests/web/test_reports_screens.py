"""The Reports screens through HTTP: who may open them, the figures on the page, drill-downs
whose lists are as long as their figures, audited CSV/XLSX exports with the period and filters,
and bad input answered with a clear message and nothing else."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook

from crm import clock
from crm.privacy.models import AuditEvent
from tests.services.report_factories import NOW, Week, hand_built_week
from tests.web.conftest import audit_events, database_snapshot, page_csrf_token

Clients = Callable[..., FlaskClient]
REPORTS = ("intake", "funnel", "speed", "referrals", "oncall", "fees", "staff")
LAST_WEEK = "/admin/reports/{}/?preset=last_week"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(autouse=True)
def monday_morning() -> Iterator[None]:
    with clock.pinned(NOW):
        yield


@pytest.fixture
def week(staff) -> Week:  # type: ignore[no-untyped-def]
    return hand_built_week(staff["admissions"])


def _text(client: FlaskClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return response.get_data(as_text=True)


def _figure(page: str, key: str) -> str:
    block = page.split(f'data-testid="figure-{key}"', 1)[1]
    match = re.search(r'data-testid="figure-value">(?:<a [^>]*>)?([^<]+)<', block)
    assert match, key
    return match.group(1).strip()


@pytest.mark.parametrize("name", REPORTS)
def test_admissions_staff_get_403_on_every_report_url(client_for: Clients, name: str) -> None:
    admissions = client_for("admissions")
    for path in (
        LAST_WEEK.format(name),
        f"/admin/reports/{name}/leads?preset=last_week&set=leads",
        f"/admin/reports/{name}/export.csv?preset=last_week",
    ):
        assert admissions.get(path).status_code == 403, path
    assert "/admin/reports/" not in _text(admissions, "/admin/")  # no Reports menu


def test_anonymous_visitors_are_sent_to_log_in(client_for: Clients) -> None:
    response = client_for().get(LAST_WEEK.format("intake"))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_managers_and_admins_read_last_week_against_the_week_before(
    client_for: Clients, week: Week, role: str
) -> None:
    page = _text(client_for(role), LAST_WEEK.format("intake"))
    assert "16 Nov 2026 – 22 Nov 2026 · against 09 Nov 2026 – 15 Nov 2026" in page
    assert _figure(page, "leads") == "3"
    assert _figure(page, "merged") == "1"
    assert _figure(page, "out_of_hours") == "2"
    assert "Figures as of 23 Nov 2026 09:00" in page
    assert "not counting those merged into another lead as duplicates" in page  # definitions
    assert 'data-chart="' in page and "vendor/chartjs/chart.umd.min.js" in page
    speed = _text(client_for(role), LAST_WEEK.format("speed"))
    assert _figure(speed, "median") == "17.5 min"
    assert _figure(speed, "within") == "50.0 %"
    funnel = _text(client_for(role), LAST_WEEK.format("funnel"))
    assert _figure(funnel, "admitted") == "1"


def test_a_drill_down_lists_the_leads_its_figure_counts_and_is_audited(
    client_for: Clients, week: Week
) -> None:
    manager = client_for("manager")
    page = _text(manager, LAST_WEEK.format("intake"))
    link = re.search(r'data-testid="figure-out_of_hours".*?href="([^"]+)"', page, re.S)
    assert link
    drill = _text(manager, link.group(1).replace("&amp;", "&"))
    assert re.search(r'data-testid="drill-count"><strong>2</strong>', drill)
    listed = re.findall(r">(L-[A-Z0-9]+)</a>", drill)
    assert sorted(listed) == sorted([week.l2.reference, week.l3.reference])
    assert "Bea Night" not in drill and "07700" not in drill  # references and stages only
    events = audit_events(action="report_drill_down")
    assert len(events) == 1 and "out_of_hours" in (events[0].detail or "")


def test_a_chart_segment_links_to_its_drill_down(client_for: Clients, week: Week) -> None:
    page = _text(client_for("manager"), LAST_WEEK.format("intake"))
    assert "set=day:2026-11-16" in page.replace("%3A", ":")


def test_the_xlsx_export_carries_the_period_filters_and_the_pages_figures(
    client_for: Clients, week: Week
) -> None:
    manager = client_for("manager")
    response = manager.get("/admin/reports/intake/export.xlsx?preset=last_week&source=web_form")
    assert response.status_code == 200 and response.mimetype == XLSX
    book = load_workbook(io.BytesIO(response.data))
    figures = book["Figures"]
    lines = [row[0] for row in figures.iter_rows(values_only=True)]
    assert "Period: 2026-11-16 to 2026-11-22 (UK days)" in lines
    assert "Filters: source=web_form" in lines
    values = {r[0]: r[1:] for r in figures.iter_rows(values_only=True) if r[0] and len(r) > 1}
    assert values["Leads"] == (2, 1)
    assert "Leads by source" in book.sheetnames
    text = " ".join(str(c) for ws in book for row in ws.iter_rows(values_only=True) for c in row)
    assert "Ada Winter" not in text and "07700" not in text  # no names, no health data
    event = audit_events(action="export", object_type="reports")
    assert len(event) == 1 and "source=web_form" in (event[0].detail or "")


def test_the_csv_export_has_every_table(client_for: Clients, week: Week) -> None:
    response = client_for("manager").get("/admin/reports/speed/export.csv?preset=last_week")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    flat = [r[0] for r in rows if r]
    for title in ("Figures", "In hours against out of hours", "The slowest 20"):
        assert title in flat
    assert ["Median", "17.5", "20.0"] in rows


BAD_INPUT = {
    "ends before it starts": (
        "?preset=custom&start=2026-11-20&end=2026-11-10",
        "The range ends before it starts",
    ),
    "longer than two years": (
        "?preset=custom&start=2023-01-01&end=2026-11-10",
        "The range is longer than two years",
    ),
    "not a date": ("?preset=custom&start=yesterday&end=2026-11-10", "is not a date"),
    "unknown preset": ("?preset=fortnight", "Unknown period"),
    "unknown source": ("?preset=last_week&source=carrier_pigeon", "Unknown source"),
    "unknown staff member": ("?preset=last_week&staff=999999", "Unknown staff member"),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_gets_a_clear_message_and_nothing_else(
    client_for: Clients, week: Week, case: str
) -> None:
    query, message = BAD_INPUT[case]
    manager = client_for("manager")
    before = database_snapshot()
    audit_before = len(audit_events())
    for path in ("/admin/reports/staff/", "/admin/reports/staff/export.xlsx"):
        response = manager.get(path + query)
        assert response.status_code == 400, (case, path)
        page = response.get_data(as_text=True)
        assert message in page
        assert 'data-testid="figure-' not in page
    assert database_snapshot() == before
    assert len(audit_events()) == audit_before


def test_a_drill_down_for_a_figure_the_report_does_not_have_is_refused(
    client_for: Clients, week: Week
) -> None:
    manager = client_for("manager")
    for key in ("bogus", "source:carrier_pigeon", "closed:unreachable"):  # the last is the funnel's
        response = manager.get(f"/admin/reports/intake/leads?preset=last_week&set={key}")
        assert response.status_code == 400, key
        assert "Unknown figure" in response.get_data(as_text=True)
    assert not [e for e in audit_events() if e.action == "report_drill_down"]
    assert AuditEvent is not None


@pytest.mark.parametrize("name", ["oncall", "fees", "staff"])
def test_the_on_call_and_fees_reports_open_and_export_for_managers(
    client_for: Clients, week: Week, name: str
) -> None:
    manager = client_for("manager")
    page = _text(manager, LAST_WEEK.format(name))
    assert 'data-testid="figure-' in page and "Figures as of" in page
    response = manager.get(f"/admin/reports/{name}/export.xlsx?preset=last_week")
    assert response.status_code == 200 and response.mimetype == XLSX
    assert "Figures" in load_workbook(io.BytesIO(response.data)).sheetnames


def test_the_fees_report_takes_no_lead_filters(client_for: Clients, week: Week) -> None:
    response = client_for("manager").get("/admin/reports/fees/?preset=last_week&source=phone")
    assert response.status_code == 400
    assert "This report has no source filter." in response.get_data(as_text=True)


def test_a_manager_refreshes_the_figures_and_admissions_staff_may_not(
    client_for: Clients, week: Week
) -> None:
    manager = client_for("manager")
    path = "/admin/reports/speed/?preset=custom&start=2026-11-16&end=2026-11-22&source=web_form"
    token = page_csrf_token(manager, path)
    response = manager.post(
        "/admin/reports/speed/refresh?preset=custom&start=2026-11-16&end=2026-11-22"
        "&source=web_form",
        data={"csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(
        "/admin/reports/speed/?preset=custom&start=2026-11-16&end=2026-11-22&source=web_form"
    )
    assert [e.action for e in audit_events() if e.action == "report_refresh"] == ["report_refresh"]
    admissions = client_for("admissions")
    assert admissions.post("/admin/reports/speed/refresh", data={}).status_code in (400, 403)
    assert len([e for e in audit_events() if e.action == "report_refresh"]) == 1
