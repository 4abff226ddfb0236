"""The delivery log: kind, masked recipient, attempts, failure and times of each delivery

Revision ID: c4a8d2e6f1b3
Revises: b7e3f1c2a9d4
Create Date: 2026-11-27 21:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c4a8d2e6f1b3'
down_revision = 'b7e3f1c2a9d4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('mail_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=40), server_default='', nullable=False))
        batch_op.add_column(sa.Column('recipient', sa.String(length=254), server_default='', nullable=False))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('failure', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('created_at', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('updated_at', sa.BigInteger(), server_default='0', nullable=False))
        batch_op.create_index(batch_op.f('ix_mail_deliveries_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('mail_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mail_deliveries_created_at'))
        for column in ('updated_at', 'created_at', 'failure', 'attempts', 'recipient', 'kind'):
            batch_op.drop_column(column)
