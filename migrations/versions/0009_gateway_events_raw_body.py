"""gateway_events.body: the provider's notification as raw bytes, in place of jsonb payload

jsonb (and text) cannot hold every string JSON can carry: "\u0000" fails with SQLSTATE
22P05, so a signed event holding one could never be stored, and therefore never applied.
bytea holds any body. Existing payloads are kept as their JSON text in UTF-8.

Downgrade turns the bodies back into jsonb; it fails on a body jsonb cannot hold.

Revision ID: 0009_gateway_events_raw_body
Revises: 0008_user_locale
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0009_gateway_events_raw_body"
down_revision = "0008_user_locale"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    with op.batch_alter_table("gateway_events") as batch:
        batch.add_column(sa.Column("body", sa.LargeBinary(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE gateway_events SET body = convert_to(payload::text, 'UTF8')")
    else:
        op.execute("UPDATE gateway_events SET body = CAST(payload AS BLOB)")
    with op.batch_alter_table("gateway_events") as batch:
        batch.alter_column("body", existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column("payload")


def downgrade():
    with op.batch_alter_table("gateway_events") as batch:
        batch.add_column(sa.Column("payload", _JSON, nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE gateway_events SET payload = convert_from(body, 'UTF8')::jsonb")
    else:
        op.execute("UPDATE gateway_events SET payload = CAST(body AS TEXT)")
    with op.batch_alter_table("gateway_events") as batch:
        batch.alter_column("payload", existing_type=_JSON, nullable=False)
        batch.drop_column("body")
