"""Staff accounts a manager creates and disables (``flask users create --role`` does the same
from a shell). Every change is audited in its own transaction."""

from __future__ import annotations

from sqlalchemy import delete, select
from werkzeug.security import generate_password_hash

from app import audit
from app.auth import token_cache
from app.db import transaction
from app.extensions import db
from app.i18n import N_
from app.models import STAFF_RANK, AuditAction, RecoveryCode, User


class AccountRefused(Exception):
    """The account cannot be created or changed; ``str()`` says why (an English msgid)."""


def staff_accounts() -> list[User]:
    """Every cashier and manager, enabled first, then by name."""
    return list(
        db.session.scalars(
            select(User)
            .where(User.role.in_([str(r) for r in STAFF_RANK]))
            .order_by(User.active.desc(), User.name)
        )
    )


def create_staff(email: str, name: str, role: str, password: str, by: User) -> User:
    """Create a cashier or manager who must sign in and (under ``STAFF_REQUIRE_2FA``) enrol.

    :raise AccountRefused: a role that is not staff, or an email already in use.
    """
    if role not in {str(r) for r in STAFF_RANK}:
        raise AccountRefused(N_("Choose cashier or manager."))
    email = email.strip().lower()
    with transaction() as session:
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            raise AccountRefused(N_("An account with this email already exists."))
        user = User(
            email=email,
            name=name.strip(),
            role=role,
            password_hash=generate_password_hash(password),
        )
        session.add(user)
        session.flush()
        audit.record(
            AuditAction.ACCOUNT_CREATED, actor=by, session=session, account=user.id, role=role
        )
    return user


def disable(user_id: int, by: User) -> User | None:
    """Disable a staff account: its sessions end and its API token stops working at once.

    :return: the account, or None when no staff account has this id.
    :raise AccountRefused: a manager disabling their own account.
    """
    if user_id == by.id:
        raise AccountRefused(N_("You cannot disable your own account."))
    with transaction() as session:
        user = _staff_account(session, user_id)
        if user is None:
            return None
        token_hash = user.api_token_hash
        user.active = False
        user.api_token_hash = None
        user.end_all_sessions()
        audit.record(AuditAction.ACCOUNT_DISABLED, actor=by, session=session, account=user.id)
    if token_hash:
        token_cache.revoke_token(token_hash)
    return user


def reset_two_factor(user_id: int, by: User | str) -> User | None:
    """Forget a staff account's second factor (a lost phone): its TOTP secret and recovery
    codes are deleted, its sessions end, and one audit row is written in the same
    transaction. At their next sign-in they enrol again (``STAFF_REQUIRE_2FA``).

    :param by: the manager who asked, or an operator's label (``"system:cli"``).
    :return: the account, or None when no staff account has this id.
    """
    with transaction() as session:
        user = _staff_account(session, user_id)
        if user is None:
            return None
        had = user.has_two_factor
        user.totp_secret = None
        user.totp_enabled_at = None
        user.totp_last_step = None
        user.otp_failures = 0
        user.otp_locked_until = None
        session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        user.end_all_sessions()
        audit.record(
            AuditAction.TWO_FACTOR_RESET,
            actor=by,
            session=session,
            account=user.id,
            was_enrolled=had,
        )
    return user


def _staff_account(session, user_id: int) -> User | None:
    """The cashier or manager with this id, or None (no such account, or a patient)."""
    user = session.get(User, user_id)
    return user if user is not None and user.is_staff else None
