"""users.session_token: logging out ends the session everywhere

A random token per user that session cookies name instead of the user's id (Flask-Login's
alternative-id recipe); rotated at logout and on a password change. Existing users get a
token each, so sessions from before this migration end once (their cookies name an id).

Revision ID: 0005_users_session_token
Revises: 0004_vat_included_breakdown
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0005_users_session_token"
down_revision = "0004_vat_included_breakdown"
branch_labels = None
depends_on = None

users = sa.table("users", sa.column("id", sa.Integer), sa.column("session_token", sa.String))


def upgrade():
    op.add_column("users", sa.Column("session_token", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    for (user_id,) in conn.execute(sa.select(users.c.id)).all():
        conn.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(session_token=secrets.token_urlsafe(32))
        )
    if conn.dialect.name == "sqlite":
        # SQLite cannot add NOT NULL or a constraint in place, and rebuilding `users` is
        # refused while invoices and payments point at it (foreign keys are on). A unique
        # index keeps tokens unique; the app always sets one.
        op.create_index("uq_users_session_token", "users", ["session_token"], unique=True)
        return
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("session_token", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint("uq_users_session_token", ["session_token"])


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("uq_users_session_token", table_name="users")
        op.drop_column("users", "session_token")
        return
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_users_session_token", type_="unique")
        batch_op.drop_column("session_token")
