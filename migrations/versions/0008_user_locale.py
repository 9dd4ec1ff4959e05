"""users.locale: the language a user chose with the footer's switch

Issue 17: en, id or fil; NULL lets the browser's Accept-Language decide. No CHECK
constraint: app/i18n.py ignores a code it has no catalog for, so adding a language
is a catalog, not a migration.

Revision ID: 0008_user_locale
Revises: 0007_idempotency_replayed_at
"""
from alembic import op
import sqlalchemy as sa

revision = "0008_user_locale"
down_revision = "0007_idempotency_replayed_at"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("locale", sa.String(length=8), nullable=True))


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("locale")
