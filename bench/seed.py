"""Seed the benchmark database with N leads and their history: fast (COPY) and idempotent per N.

Contacts and leads are generated in Python and streamed with COPY in chunks; their history
(callback requests, stage changes, calls, consents, disclosures, assignments, assessments,
notes, audit rows) is derived from them by one ``INSERT ... SELECT`` per table on the server, and
so are what the reports read beyond that (clinics, referrals, pages, fee entries:
``bench.reports_seed``).
A ``bench_seed`` marker row records N and each table's highest id, so a later run with the
same N skips seeding and only trims what earlier benchmark runs added.
"""

# The SQL here is built only from this module's constants and table names read from the
# catalogue, never from input: the string-built-query rule (S608) does not apply.
# ruff: noqa: S608

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from bench.history import seed_history
from bench.reports_seed import seed_report_extras
from crm import clock
from crm.auth import services as auth_services
from crm.database import unit_of_work
from crm.extensions import db
from crm.intake.references import ALPHABET, LENGTH
from crm.oncall.wallclock import local_date
from crm.privacy.services import Actor

SEED_VERSION = 4  # 4: clinics, referrals, pages and fee entries for the reports
PASSWORD = "quartz lantern meadow violin"
CHUNK = 50_000
# +44 7100 000000 onwards: valid UK mobile numbers, one per seeded caller (N-unique).
PHONE_BASE = 7_100_000_000

