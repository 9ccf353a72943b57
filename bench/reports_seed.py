"""What the reports read beyond intake, for ``bench.reports`` at 1,000,000 leads: clinics,
referrals with their status history, on-call pages with their events and messages, and the
fee ledger. Bulk SQL on the server, inside ``bench.seed.seed``'s transaction (FK triggers off,
secondary indexes rebuilt after), derived from the seeded leads so the figures hang together:

- **Clinics**: 60 providers with one clinic each (``bench.providers_seed``) and a flat fee
  agreement each.
- **Referrals**: every lead whose history reached "referred" has one, sent at that moment to
  one of the clinics, with the presentation, share consent and option the application writes
  first; every fifth also has an earlier referral to another clinic that declined it. A lead
  that was admitted has an accepted, planned, admitted (and, when older than five weeks,
  discharged: completed or left early) referral; a closed lead's referral was declined (by one
  of the listed reasons), withdrawn or did not arrive; an open lead's is still awaiting an
  answer or accepted. Clinics answer 1 to 72 hours after sending; every seventh is waitlisted
  first. ``referral_events`` hold each step as ``crm.referrals.referring`` records it.
- **Pages**: every lead created out of office hours (Monday to Friday 09:00 to 17:30 UK time)
  paged on call, as ``crm.oncall.reminders`` opens it; acknowledged 1 to 40 minutes later
  (every 25th never), escalated a step every sixth, the manager fallback every twentieth; one
  SMS per page.
- **Fees**: an accrual per admission (the agreement's £2,500, three nights after admission),
  a clawback for those who left early, and issued invoices with payments and credit notes
  (``bench.fees_seed.seed_receivables``).
"""

# The SQL here is built only from this module's constants, never from input: the
# string-built-query rule (S608) does not apply.
# ruff: noqa: S608

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from bench.fees_seed import _AGREEMENTS, CLAWBACK_TIERS, _providers, _setval, seed_receivables
from crm.referrals import wording

CLINICS = 60
RECEIVABLE_ENTRIES = 100_000  # invoice, payment and credit-note entries (about 40,000 invoices)
DECLINE_CODES = (
    "ARRAY['no_bed','clinical_needs','funding','not_suitable','client_unreachable','other']"
)

# One row per referral. k = 1: the lead's referral; k = 0: an earlier one another clinic
# declined (every fifth lead). h: a stable hash of the row for the choices below.
_PLAN = """
    CREATE TEMP TABLE bench_ref_plan ON COMMIT DROP AS
    WITH referred AS (
        SELECT lead_id, min(changed_at) AS sent_at FROM stage_changes
        WHERE to_stage = 'referred' GROUP BY lead_id
    ), admitted AS (
        SELECT lead_id, min(changed_at) AS admitted_at FROM stage_changes
        WHERE to_stage = 'admitted' GROUP BY lead_id
    ), leads_ AS (
        SELECT row_number() OVER (ORDER BY r.lead_id) AS n, r.lead_id, r.sent_at,
            a.admitted_at, l.stage, l.client_id, l.owner_id, d.id AS disclosure_id
        FROM referred r JOIN leads l ON l.id = r.lead_id
        LEFT JOIN admitted a ON a.lead_id = r.lead_id
        JOIN (SELECT lead_id, min(id) AS id FROM disclosure_records GROUP BY lead_id) d
            ON d.lead_id = r.lead_id
    ), rows_ AS (
        SELECT x.*, k, ((x.lead_id::bigint * 7919 + k * 104729) % 1000)::integer AS h
        FROM leads_ x
        CROSS JOIN LATERAL generate_series(CASE WHEN x.n % 5 = 0 THEN 0 ELSE 1 END, 1) k
    ), located AS (
        SELECT r.*, row_number() OVER (ORDER BY r.n, r.k) AS seq,
            (CAST(:clinics AS integer[]))[
                1 + (r.lead_id + r.k * 7) % cardinality(CAST(:clinics AS integer[]))
            ] AS location_id,
            CASE WHEN r.k = 0 THEN r.sent_at - interval '1 hour' ELSE r.sent_at END AS sent,
            ((1 + r.h % 72) || ' hours')::interval AS reply_after
        FROM rows_ r
    )
    SELECT l.*,
        CASE WHEN k = 0 THEN 'declined'
             WHEN admitted_at IS NOT NULL
                  AND admitted_at < CAST(:now AS timestamptz) - interval '35 days'
                 THEN 'discharged'
             WHEN admitted_at IS NOT NULL THEN 'admitted'
             WHEN stage = 'closed' THEN (ARRAY['declined','withdrawn','did_not_arrive'])[1 + h % 3]
             WHEN h % 2 = 0 THEN 'sent' ELSE 'accepted' END AS status,
        CASE WHEN admitted_at IS NOT NULL AND k = 1
             THEN least(reply_after, (admitted_at - sent) / 3) ELSE reply_after END AS reply_in
    FROM located l"""

