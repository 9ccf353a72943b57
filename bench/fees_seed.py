"""Synthetic fee data for ``bench.fees``, bulk-inserted with SQL on the server.

``seed_admissions`` makes P providers (one clinic each, from ``bench.providers_seed``), each
with a flat £2,500 + VAT agreement, and ``per_provider`` admitted referrals per provider, every
one with a pending fee trigger due in the past: the whole chain the application would have
written (contact, lead, disclosure, presentation, share consent, presented option, referral,
trigger), with consistent ids, so the engine and the invoice run see realistic rows.

``seed_receivables`` adds issued invoices, their payments and credit notes (receivable ledger
entries of kinds invoice, payment and credit_note, keyed as the application keys them) until
``ledger_entries`` holds a target number of rows: due dates 0 to 200 days ago, older invoices
more often settled, some part paid, some credited, a few overpaid (unallocated credit).
"""

# The SQL here is built only from this module's constants, never from input: the
# string-built-query rule (S608) does not apply.
# ruff: noqa: S608

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.engine import Connection

from bench import seed
from bench.providers_seed import directory
from crm.providers.models import Provider, ProviderLocation
from crm.referrals import wording

FEE = 2500  # flat fee per admission, GBP, + 20 % VAT
CLAWBACK_TIERS = '[{"within_days": 7, "percent": "100"}, {"within_days": 14, "percent": "50"}]'
BENCH_EMAIL = "system:bench"


def _say_time(say: Callable[[str], None], label: str, started: float) -> None:
    say(f"  {label}: {time.perf_counter() - started:.1f} s")


def _empty(conn: Connection, *tables: str) -> None:
    for table in tables:
        if conn.scalar(text(f"SELECT count(*) FROM {table}")):
            raise SystemExit(f"benchmark aborted: {table} is not empty (expected a fresh schema)")


def _setval(conn: Connection, *tables: str) -> None:
    for table in tables:
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"coalesce(max(id), 0) + 1, false) FROM {table}"
            )
        )


# --- providers, agreements and admitted referrals with due triggers --------------------------


