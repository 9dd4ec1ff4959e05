"""idempotency keys keep the exact response: body as text, plus its headers

Replays must be byte for byte the first answer. A jsonb body reorders keys, so
the body becomes text (existing rows keep their jsonb rendering: they expire
within IDEMPOTENCY_TTL) and the answer's own headers are stored beside it.

Revision ID: 0003_idempotency_exact_response
Revises: 0002_refund_outbox
Create Date: 2026-11-29 20:30:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0003_idempotency_exact_response'
down_revision = '0002_refund_outbox'
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.alter_column(
            'response_body',
            existing_type=_JSON,
            type_=sa.Text(),
            existing_nullable=True,
            postgresql_using='response_body::text',
        )
        batch_op.add_column(sa.Column('response_headers', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_column('response_headers')
        batch_op.alter_column(
            'response_body',
            existing_type=sa.Text(),
            type_=_JSON,
            existing_nullable=True,
            postgresql_using='response_body::jsonb',
        )
