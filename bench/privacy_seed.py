"""Data for ``bench.privacy`` on top of the intake benchmark's seed: the retention sweep's
eligible leads (reset to the same state before every run) and people with ten rich leads each.

- **The eligible set** (``bench_privacy.eligible``): the N closed seeded leads with the lowest
  ids (their own close reasons: about one in fifteen is spam). Every column the erasure service
  changes on those leads, their history and their contacts is copied once, while still as
  seeded, into the ``bench_privacy`` schema (outside ``public``, so ``bench.seed.trim_to_seed``
  leaves it alone); each run writes the copies back, so every run anonymises the same rows.
  The set is then made the only thing past its period: both lead periods are set (in this
  database only) to just more than the age of the oldest other closed lead, and the set's
  ``updated_at`` to a day or three before that cut-off.
- **People**: one contact with ten leads cloned, with their whole history, from ten seeded
  leads that went furthest (a referral, an on-call page and its SMS, an assessment, notes,
  calls with notes, consents, a disclosure, a reminder), each referral's summary email to the
  clinic, and twenty audited reads per lead. Cloned rows get new ids above the seed's
  high-water mark, so ``bench.intake.prepare`` deletes them at the start of the next run.
"""

# The SQL here is built only from this module's constants and column names read from the
# catalogue, never from input: the string-built-query rule (S608) does not apply.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from bench.seed import reference_for
from crm import clock

SCHEMA = "bench_privacy"
PERSON_PHONE_BASE = 7_999_000_000  # +44 7999 000000 onwards: far above the seeded callers
LEADS_PER_PERSON = 10
VIEWS_PER_LEAD = 20
_E = f"(SELECT lead_id FROM {SCHEMA}.eligible)"
_E_CONTACTS = (
    f"(SELECT client_id FROM leads WHERE id IN {_E} UNION SELECT caller_id FROM leads "
    f"WHERE id IN {_E})"
)
_E_PAGES = f"(SELECT id FROM pages WHERE lead_id IN {_E})"
_E_REMINDERS = f"(SELECT id FROM reminders WHERE lead_id IN {_E})"
# (table, which rows relate to the eligible leads, the columns crm.privacy.erasure changes)
SNAPSHOT: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("leads", f"id IN {_E}", ("utm", "anonymised_at", "updated_at")),
    (
        "contacts",
        f"id IN {_E_CONTACTS}",
        ("name", "phone", "email", "preferred_contact_times", "anonymised_at"),
    ),
    (
        "callback_requests",
        f"lead_id IN {_E}",
        ("best_time_to_call", "substances", "message", "page_url"),
    ),
    ("stage_changes", f"lead_id IN {_E}", ("note", "reason")),
    ("call_logs", f"lead_id IN {_E}", ("notes",)),
    ("lead_notes", f"lead_id IN {_E}", ("body",)),
    ("assignments", f"lead_id IN {_E}", ("reason",)),
    (
        "assessments",
        f"lead_id IN {_E}",
        (
            "answers",
            "primary_substance",
            "treatment_wanted",
            "funding",
            "timeframe",
            "immediate_danger",
        ),
    ),
    ("presentations", f"lead_id IN {_E}", ("note",)),
    ("presented_options", f"lead_id IN {_E}", ("explanation",)),
    ("referrals", f"lead_id IN {_E}", ("summary", "decline_reason")),
    (
        "referral_events",
        f"referral_id IN (SELECT id FROM referrals WHERE lead_id IN {_E})",
        ("reason",),
    ),
    ("reminders", f"lead_id IN {_E}", ("note",)),
    ("page_events", f"page_id IN {_E_PAGES}", ("detail",)),
    (
        "outbound_messages",
        f"page_id IN {_E_PAGES} OR reminder_id IN {_E_REMINDERS}",
        ("subject", "body"),
    ),
    ("consent_records", f"contact_id IN {_E_CONTACTS}", ("withdrawal_note",)),
)


# --- the eligible set --------------------------------------------------------------------------


def _snapshot_state(conn: Connection) -> dict[str, Any] | None:
    if not conn.scalar(text(f"SELECT to_regclass('{SCHEMA}.meta') IS NOT NULL")):
        return None
    row = conn.execute(text(f"SELECT seeded_at, eligible FROM {SCHEMA}.meta")).mappings().first()
    return dict(row) if row else None


