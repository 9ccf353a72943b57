"""The directory import task: called as the worker calls it, and run by a real worker process."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from crm.app import create_app
from crm.database import unit_of_work
from crm.extensions import db
from crm.providers import imports
from crm.providers.csv_rules import FileRefused
from crm.providers.models import ImportJob, ProviderLocation
from crm.queue import PROVIDER_IMPORT, enqueue_after_commit
from tests.conftest import make_settings
from tests.services.provider_factories import MANAGER, sample_bytes
from tests.support.databases import scratch_database
from tests.workers.conftest import BIN, Processes, process_env, run_flask, with_redis_db


def _task(app: Flask) -> Any:
    import workers.providers  # noqa: F401  (registers providers.import with every Celery app)

    return app.extensions["celery"].tasks[PROVIDER_IMPORT]


def _job(job_id: int) -> ImportJob:
    db.session.expire_all()
    job = db.session.get(ImportJob, job_id)
    assert job is not None
    return job


def test_the_task_imports_the_job_and_a_second_delivery_does_nothing(
    app: Flask, db_session: Any
) -> None:
    with unit_of_work():
        job_id = imports.start_import("sample.csv", sample_bytes(), MANAGER).id
    task = _task(app)
    task(job_id)
    job = _job(job_id)
    assert (job.status, job.processed_rows, job.created, job.skipped) == ("done", 16, 16, 0)
    assert db.session.scalar(select(func.count()).select_from(ProviderLocation)) == 16
    finished = job.finished_at
    task(job_id)  # Redis redelivers after a lost ack: nothing is imported twice
    job = _job(job_id)
    assert (job.created, job.finished_at) == (16, finished)
    assert db.session.scalar(select(func.count()).select_from(ProviderLocation)) == 16
    task(987654)  # a job that does not exist is not an error worth retrying


def test_an_unexpected_error_fails_the_job_with_a_message(app: Flask, db_session: Any) -> None:
    with unit_of_work():
        job = imports.start_import("sample.csv", sample_bytes(), MANAGER)
        job.content = "not,a,directory\n1,2,3\n"  # damaged after upload
        job_id = job.id
    with pytest.raises(FileRefused):
        _task(app)(job_id)
    job = _job(job_id)
    assert job.status == "failed" and job.finished_at is not None
    assert job.error == "The import stopped on an unexpected error (FileRefused)."
    assert imports.progress(job_id)["finished"] is True


def test_a_real_worker_imports_what_the_web_side_enqueued(tmp_path: Path, redis_url: str) -> None:
    broker = with_redis_db(redis_url, 6)
    with scratch_database(tmp_path, "imports") as database_url:
        env = process_env(database_url, broker)
        run_flask(env, "db", "upgrade")
        app = create_app(make_settings(database_url, broker))
        processes = Processes(tmp_path)
        try:
            with app.app_context(), unit_of_work():
                job_id = imports.start_import("sample.csv", sample_bytes(), MANAGER).id
                enqueue_after_commit(db.session(), PROVIDER_IMPORT, job_id)
            argv = [str(BIN / "celery"), "-A", "workers.celery_app", "worker", "--concurrency", "1"]
            processes.start("worker", [*argv, "--loglevel", "INFO"], env)
            deadline = time.monotonic() + 60
            status = "queued"
            while time.monotonic() < deadline and status not in ("done", "failed"):
                processes.check_alive()
                time.sleep(0.5)
                with app.app_context():
                    status = imports.progress(job_id)["status"]
            with app.app_context():
                shown = imports.progress(job_id)
                stored = db.session.scalar(select(func.count()).select_from(ProviderLocation))
            assert shown["status"] == "done", processes.log("worker")
            assert (shown["created"], shown["skipped"], stored) == (16, 0, 16)
        finally:
            processes.stop_all()
            with app.app_context():
                db.engine.dispose()