_SHAPED = f"""
    CREATE TEMP TABLE bench_ref ON COMMIT DROP AS
    SELECT p.*, :referral_base + seq AS rid, :option_base + seq AS oid,
        :presentation_base + n AS pid, :consent_base + seq AS cid,
        CASE WHEN status = 'declined' THEN ({DECLINE_CODES})[1 + h % 6] END AS decline_code,
        CASE WHEN status = 'discharged' THEN CASE WHEN h % 4 = 0 THEN 'early' ELSE 'completed' END
            END AS outcome,
        CASE WHEN status IN ('admitted', 'discharged')
             THEN (admitted_at AT TIME ZONE 'Europe/London')::date END AS admitted_on,
        sent + reply_in AS reply_at,
        h % 7 = 0 AND status <> 'declined' AS waitlisted
    FROM bench_ref_plan p"""

_CHAIN = {
    "presentations": """
        INSERT INTO presentations (id, lead_id, disclosure_id, channel, presented_at,
            presented_by_id)
        SELECT pid, lead_id, disclosure_id, 'phone', min(sent) - interval '1 hour', min(owner_id)
        FROM bench_ref GROUP BY pid, lead_id, disclosure_id""",
    "consent_records": """
        INSERT INTO consent_records (id, contact_id, lead_id, purpose, given, wording_version,
            channel, recorded_at, recorded_by_id)
        SELECT cid, client_id, lead_id, 'share_with_provider', true, :share, 'phone',
            sent - interval '1 hour', owner_id
        FROM bench_ref""",
    "presented_options": """
        INSERT INTO presented_options (id, presentation_id, lead_id, location_id, position,
            total, explanation, owned_or_affiliated, consent_to_share, share_health_details,
            share_consent_id)
        SELECT oid, pid, lead_id, location_id, 1 + k, 0.8,
            json_build_object('version', 1, 'location_id', location_id, 'eligible', true),
            false, true, false, cid
        FROM bench_ref""",
    "referrals": """
        INSERT INTO referrals (id, lead_id, location_id, option_id, status, decline_code,
            decline_reason, planned_admission_on, admitted_on, discharged_on, discharge_outcome,
            summary, summary_address, sent_at, sent_by_id, status_changed_at, fee_revision)
        SELECT rid, lead_id, location_id, oid, status, decline_code,
            CASE WHEN decline_code = 'other' THEN 'Bench: another reason' END,
            admitted_on, admitted_on,
            CASE WHEN status = 'discharged'
                 THEN admitted_on + CASE WHEN outcome = 'early' THEN 5 ELSE 28 END END,
            outcome, 'Bench referral: residential rehabilitation, self-funded.',
            'admissions@clinic.example', sent, owner_id,
            CASE WHEN status = 'sent' THEN sent ELSE reply_at END, 0
        FROM bench_ref""",
    # Each step as crm.referrals.referring records it: sent; the first answer (waitlisted
    # first for some); then admission planned, admitted, discharged for admissions; the final
    # step of the others.
    "referral_events": """
        INSERT INTO referral_events (referral_id, from_status, to_status, reason, on_date,
            outcome, actor_id, changed_at)
        SELECT rid, CAST(NULL AS text), 'sent', CAST(NULL AS text), CAST(NULL AS date),
            CAST(NULL AS text), owner_id, sent
        FROM bench_ref
        UNION ALL
        SELECT rid, 'sent', 'waitlisted', NULL, NULL, NULL, owner_id, reply_at
        FROM bench_ref WHERE waitlisted AND status <> 'sent'
        UNION ALL
        SELECT rid, CASE WHEN waitlisted THEN 'waitlisted' ELSE 'sent' END,
            CASE WHEN status = 'declined' THEN 'declined'
                 WHEN status = 'withdrawn' THEN 'withdrawn' ELSE 'accepted' END,
            CASE WHEN status IN ('declined', 'withdrawn') THEN 'Bench' END, NULL, NULL,
            owner_id, reply_at + CASE WHEN waitlisted THEN interval '1 hour' ELSE interval '0' END
        FROM bench_ref WHERE status <> 'sent'
        UNION ALL
        SELECT rid, 'accepted', 'admission_planned', NULL,
            coalesce(admitted_on, (reply_at AT TIME ZONE 'Europe/London')::date + 3), NULL,
            owner_id, reply_at + interval '2 hours'
        FROM bench_ref WHERE status IN ('admitted', 'discharged', 'did_not_arrive')
        UNION ALL
        SELECT rid, 'admission_planned', 'did_not_arrive', NULL, NULL, NULL, owner_id,
            reply_at + interval '3 days'
        FROM bench_ref WHERE status = 'did_not_arrive'
        UNION ALL
        SELECT rid, 'admission_planned', 'admitted', NULL, admitted_on, NULL, owner_id,
            admitted_at
        FROM bench_ref WHERE status IN ('admitted', 'discharged')
        UNION ALL
        SELECT rid, 'admitted', 'discharged', NULL,
            admitted_on + CASE WHEN outcome = 'early' THEN 5 ELSE 28 END, outcome, owner_id,
            ((admitted_on + CASE WHEN outcome = 'early' THEN 5 ELSE 28 END) + time '11:00')
                AT TIME ZONE 'Europe/London'
        FROM bench_ref WHERE status = 'discharged'""",
    "ledger_entries (accruals, clawbacks)": """
        INSERT INTO ledger_entries (idempotency_key, kind, account, provider_id, currency,
            amount, vat_amount, referral_id, lead_reference, agreement_id, posted_on,
            created_at, actor_email, note)
        SELECT 'accrual:referral:' || r.rid, 'accrual', 'unbilled', l.provider_id, 'GBP',
            2500.00, 0, r.rid, le.reference, a.id, r.admitted_on + 3,
            ((r.admitted_on + 3) + time '10:00') AT TIME ZONE 'Europe/London',
            'system:bench', 'Referral fee'
        FROM bench_ref r JOIN provider_locations l ON l.id = r.location_id
        JOIN fee_agreements a ON a.provider_id = l.provider_id
        JOIN leads le ON le.id = r.lead_id
        WHERE r.status IN ('admitted', 'discharged')
          AND r.admitted_on + 3 <= CAST(:today AS date)
        UNION ALL
        SELECT 'clawback:referral:' || r.rid, 'clawback', 'unbilled', l.provider_id, 'GBP',
            -2500.00, 0, r.rid, le.reference, a.id, r.admitted_on + 5,
            ((r.admitted_on + 5) + time '11:00') AT TIME ZONE 'Europe/London',
            'system:bench', 'Left within 7 days: 100 % back'
        FROM bench_ref r JOIN provider_locations l ON l.id = r.location_id
        JOIN fee_agreements a ON a.provider_id = l.provider_id
        JOIN leads le ON le.id = r.lead_id
        WHERE r.outcome = 'early'""",
}

