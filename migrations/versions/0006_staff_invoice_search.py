"""Staff invoice search: invoice numbers by their start, soft-deleted payments left out

Revision ID: 0006_staff_invoice_search
Revises: 0005_users_session_token
Create Date: 2026-11-29 21:40:00

- ``ix_invoices_invoice_number_lower``: ``lower(invoice_number)`` with ``text_pattern_ops``
  on PostgreSQL, so ``lower(invoice_number) LIKE 'inv-202611%'`` (staff typing the start of
  a number, in any case) reads an index at any collation. The trailing payment number
  ("42") is found through the unique ``invoices.payment_id``.
- ``ix_payments_deleted``: the ids of soft-deleted payments (a partial index, tiny), so
  the invoice list and its totals leave them out with an anti-join.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_staff_invoice_search"
down_revision = "0005_users_session_token"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_invoices_invoice_number_lower",
        "invoices",
        [sa.text("lower(invoice_number) text_pattern_ops")]
        if op.get_bind().dialect.name == "postgresql"
        else [sa.text("lower(invoice_number)")],
    )
    op.create_index(
        "ix_payments_deleted",
        "payments",
        ["id"],
        postgresql_where=sa.text("deleted_at IS NOT NULL"),
        sqlite_where=sa.text("deleted_at IS NOT NULL"),
    )


def downgrade():
    op.drop_index("ix_payments_deleted", table_name="payments")
    op.drop_index("ix_invoices_invoice_number_lower", table_name="invoices")