FIRST_NAMES = (  # noqa: SIM905 - a readable block of names
    "Oliver George Harry Jack Jacob Noah Charlie Muhammad Thomas Oscar William James Leo "
    "Alfie Henry Joshua Freddie Archie Ethan Isaac Daniel Samuel Joseph Adam Ryan Liam "
    "Olivia Amelia Isla Ava Emily Sophia Grace Mia Poppy Ella Lily Evie Isabella Jessica "
    "Chloe Ruby Sophie Freya Daisy Aisha Priya Zara Hannah Megan Niamh Siobhan Rhiannon "
    "Kwame Chiamaka Tomasz Agnieszka Mohammed Fatima"
).split()
SURNAMES = (  # noqa: SIM905 - a readable block of names
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans "
    "Walker White Roberts Green Hall Wood Jackson Clarke Patel Khan Lewis James Phillips "
    "Mason Mitchell Rose Davis Rodriguez Cox Alexander Morgan Moore Mills Allen Ward "
    "Hughes Edwards Campbell Turner Carter Anderson Harris Martin Cooper Hill Baker King "
    "Lee Scott Young Clark Bennett Murphy Kelly O'Brien McDonald MacLeod Fraser Stewart "
    "Reid Henderson Ross Paterson Morrison Watson Hamilton Graham Kennedy Gallagher Doyle "
    "Byrne Walsh Ryan Quinn Nowak Kowalski Wisniewski Ahmed Hussain Ali Begum Rahman "
    "Chowdhury Singh Kaur Sharma Gupta Shah Mistry Okafor Mensah Owusu Adeyemi Nwosu "
    "Boateng Ogunleye Kamara Hassan Ibrahim Yilmaz Demir Popescu Ionescu Silva Santos "
    "Pereira Costa Rossi Russo Bianchi Nguyen Tran Chen Wang Li Zhang Liu Wong Lam Ng "
    "Fernandes D'Souza Pinto Gomes Lopez Garcia Martinez Sanchez Perez Fitzgerald "
    "Llewellyn Pritchard Vaughan Griffiths Bevan Powell Howell Price Rees Lloyd Jenkins "
    "Humphreys Ashworth Greenwood Holroyd Sutcliffe Pickering Whitehead Heywood Barraclough"
).split()
PIPELINE = ("new", "contacted", "assessed", "matched", "referred", "admitted")
CLOSE_REASONS = (
    *("unreachable",) * 4,
    *("not_ready",) * 3,
    *("unaffordable",) * 2,
    *("chose_nhs",) * 2,
    "admitted_elsewhere",
    "not_suitable",
    "duplicate",
    "spam",
    "other",
)
RELATIONSHIPS = ("family", "family", "partner", "friend", "professional")
UTM = json.dumps({"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "rehab-uk"})


def _table(weights: dict[str, int]) -> tuple[str, ...]:
    """A 100-slot lookup table: picking a random slot follows the percentages."""
    table = tuple(value for value, share in weights.items() for _ in range(share))
    assert len(table) == 100, weights
    return table


STAGES = _table(
    {"new": 5, "contacted": 8, "assessed": 5, "matched": 3, "referred": 2, "admitted": 12}
    | {"closed": 65}
)
SOURCES = _table(
    {"web_form": 70, "phone": 20, "email": 4, "partner_referral": 5, "other": 1},
)
_REF_SPACE = len(ALPHABET) ** LENGTH
_REF_STEP = 7**10  # coprime with 30, so i -> i * step mod 30^6 is a bijection: no clashes


def reference_for(number: int) -> str:
    """The seeded lead ``number``'s reference: unique, and scattered like real ones."""
    value = (number * _REF_STEP + 424_242) % _REF_SPACE
    chars = []
    for _ in range(LENGTH):
        value, digit = divmod(value, len(ALPHABET))
        chars.append(ALPHABET[digit])
    return "L-" + "".join(chars)


def closed_from(lead_id: int) -> int:
    """How far a closed lead got before closing (0 = new); SQL below uses the same rule."""
    return lead_id % 4


@dataclass(frozen=True)
class SeedInfo:
    leads: int
    seconds: float
    skipped: bool
    counts: dict[str, int]


# --- staff -----------------------------------------------------------------------------------

STAFF = (
    *(
        (f"Admissions Advisor {i}", f"bench.admissions{i}@staff.example", "admissions")
        for i in range(1, 7)
    ),
    ("Admissions Manager 1", "bench.manager1@staff.example", "manager"),
    ("Admissions Manager 2", "bench.manager2@staff.example", "manager"),
    ("Bench Admin", "bench.admin@staff.example", "admin"),
)
LOGIN_EMAIL = "bench.admissions1@staff.example"


def create_staff() -> None:
    with unit_of_work():
        for number, (name, email, role) in enumerate(STAFF):
            user = auth_services.create_user(
                auth_services.StaffDetails(name, email, role), PASSWORD, Actor.system("bench")
            )
            # Four advisors take new leads round-robin; the others are busy or off shift.
            user.available = role == "admissions" and number < 4


def staff_ids(conn: Connection) -> tuple[list[int], list[int]]:
    """(available admissions ids, every admissions or manager id)."""
    rows = conn.execute(text("SELECT id, role, available FROM users ORDER BY id")).all()
    available = [r.id for r in rows if r.role == "admissions" and r.available]
    workers = [r.id for r in rows if r.role in ("admissions", "manager")]
    return available, workers


# --- contacts and leads (Python + COPY) -------------------------------------------------------

CONTACT_COLUMNS = "id, name, phone, email, preferred_contact_times, created_at"
LEAD_COLUMNS = (
    "id, reference, client_id, caller_id, caller_relationship, source, utm, stage, "
    "close_reason, owner_id, callback_due_at, first_contact_at, last_request_at, request_count, "
    "is_returning, previous_lead_id, merged_into_id, safeguarding_flagged_at, updated_at, "
    "created_at"
)


class _Generator:
    """Makes contacts and leads in id order; state carries across chunks."""

    def __init__(self, now: datetime, available: list[int], workers: list[int]) -> None:
        self.rng = random.Random(20261125)  # the same data for the same N, run after run
        self.now = now
        self.available = available
        self.workers = workers
        self.contact_id = 0
        self.phones = 0
        self.closed: list[tuple[int, int]] = []  # (lead id, caller id): people who may return
        self.contacts: list[tuple[Any, ...]] = []

    def _name(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(SURNAMES)}"

    def _contact(self, name: str, created: datetime, with_phone: bool) -> int:
        self.contact_id += 1
        phone = email = None
        if with_phone:
            phone = f"+44{PHONE_BASE + self.phones}"
            self.phones += 1
            if self.rng.random() < 0.4:
                local = "".join(ch for ch in name.lower() if ch.isalpha() or ch == " ")
                email = f"{local.replace(' ', '.')}.{self.contact_id}@example.net"
        times = self.rng.choice((None, None, "Mornings", "After 6pm", "Weekdays"))
        self.contacts.append((self.contact_id, name, phone, email, times, created))
        return self.contact_id

    def _times(self, stage: str) -> tuple[datetime, datetime]:
        """(created_at, updated_at): new leads are recent, closed ones up to three years old."""
        rng, now = self.rng, self.now
        if stage == "new":
            created = now - timedelta(seconds=rng.uniform(0, 7200))
            return created, created
        if stage in ("admitted", "closed"):
            created = now - timedelta(days=rng.uniform(1, 3 * 365))
        else:
            created = now - timedelta(days=rng.uniform(0.05, 60))
        age = (now - created).total_seconds()
        return created, created + timedelta(seconds=rng.uniform(60, min(age, 30 * 86400)))

    def _people(self, lead_id: int, created: datetime) -> tuple[int, int, str, int | None]:
        """(client id, caller id, relationship, previous lead id) for a new lead."""
        rng = self.rng
        previous = None
        if self.closed and rng.random() < 0.05:
            previous, caller = self.closed[rng.randrange(len(self.closed))]
        else:
            caller = self._contact(self._name(), created, with_phone=True)
        if rng.random() < 0.15:
            client = self._contact(self._name(), created, with_phone=False)
            return client, caller, rng.choice(RELATIONSHIPS), previous
        return caller, caller, "self", previous

    def lead(self, lead_id: int) -> tuple[Any, ...]:
        rng = self.rng
        stage = STAGES[rng.randrange(100)]
        source = SOURCES[rng.randrange(100)]
        created, updated = self._times(stage)
        client, caller, relationship, previous = self._people(lead_id, created)
        reached = closed_from(lead_id) if stage == "closed" else PIPELINE.index(stage)
        first_contact = None
        if reached >= 1:
            first_contact = created + timedelta(seconds=min(rng.expovariate(1 / 900), 86400))
            updated = max(updated, first_contact + timedelta(seconds=60))
        owner = None
        if stage != "new":
            owner = rng.choice(self.workers)
        elif rng.random() < 0.9:
            owner = rng.choice(self.available)
        repeats = 2 if rng.random() < 0.05 else 1
        flagged = created + timedelta(hours=1) if reached >= 2 and rng.random() < 0.003 else None
        if stage in ("closed", "admitted"):
            self.closed.append((lead_id, caller))
        return (
            lead_id,
            reference_for(lead_id),
            client,
            caller,
            relationship,
            source,
            UTM if source == "web_form" and rng.random() < 0.5 else None,
            stage,
            rng.choice(CLOSE_REASONS) if stage == "closed" else None,
            owner,
            created + timedelta(minutes=15),
            first_contact,
            created + (updated - created) / 2 if repeats > 1 else created,
            repeats,
            previous is not None,
            previous,
            None,
            flagged,
            updated,
            created,
        )


def _copy(conn: Connection, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _seed_people_and_leads(conn: Connection, n: int, say: Callable[[str], None]) -> None:
    available, workers = staff_ids(conn)
    gen = _Generator(clock.now(), available, workers)
    t0 = time.perf_counter()
    for start in range(1, n + 1, CHUNK):
        leads = [gen.lead(i) for i in range(start, min(start + CHUNK, n + 1))]
        _copy(conn, "contacts", CONTACT_COLUMNS, gen.contacts)
        _copy(conn, "leads", LEAD_COLUMNS, leads)
        gen.contacts = []
        say(f"  seeded {start + len(leads) - 1:,} / {n:,} leads ({time.perf_counter() - t0:.0f} s)")
    for table in ("contacts", "leads"):
        conn.execute(
            text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}")
        )


# --- the marker, trimming, the whole seed -----------------------------------------------------

_MARKER_DDL = """CREATE TABLE IF NOT EXISTS bench_seed (
    leads integer NOT NULL, version integer NOT NULL, seeded_at timestamptz NOT NULL,
    seconds double precision NOT NULL, high_water json NOT NULL)"""


# Not a benchmark run's rows: the report summaries' refresh state (trimming it would force a
# full rebuild of every summary on the next run; the days the trimmed rows were on are today's,
# which every refresh rebuilds).
KEPT = frozenset({"report_summary_state"})


def id_tables(conn: Connection) -> list[str]:
    """Tables with an integer ``id`` column (every table whose rows a run may add)."""
    return list(
        conn.scalars(
            text(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
                "AND column_name = 'id' AND data_type = 'integer' ORDER BY table_name"
            )
        )
    )


def marker(engine: Engine) -> dict[str, Any] | None:
    with engine.connect() as conn:
        exists = conn.scalar(text("SELECT to_regclass('public.bench_seed') IS NOT NULL"))
        if not exists:
            return None
        row = conn.execute(text("SELECT * FROM bench_seed")).mappings().first()
        return dict(row) if row else None


def trim_to_seed(engine: Engine, high_water: dict[str, int]) -> int:
    """Delete what earlier benchmark runs added (rows above the seeded ids); rows removed."""
    removed = 0
    with engine.begin() as conn:
        # The rows go together (a lead and its history); skip the per-row FK triggers.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table in id_tables(conn):
            if table in KEPT:
                continue
            result = conn.execute(
                text(f"DELETE FROM {table} WHERE id > :high"),
                {"high": high_water.get(table, 0)},
            )
            removed += result.rowcount
        conn.execute(text("DELETE FROM staff_sessions"))
        conn.execute(text("UPDATE users SET last_assigned_at = NULL, last_login_at = NULL"))
    return removed


def ensure_office_hours(engine: Engine) -> None:
    """Open all day, every day: intake takes its in-hours path (a queue reminder, no page).

    Out of hours each request would also page on-call; measured figures should not depend on
    the time of day the benchmark happens to run.
    """
    with engine.begin() as conn:
        if not conn.scalar(text("SELECT to_regclass('public.office_hours') IS NOT NULL")):
            return
        if conn.scalar(text("SELECT count(*) FROM office_hours")):
            return
        conn.execute(
            text(
                "INSERT INTO office_hours (weekday, opens_at, closes_at) "
                "SELECT d, time '00:00', time '23:59:59' FROM generate_series(0, 6) d"
            )
        )


def reset_schema(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


def _secondary_indexes(conn: Connection) -> list[tuple[str, str]]:
    """(name, definition) of the indexes that back no constraint: rebuilt after the load."""
    rows = conn.execute(
        text(
            "SELECT i.relname AS name, pg_get_indexdef(i.oid) AS definition FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = 'public' "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) "
            "ORDER BY 1"
        )
    )
    return [(r.name, r.definition) for r in rows]


def seed(n: int, say: Callable[[str], None] = print) -> SeedInfo:
    """Staff, N leads with their history, ANALYZE, and the marker (inside an app context)."""
    started = time.perf_counter()
    create_staff()
    engine = db.engine
    with engine.begin() as conn:
        # A fresh schema and consistent generated rows: skip the per-row FK triggers, and
        # build the secondary indexes once at the end (sorting beats a million inserts).
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        indexes = _secondary_indexes(conn)
        for name, _definition in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
        _seed_people_and_leads(conn, n, say)
        seed_history(conn, say)
        now = clock.now()
        seed_report_extras(conn, local_date(now), now, say)
        built = time.perf_counter()
        for _name, definition in indexes:
            conn.execute(text(definition))
        say(f"  {len(indexes)} secondary indexes rebuilt: {time.perf_counter() - built:.1f} s")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    seconds = time.perf_counter() - started
    with engine.begin() as conn:
        counts = table_counts(conn)
        high = {
            t: conn.scalar(text(f"SELECT coalesce(max(id), 0) FROM {t}")) for t in id_tables(conn)
        }
        conn.execute(text(_MARKER_DDL))
        conn.execute(
            text("INSERT INTO bench_seed VALUES (:n, :v, now(), :s, :hw)"),
            {"n": n, "v": SEED_VERSION, "s": seconds, "hw": json.dumps(high)},
        )
    return SeedInfo(n, seconds, False, counts)


def table_counts(conn: Connection) -> dict[str, int]:
    """Estimated rows per table (from the statistics ANALYZE keeps; exact enough to print)."""
    rows = conn.execute(
        text(
            "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE schemaname = 'public' "
            "ORDER BY relname"
        )
    )
    return {r.relname: int(r.n_live_tup) for r in rows}