# Out of office hours in UK time: weekends, and weekdays before 09:00 or from 17:30.
_OUT_OF_HOURS = """
    (extract(isodow FROM l.created_at AT TIME ZONE 'Europe/London') >= 6
     OR (l.created_at AT TIME ZONE 'Europe/London')::time < time '09:00'
     OR (l.created_at AT TIME ZONE 'Europe/London')::time >= time '17:30')"""

_PAGES = {
    "pages": f"""
        INSERT INTO pages (id, subject, lead_id, summary, status, policy_id, step_index, cycle,
            next_step_at, triggered_at, acknowledged_at, acknowledged_by_id, resolved_at,
            resolved_by_id, trigger_count, last_notified_at)
        SELECT :page_base + row_number() OVER (ORDER BY l.id), 'lead:' || l.id, l.id,
            'Out-of-hours callback request ' || l.reference,
            CASE WHEN l.id % 25 = 0 THEN 'triggered' ELSE 'resolved' END, NULL,
            CASE WHEN l.id % 6 = 0 THEN 2 ELSE 1 END, 0, NULL, l.created_at,
            CASE WHEN l.id % 25 <> 0
                 THEN l.created_at + ((1 + l.id % 40) || ' minutes')::interval END,
            CASE WHEN l.id % 25 <> 0 THEN l.owner_id END,
            CASE WHEN l.id % 25 <> 0 THEN l.created_at + interval '2 hours' END,
            CASE WHEN l.id % 25 <> 0 THEN l.owner_id END, 1, l.created_at
        FROM leads l WHERE {_OUT_OF_HOURS}""",
    "page_events": """
        INSERT INTO page_events (page_id, at, kind, detail, actor_id)
        SELECT id, triggered_at, 'triggered', CAST(NULL AS text), CAST(NULL AS integer)
        FROM pages WHERE id > :page_base
        UNION ALL
        SELECT id, acknowledged_at, 'acknowledged', NULL, acknowledged_by_id
        FROM pages WHERE id > :page_base AND acknowledged_at IS NOT NULL
        UNION ALL
        SELECT id, triggered_at + interval '30 minutes', 'fallback', 'Every active manager paged',
            NULL
        FROM pages WHERE id > :page_base AND lead_id % 20 = 0""",
    "outbound_messages": """
        INSERT INTO outbound_messages (idempotency_key, channel, address, user_id, page_id,
            reminder_id, subject, body, status, due_at, created_at, claimed_at, sent_at,
            attempts, error, provider_ref)
        SELECT 'page:' || p.id || '\\:sms', 'sms', '+447700900000', NULL, p.id, NULL,
            p.summary, p.summary || ': call back now.',
            CASE WHEN p.lead_id % 50 = 0 THEN 'failed' ELSE 'sent' END, p.triggered_at,
            p.triggered_at, p.triggered_at, p.triggered_at + interval '2 seconds', 1,
            CASE WHEN p.lead_id % 50 = 0 THEN 'Bench: carrier refused' END, 'bench-' || p.id
        FROM pages p WHERE p.id > :page_base""",
}


