"""Referral decline reasons as a fixed list (``decline_code``) beside the free-text detail, so
the referrals report can count declines by reason; and an index on ``sent_at`` for it.

Referrals declined before this revision keep their words and get ``other``.

Revision ID: 0012_referral_decline_codes
Revises: 0011_report_summaries

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_referral_decline_codes'
down_revision = '0011_report_summaries'
branch_labels = None
depends_on = None

_CODES = ('no_bed', 'clinical_needs', 'funding', 'not_suitable', 'client_unreachable', 'other')


def upgrade():
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('decline_code', sa.String(length=20), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_referrals_decline_code_known'), f"decline_code IS NULL OR decline_code IN {_CODES!r}"
        )
        batch_op.create_index('ix_referrals_sent_at', ['sent_at'], unique=False)
    op.execute("UPDATE referrals SET decline_code = 'other' WHERE status = 'declined'")


def downgrade():
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_referrals_sent_at')
        batch_op.drop_constraint(op.f('ck_referrals_decline_code_known'), type_='check')
        batch_op.drop_column('decline_code')
