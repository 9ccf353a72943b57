"""Fixtures for the reliability tests: a migrated scratch database per module, an in-process
app on it for seeding and reading, and a redis-server of the test's own.

Nothing here touches the session's database or the machine's Redis on 6379: the processes
these tests start (worker, beat, web) and then crash or cut off need servers no other test
shares.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from crm.app import create_app
from crm.extensions import db
from tests.conftest import make_settings
from tests.reliability.support import process_env, run_flask
from tests.support.databases import scratch_database
from tests.support.servers import EmbeddedRedis, free_port


@pytest.fixture(scope="module")
def scratch_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh database for this module, migrated by ``flask db upgrade`` in a subprocess.

    The migration runs with REDIS_URL on a closed port: it must not need the broker.
    """
    label = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    with scratch_database(tmp_path_factory.mktemp(f"db-{label}"), label) as url:
        started = time.monotonic()
        run_flask(process_env(url, f"redis://127.0.0.1:{free_port()}/0"), "db", "upgrade")
        print(f"\n[{label}] migrated a scratch database in {time.monotonic() - started:.1f}s")
        yield url


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of this test's own (never the shared one), stopped at the end."""
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = EmbeddedRedis(workdir).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def seed_app(scratch_db: str, redis_server: EmbeddedRedis) -> Iterator[Flask]:
    """The app in this process, on the scratch database: seed through services, commit for
    real, and read what the processes wrote."""
    app = create_app(make_settings(scratch_db, redis_server.url))
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()
