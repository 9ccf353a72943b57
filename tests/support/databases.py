"""Scratch databases for tests whose processes need real commits of their own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool


@contextmanager
def scratch_database(directory: Path, label: str) -> Iterator[str]:
    """A new, empty database URL: a SQLite file in ``directory``, or (TEST_DB=postgres) a new
    database on TEST_DATABASE_URL's server, dropped at the end."""
    if os.environ.get("TEST_DB", "sqlite") != "postgres":
        yield f"sqlite:///{directory / f'{label}.sqlite3'}"
        return
    server = make_url(os.environ["TEST_DATABASE_URL"]).set(drivername="postgresql+psycopg")
    name = f"crm_{label}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
