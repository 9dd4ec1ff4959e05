"""staff invoice list at scale: indexes in the list's keyset order, one per filter

The staff list pages by keyset, ``(issued_at, id) < (:t, :id)`` newest first
(app/invoices/queries.py ``list_statement``). Each index ends in ``(issued_at, id)`` so a
page of any filter, however deep, is one range of one index read backwards:
``ix_invoices_issued_at_id`` (no filter, dates, method), ``ix_invoices_status_issued_at_id``
(a status), ``ix_invoices_user_issued_at_id`` (a patient; it also serves the foreign key's
look-ups by user). Each replaces the shorter index it extends, which it makes redundant.

Revision ID: 0016_staff_list_keyset_indexes
Revises: 0015_day_closings
"""

from alembic import op

revision = "0016_staff_list_keyset_indexes"
down_revision = "0015_day_closings"
branch_labels = None
depends_on = None

# (new index, its columns, the index it replaces, that one's columns)
INDEXES = (
    ("ix_invoices_issued_at_id", ["issued_at", "id"], "ix_invoices_issued_at", ["issued_at"]),
    (
        "ix_invoices_status_issued_at_id",
        ["status", "issued_at", "id"],
        "ix_invoices_status_issued_at",
        ["status", "issued_at"],
    ),
    (
        "ix_invoices_user_issued_at_id",
        ["user_id", "issued_at", "id"],
        "ix_invoices_user_id",
        ["user_id"],
    ),
)


def upgrade() -> None:
    with op.batch_alter_table("invoices") as batch_op:
        for name, columns, replaced, _ in INDEXES:
            batch_op.create_index(name, columns)
            batch_op.drop_index(replaced)


def downgrade() -> None:
    with op.batch_alter_table("invoices") as batch_op:
        for name, _, replaced, old_columns in INDEXES:
            batch_op.create_index(replaced, old_columns)
            batch_op.drop_index(name)
