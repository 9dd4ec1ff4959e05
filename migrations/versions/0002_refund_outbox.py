"""refund outbox (provider_requests) and the sandbox provider's refund ledger

Issue 18: a refund's transaction writes a provider_requests row; `flask payments
send-outbox` sends it with its idempotency key. sandbox_refunds is the sandbox
provider's own ledger (what a real provider keeps on its side).

Revision ID: 0002_refund_outbox
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002_refund_outbox"
down_revision = "0001"
branch_labels = None
depends_on = None

PENDING = sa.text("state = 'pending'")


def upgrade():
    op.create_table(
        "provider_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_token", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider_reference", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0", name="ck_provider_requests_amount_positive"),
        sa.CheckConstraint("kind IN ('refund')", name="ck_provider_requests_kind"),
        sa.CheckConstraint(
            "state IN ('pending', 'succeeded', 'failed')", name="ck_provider_requests_state"
        ),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("provider_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_provider_requests_pending_due",
            ["next_attempt_at"],
            unique=False,
            postgresql_where=PENDING,
            sqlite_where=PENDING,
        )
        batch_op.create_index(
            batch_op.f("ix_provider_requests_payment_id"), ["payment_id"], unique=False
        )

    op.create_table(
        "sandbox_refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("refund_id", sa.String(length=64), nullable=False),
        sa.Column("charge_id", sa.String(length=255), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
        sa.UniqueConstraint("refund_id"),
    )
    with op.batch_alter_table("sandbox_refunds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sandbox_refunds_charge_id"), ["charge_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("sandbox_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sandbox_refunds_charge_id"))
    op.drop_table("sandbox_refunds")
    with op.batch_alter_table("provider_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_requests_payment_id"))
        batch_op.drop_index(
            "ix_provider_requests_pending_due", postgresql_where=PENDING, sqlite_where=PENDING
        )
    op.drop_table("provider_requests")
