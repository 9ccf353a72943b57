"""The callback inbox: the public intake commits one row and answers 201; the engine builds the
lead from it. The inbox row is the idempotency record too, so idempotency_records' answers move
into it (as processed rows) and that table goes.

Revision ID: 0019_callback_inbox
Revises: 0018_second_factors

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019_callback_inbox'
down_revision = '0018_second_factors'
branch_labels = None
depends_on = None

_WAITING = "status = 'pending'"
_OPEN = "status IN ('pending', 'building', 'stuck')"
_SOURCES = "source IN ('web_form', 'phone', 'email', 'partner_referral', 'other')"


def upgrade():
    op.create_table('callback_inbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('api_key_id', sa.Integer(), nullable=True),
    sa.Column('idempotency_key', sa.String(length=255), nullable=True),
    sa.Column('request_hash', sa.String(length=64), nullable=True),
    sa.Column('reference', sa.String(length=12), nullable=False),
    sa.Column('requested_again', sa.Boolean(), nullable=False),
    sa.Column('consent_wording_version', sa.String(length=40), nullable=False),
    sa.Column('disclosure_wording_version', sa.String(length=40), nullable=False),
    sa.Column('target_minutes', sa.Integer(), nullable=False),
    sa.Column('request', sa.JSON(), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('remote_addr', sa.String(length=45), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.CheckConstraint(_SOURCES, name=op.f('ck_callback_inbox_source_known')),
    sa.CheckConstraint("status IN ('pending', 'building', 'processed', 'stuck')", name=op.f('ck_callback_inbox_status_known')),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_callback_inbox_api_key_id_api_keys')),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_callback_inbox_lead_id_leads')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callback_inbox')),
    sa.UniqueConstraint('api_key_id', 'idempotency_key', name='uq_callback_inbox_idempotency')
    )
    with op.batch_alter_table('callback_inbox', schema=None) as batch_op:
        batch_op.create_index('ix_callback_inbox_due', ['next_attempt_at', 'id'], unique=False, postgresql_where=sa.text(_WAITING), sqlite_where=sa.text(_WAITING))
        batch_op.create_index('ix_callback_inbox_open_phone', ['phone'], unique=False, postgresql_where=sa.text(_OPEN), sqlite_where=sa.text(_OPEN))
        batch_op.create_index('ix_callback_inbox_open_email', ['email'], unique=False, postgresql_where=sa.text(_OPEN), sqlite_where=sa.text(_OPEN))
        batch_op.create_index(batch_op.f('ix_callback_inbox_reference'), ['reference'], unique=False)
        batch_op.create_index(batch_op.f('ix_callback_inbox_lead_id'), ['lead_id'], unique=False)
    # The answers already given keep answering replays: each becomes a processed inbox row.
    op.execute(
        """
        INSERT INTO callback_inbox (received_at, source, channel, api_key_id, idempotency_key,
            request_hash, reference, requested_again, consent_wording_version,
            disclosure_wording_version, target_minutes, status, attempts, next_attempt_at,
            processed_at, lead_id)
        SELECT r.created_at, 'web_form', 'web_form', r.api_key_id, r.key, r.request_hash,
            r.lead_reference, false, '', '', 0, 'processed', 0, r.created_at, r.created_at,
            (SELECT l.id FROM leads l WHERE l.reference = r.lead_reference)
        FROM idempotency_records r ORDER BY r.id
        """
    )
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotency_records_created_at'))
    op.drop_table('idempotency_records')


def downgrade():
    op.create_table('idempotency_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('api_key_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('lead_reference', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_idempotency_records_api_key_id_api_keys')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_records')),
    sa.UniqueConstraint('api_key_id', 'key', name='uq_idempotency_key')
    )
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotency_records_created_at'), ['created_at'], unique=False)
    op.execute(
        """
        INSERT INTO idempotency_records (api_key_id, key, request_hash, lead_reference, created_at)
        SELECT api_key_id, idempotency_key, request_hash, reference, received_at
        FROM callback_inbox
        WHERE api_key_id IS NOT NULL AND idempotency_key IS NOT NULL AND request_hash IS NOT NULL
        ORDER BY id
        """
    )
    with op.batch_alter_table('callback_inbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_callback_inbox_lead_id'))
        batch_op.drop_index(batch_op.f('ix_callback_inbox_reference'))
        batch_op.drop_index('ix_callback_inbox_open_email', sqlite_where=sa.text(_OPEN), postgresql_where=sa.text(_OPEN))
        batch_op.drop_index('ix_callback_inbox_open_phone', sqlite_where=sa.text(_OPEN), postgresql_where=sa.text(_OPEN))
        batch_op.drop_index('ix_callback_inbox_due', sqlite_where=sa.text(_WAITING), postgresql_where=sa.text(_WAITING))
    op.drop_table('callback_inbox')
