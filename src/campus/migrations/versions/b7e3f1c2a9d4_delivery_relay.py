"""The relay that took each message

Revision ID: b7e3f1c2a9d4
Revises: 9d41c7e2b6a8
Create Date: 2026-11-27 20:30:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b7e3f1c2a9d4'
down_revision = '9d41c7e2b6a8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('mail_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('relay', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('mail_deliveries', schema=None) as batch_op:
        batch_op.drop_column('relay')
