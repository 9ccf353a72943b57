"""The migrations build exactly what the models describe, and can be undone and redone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, inspect, text
from sqlalchemy.engine import make_url

from crm.app import create_app
from crm.extensions import db
from tests.conftest import make_settings


def _differences(app: Flask, metadata: MetaData | None = None) -> list[Any]:
    with app.app_context(), db.engine.connect() as connection:
        # The same options env.py gives Alembic, so hand-made search indexes are ignored too.
        options = dict(app.extensions["migrate"].configure_args)
        context = MigrationContext.configure(connection, opts=options)
        return list(compare_metadata(context, metadata or db.metadata))


def test_models_and_migrations_agree(app: Flask) -> None:
    assert _differences(app) == []


def test_the_comparison_would_notice_a_model_change(app: Flask) -> None:
    changed = MetaData(naming_convention=db.metadata.naming_convention)
    for table in db.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["users"].append_column(Column("nickname", String(40)))
    Table("not_migrated", changed, Column("id", Integer, primary_key=True))
    found = {(d[0], getattr(d[-1], "name", None)) for d in _differences(app, changed)}
    assert found == {("add_column", "nickname"), ("add_table", "not_migrated")}


_TRIGGERS = {
    "postgresql": "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal",
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'trigger'",
}
# The PostgreSQL trigger calls a function that the downgrade must remove as well.
_FUNCTIONS = "SELECT proname FROM pg_proc WHERE proname = 'audit_events_append_only'"


def _schema() -> tuple[set[str], set[str], set[str]]:
    """Tables, triggers and (PostgreSQL) trigger functions of the current app's database."""
    with db.engine.connect() as connection:
        dialect = connection.dialect.name
        tables = set(inspect(connection).get_table_names())
        triggers = set(connection.execute(text(_TRIGGERS[dialect])).scalars())
        functions = (
            set(connection.execute(text(_FUNCTIONS)).scalars())
            if dialect == "postgresql"
            else set()
        )
    return tables, triggers, functions


@pytest.fixture
def scratch_url(app: Flask, tmp_path: Path) -> Iterator[str]:
    """An empty database of the kind under test: a new SQLite file or PostgreSQL database."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "postgresql":
        yield f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        return
    name = f"{url.database}_scratch_{uuid.uuid4().hex[:8]}"
    server = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def test_upgrade_downgrade_upgrade_on_an_empty_database(scratch_url: str, redis_url: str) -> None:
    scratch = create_app(make_settings(scratch_url, redis_url))
    try:
        with scratch.app_context():
            upgrade()
            first = _schema()
            tables, triggers, _functions = first
            assert set(db.metadata.tables) <= tables
            assert {t for t in triggers if t.startswith("audit_events_no_")}
            # A later migration that rebuilds a table (SQLite's batch mode) must keep them.
            facts = {t for t in triggers if "_report_facts_" in t}
            watched = (
                "referrals",
                "call_logs",
                "assessments",
                "pages",
                "reminders",
                "outbound_messages",
            )
            assert facts == {
                f"{table}_report_facts_{event}"
                for table in watched
                for event in ("insert", "update", "delete")
            } | {
                "referral_events_report_facts_insert",
                "page_events_report_facts_insert",
                "leads_report_facts_source",
                "ledger_entries_report_facts_insert",
            }

            downgrade(revision="base")
            assert _schema() == ({"alembic_version"}, set(), set())

            upgrade()
            assert _schema() == first
        assert _differences(scratch) == []
    finally:
        with scratch.app_context():
            db.engine.dispose()
