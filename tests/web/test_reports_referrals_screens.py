"""The referrals and providers report through HTTP on the hand-built referrals
(tests/services/referral_report_factories.py): the page's figures, the provider filter and its
bad input, a drill-down listing one row per referral, and an XLSX export with the same figures
and no names."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook

from crm import clock
from tests.services.referral_report_factories import HARBOUR, NOW, referral_story
from tests.web.conftest import audit_events, database_snapshot
from tests.web.test_reports_screens import _figure, _text

Clients = Callable[..., FlaskClient]
PAGE = "/admin/reports/referrals/?preset=last_week"


@pytest.fixture(autouse=True)
def monday_morning() -> Iterator[None]:
    with clock.pinned(NOW):
        yield


@pytest.fixture
def story(staff) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return referral_story(staff["admissions"])


def test_a_manager_reads_the_referrals_per_clinic(
    client_for: Clients, story: dict[str, object]
) -> None:
    page = _text(client_for("manager"), PAGE)
    assert _figure(page, "sent") == "5" and _figure(page, "declined") == "1"
    assert "Harbour House Ltd — Harbour House" in page and "No bed or place available" in page
    assert "Referrals and providers" in page and "Figures as of" in page
    assert 'name="provider"' in page  # the provider filter


def test_the_provider_filter_narrows_and_an_unknown_provider_is_refused(
    client_for: Clients, story: dict[str, object]
) -> None:
    manager = client_for("manager")
    harbour = story["harbour"].provider_id  # type: ignore[attr-defined]
    page = _text(manager, f"{PAGE}&provider={harbour}")
    assert _figure(page, "sent") == "2" and "Dales Recovery Group" not in page.split("<table")[1]
    before, audits = database_snapshot(), len(audit_events())
    for bad in ("999999", "harbour"):
        for path in ("/admin/reports/referrals/", "/admin/reports/referrals/export.xlsx"):
            response = manager.get(f"{path}?preset=last_week&provider={bad}")
            assert response.status_code == 400
            assert f"Unknown provider &#39;{bad}&#39;" in response.get_data(as_text=True)
    response = manager.get(f"/admin/reports/intake/?preset=last_week&provider={harbour}")
    assert response.status_code == 400
    assert "This report has no provider filter." in response.get_data(as_text=True)
    assert database_snapshot() == before and len(audit_events()) == audits


def test_a_drill_down_lists_one_row_per_referral(
    client_for: Clients, story: dict[str, object]
) -> None:
    a, b, c, d, _ = story["leads"]  # type: ignore[misc]
    manager = client_for("manager")
    page = _text(manager, PAGE)
    link = re.search(r'data-testid="figure-sent".*?href="([^"]+)"', page, re.S)
    assert link
    drill = _text(manager, link.group(1).replace("&amp;", "&"))
    assert re.search(r'data-testid="drill-count"><strong>5</strong>', drill)
    listed = re.findall(r">(L-[A-Z0-9]+)</a>", drill)
    assert sorted(listed) == sorted(x.reference for x in (a, b, b, c, d))
    assert "07700" not in drill and "@example.com" not in drill


def test_the_xlsx_export_has_the_pages_figures_and_no_names(
    client_for: Clients, story: dict[str, object]
) -> None:
    harbour = story["harbour"].provider_id  # type: ignore[attr-defined]
    response = client_for("manager").get(
        f"/admin/reports/referrals/export.xlsx?preset=last_week&provider={harbour}"
    )
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    lines = [row[0] for row in book["Figures"].iter_rows(values_only=True)]
    assert f"Filters: provider={harbour}" in lines
    values = {r[0]: r[1:] for r in book["Figures"].iter_rows(values_only=True) if len(r) > 1}
    assert values["Referrals sent"] == (2, 1)
    clinic = [row for row in book["Per clinic"].iter_rows(values_only=True) if row[0] == HARBOUR]
    assert clinic == [(HARBOUR, 2, 1, 1, 0, 1, 0, 0, 0, 0.5, 16.5, 1, 1)]
    text = " ".join(str(c) for ws in book for row in ws.iter_rows(values_only=True) for c in row)
    assert "07700" not in text and "@example.com" not in text and "Full until March" not in text
    [event] = audit_events(action="export", object_type="reports")
    assert f"provider={harbour}" in (event.detail or "")
