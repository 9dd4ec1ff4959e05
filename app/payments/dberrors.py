"""Reading database errors: which constraint fired, whether a lock wait ran out, whether the
server in hand can take writes at all (a failover)."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, OperationalError

# PostgreSQL SQLSTATEs
LOCK_NOT_AVAILABLE = "55P03"
DEADLOCK_DETECTED = "40P01"
SERIALIZATION_FAILURE = "40001"
READ_ONLY_TRANSACTION = "25006"
ADMIN_SHUTDOWN = "57P01"
CRASH_SHUTDOWN = "57P02"
CANNOT_CONNECT_NOW = "57P03"
# PostgreSQL's errcodes appendix: class 08 "Connection Exception", the shutdowns of class
# 57, and 25006 from a server that takes no writes (a standby not yet promoted, or a demoted
# primary a pooler still points at).
_NO_WRITABLE_PRIMARY = {READ_ONLY_TRANSACTION, ADMIN_SHUTDOWN, CRASH_SHUTDOWN, CANNOT_CONNECT_NOW}

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


def no_writable_primary(exc: BaseException) -> bool:
    """True when ``exc`` says the server in hand cannot take this write now: no connection
    could be made (libpq's "connection failed" carries no SQLSTATE), the connection broke, the
    server is shutting down or starting, or it is read-only. A fresh connection, after the
    failover, can succeed: the answer is 503 with Retry-After, never a 500.
    """
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    code = sqlstate(exc)
    if code is None:
        return isinstance(exc, OperationalError)
    return code in _NO_WRITABLE_PRIMARY or code.startswith("08")
