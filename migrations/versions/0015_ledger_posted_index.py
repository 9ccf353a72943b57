"""An index on the ledger's accounting day: the fees report sums a period's entries by it.

Revision ID: 0015_ledger_posted_index
Revises: 0014_report_facts

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0015_ledger_posted_index'
down_revision = '0014_report_facts'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_ledger_entries_posted_on', 'ledger_entries', ['posted_on'], unique=False)


def downgrade():
    op.drop_index('ix_ledger_entries_posted_on', table_name='ledger_entries')