def _providers(conn: Connection, count: int, now: datetime) -> list[int]:
    """``count`` providers with one clinic each (the first location of each generated
    provider); their ids in order."""
    chosen: list[tuple[dict[str, Any], dict[str, Any]]] = []
    seen: set[str] = set()
    for provider, location in directory(count * 6, rng_seed=11):
        key = provider["regulator_provider_id"]
        if key in seen:
            continue
        seen.add(key)
        chosen.append((provider, location))
        if len(chosen) == count:
            break
    ids = list(
        conn.execute(
            insert(Provider).returning(Provider.id, sort_by_parameter_order=True),
            [{**p, "created_at": now, "updated_at": now} for p, _ in chosen],
        ).scalars()
    )
    conn.execute(
        insert(ProviderLocation),
        [
            {
                **location,
                "provider_id": provider_id,
                "beds_available": 2,
                "capacity_confirmed_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for provider_id, (_, location) in zip(ids, chosen, strict=True)
        ],
    )
    return ids


_AGREEMENTS = f"""
    INSERT INTO fee_agreements (provider_id, basis, amount, currency, vat_treatment,
        trigger_nights, clawback_tiers, payment_terms_days, billing_name, billing_address,
        accounts_email, po_reference, effective_from, effective_to, created_at, created_by_id)
    SELECT p.id, 'flat_per_admission', {FEE}.00, 'GBP', 'standard', 3,
        CAST(:tiers AS json), 30, p.name || ' (Accounts)',
        p.id || ' Quay Street' || chr(10) || 'Whitby' || chr(10) || 'YO21 1AA',
        'accounts' || p.id || '@provider.example', 'PO-' || (7000 + p.id),
        CAST(:since AS date), NULL, :now, :manager
    FROM providers p ORDER BY p.id"""

# One row per referral: who, where, when admitted (4 to 59 days ago, so the 3-night trigger
# fell due at 10:00 UK time at least a day ago).
_PLAN = """
    CREATE TEMP TABLE bench_fee_plan ON COMMIT DROP AS
    SELECT r.i::integer AS i, r.ref, l.id AS location_id, l.provider_id, a.id AS agreement_id,
        l.admissions_email,
        CAST(:today AS date) - (4 + (r.i::integer % 56)) AS admitted_on,
        ((CAST(:today AS date) - (11 + (r.i::integer % 56))) + time '09:00')
            AT TIME ZONE 'Europe/London' AS created,
        (CAST(:owners AS integer[]))[1 + r.i::integer % cardinality(CAST(:owners AS integer[]))]
            AS owner_id
    FROM unnest(CAST(:refs AS text[])) WITH ORDINALITY AS r(ref, i)
    JOIN (SELECT id, provider_id, admissions_email,
                 row_number() OVER (ORDER BY provider_id, id) - 1 AS slot
          FROM provider_locations) l ON l.slot = (r.i - 1) % :providers
    JOIN fee_agreements a ON a.provider_id = l.provider_id"""

_CHAIN = {
    "contacts": """
        INSERT INTO contacts (id, name, phone, email, created_at)
        SELECT i, 'Bench Client ' || i, '+44' || (7200000000 + i), NULL, created
        FROM bench_fee_plan""",
    "leads": """
        INSERT INTO leads (id, reference, client_id, caller_id, caller_relationship, source,
            stage, owner_id, callback_due_at, first_contact_at, last_request_at, request_count,
            is_returning, updated_at, created_at)
        SELECT i, ref, i, i, 'self', 'web_form', 'admitted', owner_id,
            created + interval '15 minutes', created + interval '12 minutes', created, 1, false,
            (admitted_on + time '11:00') AT TIME ZONE 'Europe/London', created
        FROM bench_fee_plan""",
    "disclosure_records": """
        INSERT INTO disclosure_records (id, lead_id, kind, wording_version, channel,
            disclosed_at, recorded_by_id)
        SELECT i, i, 'commission', :disclosure, 'phone', created + interval '2 days', owner_id
        FROM bench_fee_plan""",
    "presentations": """
        INSERT INTO presentations (id, lead_id, disclosure_id, channel, presented_at,
            presented_by_id)
        SELECT i, i, i, 'phone', created + interval '2 days', owner_id FROM bench_fee_plan""",
    "consent_records": """
        INSERT INTO consent_records (id, contact_id, lead_id, purpose, given, wording_version,
            channel, recorded_at, recorded_by_id)
        SELECT i, i, i, 'share_with_provider', true, :share, 'phone',
            created + interval '2 days', owner_id
        FROM bench_fee_plan""",
    "presented_options": """
        INSERT INTO presented_options (id, presentation_id, lead_id, location_id, position,
            total, explanation, owned_or_affiliated, consent_to_share, share_health_details,
            share_consent_id)
        SELECT i, i, i, location_id, 1, 0.82,
            json_build_object('version', 1, 'location_id', location_id, 'eligible', true),
            false, true, false, i
        FROM bench_fee_plan""",
    "referrals": """
        INSERT INTO referrals (id, lead_id, location_id, option_id, status,
            planned_admission_on, admitted_on, summary, summary_address, sent_at, sent_by_id,
            status_changed_at, fee_revision)
        SELECT i, i, location_id, i, 'admitted', admitted_on, admitted_on,
            'Bench referral: residential rehabilitation, self-funded.', admissions_email,
            created + interval '3 days', owner_id,
            (admitted_on + time '11:00') AT TIME ZONE 'Europe/London', 0
        FROM bench_fee_plan""",
    "fee_triggers": """
        INSERT INTO fee_triggers (referral_id, agreement_id, revision, week, due_at, status,
            created_at)
        SELECT i, agreement_id, 0, 1,
            ((admitted_on + 3) + time '10:00') AT TIME ZONE 'Europe/London', 'pending',
            (admitted_on + time '11:00') AT TIME ZONE 'Europe/London'
        FROM bench_fee_plan ORDER BY i""",
}


def seed_admissions(
    conn: Connection,
    providers: int,
    per_provider: int,
    today: date,
    now: datetime,
    say: Callable[[str], None],
) -> dict[str, int]:
    """Staff must exist. Providers, agreements and ``providers * per_provider`` admitted
    referrals with a due fee trigger each (in one transaction, ``conn``)."""
    _empty(conn, "providers", "leads", "referrals", "fee_triggers", "ledger_entries")
    started = time.perf_counter()
    available, _workers = seed.staff_ids(conn)
    manager = conn.scalar(text("SELECT min(id) FROM users WHERE role = 'manager'"))
    provider_ids = _providers(conn, providers, now)
    conn.execute(
        text(_AGREEMENTS),
        {
            "tiers": CLAWBACK_TIERS,
            "since": date(today.year - 1, 1, 1),
            "now": now,
            "manager": manager,
        },
    )
    _say_time(say, f"{len(provider_ids):,} providers, clinics and agreements", started)
    n = providers * per_provider
    started = time.perf_counter()
    conn.execute(
        text(_PLAN),
        {
            "today": today,
            "owners": available,
            "refs": [seed.reference_for(i) for i in range(1, n + 1)],
            "providers": providers,
        },
    )
    planned = conn.scalar(text("SELECT count(*) FROM bench_fee_plan"))
    assert planned == n, (planned, n)
    params = {"disclosure": wording.DISCLOSURE_VERSION, "share": wording.SHARE_VERSION}
    for sql in _CHAIN.values():
        conn.execute(text(sql), params)
    _setval(conn, *_CHAIN)
    _say_time(say, f"{n:,} leads, referrals (admitted) and due fee triggers", started)
    return {"providers": len(provider_ids), "referrals": n}


# --- issued invoices, payments and credit notes (receivable entries) --------------------------

# One row per historical invoice h. late: days past due (0..200); older invoices are settled
# more often (40 % .. 90 %), some of the rest part paid (one admission's fee, on invoices of
# three or more); every 11th with two or more admissions has a credit note for one admission;
# every 29th settled one was overpaid by 50.00 (unallocated: the provider's credit).
_RECEIVABLE_PLAN = """
    CREATE TEMP TABLE bench_receivable_plan ON COMMIT DROP AS
    WITH base AS (
        SELECT h, late, adm, o,
            (CAST(:providers AS integer[]))[1 + h % cardinality(CAST(:providers AS integer[]))]
                AS provider_id,
            h % cardinality(CAST(:providers AS integer[])) AS slot,
            CAST(:today AS date) - late AS due_on,
            CAST(:today AS date) - late - 30 AS issued_on
        FROM generate_series(1, :most) h
        CROSS JOIN LATERAL (SELECT ((h::bigint * 7919) % 201)::integer AS late, 1 + h % 6 AS adm,
                                   ((h::bigint * 37) % 100)::integer AS o) x
    ), shaped AS (
        SELECT b.*,
            CASE WHEN slot % 25 = 0 AND h % 2 = 0 THEN 'EUR' ELSE 'GBP' END AS currency,
            (3000 * adm)::numeric(12, 2) AS gross, (500 * adm)::numeric(12, 2) AS vat,
            CASE WHEN o < 40 + late / 4 THEN 'paid'
                 WHEN o < 55 + late / 4 AND adm >= 3 THEN 'part_paid'
                 ELSE 'issued' END AS status,
            adm >= 2 AND h % 11 = 0 AS credited
        FROM base b
    ), counted AS (
        SELECT s.*,
            CASE status WHEN 'paid' THEN 1 + h % 4 WHEN 'part_paid' THEN 1 ELSE 0 END AS payments,
            status = 'paid' AND h % 29 = 0 AS overpaid,
            CASE WHEN status = 'paid'
                 THEN least(CAST(:today AS date), issued_on + 20 + (h * 13) % 40) END
                AS settled_on,
            least(CAST(:today AS date), issued_on + 7 + h % 10) AS credited_on
        FROM shaped s
    ), sized AS (
        SELECT c.*, 1 + payments + overpaid::int + credited::int AS entries FROM counted c
    )
    SELECT z.*, :invoice_base + 2 * h - 1 AS invoice_id, :invoice_base + 2 * h AS note_id
    FROM (SELECT s.*, sum(entries) OVER (ORDER BY h) - entries AS before FROM sized s) z
    WHERE before < :needed"""

_PAYMENTS_PLAN = """
    CREATE TEMP TABLE bench_payment_plan ON COMMIT DROP AS
    SELECT p.h, p.invoice_id, p.provider_id, p.currency, k, p.payments,
        :payment_base + 4 * p.h + k AS payment_id,
        CASE WHEN p.status = 'paid'
             THEN p.issued_on + ((p.settled_on - p.issued_on) * k) / p.payments
             ELSE least(CAST(:today AS date), p.issued_on + 25) END AS received_on,
        CASE WHEN p.status = 'part_paid' THEN 3000.00
             WHEN k < p.payments
             THEN round((p.gross - CASE WHEN p.credited THEN 3000 ELSE 0 END) / p.payments, 2)
             ELSE (p.gross - CASE WHEN p.credited THEN 3000 ELSE 0 END)
                  - (p.payments - 1)
                    * round((p.gross - CASE WHEN p.credited THEN 3000 ELSE 0 END) / p.payments, 2)
        END::numeric(12, 2) AS share,
        p.overpaid AND k = p.payments AS with_credit
    FROM bench_receivable_plan p CROSS JOIN LATERAL generate_series(1, p.payments) k"""

# Gapless numbers per series and year, after any the application has already taken.
_NUMBERED = """
    CREATE TEMP TABLE bench_numbers ON COMMIT DROP AS
    SELECT d.id, d.series, d.year,
        coalesce(s.last_number, 0)
            + row_number() OVER (PARTITION BY d.series, d.year ORDER BY d.day, d.id) AS number
    FROM (SELECT invoice_id AS id, 'INV' AS series, extract(year FROM issued_on)::int AS year,
                 issued_on AS day FROM bench_receivable_plan
          UNION ALL
          SELECT note_id, 'CN', extract(year FROM credited_on)::int, credited_on
          FROM bench_receivable_plan WHERE credited) d
    LEFT JOIN document_sequences s ON s.series = d.series AND s.year = d.year"""

_NUMBER = (
    "n.series || '-' || n.year || '-' || "
    "CASE WHEN n.number < 10000 THEN lpad(n.number::text, 4, '0') ELSE n.number::text END"
)
_AT_NOON = "(({day}) + time '12:00') AT TIME ZONE 'Europe/London'"

_RECEIVABLES = {
    "invoices": f"""
        INSERT INTO invoices (id, kind, number, provider_id, currency, status, net, vat, gross,
            issued_on, due_on, settled_on, billing_name, billing_address, accounts_email,
            po_reference, releases_fees, created_at)
        SELECT p.invoice_id, 'invoice', {_NUMBER}, p.provider_id, p.currency, p.status,
            p.gross - p.vat, p.vat, p.gross, p.issued_on, p.due_on, p.settled_on,
            a.billing_name, a.billing_address, a.accounts_email, a.po_reference, false,
            {_AT_NOON.format(day="p.issued_on")}
        FROM bench_receivable_plan p JOIN bench_numbers n ON n.id = p.invoice_id
        JOIN fee_agreements a ON a.provider_id = p.provider_id""",
    "invoices (credit notes)": f"""
        INSERT INTO invoices (id, kind, number, provider_id, currency, status,
            credits_invoice_id, net, vat, gross, issued_on, billing_name, billing_address,
            accounts_email, po_reference, reason, releases_fees, created_at)
        SELECT p.note_id, 'credit_note', {_NUMBER}, p.provider_id, p.currency, 'issued',
            p.invoice_id, 2500.00, 500.00, 3000.00, p.credited_on, a.billing_name,
            a.billing_address, a.accounts_email, a.po_reference,
            'Discharged after 5 days', false, {_AT_NOON.format(day="p.credited_on")}
        FROM bench_receivable_plan p JOIN bench_numbers n ON n.id = p.note_id
        JOIN fee_agreements a ON a.provider_id = p.provider_id
        WHERE p.credited""",
    "payments": f"""
        INSERT INTO payments (id, provider_id, currency, amount, received_on, method, reference,
            recorded_at)
        SELECT payment_id, provider_id, currency,
            share + CASE WHEN with_credit THEN 50.00 ELSE 0 END, received_on, 'bank_transfer',
            'BACS ' || payment_id, {_AT_NOON.format(day="received_on")}
        FROM bench_payment_plan""",
    "ledger_entries (invoice)": f"""
        INSERT INTO ledger_entries (idempotency_key, kind, account, provider_id, currency,
            amount, vat_amount, invoice_id, document_id, posted_on, created_at, actor_email,
            note)
        SELECT 'invoice:' || p.invoice_id, 'invoice', 'receivable', p.provider_id, p.currency,
            p.gross, p.vat, p.invoice_id, p.invoice_id, p.issued_on,
            {_AT_NOON.format(day="p.issued_on")}, '{BENCH_EMAIL}', i.number
        FROM bench_receivable_plan p JOIN invoices i ON i.id = p.invoice_id""",
    # "\\:credit": a colon text() must not read as a bind parameter.
    "ledger_entries (payment)": f"""
        INSERT INTO ledger_entries (idempotency_key, kind, account, provider_id, currency,
            amount, vat_amount, invoice_id, payment_id, posted_on, created_at, actor_email,
            note)
        SELECT 'payment:' || payment_id || ':invoice:' || invoice_id, 'payment', 'receivable',
            provider_id, currency, -share, 0, invoice_id, payment_id, received_on,
            {_AT_NOON.format(day="received_on")}, '{BENCH_EMAIL}', 'BACS ' || payment_id
        FROM bench_payment_plan
        UNION ALL
        SELECT 'payment:' || payment_id || '\\:credit', 'payment', 'receivable', provider_id,
            currency, -50.00, 0, NULL, payment_id, received_on,
            {_AT_NOON.format(day="received_on")}, '{BENCH_EMAIL}', 'Unallocated: provider credit'
        FROM bench_payment_plan WHERE with_credit""",
    "ledger_entries (credit_note)": f"""
        INSERT INTO ledger_entries (idempotency_key, kind, account, provider_id, currency,
            amount, vat_amount, invoice_id, document_id, posted_on, created_at, actor_email,
            note)
        SELECT 'credit_note:' || p.note_id, 'credit_note', 'receivable', p.provider_id,
            p.currency, -3000.00, -500.00, p.invoice_id, p.note_id, p.credited_on,
            {_AT_NOON.format(day="p.credited_on")}, '{BENCH_EMAIL}',
            n.number || ' credits ' || i.number
        FROM bench_receivable_plan p JOIN invoices n ON n.id = p.note_id
        JOIN invoices i ON i.id = p.invoice_id
        WHERE p.credited""",
}

_SEQUENCES = """
    INSERT INTO document_sequences (series, year, last_number)
    SELECT series, year, max(number) FROM bench_numbers GROUP BY series, year
    ON CONFLICT (series, year) DO UPDATE SET last_number = excluded.last_number"""


def _indexes_of(conn: Connection, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    """Secondary indexes (backing no constraint) of ``tables``: dropped for the load."""
    wanted = [
        (name, definition)
        for name, definition in seed._secondary_indexes(conn)
        if any(f" ON public.{t} " in definition for t in tables)
    ]
    return wanted


def seed_receivables(
    conn: Connection, target_rows: int, today: date, say: Callable[[str], None]
) -> dict[str, int]:
    """Issued invoices with payments and credit notes until ``ledger_entries`` has at least
    ``target_rows`` rows (in one transaction, ``conn``); what was added."""
    existing = int(conn.scalar(text("SELECT count(*) FROM ledger_entries")) or 0)
    needed = target_rows - existing
    if needed <= 0:
        return {"invoices": 0, "entries": 0}
    started = time.perf_counter()
    conn.execute(text("SET LOCAL session_replication_role = replica"))  # consistent rows
    conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    indexes = _indexes_of(conn, ("ledger_entries", "invoices", "payments"))
    for name, _definition in indexes:
        conn.execute(text(f'DROP INDEX "{name}"'))
    providers = list(conn.scalars(text("SELECT id FROM providers ORDER BY id")))
    invoice_base = int(conn.scalar(text("SELECT coalesce(max(id), 0) FROM invoices")) or 0)
    payment_base = int(conn.scalar(text("SELECT coalesce(max(id), 0) FROM payments")) or 0)
    conn.execute(
        text(_RECEIVABLE_PLAN),
        {
            "providers": providers,
            "today": today,
            "most": needed,  # at least one entry per invoice
            "needed": needed,
            "invoice_base": invoice_base,
        },
    )
    conn.execute(text(_PAYMENTS_PLAN), {"payment_base": payment_base, "today": today})
    conn.execute(text(_NUMBERED))
    _say_time(say, "planned", started)
    for label, sql in _RECEIVABLES.items():
        step = time.perf_counter()
        conn.execute(text(sql))
        _say_time(say, label, step)
    conn.execute(text(_SEQUENCES))
    _setval(conn, "invoices", "payments")
    step = time.perf_counter()
    for _name, definition in indexes:
        conn.execute(text(definition))
    _say_time(say, f"{len(indexes)} secondary indexes rebuilt", step)
    invoices = int(conn.scalar(text("SELECT count(*) FROM bench_receivable_plan")) or 0)
    added = int(conn.scalar(text("SELECT count(*) FROM ledger_entries")) or 0) - existing
    return {"invoices": invoices, "entries": added}
