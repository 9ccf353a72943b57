"""The seeded leads' history, derived on the server with one INSERT ... SELECT per table.

Callback requests, stage changes (the path each lead took to its stage), calls, consents,
disclosures, assignments, assessments, notes, reminders and audit rows, consistent with each
lead's stage and times. ``bench.seed`` streams the contacts and leads first.
"""

# The SQL here is built only from this module's constants, never from input: the
# string-built-query rule (S608) does not apply.
# ruff: noqa: S608

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from crm.intake.assessment import parse_assessment

# --- history (server-side INSERT ... SELECT) --------------------------------------------------

_STEPS = (
    "CASE WHEN stage = 'closed' THEN id % 4 + 1 ELSE array_position(ARRAY['new', 'contacted', "
    "'assessed', 'matched', 'referred', 'admitted']::varchar[], stage) END"
)
_PIPELINE_ARRAY = "ARRAY['new', 'contacted', 'assessed', 'matched', 'referred', 'admitted']"
_CHANNEL = (
    "CASE source WHEN 'web_form' THEN 'web_form' WHEN 'phone' THEN 'phone' "
    "WHEN 'email' THEN 'email' ELSE 'other' END"
)
_WORDING = (
    "CASE source WHEN 'web_form' THEN 'callback-consent-2026-11' ELSE 'phone-script-2026-11' END"
)
HISTORY = {
    "callback_requests": """
        INSERT INTO callback_requests (lead_id, received_at, source, best_time_to_call,
            substances, message, page_url, repeat)
        SELECT l.id, r.at, l.source,
            (ARRAY['Mornings', 'After 6pm', 'Any time', 'Lunchtime', NULL])[1 + l.id % 5],
            CASE WHEN l.id % 5 < 3 THEN (ARRAY['["alcohol"]', '["cocaine", "alcohol"]',
                '["ketamine"]', '["opioids"]', '["cannabis"]', '["gambling"]',
                '["benzodiazepines", "alcohol"]'])[1 + l.id % 7]::json END,
            CASE WHEN l.id % 10 < 3 THEN 'Drinking has got worse since the spring; '
                'I would like to talk about residential options.' END,
            CASE WHEN l.source = 'web_form' THEN 'https://rehab-help.example/callback' END,
            r.again
        FROM leads l CROSS JOIN LATERAL (VALUES (l.created_at, false),
            (CASE WHEN l.request_count > 1 THEN l.last_request_at END, true)) r(at, again)
        WHERE r.at IS NOT NULL""",
    "stage_changes": f"""
        INSERT INTO stage_changes (lead_id, from_stage, to_stage, reason, actor_id, changed_at)
        SELECT l.id, ({_PIPELINE_ARRAY})[k - 1], ({_PIPELINE_ARRAY})[k],
            CASE WHEN k = 1 THEN 'Recorded from ' || l.source END,
            CASE WHEN k > 1 THEN l.owner_id END,
            l.created_at + (l.updated_at - l.created_at) * ((k - 1)::float / ({_STEPS}))
        FROM leads l CROSS JOIN LATERAL generate_series(1, ({_STEPS})) k""",
    "stage_changes (closing)": f"""
        INSERT INTO stage_changes (lead_id, from_stage, to_stage, close_reason, reason,
            actor_id, changed_at)
        SELECT id, ({_PIPELINE_ARRAY})[id % 4 + 1], 'closed', close_reason,
            'Closed: ' || replace(close_reason, '_', ' '), owner_id, updated_at
        FROM leads WHERE stage = 'closed'""",
    "call_logs": """
        INSERT INTO call_logs (lead_id, direction, started_at, duration_seconds, outcome, notes,
            actor_id, logged_at)
        SELECT id, 'outbound', created_at + (first_contact_at - created_at) / 2, 0,
            (ARRAY['no_answer', 'voicemail', 'busy'])[1 + id % 3], NULL, owner_id,
            created_at + (first_contact_at - created_at) / 2
        FROM leads WHERE first_contact_at IS NOT NULL AND id % 3 = 0
        UNION ALL
        SELECT id, 'outbound', first_contact_at, 240 + id % 1500, 'connected',
            CASE WHEN id % 4 = 0 THEN 'Spoke to them; they want to think about detox first.' END,
            owner_id, first_contact_at + interval '25 minutes'
        FROM leads WHERE first_contact_at IS NOT NULL""",
    "consent_records": f"""
        INSERT INTO consent_records (contact_id, lead_id, purpose, given, wording_version,
            channel, recorded_at)
        SELECT caller_id, id, p.purpose, p.purpose = 'contact' OR id % 5 < 3, {_WORDING},
            {_CHANNEL}, created_at
        FROM leads CROSS JOIN (VALUES ('contact'), ('health_details')) p(purpose)""",
    "disclosure_records": f"""
        INSERT INTO disclosure_records (lead_id, kind, wording_version, channel, disclosed_at)
        SELECT id, 'commission', 'commission-2026-11', {_CHANNEL}, created_at FROM leads""",
    "assignments": """
        INSERT INTO assignments (lead_id, to_user_id, reason, assigned_at)
        SELECT id, owner_id, 'round-robin', created_at FROM leads WHERE owner_id IS NOT NULL""",
    "assessments": f"""
        INSERT INTO assessments (lead_id, answers, primary_substance, treatment_wanted, funding,
            timeframe, immediate_danger, completed_at, completed_by_id, updated_at,
            updated_by_id)
        SELECT id, t.answers, t.primary_substance, t.treatment_wanted, t.funding, t.timeframe,
            false, updated_at, owner_id, updated_at, owner_id
        FROM leads JOIN bench_answers t ON t.slot = id % (SELECT count(*) FROM bench_answers)
        WHERE ({_STEPS}) >= 3""",
    "lead_notes": """
        INSERT INTO lead_notes (lead_id, body, author_id, written_at)
        SELECT id, 'Sent details of two clinics by email; calling back on Thursday.',
            owner_id, updated_at
        FROM leads WHERE stage <> 'new' AND id % 5 = 0""",
    "reminders": """
        INSERT INTO reminders (kind, lead_id, owner_id, due_at, grace_minutes, status,
            created_at, notified_at, done_at{escalate_column})
        SELECT 'callback_due', id, owner_id, callback_due_at, 10,
            CASE WHEN first_contact_at IS NOT NULL THEN 'done'
                 WHEN stage <> 'new' THEN 'cancelled'
                 WHEN callback_due_at < now() THEN 'notified' ELSE 'pending' END,
            created_at,
            CASE WHEN stage = 'new' AND callback_due_at < now() THEN callback_due_at END,
            coalesce(first_contact_at, CASE WHEN stage <> 'new' THEN updated_at END)
            {escalate_value}
        FROM leads""",
    "audit_events": """
        INSERT INTO audit_events (occurred_at, actor_email, actor_role, action, object_type,
            object_id, outcome, detail)
        SELECT created_at, 'system:bench-seed', 'system', 'create', 'leads', id::text,
            'success', 'callback request'
        FROM leads""",
}


