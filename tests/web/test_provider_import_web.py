"""The "Import CSV" screens: refused uploads change nothing; an accepted one is queued after
commit and its page shows progress, then the row-by-row report."""

from __future__ import annotations

import base64
import io
import json
import re
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from celery import _state as celery_state
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from crm.extensions import db
from crm.providers.csv_rules import MAX_BYTES
from crm.providers.import_admin import UPLOAD_LIMIT
from crm.providers.models import ImportJob
from crm.queue import PROVIDER_IMPORT, init_queue
from tests.services.provider_factories import csv_bytes, run_job, sample_bytes, sample_rows
from tests.web.conftest import database_snapshot, page_csrf_token

Clients = Callable[..., FlaskClient]
PAGE = "/admin/provider-imports/"


class SentTasks:
    """The tasks the app sends, read from a Redis queue that no worker listens on."""

    def __init__(self, client: redis.Redis, queue: str) -> None:  # type: ignore[type-arg]
        self.client, self.queue = client, queue

    def __call__(self) -> list[tuple[str, list[object]]]:
        sent = []
        for raw in reversed(self.client.lrange(self.queue, 0, -1)):
            message = json.loads(raw)
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            sent.append((message["headers"]["task"], args))
        return sent


@pytest.fixture
def sent(app: Flask, redis_url: str) -> Iterator[SentTasks]:
    original, current = app.extensions["celery"], celery_state.get_current_app()
    celery = init_queue(app)
    queue = f"crm-test-{uuid.uuid4().hex}"
    celery.conf.task_default_queue = queue
    client = redis.Redis.from_url(redis_url)
    try:
        yield SentTasks(client, queue)
    finally:
        app.extensions["celery"] = original
        current.set_current()
        client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        client.close()
        celery.close()


def _upload(client: FlaskClient, data: bytes | None, filename: str = "directory.csv"):  # type: ignore[no-untyped-def]
    token = page_csrf_token(client, PAGE)
    form: dict[str, object] = {"csrf_token": token}
    if data is not None:
        form["file"] = FileStorage(io.BytesIO(data), filename, content_type="text/csv")
    # Encoded here, in memory: the test client spools a big body to a file it never closes.
    boundary, body = encode_multipart(form)
    return client.post(PAGE, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def _without_audit(snapshot: dict[str, list[tuple[object, ...]]]) -> dict[str, object]:
    return {k: v for k, v in snapshot.items() if k != "audit_events"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (None, "Choose the CSV file to import."),
        (b"", "The file is empty."),
        ("provider_name\nCaf\xe9\n".encode("cp1252"), "save the sheet as"),
        (b"provider_name,regulator\nA,cqc\n", "Missing required columns: regulator_location_id"),
        (b"PK\x03\x04 not a csv", "This is an Excel workbook"),
        (b"x" * (MAX_BYTES + 10), "larger than 5 MB"),
    ],
    ids=["no file", "empty", "not utf-8", "missing columns", "xlsx", "too big"],
)
def test_a_refused_upload_says_why_and_changes_nothing(
    client_for: Clients, sent: SentTasks, data: bytes | None, message: str
) -> None:
    manager = client_for("manager")
    before = database_snapshot()
    response = _upload(manager, data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message.lower() in page.lower()
    assert _without_audit(database_snapshot()) == _without_audit(before)
    assert sent() == []


def test_a_body_over_the_upload_limit_is_refused_before_anything_runs(
    client_for: Clients, sent: SentTasks
) -> None:
    manager = client_for("manager")
    response = _upload(manager, b"x" * (UPLOAD_LIMIT + 1))
    assert response.status_code == 413
    assert db.session.scalar(select(ImportJob.id)) is None and sent() == []


def test_other_forms_keep_the_app_wide_body_limit(client_for: Clients) -> None:
    manager = client_for("manager")
    token = page_csrf_token(manager, "/admin/provider-edit/new")
    body = f"csrf_token={token}&name={'x' * (2 * 1024 * 1024)}".encode()
    response = manager.post(
        "/admin/provider-edit/new", data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413


def test_an_accepted_upload_is_queued_after_commit_and_reported_row_by_row(
    client_for: Clients, sent: SentTasks
) -> None:
    manager = client_for("manager")
    rows = [*sample_rows()[:3], {**sample_rows()[3], "substances": "alcohol;spice"}]
    response = _upload(manager, csv_bytes(rows), "Directory March.csv")
    assert response.status_code == 302
    job = db.session.scalar(select(ImportJob))
    assert job is not None and job.filename == "Directory March.csv"
    assert response.headers["Location"] == f"{PAGE}{job.id}/"
    assert (job.status, job.total_rows, job.processed_rows) == ("queued", 4, 0)
    assert sent() == [(PROVIDER_IMPORT, [job.id])]

    shown = manager.get(f"{PAGE}{job.id}/")
    page = shown.get_data(as_text=True)
    assert "queued" in page and 'data-progress-url="/admin/provider-imports/' in page
    # The progress script is a file with this response's nonce: the CSP allows no inline code.
    nonce = re.search(r'<script src="/static/js/provider-import.js" nonce="([^"]+)"', page)
    assert nonce is not None
    assert f"'nonce-{nonce.group(1)}'" in shown.headers["Content-Security-Policy"]
    assert manager.get(f"{PAGE}{job.id}/progress").get_json()["status"] == "queued"

    run_job(job.id)  # what the worker does with the message
    progress = manager.get(f"{PAGE}{job.id}/progress").get_json()
    assert progress | {"error": None} == {
        "status": "done",
        "total_rows": 4,
        "processed_rows": 4,
        "percent": 100,
        "created": 3,
        "updated": 0,
        "skipped": 1,
        "error": None,
        "finished": True,
    }
    page = manager.get(f"{PAGE}{job.id}/").get_data(as_text=True)
    assert 'data-testid="count-created">3<' in page
    assert page.count('data-testid="report-row"') == 1  # skipped rows first
    assert "substances: Unknown substances: spice" in page
    everything = manager.get(f"{PAGE}{job.id}/?show=all").get_data(as_text=True)
    assert everything.count('data-testid="report-row"') == 4
    assert "new provider: Aire Valley Recovery" in everything
    listing = manager.get(PAGE).get_data(as_text=True)
    assert "Directory March.csv" in listing and "Test Manager" in listing


def test_the_sample_file_imports_cleanly_through_the_page(
    client_for: Clients, sent: SentTasks
) -> None:
    manager = client_for("manager")
    assert _upload(manager, sample_bytes()).status_code == 302
    job = db.session.scalar(select(ImportJob))
    assert job is not None
    run_job(job.id)
    page = manager.get(f"{PAGE}{job.id}/").get_data(as_text=True)
    assert "No rows were skipped." in page and 'data-testid="count-created">16<' in page


def test_missing_jobs_are_not_found_and_the_template_has_every_column(
    client_for: Clients,
) -> None:
    manager = client_for("manager")
    assert manager.get(f"{PAGE}987654/").status_code == 404
    assert manager.get(f"{PAGE}987654/progress").status_code == 404
    template = manager.get(f"{PAGE}template.csv")
    assert template.mimetype == "text/csv"
    header = template.get_data(as_text=True).lstrip("\ufeff").strip()
    assert header.split(",") == list(sample_rows()[0])
