"""three live codes per slot

Revision ID: 7c2e9a41d0b3
Revises: 5b0d9c3e1a47
Create Date: 2026-11-27 15:20:00.000000

A slot's ``digest`` now holds up to three ``<hmac>@<expires_at>`` entries. A row
written before holds a bare HMAC; it is rewritten as one entry that expires
with the row, so a code mailed just before the upgrade still works.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c2e9a41d0b3'
down_revision = '5b0d9c3e1a47'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('verification_codes', schema=None) as batch_op:
        batch_op.alter_column('digest', existing_type=sa.String(length=64),
                              type_=sa.String(length=255), existing_nullable=False)
    codes = sa.table('verification_codes', sa.column('digest', sa.String),
                     sa.column('state', sa.String), sa.column('expires_at', sa.BigInteger))
    op.execute(
        codes.update()
        .where(codes.c.state == 'live', codes.c.digest != '')
        .values(digest=codes.c.digest + sa.literal('@') + sa.cast(codes.c.expires_at, sa.String))
    )


def downgrade():
    codes = sa.table('verification_codes', sa.column('digest', sa.String),
                     sa.column('state', sa.String))
    # Earlier versions know one code per slot: the live ones are voided.
    op.execute(codes.update().where(codes.c.state == 'live').values(state='void', digest=''))
    with op.batch_alter_table('verification_codes', schema=None) as batch_op:
        batch_op.alter_column('digest', existing_type=sa.String(length=255),
                              type_=sa.String(length=64), existing_nullable=False)
