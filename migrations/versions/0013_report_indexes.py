"""Indexes on the times the reports select their periods by: calls started, assessments
completed, pages triggered, reminders due, messages created, referrals discharged.

Revision ID: 0013_report_indexes
Revises: 0012_referral_decline_codes

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0013_report_indexes'
down_revision = '0012_referral_decline_codes'
branch_labels = None
depends_on = None

_INDEXES = (
    ('ix_call_logs_started_at', 'call_logs', 'started_at'),
    ('ix_assessments_completed_at', 'assessments', 'completed_at'),
    ('ix_pages_triggered_at', 'pages', 'triggered_at'),
    ('ix_reminders_due_at', 'reminders', 'due_at'),
    ('ix_outbound_messages_created_at', 'outbound_messages', 'created_at'),
    ('ix_referrals_discharged_on', 'referrals', 'discharged_on'),
)


def upgrade():
    for name, table, column in _INDEXES:
        op.create_index(name, table, [column], unique=False)


def downgrade():
    for name, table, _column in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
