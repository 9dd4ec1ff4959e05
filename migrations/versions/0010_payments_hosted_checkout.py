"""payments: the provider's hosted checkout (session id, URL, state) and what it reports

One hosted checkout per payment, stored once (``checkout_session_id`` unique): every answer
sends the patient to ``checkout_url``. ``checkout_state`` is creating / open / paid /
expired; ``checkout_started_at`` dates a "creating" claim so a crashed creator's claim can
be taken over. ``provider_method``, ``provider_fee`` and ``provider_net`` are what the
provider reports about the charge (its payment id is ``transaction_id``).

Revision ID: 0010_payments_hosted_checkout
Revises: 0008_user_locale
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_payments_hosted_checkout"
down_revision = "0009_gateway_events_raw_body"
branch_labels = None
depends_on = None

STATES = "checkout_state IN ('creating', 'open', 'paid', 'expired')"


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("checkout_session_id", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("checkout_url", sa.String(length=2048), nullable=True))
        batch.add_column(sa.Column("checkout_state", sa.String(length=16), nullable=True))
        batch.add_column(
            sa.Column("checkout_started_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("provider_method", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("provider_fee", sa.Numeric(12, 2), nullable=True))
        batch.add_column(sa.Column("provider_net", sa.Numeric(12, 2), nullable=True))
        batch.create_unique_constraint("uq_payments_checkout_session_id", ["checkout_session_id"])
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
    with op.batch_alter_table("payments") as batch:
        batch.drop_constraint("ck_payments_checkout_state", type_="check")
        batch.drop_constraint("uq_payments_checkout_session_id", type_="unique")
        for name in (
            "provider_net",
            "provider_fee",
            "provider_method",
            "checkout_started_at",
            "checkout_state",
            "checkout_url",
            "checkout_session_id",
        ):
            batch.drop_column(name)
