"""rate limit hits

Revision ID: f84049ac2721
Revises: 337ba8139136
Create Date: 2026-11-27 12:22:28.448093

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f84049ac2721'
down_revision = '337ba8139136'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rate_limit_hits',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('rate_limit_hits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rate_limit_hits_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index('ix_rate_limit_hits_key_at', ['key', 'at'], unique=False)


def downgrade():
    with op.batch_alter_table('rate_limit_hits', schema=None) as batch_op:
        batch_op.drop_index('ix_rate_limit_hits_key_at')
        batch_op.drop_index(batch_op.f('ix_rate_limit_hits_expires_at'))

    op.drop_table('rate_limit_hits')
