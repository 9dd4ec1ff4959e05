"""the day's books: closed days, and the indexes the day's figures read by

``day_closings``: one row per branch and clinic day a manager closed, with who, when and
the figures it closed on. ``ix_invoices_branch_serial_issued_at`` and
``ix_credit_memos_branch_issued_at``: the day's books sum a branch's invoices and credit
memos over one clinic day (app/books/figures.py).

Revision ID: 0015_day_closings
Revises: 0014_discounts_invoice_fields
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_day_closings"
down_revision = "0014_discounts_invoice_fields"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "day_closings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("branch_code", sa.String(length=5), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("closed_by", sa.String(length=64), nullable=False),
        sa.Column("closed_by_name", sa.String(length=120), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pending_at_close", sa.Integer(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.UniqueConstraint("branch_code", "day", name="uq_day_closings_branch_day"),
    )
    op.create_index(
        "ix_invoices_branch_serial_issued_at", "invoices", ["branch_code", "serial_issued_at"]
    )
    op.create_index(
        "ix_credit_memos_branch_issued_at", "credit_memos", ["branch_code", "issued_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_credit_memos_branch_issued_at", table_name="credit_memos")
    op.drop_index("ix_invoices_branch_serial_issued_at", table_name="invoices")
    op.drop_table("day_closings")
