"""idempotency keys count their replays: replayed_at, instead of a payment event per repeat

Revision ID: 0005_idempotency_replayed_at
Revises: 0004_vat_included_breakdown
Create Date: 2026-11-29 21:30:00

A repeat that creates nothing is not a payment event: a replayed key is marked once
(``replayed_at``, the first replay), and a refused second payment is its key's stored 409.
Existing "replayed" and "refused" event rows are kept as they are.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_idempotency_replayed_at"
down_revision = "0004_vat_included_breakdown"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("replayed_at")