def _restore(conn: Connection) -> dict[str, int]:
    """Write the seeded values back where a run changed them; rows written per table."""
    restored = {}
    for table, _where, columns in SNAPSHOT:
        target = ", ".join(columns)
        source = ", ".join(f"s.{c}" for c in columns)
        now = ", ".join(f"t.{c}::text" for c in columns)
        was = ", ".join(f"s.{c}::text" for c in columns)
        result = conn.execute(
            text(
                f"UPDATE {table} t SET ({target}) = (SELECT {source}) FROM {SCHEMA}.{table} s "
                f"WHERE t.id = s.id AND ROW({now}, NULL) IS DISTINCT FROM ROW({was}, NULL)"
            )
        )
        restored[table] = result.rowcount
    return restored


def _take_snapshot(conn: Connection, eligible: int, seeded_at: datetime, high: int) -> None:
    conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    conn.execute(
        text(
            f"CREATE TABLE {SCHEMA}.eligible AS SELECT id AS lead_id FROM leads "
            "WHERE stage = 'closed' AND id <= :high ORDER BY id LIMIT :n"
        ),
        {"n": eligible, "high": high},
    )
    conn.execute(text(f"ALTER TABLE {SCHEMA}.eligible ADD PRIMARY KEY (lead_id)"))
    for table, where, columns in SNAPSHOT:
        conn.execute(
            text(
                f"CREATE TABLE {SCHEMA}.{table} AS SELECT id, {', '.join(columns)} "
                f"FROM {table} WHERE {where}"
            )
        )
        conn.execute(text(f"ALTER TABLE {SCHEMA}.{table} ADD PRIMARY KEY (id)"))
    conn.execute(text(f"CREATE TABLE {SCHEMA}.meta (seeded_at timestamptz, eligible integer)"))
    conn.execute(
        text(f"INSERT INTO {SCHEMA}.meta VALUES (:s, :n)"), {"s": seeded_at, "n": eligible}
    )


@dataclass(frozen=True)
class Eligible:
    leads: int
    spam: int
    contacts: int
    period_days: int
    restored: dict[str, int]
    snapshot_taken: bool


def reset_eligible(
    conn: Connection, eligible: int, marker: dict[str, Any], say: Callable[[str], None]
) -> Eligible:
    """The eligible set as seeded and past its period; nothing else past it."""
    high = int(marker["high_water"]["leads"])
    state = _snapshot_state(conn)
    restored: dict[str, int] = {}
    taken = False
    if state is not None and state["seeded_at"] == marker["seeded_at"]:
        restored = _restore(conn)
        say(f"  eligible set restored from its snapshot: {restored}")
        if state["eligible"] != eligible:
            _take_snapshot(conn, eligible, marker["seeded_at"], high)
            taken = True
    else:  # first run on this seed: the rows are as seeded
        _take_snapshot(conn, eligible, marker["seeded_at"], high)
        taken = True
    if taken:
        say(f"  snapshot of {eligible:,} eligible leads' erasable columns taken")
    now = clock.now()
    oldest = conn.scalar(
        text(
            f"SELECT min(updated_at) FROM leads WHERE stage = 'closed' "
            f"AND anonymised_at IS NULL AND id NOT IN {_E}"
        )
    )
    days = int((now - oldest) / timedelta(days=1)) + 2
    conn.execute(
        text(
            "UPDATE retention_policies SET days = :d "
            "WHERE code IN ('unconverted_leads', 'spam_leads')"
        ),
        {"d": days},
    )
    # A day to three days past the cut-off, spread by id; updated_at order differs from ids.
    conn.execute(
        text(
            f"UPDATE leads SET updated_at = :base - (id * 7919 % 2880) * interval '1 minute' "
            f"WHERE id IN {_E}"
        ),
        {"base": now - timedelta(days=days + 1)},
    )
    counts = conn.execute(
        text(
            f"SELECT count(*), count(*) FILTER (WHERE close_reason = 'spam') FROM leads "
            f"WHERE id IN {_E}"
        )
    ).one()
    contacts = conn.scalar(text(f"SELECT count(*) FROM {_E_CONTACTS} c"))
    return Eligible(int(counts[0]), int(counts[1]), int(contacts or 0), days, restored, taken)


def vacuum_touched(conn: Connection) -> None:
    """After the restore: the planner's statistics and visibility as after a quiet night."""
    for table, _where, _columns in SNAPSHOT:
        conn.execute(text(f"VACUUM ANALYZE {table}"))


# --- people with ten leads -------------------------------------------------------------------


