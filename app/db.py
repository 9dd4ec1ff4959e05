"""The one place that commits or rolls back; the engine's per-transaction timeouts, its
handling of a PostgreSQL failover, and the SQLite writer serialization."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.extensions import db
from app.payments import dberrors

log = logging.getLogger("app.db")


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


# How the timeouts statement begins (query-counting tests leave it out).
TIMEOUTS_STATEMENT_START = "SELECT set_config('lock_timeout', "


def install_transaction_timeouts(
    engine: Engine, *, lock_timeout_ms: int, statement_timeout_ms: int, pooler: str
) -> None:
    """Bound every PostgreSQL transaction's lock waits and statements (milliseconds).

    Without a pooler (``pooler="none"``) each connection is bounded once, when it is opened
    (``set_config(..., is_local => false)``): every transaction on it then starts bounded,
    without a round trip of its own. Behind PgBouncer (``"pgbouncer"``) they are set with
    ``set_config(..., is_local => true)`` (``SET LOCAL``) as the first statement of each
    transaction, not as a connection's startup ``options`` or session setting: PgBouncer
    refuses startup options, and in transaction pooling a session-level ``SET`` would land on
    whichever server connection ran it. Past ``lock_timeout`` PostgreSQL raises SQLSTATE
    55P03, past ``statement_timeout`` 57014 (see app/payments/dberrors.py).
    """
    per_transaction = pooler != "none"
    # Literal integers (validated as int by the config), so the statement is constant.
    local = "true" if per_transaction else "false"
    sql = (
        f"{TIMEOUTS_STATEMENT_START}'{int(lock_timeout_ms)}', {local}), "
        f"set_config('statement_timeout', '{int(statement_timeout_ms)}', {local})"
    )
    if per_transaction:

        @event.listens_for(engine, "begin")
        def _begin(conn):  # pragma: no cover - driver hook
            conn.exec_driver_sql(sql)

        return

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):  # pragma: no cover - driver hook
        with dbapi_connection.cursor() as cursor:
            cursor.execute(sql)
        dbapi_connection.commit()  # a session setting, kept after this transaction


def install_failover_invalidation(engine: Engine) -> None:
    """Drop every pooled connection when one of them meets a server that cannot take writes.

    SQLAlchemy already discards the pool's connections when one turns out closed. A server
    that is shutting down (SQLSTATE 57P01-57P03), a broken link (class 08) and a read-only
    server (25006: a standby, or a demoted primary that a pooler or a host name still leads
    to) are the same event for this app: the writable primary is elsewhere. Marking them as
    disconnects makes SQLAlchemy invalidate the pool, so the next checkout connects afresh
    and libpq's ``target_session_attrs=read-write`` picks the new primary; ``pool_pre_ping``
    (``engine_options`` below) catches the connections that died while idle.
    """

    @event.listens_for(engine, "handle_error")
    def _handle_error(context):  # pragma: no cover - driver hook
        error = context.sqlalchemy_exception
        if error is not None and dberrors.sqlstate(error) and dberrors.no_writable_primary(error):
            context.is_disconnect = True


def discard_sessions_of_a_lost_server(app: Flask) -> None:
    """End each request's session without letting a dead server turn its answer into a 500.

    Flask-SQLAlchemy closes the session when the app context ends, which rolls back its
    open transaction; when the server died after the answer was made (a failover), that
    rollback raises and the WSGI server would send a bare 500 instead of the answer. The
    connection is invalidated by then, so nothing is left to clean up: the error is logged
    and the session forgotten. Registered after ``db.init_app``, this runs first (Flask runs
    teardowns in reverse order), so Flask-SQLAlchemy's own finds no session left.
    """

    @app.teardown_appcontext
    def _remove_session(_error):
        try:
            db.session.remove()
        except DBAPIError as exc:
            if not dberrors.no_writable_primary(exc):
                raise
            log.warning("session ended on a lost database connection: %s", type(exc.orig).__name__)
            db.session.registry.clear()


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


def engine_options(url: str, *, lock_timeout_ms: int, pool_size: int, pooler: str = "none") -> dict:
    """SQLAlchemy engine options for ``url``.

    ``lock_timeout_ms`` bounds SQLite's busy wait (seconds = ms / 1000). On PostgreSQL the
    lock and statement timeouts are not startup parameters: ``app.db.install_transaction_timeouts``
    sets them once per connection, or behind a pooler with ``SET LOCAL`` at the start of every
    transaction (which holds whichever server connection the pooler hands it). With ``pooler="pgbouncer"``
    psycopg never prepares statements server-side (PgBouncer 1.18's transaction pooling
    cannot carry them from one server connection to the next).
    """
    if url.startswith("sqlite"):
        # busy_timeout bounds how long a writer waits for BEGIN IMMEDIATE (seconds).
        return {
            "connect_args": {"timeout": lock_timeout_ms / 1000, "check_same_thread": False},
            "hide_parameters": True,
        }
    connect_args: dict = {"connect_timeout": 5}
    if pooler == "pgbouncer":
        connect_args["prepare_threshold"] = None
    return {
        # A database error's text would otherwise carry its statement's parameters (emails,
        # names) into every logged traceback.
        "hide_parameters": True,
        "pool_size": pool_size,
        "max_overflow": pool_size,
        "pool_pre_ping": True,
        "pool_timeout": 10,
        "connect_args": connect_args,
    }
