"""The throughput baseline: a bare Flask endpoint that reads the JSON body and answers 201.

Run under the same gunicorn settings as the real app (``gunicorn bench.bare:app``), so the
intake/bare ratio measures what our endpoint costs above Flask and gunicorn themselves.
"""

from __future__ import annotations

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

app = Flask(__name__)


@app.post("/api/v1/callback-requests")
def create_callback_request() -> ResponseReturnValue:
    payload = request.get_json(silent=True) or {}
    return jsonify(reference="L-BARE22", status="received", fields=len(payload)), 201