def templates(conn: Connection, high: int) -> list[int]:
    """Ten seeded leads with the most history, outside the eligible set."""
    return list(
        conn.scalars(
            text(
                f"""
                SELECT l.id FROM leads l
                WHERE l.id <= :high AND l.id % 20 = 0 AND l.stage IN ('admitted', 'closed')
                  AND l.id NOT IN {_E}
                  AND EXISTS (SELECT 1 FROM referrals r WHERE r.lead_id = l.id)
                  AND EXISTS (SELECT 1 FROM pages p WHERE p.lead_id = l.id)
                  AND EXISTS (SELECT 1 FROM assessments a WHERE a.lead_id = l.id)
                  AND EXISTS (SELECT 1 FROM lead_notes n WHERE n.lead_id = l.id)
                  AND EXISTS (SELECT 1 FROM call_logs c WHERE c.lead_id = l.id
                              AND c.notes IS NOT NULL)
                ORDER BY l.id DESC LIMIT :n
                """
            ),
            {"high": high, "n": LEADS_PER_PERSON},
        )
    )


# (table, which source rows, {column: map table whose old id it holds}, {column: expression})
# Expressions may use ``src`` (the source row), ``m`` (this table's map: old, new) and
# ``j_<column>`` (the map joined for a remapped column).
_LEAD = {"lead_id": "m_leads"}
CLONES: tuple[tuple[str, str, dict[str, str], dict[str, str]], ...] = (
    ("callback_requests", "src.lead_id IN (SELECT old FROM m_leads)", _LEAD, {}),
    ("stage_changes", "src.lead_id IN (SELECT old FROM m_leads)", _LEAD, {}),
    ("call_logs", "src.lead_id IN (SELECT old FROM m_leads)", _LEAD, {}),
    ("lead_notes", "src.lead_id IN (SELECT old FROM m_leads)", _LEAD, {}),
    ("assignments", "src.lead_id IN (SELECT old FROM m_leads)", _LEAD, {}),
    ("assessments", "src.lead_id IN (SELECT old FROM m_leads)", _LEAD, {}),
    ("disclosure_records", "src.lead_id IN (SELECT old FROM m_leads)", _LEAD, {}),
    (
        "consent_records",
        "src.lead_id IN (SELECT old FROM m_leads)",
        _LEAD,
        {"contact_id": ":contact"},
    ),
    (
        "presentations",
        "src.lead_id IN (SELECT old FROM m_leads)",
        {**_LEAD, "disclosure_id": "m_disclosure_records"},
        {},
    ),
    (
        "presented_options",
        "src.lead_id IN (SELECT old FROM m_leads)",
        {**_LEAD, "presentation_id": "m_presentations"},
        {},
    ),
    (
        "referrals",
        "src.lead_id IN (SELECT old FROM m_leads)",
        {**_LEAD, "option_id": "m_presented_options"},
        {},
    ),
    (
        "referral_events",
        "src.referral_id IN (SELECT old FROM m_referrals)",
        {"referral_id": "m_referrals"},
        {},
    ),
    ("reminders", "src.lead_id IN (SELECT old FROM m_leads)", _LEAD, {}),
    (
        "pages",
        "src.lead_id IN (SELECT old FROM m_leads)",
        _LEAD,
        {"subject": "'bench-privacy:' || m.new"},
    ),
    ("page_events", "src.page_id IN (SELECT old FROM m_pages)", {"page_id": "m_pages"}, {}),
    (
        "outbound_messages",
        "src.page_id IN (SELECT old FROM m_pages) OR src.reminder_id IN (SELECT old FROM "
        "m_reminders)",
        {"page_id": "m_pages", "reminder_id": "m_reminders"},
        {"idempotency_key": "'bench-privacy:' || m.new"},
    ),
    (
        "audit_events",
        "src.object_type = 'leads' AND src.object_id IN (SELECT old::text FROM m_leads)",
        {},
        {"object_id": "(SELECT new::text FROM m_leads WHERE old::text = src.object_id)"},
    ),
)


def _columns(conn: Connection, table: str) -> list[str]:
    return list(
        conn.scalars(
            text(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "'public' AND table_name = :t AND column_name <> 'id' ORDER BY ordinal_position"
            ),
            {"t": table},
        )
    )


