"""The raw-SQL baseline: capture the exact SELECT a page runs, then replay it on a bare driver.

Replaying the captured statement (same SQL, same parameters) with psycopg directly shows how
much of a page's time is the query itself and how much is Python, templates and the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import make_url

from crm.extensions import db


@dataclass(frozen=True)
class Captured:
    statement: str
    parameters: dict[str, Any]


def capture_statement(app: Flask, action: Callable[[], Any], marker: str) -> Captured:
    """The first statement containing ``marker`` that ``action`` (a request) executes."""
    seen: list[Captured] = []

    def hook(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if marker in statement and not seen:
            seen.append(Captured(statement, dict(parameters or {})))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", hook)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", hook)
    if not seen:
        raise SystemExit(f"benchmark aborted: no statement containing {marker!r} was run")
    return seen[0]


def count_statements(app: Flask, action: Callable[[], Any]) -> int:
    """How many SQL statements ``action`` (one request) sends: a load-independent figure."""
    seen = [0]

    def hook(*_args: Any) -> None:
        seen[0] += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", hook)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", hook)
    return seen[0]


class RawBaseline:
    """One autocommit psycopg connection to the same database, outside SQLAlchemy."""

    def __init__(self, app: Flask) -> None:
        url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
        self.conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)

    def run(self, captured: Captured) -> int:
        with self.conn.cursor() as cursor:
            cursor.execute(captured.statement, captured.parameters)  # type: ignore[arg-type]
            return len(cursor.fetchall())

    def explain(self, captured: Captured) -> list[str]:
        with self.conn.cursor() as cursor:
            cursor.execute(
                "EXPLAIN (ANALYZE, BUFFERS) " + captured.statement,  # type: ignore[arg-type]
                captured.parameters,
            )
            return [row[0] for row in cursor.fetchall()]

    def close(self) -> None:
        self.conn.close()