def _base(conn: Connection, table: str) -> int:
    return int(conn.scalar(text(f"SELECT coalesce(max(id), 0) FROM {table}")) or 0)


def seed_report_extras(
    conn: Connection, today: date, now: datetime, say: Callable[[str], None]
) -> dict[str, int]:
    """Clinics, referrals and their events, pages, messages and fee entries (``conn``'s
    transaction; staff and leads with their history must already be there)."""
    started = time.perf_counter()
    manager = conn.scalar(text("SELECT min(id) FROM users WHERE role = 'manager'"))
    _providers(conn, CLINICS, now)
    conn.execute(
        text(_AGREEMENTS),
        {
            "tiers": CLAWBACK_TIERS,
            "since": date(today.year - 4, 1, 1),
            "now": now,
            "manager": manager,
        },
    )
    clinics = list(conn.scalars(text("SELECT id FROM provider_locations ORDER BY id")))
    conn.execute(text(_PLAN), {"clinics": clinics, "now": now})
    conn.execute(
        text(_SHAPED),
        {
            "referral_base": _base(conn, "referrals"),
            "option_base": _base(conn, "presented_options"),
            "presentation_base": _base(conn, "presentations"),
            "consent_base": _base(conn, "consent_records"),
        },
    )
    say(f"  {CLINICS} clinics; referrals planned: {time.perf_counter() - started:.1f} s")
    params = {"share": wording.SHARE_VERSION, "today": today}
    for label, sql in _CHAIN.items():
        step = time.perf_counter()
        conn.execute(text(sql), params)
        say(f"  {label}: {time.perf_counter() - step:.1f} s")
    page_base = _base(conn, "pages")
    for label, sql in _PAGES.items():
        step = time.perf_counter()
        conn.execute(text(sql), {"page_base": page_base})
        say(f"  {label}: {time.perf_counter() - step:.1f} s")
    _setval(
        conn,
        "presentations",
        "consent_records",
        "presented_options",
        "referrals",
        "referral_events",
        "ledger_entries",
        "pages",
        "page_events",
        "outbound_messages",
    )
    entries = int(conn.scalar(text("SELECT count(*) FROM ledger_entries")) or 0)
    receivables = seed_receivables(conn, entries + RECEIVABLE_ENTRIES, today, say)
    counts = {
        t: int(conn.scalar(text(f"SELECT count(*) FROM {t}")) or 0)
        for t in ("referrals", "referral_events", "pages", "outbound_messages", "ledger_entries")
    }
    say(f"  report extras: {counts} in {time.perf_counter() - started:.1f} s")
    return counts | {"invoices": receivables["invoices"]}
