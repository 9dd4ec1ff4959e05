"""invoices: payment references, sales invoice serials at capture, credit memos for refunds

- ``invoices.invoice_number`` becomes ``invoices.reference``: the same values, now called
  what they are (what a patient quotes while paying, given when Pay is pressed).
- ``invoices.branch_code``, ``serial``, ``serial_number``, ``serial_issued_at``: the sales
  invoice, issued at capture; unique per branch; a paid or refunded invoice has one.
- ``serial_counters``: the last serial per series (invoice, credit memo) and branch, the
  row every issue locks (app/payments/serials.py).
- ``credit_memos``: one per refund request, its own serial series, the invoice it corrects.

Existing data: every captured payment (completed or refunded) gets a serial in capture
order (``completed_at``, then payment id), every refund already requested a credit memo in
request order, at CLINIC_BRANCH_CODE with INVOICE_SERIAL_PREFIX / CREDIT_MEMO_SERIAL_PREFIX
as the app's settings give them when the migration runs (app/config.py); the counters
start after them. See docs/invoices.md.

Revision ID: 0012_invoice_serials
Revises: 0010_payments_hosted_checkout
"""

import sqlalchemy as sa
from alembic import op
from flask import current_app

revision = "0012_invoice_serials"
down_revision = "0010_payments_hosted_checkout"
branch_labels = None
depends_on = None

SERIAL_WHOLE = (
    "(serial IS NULL) = (branch_code IS NULL) AND (serial IS NULL) = (serial_number IS NULL)"
    " AND (serial IS NULL) = (serial_issued_at IS NULL) AND (serial IS NULL OR serial >= 1)"
)
CAPTURED_HAVE_SERIAL = "status IN ('pending', 'void') OR serial IS NOT NULL"


def _serial_columns() -> list[sa.Column]:
    return [
        sa.Column("branch_code", sa.String(length=5), nullable=True),
        sa.Column("serial", sa.Integer(), nullable=True),
        sa.Column("serial_number", sa.String(length=32), nullable=True),
        sa.Column("serial_issued_at", sa.DateTime(timezone=True), nullable=True),
    ]


