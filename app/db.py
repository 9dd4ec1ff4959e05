"""The one place that commits or rolls back, and the SQLite writer serialization."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.extensions import db


@contextmanager
def transaction() -> Iterator[Session]:
    """Run the block in one database transaction.

    Commits when the block finishes, rolls back on any exception, so nothing is
    ever half-written. Routes never commit; services call this.
    """
    session = db.session
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


# How each transaction's timeouts statement begins (query-counting tests leave it out).
TIMEOUTS_STATEMENT_START = "SELECT set_config('lock_timeout', "


def install_transaction_timeouts(
    engine: Engine, *, lock_timeout_ms: int, statement_timeout_ms: int
) -> None:
    """Bound every PostgreSQL transaction's lock waits and statements (milliseconds).

    Set with ``set_config(..., is_local => true)`` (``SET LOCAL``) as the first statement of
    each transaction, not as a connection's startup ``options``: PgBouncer refuses startup
    options, and in transaction pooling a session-level ``SET`` would land on whichever
    server connection ran it. Past ``lock_timeout`` PostgreSQL raises SQLSTATE 55P03,
    past ``statement_timeout`` 57014 (see app/payments/dberrors.py).
    """
    # Literal integers (validated as int by the config), so the statement is constant.
    sql = (
        f"{TIMEOUTS_STATEMENT_START}'{int(lock_timeout_ms)}', true), "
        f"set_config('statement_timeout', '{int(statement_timeout_ms)}', true)"
    )

    @event.listens_for(engine, "begin")
    def _begin(conn):  # pragma: no cover - driver hook
        conn.exec_driver_sql(sql)


def install_sqlite_write_serialization(engine: Engine) -> None:
    """Make every SQLite transaction ``BEGIN IMMEDIATE``.

    ``SELECT ... FOR UPDATE`` is silently dropped on SQLite, so the row lock that
    PostgreSQL gives us is replaced by taking SQLite's single write lock at the
    start of each transaction: writers run one at a time, waiting up to the
    busy timeout. This is SQLAlchemy's documented pysqlite recipe.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):  # pragma: no cover - driver hook
        dbapi_connection.isolation_level = None  # let SQLAlchemy emit BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # pragma: no cover - driver hook
        conn.exec_driver_sql("BEGIN IMMEDIATE")
