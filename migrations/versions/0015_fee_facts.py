"""The fees report from the report facts: a trigger logs each new ledger entry's accounting day
(entries are append-only: never updated or deleted), the facts' counts widen to bigint (fee
amounts are held in pence), an index on the accounting day for building a run of days, and
the facts marked unbuilt so the next refresh builds them all, fees included.

Revision ID: 0015_fee_facts
Revises: 0014_report_facts

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_fee_facts'
down_revision = '0014_report_facts'
branch_labels = None
depends_on = None

_NAME = "ledger_entries_report_facts_insert"
_INSERT = (
    "INSERT INTO report_dirty_rows (kind, ref_id, at, on_day) "
    "VALUES ('ledger', NEW.id, NULL, NEW.posted_on);"
)


def upgrade():
    op.create_index('ix_ledger_entries_posted_on', 'ledger_entries', ['posted_on'], unique=False)
    with op.batch_alter_table('report_facts', schema=None) as batch_op:
        batch_op.alter_column('n', existing_type=sa.Integer(), type_=sa.BigInteger(),
                              existing_nullable=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION {_NAME}() RETURNS trigger AS $$
            BEGIN
                {_INSERT}
                RETURN NULL;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            f"CREATE TRIGGER {_NAME} AFTER INSERT ON ledger_entries "
            f"FOR EACH ROW EXECUTE FUNCTION {_NAME}()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER {_NAME} AFTER INSERT ON ledger_entries FOR EACH ROW "
            f"BEGIN {_INSERT} END"
        )
    # The facts now hold fees too: the next refresh builds every report's facts afresh.
    op.execute("UPDATE report_summary_state SET facts_built_at = NULL")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {_NAME} ON ledger_entries")
        op.execute(f"DROP FUNCTION IF EXISTS {_NAME}()")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {_NAME}")
    with op.batch_alter_table('report_facts', schema=None) as batch_op:
        batch_op.alter_column('n', existing_type=sa.BigInteger(), type_=sa.Integer(),
                              existing_nullable=False)
    op.drop_index('ix_ledger_entries_posted_on', table_name='ledger_entries')
