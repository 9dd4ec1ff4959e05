"""idempotency keys count their replays (replayed_at); payments indexed by consultation

Revision ID: 0007_idempotency_replayed_at
Revises: 0006_staff_invoice_search
Create Date: 2026-11-29 21:30:00

A repeat that creates nothing is not a payment event: a replayed key is marked once
(``replayed_at``, the first replay), and a refused second payment is its key's stored 409.
Existing "replayed" and "refused" event rows are kept as they are.

``ix_payments_consultation_id``: the checkout's re-check reads a consultation's active *or
refunded* payment in one statement, which the partial unique index (active rows only) cannot
serve; without it that read scanned every payment (3x slower creates at 1,000,000 payments).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_idempotency_replayed_at"
down_revision = "0006_staff_invoice_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_payments_consultation_id", "payments", ["consultation_id"])


def downgrade() -> None:
    op.drop_index("ix_payments_consultation_id", table_name="payments")
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("replayed_at")
