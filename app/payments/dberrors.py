"""Reading database errors: which constraint fired, whether a lock wait ran out."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

# PostgreSQL SQLSTATEs
LOCK_NOT_AVAILABLE = "55P03"
DEADLOCK_DETECTED = "40P01"
SERIALIZATION_FAILURE = "40001"

# Constraint names as PostgreSQL reports them, with SQLite's message text for the same rule.
ACTIVE_PAYMENT_INDEX = "uq_payments_one_active_per_consultation"
TRANSACTION_ID_UNIQUE = "payments_transaction_id_key"
_SQLITE_MESSAGES = {
    ACTIVE_PAYMENT_INDEX: "payments.consultation_id",
    TRANSACTION_ID_UNIQUE: "payments.transaction_id",
}


def sqlstate(exc: DBAPIError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


def is_lock_timeout(exc: DBAPIError) -> bool:
    """True when a bounded lock wait (``lock_timeout``, SQLite's busy timeout) ran out."""
    return sqlstate(exc) == LOCK_NOT_AVAILABLE or "database is locked" in str(exc.orig)


def is_busy(exc: DBAPIError) -> bool:
    """A lock wait ran out or PostgreSQL broke a deadlock: try again later."""
    return is_lock_timeout(exc) or sqlstate(exc) == DEADLOCK_DETECTED


def violates(exc: DBAPIError, constraint: str) -> bool:
    """True when ``exc`` is a violation of ``constraint`` (one of the names above)."""
    diag = getattr(exc.orig, "diag", None)
    if diag is not None and diag.constraint_name:
        return diag.constraint_name == constraint
    return _SQLITE_MESSAGES.get(constraint, constraint) in str(exc.orig)
