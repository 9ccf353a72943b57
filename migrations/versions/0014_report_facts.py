"""Report facts: the referrals, on-call and staff reports' per-day counts, the dirty-row log that
triggers on referrals, calls, assessments, pages, reminders and messages write (with the time a
row was on before it changed, so a moved row rebuilds both days), and when the facts were first
built.

Revision ID: 0014_report_facts
Revises: 0013_report_indexes

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_report_facts'
down_revision = '0013_report_indexes'
branch_labels = None
depends_on = None


def _rows(kind, ref, at="NULL", on_day="NULL", events=("NEW",)):
    return tuple((kind, ref.format(r=r), at.format(r=r), on_day.format(r=r)) for r in events)


# (trigger name, table, event, the dirty rows it writes: (kind, ref id, at, on_day))
_TRIGGERS = []
for _table, _kind, _at, _on_day in (
    ("referrals", "referral", "{r}.sent_at", "{r}.discharged_on"),
    ("call_logs", "call", "{r}.started_at", "NULL"),
    ("assessments", "assessment", "{r}.completed_at", "NULL"),
    ("pages", "page", "{r}.triggered_at", "NULL"),
    ("reminders", "reminder", "{r}.due_at", "NULL"),
    ("outbound_messages", "message", "{r}.created_at", "NULL"),
):
    for _event, _which in (("INSERT", ("NEW",)), ("UPDATE", ("OLD", "NEW")), ("DELETE", ("OLD",))):
        _TRIGGERS.append(
            (
                f"{_table}_report_facts_{_event.lower()}",
                _table,
                _event,
                _rows(_kind, "{r}.id", _at, _on_day, _which),
            )
        )
# Events change what their referral or page counts as; the parent's time is looked up.
_TRIGGERS.append(
    ("referral_events_report_facts_insert", "referral_events", "INSERT",
     _rows("referral", "{r}.referral_id"))
)
_TRIGGERS.append(
    ("page_events_report_facts_insert", "page_events", "INSERT", _rows("page", "{r}.page_id"))
)
# A lead's source moves everything about the lead to another source's facts.
_TRIGGERS.append(
    ("leads_report_facts_source", "leads", "UPDATE OF source", _rows("lead", "{r}.id"))
)
_WHEN = {"leads_report_facts_source": "OLD.source IS NOT NEW.source"}


def _inserts(rows):
    return " ".join(
        "INSERT INTO report_dirty_rows (kind, ref_id, at, on_day) "
        f"VALUES ('{kind}', {ref}, {at}, {on_day});"
        for kind, ref, at, on_day in rows
    )


def upgrade():
    op.create_table('report_facts',
    sa.Column('grain', sa.String(length=1), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('report', sa.String(length=12), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('key', sa.Integer(), nullable=False),
    sa.Column('metric', sa.String(length=60), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('grain', 'day', 'report', 'source', 'key', 'metric', 'value', name=op.f('pk_report_facts'))
    )
    op.create_table('report_dirty_rows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('ref_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('on_day', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_dirty_rows'))
    )
    with op.batch_alter_table('report_summary_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('facts_built_at', sa.DateTime(timezone=True), nullable=True))
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table, event, rows in _TRIGGERS:
        if postgres:
            op.execute(
                f"""
                CREATE FUNCTION {name}() RETURNS trigger AS $$
                BEGIN
                    {_inserts(rows)}
                    RETURN NULL;
                END;
                $$ LANGUAGE plpgsql
                """
            )
            when = _WHEN.get(name, "").replace(" IS NOT ", " IS DISTINCT FROM ")
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW "
                + (f"WHEN ({when}) " if when else "")
                + f"EXECUTE FUNCTION {name}()"
            )
        else:
            when = f"WHEN {_WHEN[name]} " if name in _WHEN else ""
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW {when}"
                f"BEGIN {_inserts(rows)} END"
            )


def downgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table, _event, _rows_ in _TRIGGERS:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table('report_summary_state', schema=None) as batch_op:
        batch_op.drop_column('facts_built_at')
    op.drop_table('report_dirty_rows')
    op.drop_table('report_facts')
