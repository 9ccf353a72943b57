"""Throughput baselines, run under the same gunicorn settings as the real app.

- ``bench.bare:app`` reads the JSON body and answers 201: what Flask and gunicorn cost alone,
  so the intake/bare ratio measures what our endpoint costs above them.
- ``bench.bare:floor`` does the same plus the least any durable intake must do: one ``INSERT``
  of the body, committed (one round trip, psycopg, no ORM, no validation, no security). It is
  the ceiling for any endpoint that answers 201 only after a commit, measured in the same run.
"""

from __future__ import annotations

import os
import threading
import uuid

import psycopg
from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from psycopg.types.json import Jsonb

FLOOR_TABLE = "bench_floor_requests"
FLOOR_DDL = (
    f"CREATE TABLE IF NOT EXISTS {FLOOR_TABLE} "
    "(id bigserial PRIMARY KEY, reference text UNIQUE NOT NULL, body jsonb NOT NULL)"
)

app = Flask(__name__)
floor = Flask(__name__)
_connections = threading.local()


@app.post("/api/v1/callback-requests")
def create_callback_request() -> ResponseReturnValue:
    payload = request.get_json(silent=True) or {}
    return jsonify(reference="L-BARE22", status="received", fields=len(payload)), 201


def _connection() -> psycopg.Connection:
    """One autocommit connection per gunicorn thread: each INSERT is its own commit."""
    connection = getattr(_connections, "connection", None)
    if connection is None or connection.closed:
        dsn = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
        connection = psycopg.connect(dsn, autocommit=True)
        _connections.connection = connection
    return connection


@floor.post("/api/v1/callback-requests")
def create_floor_request() -> ResponseReturnValue:
    payload = request.get_json(silent=True) or {}
    reference = uuid.uuid4().hex
    _connection().execute(
        f"INSERT INTO {FLOOR_TABLE} (reference, body) VALUES (%s, %s)",  # noqa: S608 (constant)
        (reference, Jsonb(payload)),
    )
    return jsonify(reference=reference, status="received"), 201
