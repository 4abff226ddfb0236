"""account emails: up to three verified addresses per account

Revision ID: 9d41c7e2b6a8
Revises: 7c2e9a41d0b3
Create Date: 2026-11-27 15:40:00.000000

Every account's address becomes its primary row here; ``accounts.email`` keeps
a copy of the primary. Nothing is lost either way: a downgrade keeps the
primary in ``accounts.email`` and drops the rest.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9d41c7e2b6a8'
down_revision = '7c2e9a41d0b3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('account_emails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('is_primary', sa.Boolean(), nullable=False),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('place', sa.Integer(), nullable=False),
    sa.CheckConstraint('place BETWEEN 1 AND 3', name='ck_account_emails_place'),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account_id', 'place', name='uq_account_emails_place')
    )
    with op.batch_alter_table('account_emails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_emails_account_id'), ['account_id'], unique=False)
    op.create_index('uq_account_emails_email_lower', 'account_emails', [sa.text('lower(email)')], unique=True)
    accounts = sa.table('accounts', sa.column('id', sa.Integer), sa.column('email', sa.String),
                        sa.column('created_at', sa.DateTime(timezone=True)),
                        sa.column('email_changed_at', sa.DateTime(timezone=True)))
    emails = sa.table('account_emails', sa.column('account_id', sa.Integer),
                      sa.column('email', sa.String), sa.column('is_primary', sa.Boolean),
                      sa.column('verified_at', sa.DateTime(timezone=True)),
                      sa.column('place', sa.Integer))
    op.execute(emails.insert().from_select(
        ['account_id', 'email', 'is_primary', 'place', 'verified_at'],
        sa.select(accounts.c.id, accounts.c.email, sa.true(), sa.literal(1),
                  sa.func.coalesce(accounts.c.email_changed_at, accounts.c.created_at,
                                  sa.func.current_timestamp())),
    ))


def downgrade():
    op.drop_index('uq_account_emails_email_lower', table_name='account_emails')
    with op.batch_alter_table('account_emails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_emails_account_id'))
    op.drop_table('account_emails')