def _assessment_templates() -> list[dict[str, Any]]:
    base = {"substances": ["alcohol"], "age": "44", "home_postcode": "ls1 4ap", "cravings": "y"}
    variants = (
        {
            "primary_substance": "alcohol",
            "treatment_wanted": "residential_rehab",
            "funding": "self_funded",
            "budget_band": "1500_2500",
            "timeframe": "within_a_week",
        },
        {
            "primary_substance": "cocaine",
            "treatment_wanted": "outpatient",
            "funding": "private_insurance",
            "insurer": "Bupa",
            "timeframe": "within_a_month",
        },
        {
            "primary_substance": "opioids",
            "treatment_wanted": "medical_detox",
            "funding": "nhs_or_local_authority",
            "timeframe": "immediately",
            "anxiety": "y",
        },
        {
            "primary_substance": "ketamine",
            "treatment_wanted": "unsure",
            "funding": "unsure",
            "timeframe": "exploring",
            "previous_treatment": "y",
        },
    )
    return [parse_assessment(base | variant) for variant in variants]


def _fit(conn: Connection, table: str, sql: str) -> str:
    """Fill in columns that only some schema versions have (reminders' escalate_at)."""
    if table != "reminders":
        return sql
    columns = set(
        conn.scalars(
            text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"),
            {"t": table},
        )
    )
    if "escalate_at" in columns:  # the end of the grace period, when on-call is paged
        return sql.format(
            escalate_column=", escalate_at",
            escalate_value=", callback_due_at + interval '10 minutes'",
        )
    return sql.format(escalate_column="", escalate_value="")


def seed_history(conn: Connection, say: Callable[[str], None]) -> None:
    conn.execute(
        text(
            "CREATE TEMP TABLE bench_answers (slot integer, answers json, primary_substance text, "
            "treatment_wanted text, funding text, timeframe text) ON COMMIT DROP"
        )
    )
    conn.execute(
        text("INSERT INTO bench_answers VALUES (:slot, :answers, :p, :t, :f, :tf)"),
        [
            {
                "slot": slot,
                "answers": json.dumps(a),
                "p": a["primary_substance"],
                "t": a["treatment_wanted"],
                "f": a["funding"],
                "tf": a["timeframe"],
            }
            for slot, a in enumerate(_assessment_templates())
        ],
    )
    for name, sql in HISTORY.items():
        started = time.perf_counter()
        conn.execute(text(_fit(conn, name, sql)))
        say(f"  {name}: {time.perf_counter() - started:.1f} s")
