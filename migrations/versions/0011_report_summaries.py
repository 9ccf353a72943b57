"""Report summaries: per-day counts and value histograms of the leads, the slowest callbacks,
the refresh state, and the dirty-lead log that triggers on leads, stage changes and callback
requests write (so every write path, bulk updates included, marks what to refresh).

Revision ID: 0011_report_summaries
Revises: 0010_fees_ledger

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_report_summaries'
down_revision = '0010_fees_ledger'
branch_labels = None
depends_on = None

# (trigger name, table, event, the lead id column(s) of the changed row)
_TRIGGERS = (
    ("leads_report_dirty_insert", "leads", "INSERT", ("NEW.id",)),
    ("leads_report_dirty_update", "leads", "UPDATE", ("NEW.id",)),
    ("stage_changes_report_dirty_insert", "stage_changes", "INSERT", ("NEW.lead_id",)),
    ("stage_changes_report_dirty_update", "stage_changes", "UPDATE", ("OLD.lead_id", "NEW.lead_id")),
    ("callback_requests_report_dirty_insert", "callback_requests", "INSERT", ("NEW.lead_id",)),
    ("callback_requests_report_dirty_update", "callback_requests", "UPDATE", ("OLD.lead_id", "NEW.lead_id")),
)


def upgrade():
    op.create_table('report_counts',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('campaign', sa.String(length=100), nullable=False),
    sa.Column('in_hours', sa.Boolean(), nullable=False),
    sa.Column('metric', sa.String(length=40), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'source', 'campaign', 'in_hours', 'metric', name=op.f('pk_report_counts'))
    )
    op.create_table('report_values',
    sa.Column('grain', sa.String(length=1), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('in_hours', sa.Boolean(), nullable=False),
    sa.Column('metric', sa.String(length=40), nullable=False),
    sa.Column('cell', sa.SmallInteger(), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('grain', 'day', 'source', 'in_hours', 'metric', 'cell', 'value', name=op.f('pk_report_values'))
    )
    op.create_table('report_slowest',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.Column('minutes', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'source', 'lead_id', name=op.f('pk_report_slowest'))
    )
    op.create_table('report_dirty_leads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lead_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_dirty_leads'))
    )
    op.create_table('report_summary_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('built_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('days_refreshed', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_summary_state'))
    )
    _dirty_triggers()


def _dirty_triggers():
    if op.get_bind().dialect.name == "postgresql":
        for name, table, event, columns in _TRIGGERS:
            values = ", ".join(f"({c})" for c in columns)
            op.execute(
                f"""
                CREATE FUNCTION {name}() RETURNS trigger AS $$
                BEGIN
                    INSERT INTO report_dirty_leads (lead_id) VALUES {values};
                    RETURN NULL;
                END;
                $$ LANGUAGE plpgsql
                """
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {name}()"
            )
        return
    for name, table, event, columns in _TRIGGERS:
        inserts = " ".join(
            f"INSERT INTO report_dirty_leads (lead_id) VALUES ({c});" for c in columns
        )
        op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {inserts} END")


def downgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table, _event, _columns in _TRIGGERS:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table('report_summary_state')
    op.drop_table('report_dirty_leads')
    op.drop_table('report_slowest')
    op.drop_table('report_values')
    op.drop_table('report_counts')
