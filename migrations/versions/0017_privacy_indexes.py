"""Indexes the data protection work reads by (bench/privacy.py found each as a full scan at a
million leads): a reminder's messages, and the fee records naming a lead reference. Plain
CREATE INDEX, never a batch rebuild: these tables carry triggers.

Revision ID: 0017_privacy_indexes
Revises: 0016_data_protection

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0017_privacy_indexes'
down_revision = '0016_data_protection'
branch_labels = None
depends_on = None

_INDEXES = (
    ('ix_outbound_messages_reminder_id', 'outbound_messages', 'reminder_id'),
    ('ix_ledger_entries_lead_reference', 'ledger_entries', 'lead_reference'),
    ('ix_invoice_lines_lead_reference', 'invoice_lines', 'lead_reference'),
)


def upgrade():
    for name, table, column in _INDEXES:
        op.create_index(name, table, [column], unique=False)


def downgrade():
    for name, table, _column in _INDEXES:
        op.drop_index(name, table_name=table)
