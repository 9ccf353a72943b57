"""The subject access ZIP: ``summary.html`` to read, ``data.json`` for machines. Pure of the
database: it packs what crm.privacy.access gathered."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime
from typing import Any

from flask import render_template

from crm.clock import LONDON

Sections = dict[str, list[dict[str, Any]]]


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def pack(
    sections: Sections,
    titles: dict[str, str],
    staff: dict[str, str],
    request_id: int,
    generated_at: datetime,
) -> tuple[bytes, int]:
    """The ZIP's bytes and how many records it holds."""
    records = sum(len(rows) for rows in sections.values())
    document = {
        "about": {
            "rights_request": request_id,
            "generated_at": generated_at.isoformat(),
            "records": records,
            "staff_names_by_id": staff,
            "note": "Every record the service holds about you, table by table. Times are UTC.",
        },
        "sections": {
            key: {"title": titles[key], "records": rows} for key, rows in sections.items()
        },
    }
    html = render_template(
        "privacy/sar_summary.html",
        request_id=request_id,
        generated=generated_at.astimezone(LONDON).strftime("%d %B %Y %H:%M"),
        records=records,
        sections=[
            (titles[key], _columns(rows), [[_cell(r.get(c)) for c in _columns(rows)] for r in rows])
            for key, rows in sections.items()
        ],
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("summary.html", html)
        archive.writestr(
            "data.json", json.dumps(document, ensure_ascii=False, indent=2, sort_keys=False)
        )
    return buffer.getvalue(), records
