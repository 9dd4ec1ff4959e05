"""The engine behind a real PgBouncer in transaction pooling mode (Debian's pgbouncer 1.18).

The storms, the same-key wait and the lock-timeout tests also run through it (their
``pooler`` parameter); these pin down the two reasons they pass.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from app.db import engine_options, install_transaction_timeouts


def _engine(url: str, pooler: str):
    engine = create_engine(
        url, **engine_options(url, lock_timeout_ms=300, pool_size=2, pooler=pooler)
    )
    install_transaction_timeouts(
        engine, lock_timeout_ms=300, statement_timeout_ms=1500, pooler=pooler
    )
    return engine


def _alternate(engine, rounds: int = 8) -> None:
    """Two client connections run the same statement in turns, one transaction each.

    PgBouncer hands each transaction whichever server connection is free, so both clients
    end up on the same one: psycopg's automatic prepared statements (after 5 runs) collide.
    """
    with engine.connect() as a, engine.connect() as b:
        for _ in range(rounds):
            for conn in (a, b):
                conn.execute(text("SELECT count(*) FROM users WHERE id > :n"), {"n": 0})
                conn.commit()


@pytest.mark.parametrize("pooler", ["pgbouncer"])
def test_prepared_statements_break_under_pgbouncer_unless_the_pooler_is_declared(
    database_url, pooler
):
    undeclared = _engine(database_url, "none")
    try:
        with pytest.raises(DBAPIError, match="prepared statement"):
            _alternate(undeclared)
    finally:
        undeclared.dispose()
    declared = _engine(database_url, "pgbouncer")
    try:
        _alternate(declared)
    finally:
        declared.dispose()


@pytest.mark.parametrize("pooler", ["none", "pgbouncer"])
def test_each_transaction_carries_its_own_lock_and_statement_timeouts(database_url, pooler):
    engine = _engine(database_url, pooler)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW lock_timeout")).scalar_one() == "300ms"
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "1500ms"
            conn.commit()
            # a new transaction (perhaps another server connection) is bounded again
            assert conn.execute(text("SHOW lock_timeout")).scalar_one() == "300ms"
            with pytest.raises(DBAPIError, match="statement timeout"):
                conn.execute(text("SELECT pg_sleep(5)"))
    finally:
        engine.dispose()
