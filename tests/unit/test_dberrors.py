"""Which database errors mean "no writable primary here now" (a failover): a 503, not a 500."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pg
from sqlalchemy.exc import DBAPIError, IntegrityError, InternalError, OperationalError

from app.payments import dberrors


def wrapped(kind: type[DBAPIError], orig: Exception, *, invalidated: bool = False) -> DBAPIError:
    return kind("SELECT 1", {}, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # libpq could reach no host that takes writes: no SQLSTATE at all
        (wrapped(OperationalError, psycopg.OperationalError("connection failed")), True),
        # the server shut down under the connection (pg_ctl stop, a failover)
        (wrapped(OperationalError, pg.AdminShutdown("terminating connection")), True),
        (wrapped(OperationalError, pg.CrashShutdown("crash of another process")), True),
        (wrapped(OperationalError, pg.CannotConnectNow("the system is starting up")), True),
        # class 08: the link broke
        (wrapped(OperationalError, pg.ConnectionFailure("connection failure")), True),
        # a read-only server: a standby, or a demoted primary a pooler still points at
        (wrapped(InternalError, pg.ReadOnlySqlTransaction("read-only transaction")), True),
        # SQLAlchemy saw the connection closed
        (wrapped(OperationalError, psycopg.OperationalError("closed"), invalidated=True), True),
        # the database answered: a rule, a lock wait, a bug
        (wrapped(IntegrityError, pg.UniqueViolation("duplicate key")), False),
        (wrapped(OperationalError, pg.LockNotAvailable("lock timeout")), False),
        (wrapped(OperationalError, pg.QueryCanceled("statement timeout")), False),
        (wrapped(DBAPIError, pg.UndefinedTable("no such table")), False),
        (ValueError("not a database error"), False),
        (None, False),
    ],
    ids=lambda v: type(getattr(v, "orig", v)).__name__ if not isinstance(v, bool) else "",
)
def test_no_writable_primary(error, expected):
    assert dberrors.no_writable_primary(error) is expected