def _reference_index(column: str, name: str) -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.create_index(
        name,
        "invoices",
        [sa.text(f"lower({column}) text_pattern_ops" if postgresql else f"lower({column})")],
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index("ix_invoices_invoice_number_lower", table_name="invoices")
    op.execute("ALTER TABLE invoices RENAME COLUMN invoice_number TO reference")
    _reference_index("reference", "ix_invoices_reference_lower")
    for column in _serial_columns():
        op.add_column("invoices", column)
    op.create_table(
        "serial_counters",
        sa.Column("series", sa.String(length=16), nullable=False),
        sa.Column("branch_code", sa.String(length=5), nullable=False),
        sa.Column("last_serial", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "series IN ('invoice', 'credit_memo')", name="ck_serial_counters_series"
        ),
        sa.CheckConstraint("last_serial >= 0", name="ck_serial_counters_last_serial"),
        sa.PrimaryKeyConstraint("series", "branch_code"),
    )
    op.create_table(
        "credit_memos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), sa.ForeignKey("invoices.id"), nullable=False),
        sa.Column("payment_id", sa.Integer(), sa.ForeignKey("payments.id"), nullable=False),
        sa.Column(
            "provider_request_id",
            sa.Integer(),
            sa.ForeignKey("provider_requests.id"),
            nullable=False,
        ),
        sa.Column("branch_code", sa.String(length=5), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.Column("serial_number", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("serial >= 1", name="ck_credit_memos_serial"),
        sa.CheckConstraint("amount > 0", name="ck_credit_memos_amount_positive"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("branch_code", "serial", name="uq_credit_memos_branch_serial"),
        sa.UniqueConstraint("provider_request_id"),
    )
    op.create_index("ix_credit_memos_invoice_id", "credit_memos", ["invoice_id"])
    op.create_index("ix_credit_memos_payment_id", "credit_memos", ["payment_id"])
    _number_existing_sales()
    if sqlite:
        # SQLite adds a constraint only by rebuilding the table, which its foreign keys
        # refuse (see 0010): a unique index keeps serials unique; the app writes the rest.
        op.create_index(
            "uq_invoices_branch_serial", "invoices", ["branch_code", "serial"], unique=True
        )
        return
    op.create_unique_constraint("uq_invoices_branch_serial", "invoices", ["branch_code", "serial"])
    op.create_check_constraint("ck_invoices_serial_whole", "invoices", SERIAL_WHOLE)
    op.create_check_constraint("ck_invoices_captured_have_serial", "invoices", CAPTURED_HAVE_SERIAL)


def _number_existing_sales() -> None:
    """Serials for the sales made before this revision, credit memos for their refunds."""
    conn = op.get_bind()
    # The running app's settings (flask db upgrade), so the run continues where this one ends.
    settings = current_app.config
    branch = settings["CLINIC_BRANCH_CODE"]
    invoice_prefix = settings["INVOICE_SERIAL_PREFIX"]
    memo_prefix = settings["CREDIT_MEMO_SERIAL_PREFIX"]
    sales = conn.execute(
        sa.text(
            "SELECT i.id, p.completed_at, p.created_at FROM invoices i"
            " JOIN payments p ON p.id = i.payment_id"
            " WHERE p.status IN ('completed', 'refunded')"
            " ORDER BY p.completed_at IS NULL, p.completed_at, p.id"
        )
    ).all()
    rows = [
        {
            "id": sale.id,
            "branch": branch,
            "serial": n,
            "number": f"{invoice_prefix}{n:06d}",
            "at": sale.completed_at or sale.created_at,
        }
        for n, sale in enumerate(sales, start=1)
    ]
    if rows:
        conn.execute(
            sa.text(
                "UPDATE invoices SET branch_code = :branch, serial = :serial,"
                " serial_number = :number, serial_issued_at = :at WHERE id = :id"
            ),
            rows,
        )
    refunds = conn.execute(
        sa.text(
            "SELECT r.id, r.payment_id, r.amount, r.reason, r.created_at, i.id AS invoice_id"
            " FROM provider_requests r JOIN invoices i ON i.payment_id = r.payment_id"
            " WHERE r.kind = 'refund' ORDER BY r.created_at, r.id"
        )
    ).all()
    memos = [
        {
            "invoice_id": refund.invoice_id,
            "payment_id": refund.payment_id,
            "request_id": refund.id,
            "branch": branch,
            "serial": n,
            "number": f"{memo_prefix}{n:06d}",
            "amount": refund.amount,
            "reason": refund.reason,
            "at": refund.created_at,
        }
        for n, refund in enumerate(refunds, start=1)
    ]
    if memos:
        conn.execute(
            sa.text(
                "INSERT INTO credit_memos (invoice_id, payment_id, provider_request_id,"
                " branch_code, serial, serial_number, amount, reason, actor, issued_at)"
                " VALUES (:invoice_id, :payment_id, :request_id, :branch, :serial, :number,"
                " :amount, :reason, 'migration:0012', :at)"
            ),
            memos,
        )
    counters = [("invoice", len(rows)), ("credit_memo", len(memos))]
    conn.execute(
        sa.text(
            "INSERT INTO serial_counters (series, branch_code, last_serial)"
            " VALUES (:series, :branch, :last)"
        ),
        [{"series": s, "branch": branch, "last": last} for s, last in counters],
    )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.drop_index("uq_invoices_branch_serial", table_name="invoices")
    else:
        op.drop_constraint("ck_invoices_captured_have_serial", "invoices", type_="check")
        op.drop_constraint("ck_invoices_serial_whole", "invoices", type_="check")
        op.drop_constraint("uq_invoices_branch_serial", "invoices", type_="unique")
    op.drop_index("ix_credit_memos_payment_id", table_name="credit_memos")
    op.drop_index("ix_credit_memos_invoice_id", table_name="credit_memos")
    op.drop_table("credit_memos")
    op.drop_table("serial_counters")
    for column in reversed(_serial_columns()):
        op.drop_column("invoices", column.name)
    op.drop_index("ix_invoices_reference_lower", table_name="invoices")
    op.execute("ALTER TABLE invoices RENAME COLUMN reference TO invoice_number")
    _reference_index("invoice_number", "ix_invoices_invoice_number_lower")
