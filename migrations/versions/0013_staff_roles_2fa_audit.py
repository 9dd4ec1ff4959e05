"""Staff roles (cashier, manager), TOTP two-factor sign-in, recovery codes, the audit trail

Existing ``staff`` accounts become managers: they had every power, and a manager keeps
every power. ``users.active`` lets a manager disable an account without deleting its
history; ``totp_*`` and ``otp_*`` hold the second factor and its per-account lockout.

Revision ID: 0013_staff_roles_2fa_audit
Revises: 0012_invoice_serials
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013_staff_roles_2fa_audit"
down_revision = "0012_invoice_serials"
branch_labels = None
depends_on = None

NEW_ROLES = "role IN ('patient', 'cashier', 'manager')"
OLD_ROLES = "role IN ('patient', 'staff')"


def _user_columns() -> list[sa.Column]:
    return [
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_enabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("otp_failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("otp_locked_until", sa.DateTime(timezone=True), nullable=True),
    ]


def _rewrite_sqlite_check(old: str, new: str) -> None:
    conn = op.get_bind()
    version = conn.exec_driver_sql("PRAGMA schema_version").scalar()
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    conn.execute(
        sa.text("UPDATE sqlite_master SET sql = replace(sql, :old, :new) WHERE name = 'users'"),
        {"old": old, "new": new},
    )
    conn.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # Rebuilding `users` is refused while payments point at it (foreign keys are on):
        # the columns go in place, and the CHECK is rewritten in the stored schema, the
        # procedure SQLite's ALTER TABLE page gives for changing a CHECK constraint.
        for column in _user_columns():
            op.add_column("users", column)
        _rewrite_sqlite_check(OLD_ROLES, NEW_ROLES)
    else:
        with op.batch_alter_table("users") as batch:
            for column in _user_columns():
                batch.add_column(column)
            batch.drop_constraint("ck_users_role", type_="check")
    op.execute("UPDATE users SET role = 'manager' WHERE role = 'staff'")
    if not sqlite:
        op.create_check_constraint("ck_users_role", "users", NEW_ROLES)
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("code_hash", sa.String(length=255), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("actor_label", sa.String(length=120), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("patient_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=False,
        ),
    )
    for column in ("at", "actor_id", "action", "patient_id"):
        op.create_index(f"ix_audit_events_{column}", "audit_events", [column])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("recovery_codes")
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.drop_constraint("ck_users_role", "users", type_="check")
    else:
        _rewrite_sqlite_check(NEW_ROLES, "role IN ('patient', 'staff', 'cashier', 'manager')")
    op.execute("UPDATE users SET role = 'staff' WHERE role IN ('cashier', 'manager')")
    if not sqlite:
        op.create_check_constraint("ck_users_role", "users", OLD_ROLES)
    else:
        _rewrite_sqlite_check("role IN ('patient', 'staff', 'cashier', 'manager')", OLD_ROLES)
    with op.batch_alter_table("users") as batch:
        for column in _user_columns():
            batch.drop_column(column.name)
