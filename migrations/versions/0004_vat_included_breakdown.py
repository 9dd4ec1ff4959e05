"""VAT breakdown on tax records, provider event outcomes, the cancelled payment state

Revision ID: 0004_vat_included_breakdown
Revises: 0003_idempotency_exact_response
Create Date: 2026-11-29 20:20:00

- tax_records gains ``taxable_base`` (the VATable amount) and ``prices_include_vat``;
  every existing record is recomputed under the included rule, because what the
  patient paid (``payments.amount``) is the total: VAT = total × rate / (1 + rate),
  half-up to the centavo, VATable amount = total − VAT.
- gateway_events gains ``outcome`` (what applying the event did), split out of the
  ``note`` that used to start with it, so the attention page can list every event
  that was not applied.
- payments may be ``cancelled`` (not active; its invoice void).
"""

from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from alembic import op

revision = "0004_vat_included_breakdown"
down_revision = "0003_idempotency_exact_response"
branch_labels = None
depends_on = None

CENT = Decimal("0.01")
OLD_STATUSES = "status IN ('pending', 'processing', 'completed', 'failed', 'expired', 'refunded')"
NEW_STATUSES = (
    "status IN ('pending', 'processing', 'completed', 'failed', 'expired', 'cancelled', 'refunded')"
)
OUTCOMES = ("confirmed", "failed", "unchanged", "refused", "duplicate_charge")


def _included(total: Decimal, rate: Decimal) -> tuple[Decimal, Decimal]:
    vat = (total * rate / (1 + rate)).quantize(CENT, rounding=ROUND_HALF_UP)
    return total - vat, vat


def upgrade():
    with op.batch_alter_table("tax_records") as batch_op:
        batch_op.add_column(sa.Column("taxable_base", sa.Numeric(12, 2), nullable=True))
        batch_op.add_column(
            sa.Column("prices_include_vat", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT t.id, p.amount, t.rate FROM tax_records t JOIN payments p ON p.id = t.payment_id"
        )
    ).all()
    for tax_id, amount, rate in rows:
        base, vat = _included(Decimal(str(amount)), Decimal(str(rate)))
        conn.execute(
            sa.text(
                "UPDATE tax_records SET taxable_base = :base, amount = :vat, "
                "prices_include_vat = :yes WHERE id = :id"
            ).bindparams(
                sa.bindparam("base", type_=sa.Numeric(12, 2)),
                sa.bindparam("vat", type_=sa.Numeric(12, 2)),
                sa.bindparam("yes", type_=sa.Boolean()),
            ),
            {"base": base, "vat": vat, "yes": True, "id": tax_id},
        )
    with op.batch_alter_table("tax_records") as batch_op:
        batch_op.alter_column("taxable_base", existing_type=sa.Numeric(12, 2), nullable=False)
        batch_op.alter_column("prices_include_vat", server_default=None)

    with op.batch_alter_table("gateway_events") as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_gateway_events_outcome"), ["outcome"], unique=False)
    notes = conn.execute(sa.text("SELECT id, note FROM gateway_events WHERE note IS NOT NULL"))
    for event_id, note in notes.all():
        head, _, rest = note.partition(": ")
        if head in OUTCOMES:
            conn.execute(
                sa.text("UPDATE gateway_events SET outcome = :o, note = :n WHERE id = :id"),
                {"o": head, "n": rest or None, "id": event_id},
            )

    _replace_status_check(conn, OLD_STATUSES, NEW_STATUSES)


def _replace_status_check(conn, old: str, new: str) -> None:
    if conn.dialect.name != "sqlite":
        with op.batch_alter_table("payments") as batch_op:
            batch_op.drop_constraint("ck_payments_status", type_="check")
            batch_op.create_check_constraint("ck_payments_status", sa.text(new))
        return
    # SQLite would copy, drop and rename the table, which its foreign keys from invoices
    # and tax records forbid. Loosening a CHECK changes no stored row, so SQLite's own
    # documented procedure applies: edit the table's SQL in sqlite_schema and bump the
    # schema version (https://www.sqlite.org/lang_altertable.html#otheralter).
    sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'payments'"
    ).scalar_one()
    if old not in sql:
        raise RuntimeError("payments' status CHECK is not the one this migration expects")
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    conn.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'payments'"),
        {"sql": sql.replace(old, new)},
    )
    conn.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema = OFF")


def downgrade():
    _replace_status_check(op.get_bind(), NEW_STATUSES, OLD_STATUSES)
    with op.batch_alter_table("gateway_events") as batch_op:
        batch_op.drop_index(batch_op.f("ix_gateway_events_outcome"))
        batch_op.drop_column("outcome")
    with op.batch_alter_table("tax_records") as batch_op:
        batch_op.drop_column("prices_include_vat")
        batch_op.drop_column("taxable_base")
