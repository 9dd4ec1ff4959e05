"""``INSERT ... ON CONFLICT DO NOTHING RETURNING id``, spelled once for PostgreSQL and SQLite.

How a row is claimed exactly once (an idempotency key, a provider event id):
the insert returns the new row's id, or no row when a row with the same unique
columns already exists (after waiting for a concurrent inserter to finish).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_if_absent(dialect: str, model: Any, conflict_on: list[str], **values: Any):
    """The statement for ``dialect`` ("postgresql", else SQLite); returns ``model.id`` if inserted.

    ``model`` may be a mapped class or its ``Table`` (a Core statement, for
    ``session.connection().execute``: no ORM bookkeeping on a hot path)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    returned = model.c.id if isinstance(model, Table) else model.id
    return (
        insert(model)
        .values(**values)
        .on_conflict_do_nothing(index_elements=conflict_on)
        .returning(returned)
    )


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name