def _clone(
    conn: Connection,
    table: str,
    where: str,
    remap: dict[str, str],
    overrides: dict[str, str],
    binds: dict[str, Any],
) -> int:
    conn.execute(
        text(
            f"CREATE TEMP TABLE m_{table} ON COMMIT DROP AS SELECT src.id AS old, "
            f"nextval(pg_get_serial_sequence('{table}', 'id')) AS new FROM {table} src "
            f"WHERE {where}"
        )
    )
    columns = _columns(conn, table)
    values = []
    for column in columns:
        if column in overrides:
            values.append(overrides[column])
        elif column in remap:
            values.append(f"coalesce(j_{column}.new, src.{column})")
        else:
            values.append(f"src.{column}")
    joins = " ".join(
        f"LEFT JOIN {mapped} j_{column} ON j_{column}.old = src.{column}"
        for column, mapped in remap.items()
    )
    result = conn.execute(
        text(
            f"INSERT INTO {table} (id, {', '.join(columns)}) "
            f"SELECT m.new, {', '.join(values)} FROM {table} src "
            f"JOIN m_{table} m ON m.old = src.id {joins}"
        ),
        binds,
    )
    return int(result.rowcount)


@dataclass(frozen=True)
class Person:
    contact_id: int
    phone: str
    lead_ids: list[int]
    rows: dict[str, int]


def make_person(conn: Connection, number: int, sources: list[int], manager_id: int) -> Person:
    """A contact with ten cloned leads and all their history (one transaction)."""
    phone = f"+44{PERSON_PHONE_BASE + number}"
    name = f"Privacy Person {number:03d} Quarrendon"
    contact = conn.scalar(
        text(
            "INSERT INTO contacts (name, phone, email, preferred_contact_times, created_at) "
            "VALUES (:name, :phone, :email, 'After 6pm', now() - interval '400 days') "
            "RETURNING id"
        ),
        {"name": name, "phone": phone, "email": f"privacy.person.{number}@example.org"},
    )
    conn.execute(
        text(
            "CREATE TEMP TABLE m_leads ON COMMIT DROP AS SELECT t.id AS old, "
            "nextval(pg_get_serial_sequence('leads', 'id')) AS new, "
            "row_number() OVER (ORDER BY t.id) AS n FROM unnest(CAST(:ids AS integer[])) t(id)"
        ),
        {"ids": sources},
    )
    references = [reference_for(900_000_000 + number * 100 + i) for i in range(len(sources) + 1)]
    overrides = {
        "reference": "(CAST(:refs AS varchar[]))[m.n]",
        "client_id": ":contact",
        "caller_id": ":contact",
        "caller_relationship": "'self'",
        "previous_lead_id": "NULL",
        "merged_into_id": "NULL",
        "safeguarding_flagged_at": "NULL",
        "anonymised_at": "NULL",
        "is_returning": "m.n > 1",
    }
    columns = _columns(conn, "leads")
    values = [overrides.get(c, f"src.{c}") for c in columns]
    conn.execute(
        text(
            f"INSERT INTO leads (id, {', '.join(columns)}) SELECT m.new, {', '.join(values)} "
            "FROM leads src JOIN m_leads m ON m.old = src.id"
        ),
        {"refs": references, "contact": contact},
    )
    rows = {"leads": len(sources)}
    for table, where, remap, extra in CLONES:
        rows[table] = _clone(conn, table, where, remap, extra, {"contact": contact})
    rows["outbound_messages"] += conn.execute(
        text(
            "INSERT INTO outbound_messages (idempotency_key, channel, address, subject, body, "
            "status, due_at, created_at, sent_at, attempts) "
            "SELECT 'referral:' || m.new || '\\:summary', 'email', 'admissions@clinic.example', "
            "'Referral ' || l.reference, 'Referral summary: ' || :name || ', ' || :phone || "
            "'. Alcohol, daily; wants residential detox within two weeks; self-funding.', "
            "'sent', r.sent_at, r.sent_at, r.sent_at, 1 "
            "FROM m_referrals m JOIN referrals r ON r.id = m.new JOIN leads l ON l.id = r.lead_id"
        ),
        {"name": name, "phone": phone},
    ).rowcount
    views = conn.execute(
        text(
            "INSERT INTO audit_events (occurred_at, actor_id, actor_email, actor_role, action, "
            "object_type, object_id, outcome, detail) "
            "SELECT now() - g * interval '7 hours', u.id, u.email, u.role, 'view', o.kind, "
            "o.id::text, 'success', NULL "
            "FROM (SELECT 'leads' AS kind, new AS id FROM m_leads UNION ALL "
            "SELECT 'assessments', new FROM m_leads) o "
            "CROSS JOIN generate_series(1, :views) g JOIN users u ON u.id = :manager"
        ),
        {"views": VIEWS_PER_LEAD // 2, "manager": manager_id},
    ).rowcount
    rows["audit_events"] += views
    lead_ids = list(conn.scalars(text("SELECT new FROM m_leads ORDER BY n")))
    return Person(int(contact), phone, lead_ids, rows)
