"""payments: the provider's hosted checkout (session id, URL, state) and what it reports

One hosted checkout per payment, stored once (``checkout_session_id`` unique): every answer
sends the patient to ``checkout_url``. ``checkout_state`` is creating / open / paid /
expired; ``checkout_started_at`` dates a "creating" claim so a crashed creator's claim can
be taken over. ``provider_method``, ``provider_fee`` and ``provider_net`` are what the
provider reports about the charge (its payment id is ``transaction_id``).

Revision ID: 0010_payments_hosted_checkout
Revises: 0009_gateway_events_raw_body
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_payments_hosted_checkout"
down_revision = "0009_gateway_events_raw_body"
branch_labels = None
depends_on = None

STATES = "checkout_state IN ('creating', 'open', 'paid', 'expired')"


def _columns() -> list[sa.Column]:
    return [
        sa.Column("checkout_session_id", sa.String(length=128), nullable=True),
        sa.Column("checkout_url", sa.String(length=2048), nullable=True),
        sa.Column("checkout_state", sa.String(length=16), nullable=True),
        sa.Column("checkout_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("provider_method", sa.String(length=32), nullable=True),
        sa.Column("provider_fee", sa.Numeric(12, 2), nullable=True),
        sa.Column("provider_net", sa.Numeric(12, 2), nullable=True),
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a nullable column in place, but a constraint only by rebuilding
        # `payments`, which is refused while invoices and events point at it (foreign keys
        # are on). A unique index keeps session ids unique; the app writes only known states.
        for column in _columns():
            op.add_column("payments", column)
        op.create_index(
            "uq_payments_checkout_session_id", "payments", ["checkout_session_id"], unique=True
        )
    else:
        with op.batch_alter_table("payments") as batch:
            for column in _columns():
                batch.add_column(column)
            batch.create_unique_constraint(
                "uq_payments_checkout_session_id", ["checkout_session_id"]
            )
            batch.create_check_constraint("ck_payments_checkout_state", STATES)
    op.create_index(
        "ix_payments_checkout_open",
        "payments",
        ["id"],
        postgresql_where=sa.text("checkout_state = 'open'"),
        sqlite_where=sa.text("checkout_state = 'open'"),
    )


def downgrade() -> None:
    op.drop_index("ix_payments_checkout_open", table_name="payments")
    names = [column.name for column in reversed(_columns())]
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("uq_payments_checkout_session_id", table_name="payments")
        for name in names:
            op.drop_column("payments", name)
        return
    with op.batch_alter_table("payments") as batch:
        batch.drop_constraint("ck_payments_checkout_state", type_="check")
        batch.drop_constraint("uq_payments_checkout_session_id", type_="unique")
        for name in names:
            batch.drop_column(name)
