"""A btree on lower(contacts.name) for exact-name matches (possible duplicates).

Revision ID: 0006_contacts_name_lower
Revises: 0005_queue_index
"""
from alembic import op

revision = "0006_contacts_name_lower"
down_revision = "0005_queue_index"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_contacts_name_lower ON contacts (lower(name))")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_contacts_name_lower")
